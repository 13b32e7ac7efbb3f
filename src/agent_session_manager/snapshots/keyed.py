"""`SnapshotStorage` over any key/value store: validation, the Strands layout, JSON, listing, pruning.

A backend (file, S3) subclasses `KeyedSnapshotStorage` and supplies five primitives on keys relative
to its root: `_get`, `_put` (with a create-only mode that raises `already_exists`), `_list_keys`
(ascending, optionally after a key), `_delete` and `_delete_tree`, plus `_where(key)` naming a key in
messages.

Two options shape what is written (`snapshots.dialects`): `format` (`"typescript"`, the default, or
`"python"`) picks the JSON dialect of every document written, and `namespace` (e.g. `"session"`, what
the newer Strands SDKs use) puts every key under `<namespace>/`. Documents are pretty-printed like the
archived TypeScript storages when neither is set, compact like the newer SDKs otherwise. Reads accept
either dialect, so a bucket with documents of both lists and loads alike.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any, Self, TypeVar

import orjson
import pydantic

from ..core.errors import StorageError, ValidationError
from .base import (
    HISTORY_NAME,
    Snapshot,
    SnapshotLocation,
    SnapshotManifest,
    validate_identifier,
    validate_snapshot_id,
)
from .dialects import Format, canonical, check_format, render

_D = TypeVar("_D", Snapshot, SnapshotManifest)
_NAMESPACE = re.compile(r"[a-z0-9_-]+(/[a-z0-9_-]+)*")
#: The options every snapshot backend takes besides its own.
DIALECT_OPTIONS = frozenset({"format", "namespace"})


def check_namespace(value: object) -> str | None:
    """`value` if it is None or `/`-separated identifiers (`"session"`), else `validation_error`."""
    if value is None or (isinstance(value, str) and _NAMESPACE.fullmatch(value)):
        return value
    raise ValidationError(
        f"namespace must be '/'-separated segments of [a-z0-9_-], got {value!r}",
        details={"field": "namespace"},
    )


class KeyedSnapshotStorage:
    """The shared half of the snapshot backends (see the module docstring)."""

    def __init__(self, *, format: Format = "typescript", namespace: str | None = None) -> None:
        self.format: Format = check_format(format)
        self.namespace = check_namespace(namespace)
        self._root = "" if namespace is None else namespace + "/"
        self._compact = format == "python" or namespace is not None

    # -- primitives ---------------------------------------------------------------------------

    async def _get(self, key: str) -> bytes | memoryview | None:
        """The bytes at `key`, or None when there is nothing."""
        raise NotImplementedError

    async def _put(self, key: str, data: bytes, *, create_only: bool) -> None:
        """Store `data` at `key` atomically; `create_only` raises `already_exists` if it is taken."""
        raise NotImplementedError

    def _list_keys(self, prefix: str, after: str | None) -> AsyncIterator[str]:
        """Keys under `prefix` in ascending order, only those greater than `after` when given."""
        raise NotImplementedError

    async def _delete(self, keys: list[str]) -> None:
        """Delete `keys`; missing ones are not an error."""
        raise NotImplementedError

    async def _delete_tree(self, prefix: str) -> None:
        """Delete every key under `prefix`."""
        raise NotImplementedError

    def _where(self, key: str) -> str:
        """How `key` is named in messages (the full object key or file path)."""
        raise NotImplementedError

    # -- the port -----------------------------------------------------------------------------

    async def save_snapshot(
        self, location: SnapshotLocation, snapshot_id: str | None, is_latest: bool, snapshot: Snapshot
    ) -> None:
        if not isinstance(snapshot, Snapshot):
            raise ValidationError("snapshot must be a Snapshot", details={"field": "snapshot"})
        if snapshot.scope != location.scope:
            raise ValidationError(
                f"a {snapshot.scope!r} snapshot cannot be saved in a {location.scope!r} location",
                details={"field": "scope"},
            )
        body = render(snapshot.to_wire(), self.format, compact=self._compact)
        if is_latest:
            await self._put(self._root + location.latest_key, body, create_only=False)
        else:
            key = self._root + location.history_key(validate_snapshot_id(snapshot_id))
            await self._put(key, body, create_only=True)

    async def load_snapshot(
        self, location: SnapshotLocation, snapshot_id: str | None = None
    ) -> Snapshot | None:
        if snapshot_id is None:
            key = self._root + location.latest_key
        else:
            key = self._root + location.history_key(validate_identifier(snapshot_id, "snapshot_id"))
        raw = await self._get(key)
        if raw is None:
            return None
        snapshot = self._decode(Snapshot, raw, key)
        if snapshot.scope != location.scope:
            raise StorageError(
                f"snapshot {self._where(key)!r} has scope {snapshot.scope!r}, not {location.scope!r}",
                details={"key": self._where(key)},
            )
        return snapshot

    async def list_snapshot_ids(
        self, location: SnapshotLocation, *, limit: int | None = None, start_after: str | None = None
    ) -> list[str]:
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise ValidationError("limit must be an integer >= 0", details={"field": "limit"})
        after = None if start_after is None else validate_snapshot_id(start_after, "start_after")
        if limit == 0:
            return []
        found: list[str] = []
        prefix = self._root + location.history_prefix
        first = None if after is None else self._root + location.history_key(after)
        async for key in self._list_keys(prefix, first):
            match = HISTORY_NAME.fullmatch(key[len(prefix) :])
            if match is None or (after is not None and match.group(1) <= after):
                continue
            found.append(match.group(1))
            if limit is not None and len(found) >= limit:
                break
        return found

    async def load_manifest(self, location: SnapshotLocation) -> SnapshotManifest:
        key = self._root + location.manifest_key
        raw = await self._get(key)
        if raw is None:
            return SnapshotManifest()
        return self._decode(SnapshotManifest, raw, key)

    async def save_manifest(self, location: SnapshotLocation, manifest: SnapshotManifest) -> None:
        if not isinstance(manifest, SnapshotManifest):
            raise ValidationError("manifest must be a SnapshotManifest", details={"field": "manifest"})
        body = render(manifest.to_wire(), self.format, manifest=True, compact=self._compact)
        await self._put(self._root + location.manifest_key, body, create_only=False)

    async def delete_snapshot(self, location: SnapshotLocation, snapshot_id: str) -> None:
        key = location.history_key(validate_identifier(snapshot_id, "snapshot_id"))
        await self._delete([self._root + key])

    async def prune(self, location: SnapshotLocation, *, keep_last: int) -> list[str]:
        if not isinstance(keep_last, int) or isinstance(keep_last, bool) or keep_last < 0:
            raise ValidationError("keep_last must be an integer >= 0", details={"field": "keep_last"})
        ids = await self.list_snapshot_ids(location)
        doomed = ids[: len(ids) - keep_last] if keep_last else ids
        await self._delete([self._root + location.history_key(i) for i in doomed])
        return doomed

    async def delete_session(self, session_id: str) -> None:
        await self._delete_tree(self._root + validate_identifier(session_id, "session_id") + "/")

    async def close(self) -> None:
        """Nothing to release (connections are pooled per store object)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- helpers ------------------------------------------------------------------------------

    def _decode(self, model: type[_D], raw: bytes | memoryview, key: str) -> _D:
        """Parse a stored document; anything unreadable is `storage_error` naming the key."""
        where = self._where(key)
        try:
            value: Any = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise StorageError(
                f"{where!r} is not valid JSON ({exc}); the stored {model.__name__} is corrupt",
                details={"key": where},
            ) from exc
        if not isinstance(value, dict):
            raise StorageError(
                f"{where!r} holds JSON {type(value).__name__}, not a {model.__name__} object",
                details={"key": where},
            )
        try:
            return model.from_stored(canonical(value, where, manifest=model is SnapshotManifest))
        except pydantic.ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            field = ".".join(str(p) for p in first["loc"]) or model.__name__
            raise StorageError(
                f"{where!r} is not a readable {model.__name__}: {field}: {first['msg']}",
                details={"key": where, "field": field},
            ) from None
        except ValidationError as exc:
            raise StorageError(
                f"{where!r} is not a readable {model.__name__}: {exc.message}", details={"key": where}
            ) from None
