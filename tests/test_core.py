"""The domain rules of core/: ids, timestamps, JSON, statuses, errors, cursors."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

import agent_session_manager as asm
from agent_session_manager.core import ids
from agent_session_manager.core.errors import ASMError, error_for_code
from agent_session_manager.core.json import checked_object
from agent_session_manager.core.models import (
    RUN_TRANSITIONS,
    SESSION_TRANSITIONS,
    TERMINAL_RUN_STATUSES,
    TERMINAL_SESSION_STATUSES,
)
from agent_session_manager.core.pagination import (
    _mac,
    decode_cursor,
    decode_time_cursor,
    encode_cursor,
    encode_time_cursor,
)
from agent_session_manager.core.urls import redact_url, scheme_of


def test_ids_have_prefix_and_uuidv7_hex_and_sort_by_creation() -> None:
    made = [ids.new_id("evt_") for _ in range(2000)]
    assert all(re.fullmatch(r"evt_[0-9a-f]{32}", i) for i in made)
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert made[0][4 + 12] == "7", "the version nibble of a UUIDv7"
    assert asm.Session(agent_id="a").id.startswith("ses_")
    assert asm.Run(session_id="s").id.startswith("run_")


@pytest.mark.parametrize("bad", ["", "x" * 129, "with space", "slash/", "é", "a\x00"])
def test_caller_ids_are_validated(bad: str) -> None:
    with pytest.raises(asm.ValidationError) as info:
        asm.Session(id=bad, agent_id="a")
    assert info.value.code == "validation_error"


def test_good_caller_ids_are_kept() -> None:
    assert asm.Session(id="A-z_0.9:x", agent_id="a").id == "A-z_0.9:x"
    assert asm.Session(id="x" * 128, agent_id="a").id == "x" * 128


def test_timestamps_are_utc_and_naive_is_rejected() -> None:
    local = datetime(2026, 1, 1, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=-5)))
    event = asm.Event(type="message_sent", session_id="s", timestamp=local)
    assert event.timestamp == local
    assert event.timestamp.tzinfo is UTC
    assert event.timestamp.hour == 17 and event.timestamp.microsecond == 5
    with pytest.raises(asm.ValidationError):
        asm.Event(type="message_sent", session_id="s", timestamp=datetime(2026, 1, 1))


def test_event_types_are_the_28_of_the_seed_and_closed() -> None:
    assert len(asm.EventType) == 28
    assert asm.EventType("message_sent") is asm.EventType.MESSAGE_SENT
    with pytest.raises(asm.InvalidEventType) as info:
        asm.Event(type="message_sent_v2", session_id="s")
    assert info.value.code == "invalid_event_type"
    assert info.value.details["valid_types"] == [t.value for t in asm.EventType]


def test_namespaced_event_types_are_accepted_as_strings() -> None:
    event = asm.Event(type="langgraph.checkpoint", session_id="s")
    assert event.type == "langgraph.checkpoint" and not isinstance(event.type, asm.EventType)
    assert asm.Event(type="message_sent", session_id="s").type is asm.EventType.MESSAGE_SENT
    assert asm.Event.from_dict(event.to_dict()) == event
    with pytest.raises(asm.InvalidEventType):
        asm.Event(type="x." + "y" * 127, session_id="s")
    with pytest.raises(asm.InvalidEventType):
        asm.Event(type=3, session_id="s")  # type: ignore[arg-type]


def test_enum_values_are_the_seeds_lowercase_names() -> None:
    assert [s.value for s in asm.SessionStatus] == [
        "pending",
        "active",
        "paused",
        "completed",
        "failed",
        "cancelled",
    ]
    assert [s.value for s in asm.RunStatus] == [
        "pending",
        "running",
        "completed",
        "failed",
        "cancelled",
        "timeout",
    ]


def test_state_machines() -> None:
    s = asm.Session(agent_id="a")
    active = s.with_status("active")
    assert active.with_status("paused").with_status("active").status is asm.SessionStatus.ACTIVE
    assert active.updated_at >= s.updated_at
    for terminal in TERMINAL_SESSION_STATUSES:
        assert SESSION_TRANSITIONS[terminal] == frozenset()
    with pytest.raises(asm.InvalidTransition):
        s.with_status("paused")
    with pytest.raises(asm.InvalidStatus):
        s.with_status("sleeping")
    run = asm.Run(session_id="s")
    with pytest.raises(asm.InvalidTransition):
        run.complete({})
    timed_out = run.with_status("running").with_status("timeout")
    assert timed_out.ended_at is not None
    for terminal in TERMINAL_RUN_STATUSES:
        assert RUN_TRANSITIONS[terminal] == frozenset()


def test_token_usage_merges_by_summing_numbers() -> None:
    run = asm.Run(session_id="s", token_usage={"input_tokens": 10, "model": "a"})
    merged = run.add_token_usage({"input_tokens": 5, "output_tokens": 2, "model": "b"})
    assert merged.token_usage == {"input_tokens": 15, "output_tokens": 2, "model": "b"}


@pytest.mark.parametrize(
    "bad",
    [
        float("nan"),
        float("inf"),
        -0.0,
        1e16,
        -3.5e20,
        b"x",
        {1},
        (1,),
        "\x00",
        2**64,
        -(2**63) - 1,
        "\ud800",
        datetime.now(UTC),
    ],
)
def test_json_values_that_cannot_round_trip_are_rejected(bad: object) -> None:
    with pytest.raises(asm.ValidationError):
        checked_object({"k": [{"deep": bad}]}, "data")


def test_json_accepts_the_edges_that_do_round_trip() -> None:
    value = {"i": 2**63 - 1, "j": -(2**63), "f": 9.99e15, "z": 0.0, "tiny": 1e-300, "s": "\\u0000"}
    assert checked_object(value, "data") == value
    assert checked_object(value, "data") is not value
    with pytest.raises(asm.ValidationError):
        checked_object({1: "x"}, "data")
    with pytest.raises(asm.ValidationError):
        checked_object(["not", "an", "object"], "data")


def test_error_tree_codes_and_retryable() -> None:
    assert issubclass(asm.SessionNotFound, asm.NotFound)
    assert issubclass(asm.InvalidEventType, asm.ValidationError)
    assert asm.StorageConnectionFailed.retryable and not asm.StorageError.retryable
    err = asm.SessionNotFound("nope", details={"session_id": "s"})
    assert str(err) == "[session_not_found] nope"
    assert err.to_dict() == {
        "code": "session_not_found",
        "message": "nope",
        "details": {"session_id": "s"},
        "retryable": False,
    }
    assert error_for_code("checksum_mismatch") is asm.ChecksumMismatch
    assert error_for_code("no_such_code") is ASMError


def test_every_error_code_has_one_exported_class_and_is_documented() -> None:
    assert error_for_code("provider_error") is asm.RunFailed
    assert error_for_code("cancelled") is asm.RunCancelled
    assert error_for_code("timeout") is asm.Timeout
    assert issubclass(asm.RunTimedOut, asm.Timeout)
    exported = {getattr(asm, name) for name in asm.__all__}
    classes = [c for c in exported if isinstance(c, type) and issubclass(c, ASMError)]
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for cls in classes:
        assert error_for_code(cls.code) in exported, cls
        assert f"`{cls.code}`" in readme or cls is ASMError, cls.code


def test_cursor_is_bound_to_scope_and_tamper_evident() -> None:
    cursor = encode_cursor("sessions:created_at_asc", ["2026-01-01T00:00:00+00:00", "ses_1"])
    assert decode_cursor(cursor, "sessions:created_at_asc") == [
        "2026-01-01T00:00:00+00:00",
        "ses_1",
    ]
    with pytest.raises(asm.InvalidCursor):
        decode_cursor(cursor, "runs:started_at_asc")
    flipped = cursor[:5] + ("A" if cursor[5] != "A" else "B") + cursor[6:]
    with pytest.raises(asm.InvalidCursor):
        decode_cursor(flipped, "sessions:created_at_asc")


def test_signed_cursor_of_the_wrong_shape_is_invalid() -> None:
    body = orjson.dumps({"not": "a list"})
    forged = base64.urlsafe_b64encode(body + _mac(body)).rstrip(b"=").decode()
    with pytest.raises(asm.InvalidCursor):
        decode_cursor(forged, "sessions:created_at_asc")
    naive = encode_cursor("s", ["2026-01-01T00:00:00", "x"])
    with pytest.raises(asm.InvalidCursor):
        decode_time_cursor(naive, "s")
    when = datetime(2026, 1, 1, tzinfo=UTC)
    assert decode_time_cursor(encode_time_cursor("s", (when, "x")), "s") == (when, "x")


def test_redact_url_keeps_the_url_shape_and_scheme_of_survives_malformed_urls() -> None:
    assert redact_url("sqlite:///./.asm/asm.db?password=x") == "sqlite:///./.asm/asm.db?password=***"
    assert redact_url("memory://") == "memory://"
    assert scheme_of("postgresql+asyncpg://u:p@[::1/db") == "postgresql"
    assert scheme_of("no scheme here") == ""


def test_redact_url_hides_passwords_and_secret_params() -> None:
    assert redact_url("postgresql://app:s3cr3t@db:5432/x") == "postgresql://app:***@db:5432/x"
    masked = redact_url("s3://b/p?endpoint=http://h&secret_access_key=abc&region=r")
    assert "abc" not in masked and "region=r" in masked


async def test_unknown_scheme_lists_the_supported_ones() -> None:
    with pytest.raises(asm.ValidationError) as info:
        await asm.open_store("mongodb://user:pw@host/db")
    message = str(info.value)
    assert "memory://" in message and "sqlite://" in message and "postgresql://" in message
    assert "pw" not in message


async def test_every_backend_refuses_unknown_options_the_same_way(tmp_path: Path) -> None:
    openers = [
        lambda: asm.open_store(f"sqlite:///{tmp_path / 'a.db'}?bogus=1"),
        lambda: asm.open_artifact_store(f"file://{tmp_path / 'blobs'}?bogus=1"),
        lambda: asm.open_snapshot_storage(f"file://{tmp_path / 'snaps'}", bogus=1),
        lambda: asm.open_workspace_storage(f"file://{tmp_path / 'ws'}", bogus=1),
    ]
    refused = r"unknown .* option\(s\) \['bogus'\]; known: "
    for opener in openers:
        with pytest.raises(asm.ValidationError, match=refused) as caught:
            await opener()
        assert caught.value.details["options"] == ["bogus"]
