"""Planning an append (one event or a batch) before it touches the database, for both engines.

Both engines write optimistically: they assume every event id is new, reserve numbers with one counter
upsert per session and insert. If an id turns out to exist (a retry, a duplicate), the whole write rolls
back, the stored events are read, `Batch.resolve` decides (same session: return the stored event; another
session: `already_exists`) and the remaining new events are written. So the common case costs no lookup,
and a refusal leaves nothing behind.

With an expectation (`expected`), the counter must equal it when the numbers are reserved, in the same
transaction. When it does not, the ids are looked up: if all are stored already (a retry), the stored
events are the result; otherwise `Batch.refuse` raises `conflict` and the transaction rolls back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...core.errors import AlreadyExists, ValidationError
from ...core.models import Event, validated_events
from ..base import expected_sequence_of, sequence_conflict
from .dialect import Dialect
from .rows import event_params, stored_event


@dataclass
class Batch:
    """Validated events in input order, de-duplicated by id, ready to be numbered and written."""

    dialect: Dialect
    events: list[Event]
    #: First occurrence of each id, in input order: what is written when no id exists yet.
    unique: dict[str, Event]
    #: Events already stored, by id (filled by `resolve` after a conflict).
    stored: dict[str, Event] = field(default_factory=dict)
    #: The session's counter this append expects (`expected_sequence`), or None.
    expected: int | None = None

    @classmethod
    def plan(
        cls,
        dialect: Dialect,
        events: Sequence[Any],
        *,
        flush_session: str | None = None,
        expected_sequence: int | None = None,
    ) -> Batch:
        """Check types and in-batch duplicates; `flush_session`: every event must belong to it;
        `expected_sequence`: validated, and every event must belong to one session."""
        given = validated_events(events)
        expected = expected_sequence_of(expected_sequence, given)
        checked: list[Event] = []
        unique: dict[str, Event] = {}
        for event in given:
            if flush_session is not None and event.session_id != flush_session:
                raise ValidationError(
                    "flush: every event must belong to the flushed session", details={"event_id": event.id}
                )
            earlier = unique.setdefault(event.id, event)
            if earlier.session_id != event.session_id:
                raise AlreadyExists(
                    f"event {event.id!r} appears twice for different sessions", details={"event_id": event.id}
                )
            checked.append(event)
        return cls(dialect, checked, unique, expected=expected)

    def new_events(self) -> list[Event]:
        """The events still to write, in input order."""
        return [event for event_id, event in self.unique.items() if event_id not in self.stored]

    def is_retry(self) -> bool:
        """Whether every event of this (non-empty) batch turned out to be stored already: a retry after
        a lost reply, which changes nothing (its `state_updates` were applied with the original)."""
        return bool(self.events) and not self.new_events()

    def counts(self) -> dict[str, int]:
        """How many numbers each session needs for `new_events()`, sessions in sorted order (the lock
        order of the counter rows, so concurrent multi-session batches cannot deadlock)."""
        counts: dict[str, int] = {}
        for event in self.new_events():
            counts[event.session_id] = counts.get(event.session_id, 0) + 1
        return dict(sorted(counts.items()))

    def number(self, last: Mapping[str, int]) -> tuple[list[tuple[Any, ...]], list[Event]]:
        """Insert parameters and stored form of the new events, given the last number reserved for each
        session (numbers are contiguous per session, in input order)."""
        counts = self.counts()
        next_number = {sid: last[sid] - count + 1 for sid, count in counts.items()}
        params: list[tuple[Any, ...]] = []
        stored: list[Event] = []
        dialect = self.dialect
        for event in self.new_events():
            seq = next_number[event.session_id]
            next_number[event.session_id] = seq + 1
            params.append(event_params(dialect, event, seq))
            stored.append(stored_event(event, seq))
        return params, stored

    def resolve(self, existing: Sequence[Event]) -> None:
        """Take note of events already stored under ids of this batch; `already_exists` if one of them
        belongs to another session than the event that reuses its id."""
        for stored in existing:
            wanted = self.unique[stored.id]
            if stored.session_id != wanted.session_id:
                raise AlreadyExists(
                    f"event {stored.id!r} already exists in another session", details={"event_id": stored.id}
                )
            self.stored[stored.id] = stored

    def refuse(self, actual: int) -> None:
        """After the counter was found at `actual` instead of the expectation, and the stored events of
        this batch's ids were `resolve`d: `conflict` unless every event is stored already."""
        if self.expected is not None and self.new_events():
            raise sequence_conflict(self.expected, actual)

    def result(self, written: Sequence[Event]) -> list[Event]:
        """The stored form of every input event, in input order (duplicates map to the stored event)."""
        by_id = dict(self.stored)
        by_id.update((event.id, event) for event in written)
        return [by_id[event.id] for event in self.events]
