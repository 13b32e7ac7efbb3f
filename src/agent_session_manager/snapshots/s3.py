"""Snapshots in S3 (or anything speaking its API), laid out like Strands' `S3Storage`:
`[prefix/]<session_id>/scopes/<scope>/<scope_id>/snapshots/...` (see `snapshots.base`).

`await S3SnapshotStorage.from_url("s3://bucket/prefix?endpoint=...&region=...", **credentials)`. The
prefix is normalised (`"sessions/"`, `"/sessions"` and `"sessions"` all give `sessions/<session_id>/...`,
never `sessions//...`). Documents are single PUTs with `Content-Type: application/json`; history entries
are written with `If-None-Match: *`, so a second save of the same id fails with `already_exists` even
when two machines race (SeaweedFS, AWS S3, MinIO, R2 and Tigris honour it). Listing pushes the
`start_after` cursor down as the S3 `StartAfter` key and follows continuation tokens past 1,000 keys.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Self

import obstore

from .._s3 import S3_SETTINGS, S3Location, parse_s3_url, s3_error, s3_store
from ..core.errors import AlreadyExists, NotFound
from ..core.urls import check_options
from .dialects import Format
from .keyed import DIALECT_OPTIONS, KeyedSnapshotStorage

_JSON = {"Content-Type": "application/json"}


class S3SnapshotStorage(KeyedSnapshotStorage):
    """Strands-compatible snapshot storage in an S3 bucket."""

    def __init__(
        self, location: S3Location, store: Any, *, format: Format = "typescript", namespace: str | None = None
    ) -> None:
        super().__init__(format=format, namespace=namespace)
        self._location = location
        self._store = store

    @classmethod
    async def from_url(cls, url: str, **options: Any) -> Self:
        """`s3://bucket/prefix?endpoint=...&region=...`; options as in `_s3` (credentials,
        `endpoint`, `region`, `prefix`, timeouts) plus `format` and `namespace`. Credentials default
        to the AWS variables."""
        check_options(options, S3_SETTINGS | {"prefix"} | DIALECT_OPTIONS, "S3 snapshot storage")
        dialect = {name: options.pop(name) for name in DIALECT_OPTIONS & set(options)}
        location, settings = parse_s3_url(url, **options)
        return cls(location, s3_store(location, settings), **dialect)

    @property
    def location(self) -> S3Location:
        return self._location

    def _where(self, key: str) -> str:
        return self._location.prefix + key

    async def _get(self, key: str) -> memoryview | None:
        full = self._where(key)
        try:
            result = await obstore.get_async(self._store, full)
            return memoryview(await result.bytes_async())
        except Exception as exc:
            error = s3_error(exc, self._location, full)
            if isinstance(error, NotFound):
                return None
            raise error from exc

    async def _put(self, key: str, data: bytes, *, create_only: bool) -> None:
        full = self._where(key)
        try:
            await obstore.put_async(
                self._store, full, data, mode="create" if create_only else "overwrite", attributes=_JSON
            )
        except Exception as exc:
            error = s3_error(exc, self._location, full)
            if isinstance(error, AlreadyExists):
                raise AlreadyExists(
                    f"snapshot {full!r} already exists in s3://{self._location.bucket}; history is immutable",
                    details=error.details,
                ) from exc
            raise error from exc

    async def _list_keys(self, prefix: str, after: str | None) -> AsyncIterator[str]:
        root = self._location.prefix
        offset = None if after is None else root + after
        try:
            async for batch in obstore.list(
                self._store, prefix=root + prefix, offset=offset, chunk_size=1000
            ):
                for meta in batch:
                    yield meta["path"][len(root) :]
        except Exception as exc:
            raise s3_error(exc, self._location, root + prefix) from exc

    async def _delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [self._where(k) for k in keys[start : start + 1000]]
            try:
                await obstore.delete_async(self._store, batch)
            except Exception as exc:
                raise s3_error(exc, self._location, batch[0]) from exc

    async def _delete_tree(self, prefix: str) -> None:
        keys = [key async for key in self._list_keys(prefix, None)]
        await self._delete(keys)

    def __repr__(self) -> str:
        return f"<S3SnapshotStorage {self._location.describe()}>"
