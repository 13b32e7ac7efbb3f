"""The domain: `Session`, `Run`, `Event`, their statuses and the 28 event types.

Besides the 28 `EventType`s, an event type may be a namespaced name (`langgraph.checkpoint`,
`adk.state_delta`: `namespace.name`, lowercase, see `NAMESPACED_EVENT_TYPE`) for what has no core
equivalent; any other unknown type is `invalid_event_type`.

Models are frozen pydantic v2 models: change one with its helpers (`with_status`, `complete`, `fail`, ...)
or `model_copy(update=...)`. Constructing a model validates it and raises `ASMError` subclasses, never
pydantic's own error: `invalid_event_type`, `invalid_status`, or `validation_error` naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Self, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from . import ids
from .clock import ensure_utc, utc_now
from .errors import InvalidEventType, InvalidStatus, InvalidTransition, ValidationError
from .json import INT64_MAX, JSONObject, checked_object, dumps
from .keys import validate_key
from .usage import check_token_usage


class SessionStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"


class EventType(StrEnum):
    """The closed set of event types. An unknown type is an error, never coerced into another."""

    SESSION_CREATED = "session_created"
    SESSION_STARTED = "session_started"
    SESSION_PAUSED = "session_paused"
    SESSION_RESUMED = "session_resumed"
    SESSION_COMPLETED = "session_completed"
    SESSION_FAILED = "session_failed"
    SESSION_CANCELLED = "session_cancelled"
    RUN_STARTED = "run_started"
    RUN_COMPLETED = "run_completed"
    RUN_FAILED = "run_failed"
    RUN_CANCELLED = "run_cancelled"
    RUN_TIMEOUT = "run_timeout"
    MESSAGE_SENT = "message_sent"
    MESSAGE_RECEIVED = "message_received"
    MESSAGE_STREAMED = "message_streamed"
    TOOL_CALL_STARTED = "tool_call_started"
    TOOL_CALL_COMPLETED = "tool_call_completed"
    TOOL_CALL_FAILED = "tool_call_failed"
    ERROR_OCCURRED = "error_occurred"
    ERROR_RECOVERED = "error_recovered"
    TOKEN_USAGE_UPDATED = "token_usage_updated"
    TURN_COMPLETED = "turn_completed"
    WORKSPACE_SNAPSHOT_TAKEN = "workspace_snapshot_taken"
    WORKSPACE_DIFF_COMPUTED = "workspace_diff_computed"
    POLICY_VIOLATION = "policy_violation"
    TOOL_APPROVAL_REQUESTED = "tool_approval_requested"
    TOOL_APPROVAL_GRANTED = "tool_approval_granted"
    TOOL_APPROVAL_DENIED = "tool_approval_denied"


#: What a namespaced event type looks like: two or more dot-separated lowercase names
#: (`langgraph.checkpoint`, `adk.state_delta`). Core types have no dot, so the two sets never overlap.
NAMESPACED_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
#: The longest namespaced event type accepted (like ids: fits any index and any log line).
MAX_EVENT_TYPE_LENGTH = 128
_CORE_TYPES = {t.value: t for t in EventType}


def event_type(value: EventType | str | Any) -> EventType | str:
    """`value` as an event type: the `EventType` member for a core name, the name itself for a
    namespaced type, else `invalid_event_type` listing the valid types and the pattern."""
    if isinstance(value, EventType):
        return value
    if isinstance(value, str):
        core = _CORE_TYPES.get(value)
        if core is not None:
            return core
        if len(value) <= MAX_EVENT_TYPE_LENGTH and NAMESPACED_EVENT_TYPE.fullmatch(value):
            return value
    names = ", ".join(_CORE_TYPES)
    raise InvalidEventType(
        f"unknown event type {value!r}; expected one of: {names}; or a namespaced type "
        f"matching {NAMESPACED_EVENT_TYPE.pattern} (at most {MAX_EVENT_TYPE_LENGTH} characters)",
        details={
            "type": value if isinstance(value, str) else type(value).__name__,
            "valid_types": list(_CORE_TYPES),
            "pattern": NAMESPACED_EVENT_TYPE.pattern,
        },
    )


TERMINAL_SESSION_STATUSES = frozenset(
    {SessionStatus.COMPLETED, SessionStatus.FAILED, SessionStatus.CANCELLED}
)
TERMINAL_RUN_STATUSES = frozenset(
    {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.TIMEOUT}
)

#: The session state machine: pending -> active -> completed | failed | cancelled; active <-> paused.
#: A session that never started may still fail or be cancelled. Terminal statuses are final.
SESSION_TRANSITIONS: Mapping[SessionStatus, frozenset[SessionStatus]] = {
    SessionStatus.PENDING: frozenset({SessionStatus.ACTIVE, SessionStatus.FAILED, SessionStatus.CANCELLED}),
    SessionStatus.ACTIVE: frozenset(
        {
            SessionStatus.PAUSED,
            SessionStatus.COMPLETED,
            SessionStatus.FAILED,
            SessionStatus.CANCELLED,
        }
    ),
    SessionStatus.PAUSED: frozenset({SessionStatus.ACTIVE, SessionStatus.FAILED, SessionStatus.CANCELLED}),
    SessionStatus.COMPLETED: frozenset(),
    SessionStatus.FAILED: frozenset(),
    SessionStatus.CANCELLED: frozenset(),
}

#: The run state machine: pending -> running -> completed | failed | cancelled | timeout.
#: A run that never started may still fail or be cancelled. Terminal statuses are final.
RUN_TRANSITIONS: Mapping[RunStatus, frozenset[RunStatus]] = {
    RunStatus.PENDING: frozenset({RunStatus.RUNNING, RunStatus.FAILED, RunStatus.CANCELLED}),
    RunStatus.RUNNING: frozenset(TERMINAL_RUN_STATUSES),
    **{status: frozenset() for status in TERMINAL_RUN_STATUSES},
}


def check_session_transition(old: SessionStatus, new: SessionStatus) -> None:
    """Raise `invalid_transition` unless `old -> new` is allowed (staying put always is)."""
    if old != new and new not in SESSION_TRANSITIONS[old]:
        raise InvalidTransition(
            f"session status cannot change from {old.value} to {new.value}",
            details={"from": old.value, "to": new.value},
        )


def check_run_transition(old: RunStatus, new: RunStatus) -> None:
    """Raise `invalid_transition` unless `old -> new` is allowed (staying put always is)."""
    if old != new and new not in RUN_TRANSITIONS[old]:
        raise InvalidTransition(
            f"run status cannot change from {old.value} to {new.value}",
            details={"from": old.value, "to": new.value},
        )


class Record(BaseModel):
    """Base of every model the library defines: frozen, strict about unknown fields, raising `ASMError`s.

    Subclass it for your own records that should behave like ours; timestamp fields get
    `field_validator(name, mode="after")(utc_validator)` so naive datetimes are refused.

    The constructor records, in a slot that copies, pickles and equality ignore, the JSON encoding of
    the fields a frozen model cannot freeze (its dicts and lists), so that `validated` can tell a model
    it validated, and that was not changed in place since, from anything else.
    """

    __slots__ = ("_asm_validated",)
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=False)
    #: The fields that hold dicts or lists.
    _mutable_fields: ClassVar[tuple[str, ...]] = ()
    #: The most bytes the JSON of those fields may take together (None: no limit).
    _max_bytes: ClassVar[int | None] = None

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            raise _translate(exc, type(self).__name__) from None
        state = self._mutable_state()
        if self._max_bytes is not None and len(state) > self._max_bytes:
            fields = " and ".join(self._mutable_fields)
            raise ValidationError(
                f"{type(self).__name__} is too large: the JSON of its {fields} takes {len(state):,} bytes; "
                f"at most {self._max_bytes:,} are allowed (store large content as an artifact)",
                details={"field": fields, "bytes": len(state), "max_bytes": self._max_bytes},
            )
        object.__setattr__(self, "_asm_validated", state)

    def _mutable_state(self) -> bytes:
        """The JSON encoding of the dicts and lists this model holds."""
        return dumps([getattr(self, name) for name in self._mutable_fields])

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from a plain dict (e.g. JSON from an export), validating every field."""
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict: enums as their values, datetimes as ISO-8601 strings."""
        return self.model_dump(mode="json")


R = TypeVar("R", bound=Record)


def validated(value: object, cls: type[R]) -> R:
    """`value` as a valid `cls`, however it was made: the check that starts every store write.

    Pydantic validates in the constructor only: `model_copy(update=...)` and `model_construct` skip it,
    and the dicts and lists of a frozen model can be changed in place. A store that trusted its input
    would store NaN as null, naive or out-of-range timestamps, or ids its readers cannot parse. So every
    write path of every backend passes what it is given through here (the contract suite's
    `WriteBoundaryContract` fails a backend, or a new write path, that does not):

    * a model made by `cls(...)` whose dicts and lists still encode to the JSON they had then is
      returned as is (one `orjson.dumps`, well under a microsecond for a typical event);
    * anything else that is a `cls` (a copy, a constructed model, a subclass, a model changed in place)
      is validated in full and the validated copy, of exactly `cls`, is returned (like a constructor).

    Args:
        value: What the caller passed to the store.
        cls: The model the write path takes.

    Returns:
        A validated `cls` with the same field values.

    Raises:
        ValidationError: `value` is not a `cls`, or a field is invalid (the same error and code as the
            constructor's, e.g. `invalid_event_type`).

    Example:
        >>> event = Event(type="message_sent", session_id="ses_1")
        >>> validated(event, Event) is event
        True
    """
    if type(value) is cls and _unchanged(value):
        return value
    if not isinstance(value, cls):
        raise ValidationError(f"expected a {cls.__name__}", details={"got": type(value).__name__})
    return cls(**value.__dict__)


def validated_events(events: object) -> list[Event]:
    """The events of a batch (any sequence but a string), each through `validated`, in order."""
    if not isinstance(events, Sequence) or isinstance(events, str | bytes | bytearray):
        raise ValidationError(
            "events must be a sequence of Event objects", details={"got": type(events).__name__}
        )
    return [validated(event, Event) for event in events]


def _unchanged(model: Record) -> bool:
    """Whether `model` was made by its constructor and its dicts and lists still encode as they did."""
    state = getattr(model, "_asm_validated", None)
    if state is None:
        return False
    try:
        current = model._mutable_state()
    except TypeError:  # something that is not JSON was put into a dict or list
        return False
    return bool(current == state)


def _translate(exc: pydantic.ValidationError, model: str) -> ValidationError:
    first = exc.errors(include_url=False, include_input=False)[0]
    field = ".".join(str(part) for part in first["loc"]) or model
    if field == "status":
        return InvalidStatus(f"invalid {model.lower()} status: {first['msg']}")
    return ValidationError(f"{model}.{field}: {first['msg']}", details={"field": field})


def _valid_id(value: Any, info: pydantic.ValidationInfo) -> Any:
    if value is None:
        return None
    return ids.validate_id(value, info.field_name or "id")


def utc_validator(value: Any, info: pydantic.ValidationInfo) -> Any:
    """A pydantic validator: a datetime field must be timezone-aware; it is stored in UTC."""
    if value is None or not isinstance(value, datetime):
        return value
    return ensure_utc(value, info.field_name or "timestamp")


def _text(value: Any, info: pydantic.ValidationInfo) -> Any:
    """Plain text columns get the JSON rule too: no U+0000 and valid UTF-8, on every backend."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, str) and _bad_text(item):
            raise ValidationError(
                f"{info.field_name} must be valid UTF-8 text without U+0000",
                details={"field": info.field_name},
            )
    return value


def _bad_text(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _json_object(value: Any, info: pydantic.ValidationInfo) -> Any:
    if value is None:
        return None
    return checked_object(value, info.field_name or "value")


class Session(Record):
    """A conversation or task of one agent; the unit that owns runs, events and artifacts.

    `user_id` names the end user the session belongs to (validated like ids; listed with
    `list_sessions(user_id=...)`). Stores set `updated_at` to the time of every save that replaces a
    stored session (the first save of an id keeps the given value, so imports round-trip).
    """

    id: str = Field(default_factory=lambda: ids.new_id(ids.SESSION_PREFIX))
    agent_id: str = Field(min_length=1)
    status: SessionStatus = SessionStatus.PENDING
    parent_session_id: str | None = None
    metadata: JSONObject = Field(default_factory=dict)
    context: JSONObject = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    deleted_at: datetime | None = None
    user_id: str | None = None

    _check_ids = field_validator("id", "parent_session_id", "user_id", mode="before")(_valid_id)
    _check_times = field_validator("created_at", "updated_at", "deleted_at", mode="after")(utc_validator)
    _mutable_fields = ("metadata", "context", "tags")
    _check_json = field_validator("metadata", "context", mode="before")(_json_object)
    _check_text = field_validator("agent_id", "tags", mode="after")(_text)

    @field_validator("tags", mode="after")
    @classmethod
    def _check_tags(cls, value: list[str]) -> list[str]:
        if any(not tag for tag in value):
            raise ValidationError("tags must be non-empty strings", details={"field": "tags"})
        return value

    def with_status(self, status: SessionStatus | str) -> Session:
        """A copy in `status` with `updated_at` bumped; `invalid_transition` if not allowed."""
        new = _session_status(status)
        check_session_transition(self.status, new)
        return self.model_copy(update={"status": new, "updated_at": utc_now()})


class Run(Record):
    """One execution of an agent within a session (a prompt in, an output or an error out)."""

    id: str = Field(default_factory=lambda: ids.new_id(ids.RUN_PREFIX))
    session_id: str
    status: RunStatus = RunStatus.PENDING
    input: JSONObject | None = None
    output: JSONObject | None = None
    error: JSONObject | None = None
    metadata: JSONObject = Field(default_factory=dict)
    turn_count: int = Field(default=0, ge=0, le=INT64_MAX)
    token_usage: JSONObject = Field(default_factory=dict)
    cost_usd: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    started_at: datetime = Field(default_factory=utc_now)
    ended_at: datetime | None = None
    provider: str | None = None
    provider_metadata: JSONObject = Field(default_factory=dict)

    _check_ids = field_validator("id", "session_id", mode="before")(_valid_id)
    _check_times = field_validator("started_at", "ended_at", mode="after")(utc_validator)
    _mutable_fields = ("input", "output", "error", "metadata", "token_usage", "provider_metadata")
    _check_json = field_validator(*_mutable_fields, mode="before")(_json_object)
    _check_text = field_validator("provider", mode="after")(_text)

    @field_validator("token_usage", mode="after")
    @classmethod
    def _check_token_counts(cls, value: JSONObject) -> JSONObject:
        check_token_usage(value)
        return value

    def with_status(self, status: RunStatus | str) -> Run:
        """A copy in `status` (`ended_at` set on entering a terminal status); checks the transition."""
        new = _run_status(status)
        check_run_transition(self.status, new)
        update: dict[str, Any] = {"status": new}
        if new in TERMINAL_RUN_STATUSES and self.ended_at is None:
            update["ended_at"] = utc_now()
        return self.model_copy(update=update)

    def complete(self, output: Mapping[str, Any] | None = None) -> Run:
        """A completed copy carrying `output`."""
        done = self.with_status(RunStatus.COMPLETED)
        return done.model_copy(update={"output": _copy_json(output, "output")})

    def fail(self, error: Mapping[str, Any]) -> Run:
        """A failed copy carrying `error` (`{"code": ..., "message": ...}` by convention)."""
        failed = self.with_status(RunStatus.FAILED)
        return failed.model_copy(update={"error": _copy_json(error, "error")})

    def add_token_usage(self, usage: Mapping[str, Any]) -> Run:
        """A copy with `usage` merged into `token_usage`: numbers are summed, other values replaced."""
        merged = dict(self.token_usage)
        for key, value in usage.items():
            old = merged.get(key)
            numeric = (int, float)
            if (
                isinstance(value, numeric)
                and isinstance(old, numeric)
                and not isinstance(value, bool)
                and not isinstance(old, bool)
            ):
                merged[key] = old + value
            else:
                merged[key] = value
        checked = checked_object(merged, "token_usage")
        check_token_usage(checked)
        return self.model_copy(update={"token_usage": checked})


#: The largest event: the JSON of its `data` and `metadata` together, on every backend (PostgreSQL
#: refused a few hundred MB that SQLite took). Larger content belongs in an artifact.
MAX_EVENT_BYTES = 16 << 20


class Event(Record):
    """One entry of a session's append-only log. `sequence_number` is assigned by the store."""

    id: str = Field(default_factory=lambda: ids.new_id(ids.EVENT_PREFIX))
    #: One of the 28 `EventType`s, or a namespaced type (`langgraph.checkpoint`) kept as a string.
    type: EventType | str
    session_id: str
    run_id: str | None = None
    timestamp: datetime = Field(default_factory=utc_now)
    data: JSONObject = Field(default_factory=dict)
    metadata: JSONObject = Field(default_factory=dict)
    sequence_number: int | None = Field(default=None, ge=1, le=INT64_MAX)
    schema_version: int = Field(default=1, ge=1, le=INT64_MAX)
    provider: str | None = None
    correlation_id: str | None = None

    _check_ids = field_validator("id", "session_id", "run_id", mode="before")(_valid_id)
    _check_times = field_validator("timestamp", mode="after")(utc_validator)
    _mutable_fields = ("data", "metadata")
    _max_bytes = MAX_EVENT_BYTES
    _check_json = field_validator(*_mutable_fields, mode="before")(_json_object)
    _check_text = field_validator("provider", "correlation_id", mode="after")(_text)

    @field_validator("type", mode="plain")
    @classmethod
    def _check_type(cls, value: Any) -> EventType | str:
        return event_type(value)


def _session_status(value: SessionStatus | str) -> SessionStatus:
    try:
        return SessionStatus(value)
    except ValueError:
        raise InvalidStatus(f"unknown session status {value!r}") from None


def _run_status(value: RunStatus | str) -> RunStatus:
    try:
        return RunStatus(value)
    except ValueError:
        raise InvalidStatus(f"unknown run status {value!r}") from None


def one_or_many(value: Any, field: str) -> list[Any]:
    """`[value]` for one string, the items of any other non-empty iterable (not bytes); else
    `validation_error`."""
    if isinstance(value, str):
        return [value]
    items = None if isinstance(value, bytes | bytearray) or not isinstance(value, Iterable) else list(value)
    if not items:
        raise ValidationError(
            f"{field} must be a string or a non-empty iterable of strings", details={"field": field}
        )
    return items


def event_types(values: EventType | str | Any) -> frozenset[EventType | str]:
    """Normalise one type or a non-empty iterable of types (core or namespaced); `invalid_event_type`
    for any other name."""
    return frozenset(event_type(v) for v in one_or_many(values, "types"))


def checked_text(value: object, field: str) -> str:
    """`value` if it is a string of valid UTF-8 without U+0000 (an id, a key, a filter), else
    `validation_error`: what no backend can store is refused before any lookup."""
    if not isinstance(value, str) or _bad_text(value):
        raise ValidationError(
            f"{field} must be a string of valid UTF-8 text without U+0000", details={"field": field}
        )
    return value


def _copy_json(value: Mapping[str, Any] | None, field: str) -> JSONObject | None:
    return None if value is None else checked_object(dict(value), field)


class ArtifactRecord(Record):
    """The registry entry of one stored blob (`asm_artifacts`): what, where, how big, which checksum.

    `key` is unique across the registry; registering a key again replaces its record (like a put).
    """

    id: str = Field(default_factory=lambda: ids.new_id(ids.ARTIFACT_PREFIX))
    session_id: str | None = None
    run_id: str | None = None
    key: str
    content_type: str | None = None
    byte_size: int = Field(ge=0, le=INT64_MAX)
    checksum_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    storage_backend: str = Field(min_length=1)
    storage_ref: str = Field(min_length=1)
    metadata: JSONObject = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utc_now)
    deleted_at: datetime | None = None

    _check_ids = field_validator("id", "session_id", "run_id", mode="before")(_valid_id)
    _check_times = field_validator("created_at", "deleted_at", mode="after")(utc_validator)
    _mutable_fields = ("metadata",)
    _check_json = field_validator(*_mutable_fields, mode="before")(_json_object)
    _check_text = field_validator("content_type", "storage_backend", "storage_ref", mode="after")(_text)

    @field_validator("key", mode="after")
    @classmethod
    def _check_key(cls, value: str) -> str:
        return validate_key(value)
