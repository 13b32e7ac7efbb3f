"""How stored values look in `asm ui`: event cards by type, tool calls paired with their results,
pretty JSON, sizes and durations.

Nothing here builds HTML: the templates do, with Jinja2's autoescaping on, so every value from the store
(event data comes from models and tools: untrusted) reaches the page as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from ..cli.common import summarize
from ..core.models import Event

#: Event types shown as errors (red).
ERROR_TYPES = frozenset(
    {
        "run_failed",
        "run_timeout",
        "session_failed",
        "tool_call_failed",
        "error_occurred",
        "policy_violation",
        "tool_approval_denied",
    }
)
MESSAGE_TYPES = frozenset({"message_sent", "message_received"})
TOOL_RESULT_TYPES = frozenset({"tool_call_completed", "tool_call_failed"})


def pretty_json(value: Any) -> str:
    """`value` as indented JSON with sorted keys (text; the template escapes it)."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


def text_of(value: Any) -> str:
    """Message content as text: a string as is, anything else (content parts, objects) as JSON."""
    return value if isinstance(value, str) else pretty_json(value)


@dataclass(frozen=True)
class EventCard:
    """One event of a timeline, with what its type-specific rendering needs."""

    event: Event
    #: message, stream, tool_call, tool_result, error, tokens or other.
    kind: str
    summary: str
    #: For a tool call: the sequence number of its result on the same page (and the reverse).
    partner: int | None = None
    #: For a tool call whose result is on this page: the result event.
    result: Event | None = None

    @property
    def data(self) -> dict[str, Any]:
        return self.event.data

    @property
    def role(self) -> str:
        role = self.event.data.get("role")
        if isinstance(role, str):
            return role
        return "user" if self.event.type == "message_sent" else "assistant"


def kind_of(event: Event) -> str:
    kind = str(event.type)
    if kind in ERROR_TYPES:
        return "error"
    if kind in MESSAGE_TYPES:
        return "message"
    if kind == "message_streamed":
        return "stream"
    if kind == "tool_call_started":
        return "tool_call"
    if kind == "tool_call_completed":
        return "tool_result"
    if kind == "token_usage_updated":
        return "tokens"
    return "other"


def _call_id(event: Event) -> str | None:
    value = event.data.get("tool_call_id")
    return value if isinstance(value, str) and value else None


def cards(events: Sequence[Event]) -> list[EventCard]:
    """The timeline of `events`, each tool call paired with its result when both are on the page."""
    started: dict[str, Event] = {}
    finished: dict[str, Event] = {}
    for event in events:
        call = _call_id(event)
        if call is None:
            continue
        if event.type == "tool_call_started":
            started.setdefault(call, event)
        elif event.type in TOOL_RESULT_TYPES:
            finished.setdefault(call, event)
    result: list[EventCard] = []
    for event in events:
        call = _call_id(event)
        partner: Event | None = None
        if call is not None and event.type == "tool_call_started":
            partner = finished.get(call)
        elif call is not None and event.type in TOOL_RESULT_TYPES:
            partner = started.get(call)
        result.append(
            EventCard(
                event=event,
                kind=kind_of(event),
                summary=_short(summarize(event)),
                partner=None if partner is None else partner.sequence_number,
                result=partner if event.type == "tool_call_started" else None,
            )
        )
    return result


#: The longest one-line summary of an event (the raw JSON holds the rest).
SUMMARY_CHARS = 240


def _short(text: str) -> str:
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


def card(event: Event) -> EventCard:
    """One event on its own (the live stream renders events one at a time)."""
    return cards([event])[0]


def when(value: datetime | None, milliseconds: bool = True) -> str:
    """A time in UTC, to the millisecond (or to the second)."""
    if value is None:
        return ""
    text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return text[:-3] if milliseconds else text[:-7]


def duration(value: timedelta | None) -> str:
    if value is None:
        return "-"
    seconds = value.total_seconds()
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}h {minute:02d}m {second:02d}s" if hours else f"{minute}m {second:02d}s"


def number(value: int) -> str:
    return f"{value:,}"


def joined(values: Iterable[str]) -> str:
    return ", ".join(values)
