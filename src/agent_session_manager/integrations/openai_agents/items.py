"""How an OpenAI Agents SDK item becomes one of our events, and back, exactly.

An item (`TResponseInputItem`: a JSON object such as `{"role": "user", "content": "hi"}` or
`{"type": "function_call", "call_id": ..., "name": ..., "arguments": ...}`) is stored as one event
whose `data["item"]` is the item itself, so `get_items` returns exactly what `add_items` was given.
An item that is valid JSON but breaks one of our storage rules (a U+0000 in a tool's output, `-0.0`, a
float of 1e16 or more, which PostgreSQL's jsonb would refuse or change) is kept as its JSON text in
`data["item_json"]` instead, which round-trips those exactly too. A value that is not JSON at all
(NaN, bytes, a non-string key, an integer beyond 64 bits) is `validation_error`.

The event's type says what the item is, so our timelines, filters and queries understand it:

| item | event type | extra `data` |
|---|---|---|
| message from `user`, `system` or `developer` | `message_sent` | `role` |
| message from `assistant` | `message_received` | `role` |
| `function_call`, `custom_tool_call` | `tool_call_started` | `tool_name`, `tool_call_id` |
| `function_call_output`, `custom_tool_call_output` | `tool_call_completed` | `tool_call_id` |
| anything else, e.g. `reasoning` | `openai_agents.<type>` (`openai_agents.reasoning`) | |
| an item without a usable type | `openai_agents.item` | |
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

import orjson

from ...core import ids
from ...core.errors import ValidationError
from ...core.models import Event, EventType

#: The agent id of the sessions this integration creates, unless one is passed.
DEFAULT_AGENT_ID = "openai-agents"
#: The namespace of the event types of items that have no core equivalent.
NAMESPACE = "openai_agents"

_SENT_ROLES = frozenset({"user", "system", "developer"})
_CALLS = frozenset({"function_call", "custom_tool_call"})
_OUTPUTS = frozenset({"function_call_output", "custom_tool_call_output"})
_NAME = re.compile(r"[a-z][a-z0-9_]{0,100}")


def asm_session_id(session_id: str) -> str:
    """Our session id for an SDK session id: itself when it is a valid ASM id (1-128 characters of
    `[A-Za-z0-9_.:-]`), else `oa_` and the first 40 hex digits of its SHA-256."""
    if not isinstance(session_id, str) or not session_id:
        raise ValidationError("session_id must be a non-empty string", details={"field": "session_id"})
    try:
        return ids.validate_id(session_id, "session_id")
    except ValidationError:
        return "oa_" + hashlib.sha256(session_id.encode()).hexdigest()[:40]


def item_event(item: Any, *, session_id: str, run_id: str | None = None) -> Event:
    """The event that stores `item` in session `session_id` (validated: nothing is written yet).

    Raises:
        ValidationError: `item` is not a JSON value that survives a round trip.
    """
    kind = event_type_of(item)
    fields = _typed_fields(item)
    try:
        return Event(type=kind, session_id=session_id, run_id=run_id, data={**fields, "item": item})
    except ValidationError:
        data = {**fields, "item_json": _exact_json(item)}
    return Event(type=kind, session_id=session_id, run_id=run_id, data=data)


def item_of(data: Mapping[str, Any]) -> Any | None:
    """The item stored in an event's `data`, or `None` for an event that holds none."""
    if "item" in data:
        return data["item"]
    text = data.get("item_json")
    return orjson.loads(text) if isinstance(text, str) else None


def event_type_of(item: Any) -> EventType | str:
    """The event type an item is stored under (see the module docstring)."""
    if not isinstance(item, dict):
        return f"{NAMESPACE}.item"
    kind = item.get("type")
    if kind is None or kind == "message":
        role = item.get("role")
        if role in _SENT_ROLES:
            return EventType.MESSAGE_SENT
        if role == "assistant":
            return EventType.MESSAGE_RECEIVED
    if kind in _CALLS:
        return EventType.TOOL_CALL_STARTED
    if kind in _OUTPUTS:
        return EventType.TOOL_CALL_COMPLETED
    if isinstance(kind, str) and _NAME.fullmatch(kind):
        return f"{NAMESPACE}.{kind}"
    return f"{NAMESPACE}.item"


def _typed_fields(item: Any) -> dict[str, Any]:
    """The few fields our tools read for the item's event type (a role, a tool's name and call id)."""
    if not isinstance(item, dict):
        return {}
    fields: dict[str, Any] = {}
    kind = item.get("type")
    if isinstance(item.get("role"), str) and kind in (None, "message"):
        fields["role"] = item["role"]
    if kind in _CALLS and isinstance(item.get("name"), str):
        fields["tool_name"] = item["name"]
    if kind in _CALLS | _OUTPUTS and isinstance(item.get("call_id"), str):
        fields["tool_call_id"] = item["call_id"]
    return fields


def _exact_json(item: Any) -> str:
    """`item` as JSON text, if that text reads back as exactly `item`; else `validation_error`."""
    try:
        text = orjson.dumps(item)
    except TypeError as exc:
        raise ValidationError(f"item is not JSON-serialisable: {exc}", details={"field": "item"}) from exc
    if orjson.loads(text) != item:
        raise ValidationError(
            "item does not survive a JSON round trip unchanged "
            "(NaN/Infinity, tuples or other non-JSON values)",
            details={"field": "item"},
        )
    return text.decode()
