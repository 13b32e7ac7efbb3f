"""JSON payloads in the `SessionStore` contract (property tests): what can round-trip does, exactly;
what cannot is refused with `validation_error`. Part of `SessionStoreContract`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..core.errors import (
    ValidationError,
)
from ..core.models import Event, EventType, Session
from ..sessions.base import SessionStore
from .store import StoreContract

#: JSON values that round-trip exactly on every backend.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-9.9e15, max_value=9.9e15).filter(
        lambda x: x != 0 or math.copysign(1.0, x) > 0
    )
    | st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)
)
json_keys = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=10)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_keys, inner, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(json_keys, json_values, max_size=5)
#: Values that cannot round-trip; each must be rejected with `validation_error`.
poison = st.sampled_from(
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        -0.0,
        1e16,
        b"bytes",
        {1, 2},
        (1, 2),
        "nul\x00",
        2**64,
        datetime(2026, 1, 1, tzinfo=UTC),
    ]
)


def canonical(value: Any) -> bytes:
    """JSON bytes that tell 1 from 1.0 but ignore object key order (which jsonb does not keep)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _poisoned(payload: dict[str, Any], bad: Any, where: int) -> dict[str, Any]:
    copy = dict(payload)
    if where == 0:
        copy["bad"] = bad
    elif where == 1:
        copy["nested"] = {"list": [1, bad]}
    else:
        copy["deep"] = {"a": {"b": [{"c": bad}]}}
    return copy


class PayloadContract(StoreContract):
    """Event payloads round-trip exactly or are refused."""

    # -- JSON round trip (property tests) -------------------------------------------------------

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
    )
    @given(payload=json_objects, metadata=json_objects)
    async def test_json_payloads_round_trip_exactly(
        self, store: SessionStore, payload: dict[str, Any], metadata: dict[str, Any]
    ) -> None:
        session = await store.save_session(Session(agent_id="json", metadata=metadata))
        await store.append_event(self._event(session, data=payload, metadata=metadata))
        [read] = await store.get_events(session.id)
        assert read.data == payload
        assert canonical(read.data) == canonical(payload)
        assert canonical(read.metadata) == canonical(metadata)
        got = await store.get_session(session.id)
        assert canonical(got.metadata) == canonical(metadata)

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
    )
    @given(payload=json_objects, bad=poison, where=st.integers(0, 2))
    async def test_payloads_that_cannot_round_trip_are_rejected(
        self, store: SessionStore, payload: dict[str, Any], bad: Any, where: int
    ) -> None:
        session = await store.save_session(Session(agent_id="json"))
        poisoned = _poisoned(payload, bad, where)
        with pytest.raises(ValidationError) as info:
            await store.append_event(self._event(session, data=poisoned))
        assert info.value.code == "validation_error"
        with pytest.raises(ValidationError):
            Session(agent_id="json", metadata=poisoned)
        with pytest.raises(ValidationError):
            Event(type=EventType.MESSAGE_SENT, session_id=session.id, data={1: "non-string key"})
        assert await store.get_latest_sequence(session.id) == 0
