"""`InMemoryArtifactStore`: the artifact contract in process memory, for tests, demos and ephemeral agents.

Objects are immutable `bytes` kept with their `ArtifactInfo`; reads are still verified so the memory
backend behaves exactly like the others. Keys are kept in listing order (a sorted list of segment
tuples), so a page costs a binary search plus the page itself.
"""

from __future__ import annotations

import bisect
import builtins
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from ..core.clock import utc_now
from ..core.errors import NotFound, ValidationError
from ..core.json import JSONObject, dumps, loads
from ..core.keys import validate_key
from ..core.pagination import DEFAULT_PAGE_SIZE, Page
from .base import (
    CHUNK_BYTES,
    ArtifactInfo,
    ArtifactReader,
    AsyncClosing,
    Chunks,
    Data,
    already_exists,
    as_view,
    check_content_type,
    check_metadata,
    drain,
    list_page,
    list_position,
    segment_order,
    sha256_of,
    verified_bytes,
)

_WHERE = "memory artifact store"


def _detached(info: ArtifactInfo) -> ArtifactInfo:
    return dataclasses.replace(info, metadata=loads(dumps(info.metadata)))


class InMemoryArtifactStore(AsyncClosing):
    """An `ArtifactStore` in a dict of this process (lost when the process ends)."""

    backend = "memory"

    def __init__(self) -> None:
        self._objects: dict[str, tuple[bytes, ArtifactInfo]] = {}
        self._order: builtins.list[tuple[str, ...]] = []

    @classmethod
    async def from_url(cls, url: str = "memory://", **options: Any) -> InMemoryArtifactStore:
        """`memory://` (nothing to configure): a fresh, empty store."""
        if options:
            raise ValidationError(
                f"memory:// takes no options, got {sorted(options)}", details={"options": sorted(options)}
            )
        return cls()

    def storage_ref(self, key: str) -> str:
        return f"memory:///{validate_key(key)}"

    async def put(
        self,
        key: str,
        data: Data,
        *,
        content_type: str | None = None,
        metadata: JSONObject | None = None,
        if_absent: bool = False,
    ) -> ArtifactInfo:
        validate_key(key)
        view = as_view(data)
        info = ArtifactInfo(
            key=key,
            size=len(view),
            sha256=await sha256_of(view),
            content_type=check_content_type(content_type),
            metadata=check_metadata(metadata),
            modified_at=utc_now(),
        )
        self._keep(bytes(view), info, if_absent)
        return _detached(info)

    async def put_stream(
        self,
        key: str,
        chunks: Chunks,
        *,
        content_type: str | None = None,
        metadata: JSONObject | None = None,
        if_absent: bool = False,
    ) -> ArtifactInfo:
        validate_key(key)
        kind = check_content_type(content_type)
        extra = check_metadata(metadata)
        parts: builtins.list[bytes] = []
        size, digest = await drain(chunks, lambda view: parts.append(bytes(view)))
        info = ArtifactInfo(key, size, digest, kind, extra, utc_now())
        self._keep(b"".join(parts), info, if_absent)
        return _detached(info)

    async def get(self, key: str) -> bytes:
        data, info = self._find(key)
        return await verified_bytes(data, info, _WHERE)

    async def open_read(self, key: str) -> ArtifactReader:
        data, info = self._find(key)

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(data), CHUNK_BYTES):
                yield data[start : start + CHUNK_BYTES]

        return ArtifactReader(_detached(info), chunks(), where=_WHERE)

    async def stat(self, key: str) -> ArtifactInfo:
        return _detached(self._find(key)[1])

    async def exists(self, key: str) -> bool:
        return validate_key(key) in self._objects

    async def delete(self, key: str) -> None:
        if self._objects.pop(validate_key(key), None) is not None:
            order = segment_order(key)
            del self._order[bisect.bisect_left(self._order, order)]

    async def list(
        self, prefix: str = "", *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[str]:
        position = list_position(prefix, limit, cursor)
        head = segment_order(position.head[:-1]) if position.head else ()
        start = bisect.bisect_left(self._order, (*head, position.partial))
        if position.after is not None:
            start = max(start, bisect.bisect_right(self._order, segment_order(position.after)))
        keys: builtins.list[str] = []
        for order in self._order[start:]:
            if len(keys) > limit or not (
                len(order) > len(head)
                and order[: len(head)] == head
                and order[len(head)].startswith(position.partial)
            ):
                break
            keys.append("/".join(order))
        return list_page(keys, position, limit)

    def _keep(self, data: bytes, info: ArtifactInfo, if_absent: bool) -> None:
        # No await between the check and the write: atomic on the event loop.
        if info.key in self._objects and if_absent:
            raise already_exists(_WHERE, info.key)
        if info.key not in self._objects:
            bisect.insort(self._order, segment_order(info.key))
        self._objects[info.key] = (data, info)

    def _find(self, key: str) -> tuple[bytes, ArtifactInfo]:
        found = self._objects.get(validate_key(key))
        if found is None:
            raise NotFound(f"no artifact {key!r} in the memory store", details={"key": key})
        return found
