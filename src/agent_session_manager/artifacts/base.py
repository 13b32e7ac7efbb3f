"""The `ArtifactStore` port: binary blobs by key, each stored with its size and SHA-256.

Semantics decided once for every backend:

* Keys follow `core.keys`: relative, `/`-separated, no empty / `.` / `..` segment, no control character
  or backslash, at most 1024 bytes. A bad key is `validation_error` before any I/O, so nothing is read
  or written outside the store's root (file) or prefix (S3).
* `put` replaces the whole object atomically: readers see the old version or the new one, never a mix.
  `data` is `bytes`, `bytearray`, `memoryview` or a list/tuple of them (joined, like iodata).
  It returns the `ArtifactInfo` of what was stored.
* `content_type` defaults to `application/octet-stream`; it must be printable ASCII with a `/`.
  `metadata` is a JSON object (the library's JSON rules) of at most 1 KiB encoded, because S3 limits
  user metadata to 2 KB per object and the same rule must hold on every backend.
* Every put records size and SHA-256; `get` and `open_read` verify both and raise `ChecksumMismatch`
  (code `checksum_mismatch`, a `storage_error`) when the stored bytes were changed behind the store's
  back. `open_read` hands out the last chunk only after the whole object checked out, so a consumer that
  commits after the loop never commits corrupt data.
* `delete` is idempotent. A missing key is `NotFound` (`not_found`) for `get`, `stat` and `open_read`;
  `exists` answers `False`. Other backend failures are `StorageError` with the cause chained
  (`StorageConnectionFailed` when the backend cannot be reached or refuses the credentials).
* `list(prefix)` pages through the keys that start with `prefix` (a plain string prefix: `"rep"`
  matches `"report.pdf"`), with an opaque cursor bound to that prefix. Order is ascending, segment by
  segment (`"a" < "a/b" < "a-c"`) on memory, file and SeaweedFS; AWS S3 compares whole keys as UTF-8
  bytes (`"a" < "a-c" < "a/b"`). On every backend paging returns each key exactly once.
* `put_stream(key, chunks)` stores an object larger than memory from an async (or plain) iterable of
  bytes-like chunks. If the iterable raises, nothing is stored (an existing version stays) and the
  caller's exception propagates unchanged.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import re
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import ParamSpec, Protocol, Self, TypeVar, runtime_checkable

from ..core.digest import sha256_hex
from ..core.errors import AlreadyExists, ChecksumMismatch, ValidationError
from ..core.json import JSONObject, checked_object, dumps
from ..core.keys import validate_key_prefix
from ..core.pagination import DEFAULT_PAGE_SIZE, Page, check_limit, decode_cursor, encode_cursor

DEFAULT_CONTENT_TYPE = "application/octet-stream"
#: Largest `metadata` accepted, as compact JSON (S3 allows 2 KB of user metadata per object).
MAX_METADATA_BYTES = 1024
#: Chunk size of `open_read` and of the batches `put_stream` hands to worker threads.
CHUNK_BYTES = 1 << 20
#: From this size on, SHA-256 runs on a worker thread (hashlib releases the GIL) in parallel with the
#: copy, instead of on the event loop (about 0.5 ms per MiB). Below it the thread hop costs more than it
#: saves when many operations are in flight (see bench/README.md).
OFF_LOOP_HASH_BYTES = 8 << 20

BytesLike = bytes | bytearray | memoryview
#: What `put` accepts: one bytes-like object or a list/tuple of them.
Data = BytesLike | list[BytesLike] | tuple[BytesLike, ...]
#: What `put_stream` accepts: an async or a plain iterable of bytes-like chunks.
Chunks = AsyncIterable[BytesLike] | Iterable[BytesLike]

_CONTENT_TYPE = re.compile(r"[!-~][ -~]{0,254}")
_hashers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="asm-sha256")
_P = ParamSpec("_P")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    """What a store knows about one object: size, SHA-256, content type, metadata, modification time."""

    key: str
    size: int
    sha256: str
    content_type: str
    metadata: JSONObject
    modified_at: datetime


@runtime_checkable
class ArtifactStore(Protocol):
    """Binary objects by key, with integrity checks. Every I/O method is a coroutine."""

    #: Short backend name recorded in artifact records (`memory`, `file`, `s3`).
    backend: str

    def storage_ref(self, key: str) -> str:
        """Where `key` lives, as a URL without credentials (recorded in `ArtifactRecord.storage_ref`)."""
        ...

    async def put(
        self,
        key: str,
        data: Data,
        *,
        content_type: str | None = None,
        metadata: JSONObject | None = None,
        if_absent: bool = False,
    ) -> ArtifactInfo:
        """Store `data` under `key`, replacing any previous version atomically.

        With `if_absent=True` the put is create-only: if `key` exists it raises `AlreadyExists` (code
        `already_exists`) and changes nothing. The check and the write are one atomic step, so of
        several racing create-only puts of one key exactly one succeeds (versioned keys are allocated
        this way).
        """
        ...

    async def put_stream(
        self,
        key: str,
        chunks: Chunks,
        *,
        content_type: str | None = None,
        metadata: JSONObject | None = None,
        if_absent: bool = False,
    ) -> ArtifactInfo:
        """Store the concatenated `chunks` under `key` without holding them all in memory.

        `if_absent=True` is create-only, as for `put`; the check is made when the object is committed.
        """
        ...

    async def get(self, key: str) -> bytes:
        """The verified content of `key` (`NotFound`, `ChecksumMismatch`)."""
        ...

    async def open_read(self, key: str) -> ArtifactReader:
        """A verified chunk reader for `key` (`NotFound` at once if it does not exist)."""
        ...

    async def stat(self, key: str) -> ArtifactInfo:
        """Size, checksum, content type, metadata and modification time of `key` (`NotFound`)."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether `key` exists."""
        ...

    async def delete(self, key: str) -> None:
        """Remove `key`; idempotent."""
        ...

    async def list(
        self, prefix: str = "", *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[str]:
        """Keys starting with `prefix`, one page at a time."""
        ...

    async def close(self) -> None:
        """Release connections; idempotent."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class AsyncClosing:
    """`async with x:` closes `x` at the end (stores, the composite, readers)."""

    async def close(self) -> None:
        """Nothing to release by default."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


# -- input checks ----------------------------------------------------------------------------------


def as_view(data: object) -> memoryview:
    """One flat byte view of `data` (bytes-like, or a list/tuple of bytes-like); else `validation_error`."""
    if isinstance(data, list | tuple):
        return memoryview(b"".join([_byte_view(part) for part in data]))
    return _byte_view(data)


def _byte_view(part: object) -> memoryview:
    if not isinstance(part, bytes | bytearray | memoryview):
        raise ValidationError(
            "data must be bytes, bytearray, memoryview or a list of them, "
            f"not {type(part).__name__} (encode text first)",
            details={"field": "data"},
        )
    view = memoryview(part)
    if not view.c_contiguous:
        raise ValidationError("a memoryview must be contiguous", details={"field": "data"})
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def check_content_type(value: object) -> str:
    """`value`, or the default when it is `None`; printable ASCII with a `/`, at most 255 characters."""
    if value is None:
        return DEFAULT_CONTENT_TYPE
    if not isinstance(value, str) or not _CONTENT_TYPE.fullmatch(value) or "/" not in value:
        raise ValidationError(
            "content_type must be printable ASCII like 'text/plain; charset=utf-8' (at most 255 chars)",
            details={"field": "content_type"},
        )
    return value


def check_metadata(value: object) -> JSONObject:
    """A copy of `value` (a JSON object of at most `MAX_METADATA_BYTES`), `{}` when it is `None`."""
    if value is None:
        return {}
    checked = checked_object(value, "metadata")
    size = len(dumps(checked))
    if size > MAX_METADATA_BYTES:
        raise ValidationError(
            f"metadata is {size} bytes as JSON; at most {MAX_METADATA_BYTES} are allowed",
            details={"field": "metadata", "bytes": size},
        )
    return checked


# -- integrity -------------------------------------------------------------------------------------


def hash_in_background(data: BytesLike) -> Future[str]:
    """SHA-256 of `data` computed on a worker thread (hashlib releases the GIL), as a future."""
    return _hashers.submit(sha256_hex, data)


async def sha256_of(data: memoryview) -> str:
    """SHA-256 of `data`, off the event loop when it is large."""
    if len(data) < OFF_LOOP_HASH_BYTES:
        return sha256_hex(data)
    return await asyncio.wrap_future(hash_in_background(data))


def mismatch(where: str, key: str, reason: str) -> ChecksumMismatch:
    """The error for stored bytes that no longer match their record."""
    return ChecksumMismatch(f"{where}: {key!r} {reason}", details={"key": key, "reason": reason})


def already_exists(where: str, key: str) -> AlreadyExists:
    """The error for a create-only put (`if_absent=True`) of a key that is already stored."""
    return AlreadyExists(f"{where}: {key!r} already exists", details={"key": key})


def check_integrity(data: BytesLike, digest: str, info: ArtifactInfo, where: str) -> None:
    """Raise `ChecksumMismatch` unless `data` (whose SHA-256 is `digest`) is what `info` recorded."""
    if len(data) != info.size:
        raise mismatch(where, info.key, f"has {len(data)} bytes, {info.size} were stored")
    if digest != info.sha256:
        raise mismatch(where, info.key, "does not match the SHA-256 recorded when it was stored")


async def verified_bytes(buffer: BytesLike, info: ArtifactInfo, where: str) -> bytes:
    """`buffer` as `bytes` after checking it against `info`; large buffers hash while they are copied."""
    if len(buffer) < OFF_LOOP_HASH_BYTES:
        check_integrity(buffer, sha256_hex(buffer), info, where)
        return bytes(buffer)
    digest = hash_in_background(buffer)
    data = bytes(buffer)
    check_integrity(data, await asyncio.wrap_future(digest), info, where)
    return data


async def finish_in_thread(function: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """`asyncio.to_thread(function, ...)`, except that a cancelled caller still waits for the thread to
    end before `CancelledError` propagates: a thread cannot be stopped, and the caller's cleanup (closing
    a descriptor, removing a temporary file) must not run beside the work it undoes."""
    work = asyncio.ensure_future(asyncio.to_thread(function, *args, **kwargs))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        while not work.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([work])
        raise


async def drain(chunks: Chunks, sink: Callable[[memoryview], None]) -> tuple[int, str]:
    """Feed every chunk of `chunks` to `sink` on a worker thread, in batches of about `CHUNK_BYTES`,
    hashing as it goes; return `(size, sha256)`. Exceptions of the iterable propagate unchanged. When
    it returns or raises (even when cancelled), `sink` is not running."""
    hasher = hashlib.sha256()
    size = 0
    pending: builtins.list[memoryview] = []
    pending_bytes = 0

    def feed(batch: builtins.list[memoryview]) -> None:
        view = batch[0] if len(batch) == 1 else memoryview(b"".join(batch))
        hasher.update(view)
        sink(view)

    async for chunk in iterate_chunks(chunks):
        view = _byte_view(chunk)
        if not view:
            continue
        pending.append(view)
        pending_bytes += len(view)
        size += len(view)
        if pending_bytes >= CHUNK_BYTES:
            batch, pending, pending_bytes = pending, [], 0
            await finish_in_thread(feed, batch)
    if pending:
        await finish_in_thread(feed, pending)
    return size, hasher.hexdigest()


async def iterate_chunks(chunks: Chunks) -> AsyncIterator[BytesLike]:
    """The chunks of an async or plain iterable, as one async iterator (anything else: `validation_error`)."""
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            yield chunk
    elif isinstance(chunks, Iterable) and not isinstance(chunks, bytes | bytearray | memoryview | str):
        for chunk in chunks:
            yield chunk
    else:
        raise ValidationError(
            f"chunks must be an iterable of bytes-like objects, not {type(chunks).__name__}",
            details={"field": "chunks"},
        )


class ArtifactReader(AsyncClosing):
    """The chunks of one stored object, checked against its recorded size and SHA-256.

    Use as `async with await store.open_read(key) as reader: async for chunk in reader: ...`.
    `info` is known before the first chunk. The chunk that completes the object is handed out only
    after the whole object matched its checksum; corruption raises `ChecksumMismatch` instead.
    """

    def __init__(
        self,
        info: ArtifactInfo,
        chunks: AsyncIterator[bytes],
        *,
        where: str,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.info = info
        self._chunks = chunks
        self._where = where
        self._on_close = on_close
        self._hasher = hashlib.sha256()
        self._seen = 0
        self._verified = False
        self._closed = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        try:
            chunk = await anext(self._chunks)
        except StopAsyncIteration:
            await self.close()
            if not self._verified:
                self._check(self._hasher.hexdigest())
            raise
        except BaseException:
            await self.close()
            raise
        self._seen += len(chunk)
        self._hasher.update(chunk)
        if self._seen > self.info.size:
            await self.close()
            raise mismatch(self._where, self.info.key, f"is longer than the {self.info.size} bytes stored")
        if self._seen == self.info.size:
            try:
                self._check(self._hasher.hexdigest())
            except ChecksumMismatch:
                await self.close()
                raise
            self._verified = True
        return chunk

    def _check(self, digest: str) -> None:
        if self._seen != self.info.size:
            raise mismatch(
                self._where, self.info.key, f"has {self._seen} bytes, {self.info.size} were stored"
            )
        if digest != self.info.sha256:
            raise mismatch(
                self._where, self.info.key, "does not match the SHA-256 recorded when it was stored"
            )

    async def read(self) -> bytes:
        """All remaining chunks joined (verified like any read)."""
        return b"".join([chunk async for chunk in self])

    async def close(self) -> None:
        """Stop reading and release the backend's handle; idempotent."""
        if self._closed:
            return
        self._closed = True
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()
        if self._on_close is not None:
            await self._on_close()


# -- listing ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListPosition:
    """Where a `list` page starts: after `after`; `descend` when the next keys lie below `after + "/"`."""

    prefix: str
    head: str
    partial: str
    after: str | None = None
    descend: bool = False


def list_position(prefix: object, limit: int, cursor: str | None) -> ListPosition:
    """Validate `list` arguments and split `prefix` into complete segments (`head`) and the rest."""
    checked = validate_key_prefix(prefix)
    check_limit(limit)
    head, _, partial = checked.rpartition("/")
    head = head + "/" if head else ""
    if cursor is None:
        return ListPosition(checked, head, partial)
    after, descend = decode_cursor(cursor, _list_scope(checked))
    if not isinstance(after, str) or not isinstance(descend, bool):
        raise ValidationError("cursor does not hold a key position", details={"field": "cursor"})
    return ListPosition(checked, head, partial, after, descend)


def list_page(keys: builtins.list[str], position: ListPosition, limit: int) -> Page[str]:
    """A page from up to `limit + 1` keys in listing order (the extra one only says "there is more")."""
    if len(keys) <= limit:
        return Page(keys, None)
    last, following = keys[limit - 1], keys[limit]
    descend = following.startswith(last + "/")
    return Page(keys[:limit], encode_cursor(_list_scope(position.prefix), [last, descend]))


def _list_scope(prefix: str) -> str:
    return "artifacts:list:" + prefix


def segment_order(key: str) -> tuple[str, ...]:
    """The sort key of listing order: segment by segment (`"a" < "a/b" < "a-c"`)."""
    return tuple(key.split("/"))
