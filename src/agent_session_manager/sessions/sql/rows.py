"""Rows <-> models for both SQL engines: column lists, parameter tuples and trusted model construction.

A `Dialect` (`dialect.py`) says how the engine wants timestamps, JSON and tag lists; everything else is
shared. Rows
read back from our own tables were validated when they were written, so models are built from them
without re-validation (`trusted`): that is 1 µs per event instead of 8 µs, and a page of 100 events is
read at close to the bare driver's speed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias, TypeVar

from ...core.clock import utc_now
from ...core.models import ArtifactRecord, Event, EventType, Run, RunStatus, Session, SessionStatus
from ..state import State
from .dialect import Dialect

Row: TypeAlias = Sequence[Any]
M = TypeVar("M", Session, Run, Event, ArtifactRecord)

_EVENT_TYPES = {t.value: t for t in EventType}
_SESSION_STATUSES = {s.value: s for s in SessionStatus}
_RUN_STATUSES = {s.value: s for s in RunStatus}


def trusted(cls: type[M], values: dict[str, Any]) -> M:
    """A model from values read back from our own tables (already validated on the way in).

    Every field is set, so all instances of a class share one "fields set" (pydantic copies it before
    any change: models are frozen, and `model_copy(update=...)` works on a copy). Fewer objects per
    row also means less work for the cyclic garbage collector on large reads and batches.
    """
    model = object.__new__(cls)
    _setattr(model, "__dict__", values)
    _setattr(model, "__pydantic_fields_set__", _FIELDS_SET[cls])
    _setattr(model, "__pydantic_extra__", None)
    _setattr(model, "__pydantic_private__", None)
    return model


_setattr = object.__setattr__
_FIELDS_SET: dict[type[Any], set[str]] = {
    cls: set(cls.model_fields) for cls in (Session, Run, Event, ArtifactRecord)
}


# -- sessions ------------------------------------------------------------------------------------

SESSION_COLUMNS = (
    "id",
    "agent_id",
    "status",
    "parent_session_id",
    "metadata",
    "context",
    "tags",
    "created_at",
    "updated_at",
    "deleted_at",
    "user_id",
)


def session_params(d: Dialect, s: Session) -> tuple[Any, ...]:
    """Insert parameters of `s` (column order above), then the time of this save, which becomes
    `updated_at` when the save replaces a stored session."""
    return (
        s.id,
        s.agent_id,
        s.status.value,
        s.parent_session_id,
        d.json_in(s.metadata),
        d.json_in(s.context),
        d.tags_in(s.tags),
        d.timestamp_in(s.created_at),
        d.timestamp_in(s.updated_at),
        d.ts(s.deleted_at),
        s.user_id,
        d.timestamp_in(utc_now()),
    )


def session_from_row(d: Dialect, r: Row) -> Session:
    return trusted(
        Session,
        {
            "id": r[0],
            "agent_id": r[1],
            "status": _SESSION_STATUSES[r[2]],
            "parent_session_id": r[3],
            "metadata": d.json_out(r[4]),
            "context": d.json_out(r[5]),
            "tags": d.tags_out(r[6]),
            "created_at": d.timestamp_out(r[7]),
            "updated_at": d.timestamp_out(r[8]),
            "deleted_at": d.ts_out(r[9]),
            "user_id": r[10],
        },
    )


# -- runs ----------------------------------------------------------------------------------------

RUN_COLUMNS = (
    "id",
    "session_id",
    "status",
    "input",
    "output",
    "error",
    "metadata",
    "turn_count",
    "token_usage",
    "cost_usd",
    "started_at",
    "ended_at",
    "provider",
    "provider_metadata",
)


def run_params(d: Dialect, r: Run) -> tuple[Any, ...]:
    return (
        r.id,
        r.session_id,
        r.status.value,
        d.doc(r.input),
        d.doc(r.output),
        d.doc(r.error),
        d.json_in(r.metadata),
        r.turn_count,
        d.json_in(r.token_usage),
        r.cost_usd,
        d.timestamp_in(r.started_at),
        d.ts(r.ended_at),
        r.provider,
        d.json_in(r.provider_metadata),
    )


def run_from_row(d: Dialect, r: Row) -> Run:
    return trusted(
        Run,
        {
            "id": r[0],
            "session_id": r[1],
            "status": _RUN_STATUSES[r[2]],
            "input": d.doc_out(r[3]),
            "output": d.doc_out(r[4]),
            "error": d.doc_out(r[5]),
            "metadata": d.json_out(r[6]),
            "turn_count": r[7],
            "token_usage": d.json_out(r[8]),
            "cost_usd": r[9],
            "started_at": d.timestamp_out(r[10]),
            "ended_at": d.ts_out(r[11]),
            "provider": r[12],
            "provider_metadata": d.json_out(r[13]),
        },
    )


# -- events --------------------------------------------------------------------------------------

EVENT_COLUMNS = (
    "id",
    "type",
    "timestamp",
    "session_id",
    "run_id",
    "sequence_number",
    "data",
    "metadata",
    "schema_version",
    "provider",
    "correlation_id",
)


def event_params(d: Dialect, e: Event, sequence_number: int | None) -> tuple[Any, ...]:
    """Insert parameters of `e` with the store-assigned `sequence_number` (column order above)."""
    return (
        e.id,
        str(e.type),
        d.timestamp_in(e.timestamp),
        e.session_id,
        e.run_id,
        sequence_number,
        d.json_in(e.data),
        d.json_in(e.metadata),
        e.schema_version,
        e.provider,
        e.correlation_id,
    )


def event_from_row(d: Dialect, r: Row) -> Event:
    return events_from_rows(d, (r,))[0]


def events_from_rows(d: Dialect, rows: Sequence[Row]) -> list[Event]:
    """Events from rows of `EVENT_COLUMNS`, built as `trusted` builds them but inlined, with the lookups
    done once per page: reading pages of events is the hot read path (bench/bench_events.py)."""
    new, setattr_, fields = object.__new__, _setattr, _FIELDS_SET[Event]
    kinds, timestamp, loads = _EVENT_TYPES.get, d.timestamp_out, d.json_out
    events: list[Event] = []
    append = events.append
    for r in rows:
        event = new(Event)
        setattr_(
            event,
            "__dict__",
            {
                "id": r[0],
                "type": kinds(r[1], r[1]),
                "session_id": r[3],
                "run_id": r[4],
                "timestamp": timestamp(r[2]),
                "data": loads(r[6]),
                "metadata": loads(r[7]),
                "sequence_number": r[5],
                "schema_version": r[8],
                "provider": r[9],
                "correlation_id": r[10],
            },
        )
        setattr_(event, "__pydantic_fields_set__", fields)
        setattr_(event, "__pydantic_extra__", None)
        setattr_(event, "__pydantic_private__", None)
        append(event)
    return events


def stored_event(event: Event, sequence_number: int) -> Event:
    """`event` as stored: the same values, numbered. Its JSON objects are those of `event` (the store
    keeps its own serialised copy, so changing either object never changes what is stored)."""
    values = dict(event.__dict__)
    values["sequence_number"] = sequence_number
    return trusted(Event, values)


# -- artifact records ----------------------------------------------------------------------------

ARTIFACT_COLUMNS = (
    "id",
    "session_id",
    "run_id",
    "key",
    "content_type",
    "byte_size",
    "checksum_sha256",
    "storage_backend",
    "storage_ref",
    "metadata",
    "created_at",
    "deleted_at",
)


def artifact_params(d: Dialect, a: ArtifactRecord) -> tuple[Any, ...]:
    return (
        a.id,
        a.session_id,
        a.run_id,
        a.key,
        a.content_type,
        a.byte_size,
        a.checksum_sha256,
        a.storage_backend,
        a.storage_ref,
        d.json_in(a.metadata),
        d.timestamp_in(a.created_at),
        d.ts(a.deleted_at),
    )


def artifact_from_row(d: Dialect, r: Row) -> ArtifactRecord:
    return trusted(
        ArtifactRecord,
        {
            "id": r[0],
            "session_id": r[1],
            "run_id": r[2],
            "key": r[3],
            "content_type": r[4],
            "byte_size": r[5],
            "checksum_sha256": r[6],
            "storage_backend": r[7],
            "storage_ref": r[8],
            "metadata": d.json_out(r[9]),
            "created_at": d.timestamp_out(r[10]),
            "deleted_at": d.ts_out(r[11]),
        },
    )


# -- state documents -----------------------------------------------------------------------------


def state_from_row(d: Dialect, r: Row) -> State:
    """A `State` from `(scope, value, version, updated_at)`."""
    return State(r[0], d.json_out(r[1]), int(r[2]), d.timestamp_out(r[3]))
