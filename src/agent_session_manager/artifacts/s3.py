"""`S3ArtifactStore`: artifacts in any S3-compatible object store (AWS S3, SeaweedFS, MinIO, Tigris, R2),
through `obstore`.

`s3://bucket/prefix?endpoint=http://127.0.0.1:8333&region=us-east-1`. The object key is `prefix + key`,
e.g. (`prefix="asm/artifacts/"`, key `patch-abc123` -> `asm/artifacts/patch-abc123`), and at
most 1024 bytes as S3 requires. Credentials come from options (`access_key_id`, `secret_access_key`,
`session_token`), the URL's query, or the standard AWS variables; they never appear in messages
(`_s3`). Opening the store lists one key under the prefix, so wrong credentials, a missing bucket or
an unreachable endpoint fail at once (`verify=false` skips that).

Each object carries its content type as `Content-Type` and our record as user metadata:
`x-amz-meta-asm-sha256` (hex SHA-256 of the content) and `x-amz-meta-asm-metadata` (the caller's JSON
metadata, base64url, because header values must be ASCII). `get`, `open_read` and `stat` read them back
from the same response as the content, and reads verify the SHA-256. An object without our checksum
(written by another tool) cannot be verified and reads as `ChecksumMismatch`, unless the store is opened
with `foreign=true` (to share a bucket with another program, e.g. a Strands TypeScript agent): then such
an object is read as it is, its SHA-256 computed from what was read. The `ArtifactInfo` that
`put` returns carries the client's clock as `modified_at`; `stat` gives the server's (whole seconds).

Objects larger than `part_size` (default 5 MiB, the S3 minimum) go up as multipart uploads with up to
`max_concurrency` parts in flight (default 12); obstore aborts a multipart upload that fails, so a
failed put is never visible and leaves no parts behind. `put_stream` must know the SHA-256 before the
upload starts (S3 metadata is fixed when an upload begins), so it first spools the stream: in memory up
to one part, beyond that to an anonymous temporary file in `spool_dir` (default: the system's temporary
directory; the file disappears when closed, even after a crash); it then uploads from that file with at
most `STREAM_BUDGET` (24 MiB) of parts in flight, so memory stays flat whatever the object's size.

Create-only puts (`if_absent=True`) send `If-None-Match: *`, so the server refuses an existing key
atomically (`already_exists`). S3 takes that condition on a single PUT only, so such a put is never a
multipart upload: it is limited to 5 GiB (S3's single-PUT maximum) and its bytes are held in memory
while they go up.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import builtins
import tempfile
from collections.abc import AsyncIterator, Mapping
from typing import IO, Any, Literal

import obstore

from .._s3 import S3_SETTINGS, S3Location, parse_s3_url, s3_delete, s3_error, s3_exists, s3_store
from ..core.clock import utc_now
from ..core.digest import is_sha256, sha256_hex
from ..core.errors import ASMError, StorageError, ValidationError
from ..core.json import JSONObject, dumps, loads
from ..core.keys import MAX_KEY_BYTES, validate_key
from ..core.pagination import DEFAULT_PAGE_SIZE, Page
from ..core.urls import check_options, option_bool, option_int
from .base import (
    CHUNK_BYTES,
    DEFAULT_CONTENT_TYPE,
    ArtifactInfo,
    ArtifactReader,
    AsyncClosing,
    Chunks,
    Data,
    ListPosition,
    as_view,
    check_content_type,
    check_metadata,
    drain,
    finish_in_thread,
    list_page,
    list_position,
    mismatch,
    sha256_of,
    verified_bytes,
)

SHA256_ATTRIBUTE = "asm-sha256"
METADATA_ATTRIBUTE = "asm-metadata"
MIN_PART_SIZE = 5 * 1024 * 1024
#: Bytes that `put_stream` keeps in flight at most (parts being uploaded).
STREAM_BUDGET = 24 * 1024 * 1024
_OWN_SETTINGS = ("part_size", "max_concurrency", "spool_dir", "verify", "foreign")


class _Spool:
    """A stream on its way to S3: in memory up to `limit` bytes, beyond that in a temporary file."""

    def __init__(self, limit: int, directory: str | None) -> None:
        self._limit = limit
        self._directory = directory
        self._memory = bytearray()
        self._file: IO[bytes] | None = None

    def write(self, view: memoryview) -> None:
        if self._file is None and len(self._memory) + len(view) <= self._limit:
            self._memory += view
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(  # noqa: SIM115 - closed by close()
                prefix="asm-spool-", suffix=".tmp", dir=self._directory
            )
            self._file.write(self._memory)
            self._memory = bytearray()
        self._file.write(view)

    def source(self) -> memoryview | AsyncIterator[bytes]:
        """What to upload: the bytes, or the spool file's content in chunks.

        obstore reading the file itself would hold about twice the parts in flight in memory; chunks
        handed over as `bytes` are split into parts without copies.
        """
        if self._file is None:
            return memoryview(self._memory)
        self._file.flush()
        self._file.seek(0)
        return self._chunks(self._file)

    @staticmethod
    async def _chunks(file: IO[bytes]) -> AsyncIterator[bytes]:
        while chunk := await asyncio.to_thread(file.read, CHUNK_BYTES):
            yield chunk

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class S3ArtifactStore(AsyncClosing):
    """An `ArtifactStore` on one bucket and key prefix of an S3-compatible service."""

    backend = "s3"

    def __init__(
        self,
        location: S3Location,
        settings: Mapping[str, Any],
        *,
        part_size: int = MIN_PART_SIZE,
        max_concurrency: int = 12,
        spool_dir: str | None = None,
        foreign: bool = False,
    ) -> None:
        self.location = location
        self._foreign = foreign
        self._prefix = location.prefix
        self._store = s3_store(location, dict(settings))
        self._part_size = part_size
        self._max_concurrency = max_concurrency
        self._stream_concurrency = max(1, min(max_concurrency, STREAM_BUDGET // part_size))
        self._spool_dir = spool_dir
        self._where = location.describe()

    @classmethod
    async def from_url(cls, url: str, **options: Any) -> S3ArtifactStore:
        """Open `s3://bucket/prefix?endpoint=...&region=...`; options override the URL's query."""
        location, settings = parse_s3_url(url, **options)
        check_options(settings, S3_SETTINGS | set(_OWN_SETTINGS), "S3 artifact store")
        verify = option_bool(settings.pop("verify", True), "verify")
        store = cls(
            location,
            settings,
            part_size=option_int(settings.pop("part_size", MIN_PART_SIZE), "part_size", MIN_PART_SIZE),
            max_concurrency=option_int(settings.pop("max_concurrency", 12), "max_concurrency", 1),
            spool_dir=settings.pop("spool_dir", None),
            foreign=option_bool(settings.pop("foreign", False), "foreign"),
        )
        if verify:
            await store.check()
        return store

    async def check(self) -> None:
        """Reach the bucket once (list one key), so bad settings fail now rather than at first use."""
        try:
            async for _ in obstore.list(self._store, self._prefix.rstrip("/") or None, chunk_size=1):
                break
        except Exception as exc:
            raise s3_error(exc, self.location) from exc

    def storage_ref(self, key: str) -> str:
        return f"s3://{self.location.bucket}/{self._path(key)}"

    # -- writes ---------------------------------------------------------------------------------

    async def put(
        self,
        key: str,
        data: Data,
        *,
        content_type: str | None = None,
        metadata: JSONObject | None = None,
        if_absent: bool = False,
    ) -> ArtifactInfo:
        path = self._path(key)
        view = as_view(data)
        kind = check_content_type(content_type)
        extra = check_metadata(metadata)
        digest = await sha256_of(view)
        # Plain bytes go to obstore as they are (no copy); other buffers as their byte view.
        payload = data if isinstance(data, bytes) else view
        try:
            await obstore.put_async(
                self._store,
                path,
                payload,
                attributes=self._attributes(digest, kind, extra),
                chunk_size=self._part_size,
                max_concurrency=self._max_concurrency,
                mode=_mode(if_absent),
            )
        except Exception as exc:
            raise self._error(exc, key) from exc
        return ArtifactInfo(key, len(view), digest, kind, extra, utc_now())

    async def put_stream(
        self,
        key: str,
        chunks: Chunks,
        *,
        content_type: str | None = None,
        metadata: JSONObject | None = None,
        if_absent: bool = False,
    ) -> ArtifactInfo:
        path = self._path(key)
        kind = check_content_type(content_type)
        extra = check_metadata(metadata)
        spool = _Spool(self._part_size, self._spool_dir)
        try:
            try:
                size, digest = await drain(chunks, spool.write)
                source = await finish_in_thread(spool.source)
            except OSError as exc:
                raise StorageError(
                    f"could not spool {key!r} for upload to {self._where}: {exc.strerror}",
                    details={"key": key, "spool_dir": self._spool_dir or tempfile.gettempdir()},
                ) from exc
            try:
                await obstore.put_async(
                    self._store,
                    path,
                    source,
                    attributes=self._attributes(digest, kind, extra),
                    chunk_size=self._part_size,
                    max_concurrency=self._stream_concurrency,
                    mode=_mode(if_absent),
                )
            except Exception as exc:
                raise self._error(exc, key) from exc
        finally:
            await asyncio.to_thread(spool.close)
        return ArtifactInfo(key, size, digest, kind, extra, utc_now())

    async def delete(self, key: str) -> None:
        await s3_delete(self._store, self.location, self._path(key), key)

    # -- reads ----------------------------------------------------------------------------------

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            result = await obstore.get_async(self._store, path)
            if self._is_foreign(result.attributes):
                return bytes(await result.bytes_async())
            info = self._info(key, result.meta, result.attributes)
            buffer = await result.bytes_async()
        except ASMError:
            raise
        except Exception as exc:
            raise self._error(exc, key) from exc
        return await verified_bytes(memoryview(buffer), info, self._where)

    async def open_read(self, key: str) -> ArtifactReader:
        path = self._path(key)
        try:
            result = await obstore.get_async(self._store, path)
        except Exception as exc:
            raise self._error(exc, key) from exc
        if self._is_foreign(result.attributes):
            data = bytes(await result.bytes_async())
            return ArtifactReader(self._foreign_info(key, result.meta, data), _once(data), where=self._where)
        info = self._info(key, result.meta, result.attributes)
        stream = result.stream(min_chunk_size=CHUNK_BYTES)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in stream:
                    yield chunk
            except Exception as exc:
                raise self._error(exc, key) from exc

        return ArtifactReader(info, chunks(), where=self._where)

    async def stat(self, key: str) -> ArtifactInfo:
        path = self._path(key)
        try:
            result = await obstore.get_async(self._store, path, options={"head": True})
        except Exception as exc:
            raise self._error(exc, key) from exc
        if self._is_foreign(result.attributes):
            return self._foreign_info(key, result.meta, await self.get(key))
        return self._info(key, result.meta, result.attributes)

    async def exists(self, key: str) -> bool:
        return await s3_exists(self._store, self.location, self._path(key), key)

    async def list(
        self, prefix: str = "", *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[str]:
        position = list_position(prefix, limit, cursor)
        keys: builtins.list[str] = []
        try:
            async for key in self._keys(position, limit + 1):
                keys.append(key)
                if len(keys) > limit:
                    break
        except ASMError:
            raise
        except Exception as exc:
            raise s3_error(exc, self.location) from exc
        return list_page(keys, position, limit)

    async def _keys(self, position: ListPosition, batch: int) -> AsyncIterator[str]:
        """Keys in the server's listing order from `position`.

        A page resumes with S3's `start-after` = the last key returned. SeaweedFS skips everything below
        `start-after + "/"` (it walks directories), so when the next key lies below the last one the
        cursor says so (`descend`) and the next page first lists that subtree, then resumes after its
        last key; on AWS order the subtree is exactly the keys that follow, so both servers agree.
        """
        base = self._prefix + position.head
        directory = base.rstrip("/") or None
        if position.after is None:
            partial = position.partial
            start = base + partial[:-1] if len(partial) > 1 else None
            async for key in self._scan(directory, start, position, batch):
                yield key
            return
        last = self._prefix + position.after
        if position.descend:
            async for key in self._scan(last, None, position, batch):
                last = self._prefix + key
                yield key
        async for key in self._scan(directory, last, position, batch):
            yield key

    async def _scan(
        self, directory: str | None, start: str | None, position: ListPosition, batch: int
    ) -> AsyncIterator[str]:
        """Keys below `directory` after `start` that begin with the listing prefix; stops past them."""
        wanted = self._prefix + position.prefix
        base = self._prefix + position.head
        stream = obstore.list(self._store, directory, offset=start, chunk_size=min(max(batch, 10), 1000))
        async for metas in stream:
            for meta in metas:
                path = meta["path"]
                if path.startswith(wanted):
                    key = path[len(self._prefix) :]
                    if _valid(key):
                        yield key
                    continue
                # Past the keys that start with the prefix (in either listing order): stop.
                first = path[len(base) :].split("/", 1)[0]
                if path.startswith(base) and first > position.partial:
                    return

    # -- internals ------------------------------------------------------------------------------

    def _path(self, key: str) -> str:
        path = self._prefix + validate_key(key)
        size = len(path.encode())
        if size > MAX_KEY_BYTES:
            raise ValidationError(
                f"S3 object keys are at most {MAX_KEY_BYTES} bytes; prefix + key is {size}",
                details={"field": "key", "bytes": size},
            )
        return path

    @staticmethod
    def _attributes(digest: str, content_type: str, metadata: JSONObject) -> dict[str, str]:
        attributes = {"Content-Type": content_type, SHA256_ATTRIBUTE: digest}
        if metadata:
            attributes[METADATA_ATTRIBUTE] = base64.urlsafe_b64encode(dumps(metadata)).decode()
        return attributes

    def _is_foreign(self, attributes: Mapping[str, str]) -> bool:
        """Whether to read an object as another program wrote it: allowed, and without our checksum."""
        return self._foreign and SHA256_ATTRIBUTE not in attributes

    @staticmethod
    def _foreign_info(key: str, meta: Mapping[str, Any], data: bytes) -> ArtifactInfo:
        """What we know of a foreign object: its size and the SHA-256 of what was just read."""
        return ArtifactInfo(key, len(data), sha256_hex(data), DEFAULT_CONTENT_TYPE, {}, meta["last_modified"])

    def _info(self, key: str, meta: Mapping[str, Any], attributes: Mapping[str, str]) -> ArtifactInfo:
        digest = attributes.get(SHA256_ATTRIBUTE)
        if not is_sha256(digest):
            raise mismatch(
                self._where, key, "has no SHA-256 recorded by this library (written by another tool?)"
            )
        encoded = attributes.get(METADATA_ATTRIBUTE)
        try:
            metadata = {} if encoded is None else loads(base64.urlsafe_b64decode(encoded))
        except (binascii.Error, ValueError):
            raise mismatch(self._where, key, "has damaged metadata") from None
        if not isinstance(metadata, dict):
            raise mismatch(self._where, key, "has damaged metadata")
        return ArtifactInfo(
            key=key,
            size=int(meta["size"]),
            sha256=str(digest),
            content_type=attributes.get("Content-Type") or DEFAULT_CONTENT_TYPE,
            metadata=metadata,
            modified_at=meta["last_modified"],
        )

    def _error(self, exc: Exception, key: str) -> ASMError:
        if isinstance(exc, ASMError):
            return exc
        return s3_error(exc, self.location, key)


def _mode(if_absent: bool) -> Literal["create", "overwrite"]:
    """obstore's put mode: create-only sends `If-None-Match: *`, so S3 itself refuses an existing key."""
    return "create" if if_absent else "overwrite"


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _valid(key: str) -> bool:
    """Whether a listed key is one this store could have written (foreign odd names are skipped)."""
    try:
        validate_key(key)
    except ValidationError:
        return False
    return True
