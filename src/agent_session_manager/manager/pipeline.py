"""The event pipeline: build, validate, optionally redact, persist.

* Build: the type must be one of the 28 `EventType`s or a namespaced type (`langgraph.checkpoint`, see
  `core.models.NAMESPACED_EVENT_TYPE`). An unknown type from an adapter is, by option,
  recorded as `error_occurred` keeping the original type and data (`unknown_types="record"`, the default)
  or rejected with `invalid_event_type` (`"reject"`) — never silently turned into another type.
  `data` and `metadata` must be JSON objects (or `None`); anything else is a `validation_error`, not `{}`.
* Validate: structure is enforced by `Event` (ids, aware timestamp, JSON that round-trips); the expected
  shape per type (`SHAPE_RULES`) only warns: the warnings are stored in
  `metadata["_validation_warnings"]`, so an adapter bug is visible in the log without losing the event.
* Redact: with a `Redactor`, secrets are replaced before anything is stored; `metadata["_redactions"]`
  records how many and which categories (never the secrets).
* Persist: `persist(event)` appends it to the store, which assigns the sequence number.

Keys starting with `_` in `metadata` that the pipeline writes (`_validation_warnings`, `_redactions`)
replace whatever the caller put there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ..core.errors import InvalidEventType, ValidationError
from ..core.models import Event, EventType
from ..core.models import event_type as core_event_type
from ..sessions.base import SessionStore
from .redaction import Redactor

WARNINGS_KEY = "_validation_warnings"
REDACTIONS_KEY = "_redactions"

UnknownTypes = Literal["record", "reject"]
_Kind = Literal["present", "str", "count"]

#: Expected `data` fields per type: present, a string, or a non-negative integer count. Warn-only.
SHAPE_RULES: Mapping[EventType, tuple[tuple[str, _Kind], ...]] = {
    EventType.MESSAGE_SENT: (("content", "present"), ("role", "str")),
    EventType.MESSAGE_RECEIVED: (("content", "str"), ("role", "str")),
    EventType.MESSAGE_STREAMED: (("content", "str"),),
    EventType.TOOL_CALL_STARTED: (("tool_name", "str"),),
    EventType.TOOL_CALL_COMPLETED: (("tool_name", "str"),),
    EventType.TOOL_CALL_FAILED: (("tool_name", "str"),),
    EventType.TOKEN_USAGE_UPDATED: (("input_tokens", "count"), ("output_tokens", "count")),
    EventType.RUN_COMPLETED: (("stop_reason", "present"),),
    EventType.ERROR_OCCURRED: (("error_message", "str"),),
    EventType.POLICY_VIOLATION: (("policy", "present"), ("kind", "present")),
    EventType.TOOL_APPROVAL_REQUESTED: (("tool_name", "str"), ("policy_name", "present")),
    EventType.TOOL_APPROVAL_GRANTED: (("tool_name", "str"),),
    EventType.TOOL_APPROVAL_DENIED: (("tool_name", "str"),),
}


@dataclass(frozen=True, slots=True)
class EventContext:
    """Where events go and what they are stamped with."""

    session_id: str
    run_id: str | None = None
    provider: str | None = None
    correlation_id: str | None = None


def shape_warnings(event_type: EventType | str, data: Mapping[str, Any]) -> list[str]:
    """Human-readable warnings for `data` not matching the expected shape of `event_type` (namespaced
    types have no expected shape)."""
    warnings: list[str] = []
    if not isinstance(event_type, EventType):
        return warnings
    for key, kind in SHAPE_RULES.get(event_type, ()):
        if key not in data:
            warnings.append(f"{event_type.value}: data.{key} is missing")
            continue
        value = data[key]
        if kind == "str" and not isinstance(value, str):
            warnings.append(f"{event_type.value}: data.{key} should be a string")
        elif kind == "count" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            warnings.append(f"{event_type.value}: data.{key} should be a non-negative integer")
    return warnings


class EventPipeline:
    """Turns raw `(type, data)` pairs into validated, optionally redacted, stored events."""

    def __init__(
        self,
        store: SessionStore,
        *,
        redactor: Redactor | None = None,
        unknown_types: UnknownTypes = "record",
    ) -> None:
        if unknown_types not in ("record", "reject"):
            raise ValidationError(
                'unknown_types must be "record" or "reject"', details={"field": "unknown_types"}
            )
        if redactor is not None and not isinstance(redactor, Redactor):
            raise ValidationError("redactor must be a Redactor", details={"field": "redactor"})
        self.store = store
        self.redactor = redactor
        self.unknown_types = unknown_types

    def build(
        self,
        event_type: EventType | str,
        data: Mapping[str, Any] | None,
        ctx: EventContext,
        *,
        metadata: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
    ) -> Event:
        """A validated (and redacted) event, not yet stored; `validation_error` for a malformed one."""
        payload = _mapping(data, "data")
        meta = _mapping(metadata, "metadata")
        warnings: list[str] = []
        kind = self._resolve(event_type, warnings)
        if kind is EventType.ERROR_OCCURRED and kind != event_type:
            payload = {
                "error_code": InvalidEventType.code,
                "error_message": f"the adapter emitted the unknown event type {event_type!r}",
                "original_type": event_type,
                "original_data": payload,
            }
        meta.pop(REDACTIONS_KEY, None)
        if self.redactor is not None:
            payload, meta, found = self.redactor.redact_event(kind, payload, meta)
            if found:
                meta[REDACTIONS_KEY] = {"count": len(found), "categories": dict(Counter(found))}
        warnings.extend(shape_warnings(kind, payload))
        meta.pop(WARNINGS_KEY, None)
        if warnings:
            meta[WARNINGS_KEY] = warnings
        fields: dict[str, Any] = {
            "type": kind,
            "session_id": ctx.session_id,
            "run_id": ctx.run_id,
            "data": payload,
            "metadata": meta,
            "provider": ctx.provider,
            "correlation_id": ctx.correlation_id,
        }
        if timestamp is not None:
            fields["timestamp"] = timestamp
        return Event(**fields)

    async def persist(self, event: Event) -> Event:
        """Append a built event; returns it with its sequence number. Store errors propagate."""
        return await self.store.append_event(event)

    def _resolve(self, event_type: EventType | str, warnings: list[str]) -> EventType | str:
        if isinstance(event_type, EventType):
            return event_type
        if not isinstance(event_type, str):
            raise ValidationError(
                f"an event type must be a string, not {type(event_type).__name__}",
                details={"field": "type"},
            )
        try:
            return core_event_type(event_type)
        except InvalidEventType:
            if self.unknown_types == "reject":
                raise
        warnings.append(f"unknown event type {event_type!r} recorded as error_occurred")
        return EventType.ERROR_OCCURRED


def _mapping(value: Mapping[str, Any] | None, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(
            f"event {field} must be a JSON object (a dict), not {type(value).__name__}",
            details={"field": field},
        )
    return dict(value)
