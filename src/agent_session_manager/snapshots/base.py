"""The `SnapshotStorage` port (Strands' `SnapshotStorage`) and the Strands data model.

A snapshot is one JSON document holding an agent's (or a multi-agent orchestrator's) whole state. Per
`SnapshotLocation` (session id, scope, scope id) there is a mutable latest snapshot, an append-only
history of snapshots named by UUIDv7 ids (so name order is time order), and a manifest. The key layout
and the JSON shapes are exactly those of Strands (TypeScript `S3Storage` / `FileStorage`), so a Strands
agent and ours can read each other's snapshots from one bucket or directory::

    [prefix/]<session_id>/scopes/<agent|multiAgent>/<scope_id>/snapshots/snapshot_latest.json
    [prefix/]<session_id>/scopes/<agent|multiAgent>/<scope_id>/snapshots/immutable_history/snapshot_<uuidv7>.json
    [prefix/]<session_id>/scopes/<agent|multiAgent>/<scope_id>/snapshots/manifest.json

    {"scope": "agent", "schemaVersion": "1.0", "createdAt": "2026-03-06T12:34:56.789Z",
     "data": {...}, "appData": {...}}                          (pretty-printed, 2-space indent)
    {"schemaVersion": "1.0", "updatedAt": "2026-03-06T12:34:56.789Z"}

Rules (Strands' where it has one, and stricter where it had none):

* Session ids, scope ids and snapshot ids match `^[a-z0-9_-]+$` (Strands' `validateIdentifier`);
  history ids written by `save_snapshot` must be canonical lowercase UUIDv7 strings (`new_snapshot_id()`),
  and so must `start_after`. Anything else is `validation_error` before any I/O.
* History is immutable: `save_snapshot(..., is_latest=False)` writes create-only (a conditional put on
  S3, a hard link on files), so a second save with the same id raises `already_exists`.
* `is_latest=True` overwrites the latest snapshot; the id is then ignored (Strands passes `"latest"`).
* `load_snapshot` returns None when there is none. A stored document that is not valid JSON, not of
  this shape, of another scope, or of schema major version other than 1 raises `storage_error` naming
  the key. `schemaVersion` `1.x` is accepted (newer minor versions stay readable); unknown fields are
  kept and written back unchanged.
* `data` and `appData` must survive a JSON round trip unchanged (no NaN, bytes, tuples, non-string keys,
  ...), checked when a `Snapshot` is built: treat a built `Snapshot` as immutable.
* Beyond Strands: `delete_snapshot`, `prune(keep_last=)` (retention) and `delete_session`.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol, Self, runtime_checkable

import orjson
from pydantic import ConfigDict, Field, PlainSerializer, field_validator, model_validator

from ..core.clock import utc_now
from ..core.errors import ValidationError
from ..core.ids import uuid7
from ..core.models import Record, utc_validator

__all__ = [
    "SNAPSHOT_SCHEMA_VERSION",
    "Scope",
    "Snapshot",
    "SnapshotLocation",
    "SnapshotManifest",
    "SnapshotStorage",
    "new_snapshot_id",
    "validate_identifier",
    "validate_snapshot_id",
]

SNAPSHOT_SCHEMA_VERSION = "1.0"
Scope = Literal["agent", "multiAgent"]
SCOPES: tuple[str, ...] = ("agent", "multiAgent")
_IDENTIFIER = re.compile(r"[a-z0-9_-]+")
_UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_SCHEMA = r"^1\.[0-9]+$"


def validate_identifier(value: object, field: str) -> str:
    """`value` if it matches Strands' identifier rule `^[a-z0-9_-]+$`, else `validation_error`."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise ValidationError(
            f"{field} must match ^[a-z0-9_-]+$ (lowercase letters, digits, '_' and '-'), got {value!r}",
            details={"field": field},
        )
    return value


def validate_snapshot_id(value: object, field: str = "snapshot_id") -> str:
    """`value` if it is a canonical lowercase UUIDv7 string, else `validation_error`."""
    if not isinstance(value, str) or not _UUID7.fullmatch(value):
        raise ValidationError(
            f"{field} must be a lowercase UUIDv7 like '0190d3c2-7b1e-7c4a-8f00-123456789abc' "
            f"(use new_snapshot_id()), got {value!r}",
            details={"field": field},
        )
    return value


def new_snapshot_id() -> str:
    """A new history id: a UUIDv7 string, later than every id made before by this process."""
    return str(uuid7())


def js_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC as JavaScript's `toISOString()` writes it (milliseconds, `Z`); microseconds
    are kept when the value has them."""
    value = value.astimezone(UTC)
    fraction = (
        f"{value.microsecond // 1000:03d}" if value.microsecond % 1000 == 0 else f"{value.microsecond:06d}"
    )
    return f"{value:%Y-%m-%dT%H:%M:%S}.{fraction}Z"


#: A timestamp that pydantic's own dumps also write as JavaScript does.
JSTime = Annotated[datetime, PlainSerializer(js_timestamp, return_type=str)]


def now_ms() -> datetime:
    """Now, in UTC, to the millisecond (what a JSON timestamp from JavaScript carries)."""
    now = utc_now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


#: Set while a stored document is parsed: its values came from JSON, so they round-trip by construction.
_FROM_JSON: ContextVar[bool] = ContextVar("asm_snapshot_from_json", default=False)


def _round_trips(value: Any) -> Any:
    """JSON values must come back unchanged from a JSON round trip (skipped for stored JSON)."""
    if _FROM_JSON.get():
        return value
    try:
        same = orjson.loads(orjson.dumps(value)) == value
    except TypeError as exc:
        raise ValueError(f"is not JSON-serialisable: {exc}") from None
    if not same:
        raise ValueError("does not survive a JSON round trip unchanged (NaN/Infinity, tuples, ...)")
    return value


class _Document(Record):
    """A Strands JSON document: camelCase names on the wire, unknown fields kept."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    @model_validator(mode="after")
    def _check_extra(self) -> Self:
        if self.model_extra:
            _round_trips(self.model_extra)
        return self

    @classmethod
    def from_stored(cls, value: dict[str, Any]) -> Self:
        """Validate a document parsed from stored JSON (pydantic errors are left to the caller)."""
        token = _FROM_JSON.set(True)
        try:
            return cls.model_validate(value)
        finally:
            _FROM_JSON.reset(token)

    def to_json(self) -> bytes:
        """The document as Strands writes it: 2-space indented JSON, fields in Strands' order."""
        return orjson.dumps(self.to_wire(), option=orjson.OPT_INDENT_2)

    def to_wire(self) -> dict[str, Any]:
        """The JSON object: Strands' names in declaration order, then unknown fields as they came."""
        wire: dict[str, Any] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            wire[field.alias or name] = js_timestamp(value) if isinstance(value, datetime) else value
        return {**wire, **(self.model_extra or {})}


class Snapshot(_Document):
    """Strands' `Snapshot`: `scope`, `schemaVersion`, `createdAt`, `data` (framework-owned) and
    `appData` (application-owned). Build with Python names: `Snapshot(scope="agent", data={...})`."""

    scope: Scope
    schema_version: str = Field(default=SNAPSHOT_SCHEMA_VERSION, alias="schemaVersion", pattern=_SCHEMA)
    created_at: JSTime = Field(default_factory=now_ms, alias="createdAt")
    data: dict[str, Any] = Field(default_factory=dict)
    app_data: dict[str, Any] = Field(default_factory=dict, alias="appData")

    _check_times = field_validator("created_at", mode="after")(utc_validator)
    _check_json = field_validator("data", "app_data", mode="after")(_round_trips)


class SnapshotManifest(_Document):
    """Strands' `SnapshotManifest`: `schemaVersion` and `updatedAt` (plus any fields a writer added)."""

    schema_version: str = Field(default=SNAPSHOT_SCHEMA_VERSION, alias="schemaVersion", pattern=_SCHEMA)
    updated_at: JSTime = Field(default_factory=now_ms, alias="updatedAt")

    _check_times = field_validator("updated_at", mode="after")(utc_validator)


@dataclass(frozen=True)
class SnapshotLocation:
    """Where a scope's snapshots live (Strands' `SnapshotLocation`); knows the key layout."""

    session_id: str
    scope: Scope
    scope_id: str

    def __post_init__(self) -> None:
        validate_identifier(self.session_id, "session_id")
        if self.scope not in SCOPES:
            raise ValidationError(
                f"scope must be 'agent' or 'multiAgent', got {self.scope!r}", details={"field": "scope"}
            )
        validate_identifier(self.scope_id, "scope_id")

    @property
    def directory(self) -> str:
        """`<session_id>/scopes/<scope>/<scope_id>/snapshots/` (relative to the storage's root)."""
        return f"{self.session_id}/scopes/{self.scope}/{self.scope_id}/snapshots/"

    @property
    def latest_key(self) -> str:
        return self.directory + "snapshot_latest.json"

    @property
    def manifest_key(self) -> str:
        return self.directory + "manifest.json"

    @property
    def history_prefix(self) -> str:
        return self.directory + "immutable_history/"

    def history_key(self, snapshot_id: str) -> str:
        return f"{self.history_prefix}snapshot_{snapshot_id}.json"


#: The name of a history entry; the id is group 1 (Strands' pattern, ASCII only).
HISTORY_NAME = re.compile(r"snapshot_([A-Za-z0-9_-]+)\.json")


@runtime_checkable
class SnapshotStorage(Protocol):
    """Snapshot persistence. Every backend passes `testing.SnapshotStorageContract`."""

    async def save_snapshot(
        self, location: SnapshotLocation, snapshot_id: str | None, is_latest: bool, snapshot: Snapshot
    ) -> None:
        """Write the latest snapshot (`is_latest`), or history entry `snapshot_id`, create-only."""
        ...

    async def load_snapshot(
        self, location: SnapshotLocation, snapshot_id: str | None = None
    ) -> Snapshot | None:
        """History entry `snapshot_id`, or the latest snapshot when None; None when there is none."""
        ...

    async def list_snapshot_ids(
        self, location: SnapshotLocation, *, limit: int | None = None, start_after: str | None = None
    ) -> list[str]:
        """History ids, oldest first, strictly after `start_after`, at most `limit` (0 gives [])."""
        ...

    async def load_manifest(self, location: SnapshotLocation) -> SnapshotManifest:
        """The manifest, or a default one (`schemaVersion` 1.0, `updatedAt` now) when absent."""
        ...

    async def save_manifest(self, location: SnapshotLocation, manifest: SnapshotManifest) -> None:
        """Write the manifest (overwriting)."""
        ...

    async def delete_snapshot(self, location: SnapshotLocation, snapshot_id: str) -> None:
        """Delete history entry `snapshot_id`; a missing one is not an error."""
        ...

    async def prune(self, location: SnapshotLocation, *, keep_last: int) -> list[str]:
        """Delete all history entries but the newest `keep_last`; returns the deleted ids, oldest first.
        The latest snapshot and the manifest are not touched."""
        ...

    async def delete_session(self, session_id: str) -> None:
        """Delete everything stored for `session_id` (every scope); a missing session is not an error."""
        ...

    async def close(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...
