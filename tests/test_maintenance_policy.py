"""RetentionPolicy: defaults, and every invalid value raises validation_error naming its field."""

from __future__ import annotations

from typing import Any

import pytest

from agent_session_manager import EventType, SessionStatus, ValidationError
from agent_session_manager.artifacts.memory import InMemoryArtifactStore
from agent_session_manager.maintenance import PROTECTED_EVENT_TYPES, RetentionPolicy


def test_defaults_are_the_seeds() -> None:
    policy = RetentionPolicy()
    assert policy.max_session_age_days is None
    assert policy.max_completed_session_age_days == 90
    assert policy.max_events_per_session is None and policy.max_total_events is None
    assert policy.hard_delete_after_days == 30
    assert policy.archive_before_prune is False and policy.archive_store is None
    assert policy.exempt_statuses == {SessionStatus.ACTIVE, SessionStatus.PAUSED}
    assert policy.exempt_tags == {"pinned"}
    assert policy.prune_event_types_first == (EventType.MESSAGE_STREAMED, EventType.TOKEN_USAGE_UPDATED)
    assert policy.batch_size == 1000
    assert {t.value for t in PROTECTED_EVENT_TYPES} == {
        "session_created",
        "run_started",
        "run_completed",
        "run_failed",
        "error_occurred",
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_session_age_days", 0),
        ("max_completed_session_age_days", -1),
        ("max_events_per_session", "10"),
        ("max_total_events", 1.5),
        ("hard_delete_after_days", True),
        ("batch_size", 0),
        ("batch_size", 10_001),
        ("archive_before_prune", "yes"),
        ("exempt_statuses", ["sleeping"]),
        ("exempt_tags", [""]),
        ("exempt_tags", "pinned"),
        ("prune_event_types_first", ["nope"]),
        ("prune_event_types_first", ["run_completed"]),
        ("archive_prefix", "../escape"),
        ("archive_prefix", ""),
        ("unknown_field", 1),
    ],
)
def test_invalid_values_raise_validation_error(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        RetentionPolicy(**{field: value})
    assert info.value.code == "validation_error"
    assert field in str(info.value)


def test_archive_needs_both_flag_and_store() -> None:
    with pytest.raises(ValidationError, match="archive_store"):
        RetentionPolicy(archive_before_prune=True)
    with pytest.raises(ValidationError, match="archive_before_prune"):
        RetentionPolicy(archive_store=InMemoryArtifactStore())
    with pytest.raises(ValidationError, match="archive_store"):
        RetentionPolicy(archive_before_prune=True, archive_store=object())
    policy = RetentionPolicy(
        archive_before_prune=True, archive_store=InMemoryArtifactStore(), archive_prefix="/a/b/"
    )
    assert policy.archive_prefix == "a/b"


def test_policies_are_frozen() -> None:
    policy = RetentionPolicy()
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        policy.batch_size = 5  # type: ignore[misc]
