"""`FileArtifactStore`: artifacts as files under a root directory (`file:///root`), the embedded default.

Layout: key `a/b/report.pdf` is the file `<root>/a.d/b.d/report.pdf.blob`. Directories end in `.d` and
objects in `.blob`, so a key and a longer key below it (`a` and `a/b`) can coexist, as on S3, and
temporary files (`*.tmp`) or anything foreign in the tree are never mistaken for artifacts. Each key
segment may be at most `NAME_MAX - 5` bytes (250 on Linux), the file system's limit for one name.

File format: the object's bytes, then a JSON trailer (key, size, SHA-256, content type, metadata,
modification time), then 16 bytes: the trailer's length (8 bytes, big-endian) and the magic
`ASMART1\\n`. One file holds blob and record, so one rename replaces both: there is no window in which
a reader could pair new bytes with an old checksum. The trailer goes last so that `put_stream` can write
an object of unknown size and checksum in one pass.

Writes are atomic and durable: a temporary file in the target directory, fdatasync, rename over the
old version, fsync of the directory (and of every directory created on the way). Objects of 1 MiB and
more are hashed on another thread while their bytes are written and flushed. Two writers racing on one
key leave one complete version. A crash can leave a stray `*.tmp` file, never a torn artifact; listing
ignores it. `fsync=false` (URL query or option) skips the fsyncs for scratch data.
Reads verify size and SHA-256 (`ChecksumMismatch`); a damaged or truncated trailer is a mismatch too.
Blocking file work runs in worker threads, one hop per operation. `list` walks the directories below the
prefix in key order and stops after the page, but reads (and sorts) every directory it enters: a page in
a directory of a million keys costs a scan of that directory. Names are compared byte for byte, so on a
case-insensitive or normalising file system (macOS) keys that differ only in case or normal form collide.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import errno
import os
import secrets
import struct
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from typing import IO, Any, ParamSpec, TypeVar
from urllib.parse import parse_qsl, urlsplit

import orjson

from ..core.clock import utc_now
from ..core.digest import is_sha256, sha256_hex
from ..core.errors import ASMError, NotFound, StorageError, ValidationError
from ..core.json import JSONObject, dumps, loads
from ..core.keys import refuse_symlinks, validate_key
from ..core.pagination import DEFAULT_PAGE_SIZE, Page
from ..core.urls import check_options, file_url_path, option_bool
from .base import (
    CHUNK_BYTES,
    ArtifactInfo,
    ArtifactReader,
    AsyncClosing,
    Chunks,
    Data,
    ListPosition,
    already_exists,
    as_view,
    check_content_type,
    check_integrity,
    check_metadata,
    drain,
    finish_in_thread,
    hash_in_background,
    list_page,
    list_position,
    mismatch,
    segment_order,
)

MAGIC = b"ASMART1\n"
_FOOTER = struct.Struct(">Q8s")
_MAX_TRAILER = 64 * 1024
_BLOB, _DIR, _TMP = ".blob", ".d", ".tmp"
_OPEN_RETRIES = 5
#: From this size on, a put hashes on another thread while the bytes are written and flushed.
PARALLEL_HASH_BYTES = 1 << 20
#: Files up to this size are read whole in one call by `get`.
SMALL_FILE_BYTES = 256 * 1024
#: How much of a file's end is read at first to find its trailer (most trailers are shorter).
_TAIL_GUESS = 4096
_P = ParamSpec("_P")
_T = TypeVar("_T")


#: The trailer's format: 2 adds `record_sha256`, the SHA-256 of every other field of the trailer.
_TRAILER_FORMAT = 2


def _record_digest(fields: dict[str, Any]) -> str:
    """SHA-256 of a trailer's fields other than `record_sha256`, keys sorted: covers the whole record
    (content type, metadata, format, times), as `sha256` covers the bytes."""
    return sha256_hex(
        orjson.dumps({k: v for k, v in fields.items() if k != "record_sha256"}, option=orjson.OPT_SORT_KEYS)
    )


def encode_trailer(info: ArtifactInfo) -> bytes:
    """The JSON trailer and footer written after an object's bytes."""
    fields: dict[str, Any] = {
        "format": _TRAILER_FORMAT,
        "key": info.key,
        "size": info.size,
        "sha256": info.sha256,
        "content_type": info.content_type,
        "metadata": info.metadata,
        "modified_at": info.modified_at.isoformat(),
    }
    trailer = dumps({**fields, "record_sha256": _record_digest(fields)})
    return trailer + _FOOTER.pack(len(trailer), MAGIC)


def _decode_trailer(raw: bytes, key: str, where: str) -> ArtifactInfo:
    try:
        fields = loads(raw)
        info = ArtifactInfo(
            key=fields["key"],
            size=fields["size"],
            sha256=fields["sha256"],
            content_type=fields["content_type"],
            metadata=fields["metadata"],
            modified_at=datetime.fromisoformat(fields["modified_at"]),
        )
    except (ValueError, TypeError, KeyError):
        raise mismatch(where, key, "has a damaged record (trailer)") from None
    if fields.get("format") != _TRAILER_FORMAT or fields.get("record_sha256") != _record_digest(fields):
        raise mismatch(
            where, key, "has a record (content type, metadata, ...) that no longer matches its checksum"
        )
    if (
        info.key != key
        or not isinstance(info.size, int)
        or not is_sha256(info.sha256)
        or not isinstance(info.content_type, str)
        or not isinstance(info.metadata, dict)
    ):
        raise mismatch(where, key, "has a damaged record (trailer)")
    return info


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW)


def _write_all(fd: int, data: memoryview | bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class _AtomicFile:
    """A temporary file beside its target; `commit` renames it into place durably, `discard` drops it."""

    def __init__(self, store: FileArtifactStore, key: str, path: str, *, if_absent: bool = False) -> None:
        self._store = store
        self.key = key
        self.path = path
        self.if_absent = if_absent
        self.directory = os.path.dirname(path)
        self.temp: str | None = None
        self.fd = -1

    def open(self) -> None:
        """Create the temporary file (and the directories it needs)."""
        self._store.confine(self.path)
        for attempt in range(_OPEN_RETRIES):
            temp = os.path.join(self.directory, secrets.token_hex(8) + _TMP)
            try:
                self._store.make_dirs(self.directory)
                self.fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
                self.temp = temp
                return
            except FileNotFoundError:
                # A concurrent delete removed an (empty) directory on the way: make it again.
                if attempt == _OPEN_RETRIES - 1:
                    raise

    def write(self, data: memoryview | bytes) -> None:
        _write_all(self.fd, data)

    def sync_data(self) -> None:
        if self._store.fsync:
            os.fdatasync(self.fd)

    def write_at(self, offset: int, data: bytes) -> None:
        """Overwrite bytes already written (the file's size does not change)."""
        view = memoryview(data)
        while view:
            written = os.pwrite(self.fd, view, offset)
            view, offset = view[written:], offset + written

    def commit(self, tail: bytes = b"") -> None:
        """Append `tail`, flush, and atomically replace the target.

        Create-only (`if_absent`), the temporary file is hard-linked to the target instead (the link fails if
        the target exists, in one step), so an existing object raises `AlreadyExists` untouched.
        """
        assert self.temp is not None, "open() first"
        _write_all(self.fd, tail)
        self.sync_data()
        os.close(self.fd)
        self.fd = -1
        if self.if_absent:
            try:
                os.link(self.temp, self.path)
            except FileExistsError:
                raise already_exists(self._store.where, self.key) from None
            os.unlink(self.temp)
            self.temp = None
        else:
            os.replace(self.temp, self.path)
        self._store.sync_dir(self.directory)

    def discard(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.temp is not None:
            Path(self.temp).unlink(missing_ok=True)


class FileArtifactStore(AsyncClosing):
    """An `ArtifactStore` on the local file system, under one root directory."""

    backend = "file"

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.root = os.path.abspath(os.fspath(root))
        self.fsync = fsync
        self.where = f"file artifact store at {self.root}"
        try:
            os.makedirs(self.root, exist_ok=True)
            name_max = os.pathconf(self.root, "PC_NAME_MAX")
        except OSError as exc:
            raise StorageError(
                f"cannot use {self.root} as an artifact root: {exc.strerror}", details={"root": self.root}
            ) from exc
        self._max_segment = name_max - len(_BLOB)

    @classmethod
    async def from_url(cls, url: str = "file://./.asm/artifacts", **options: Any) -> FileArtifactStore:
        """`file:///abs/root` or `file://./relative/root`; option or query `fsync` (default true)."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "file":
            raise ValidationError("a file URL looks like file:///path/to/root")
        root = file_url_path(url)
        settings: dict[str, Any] = dict(parse_qsl(parts.query))
        settings.update(options)
        check_options(settings, ["fsync"], "file artifact store")
        fsync = option_bool(settings.pop("fsync", True), "fsync")
        if not root:
            raise ValidationError("a file URL needs a root directory: file:///path/to/root")
        return await asyncio.to_thread(cls, root, fsync=fsync)

    def storage_ref(self, key: str) -> str:
        return Path(self._path(key)).as_uri()

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
        target = _AtomicFile(self, key, self._path(key), if_absent=if_absent)
        view = as_view(data)
        kind = check_content_type(content_type)
        extra = check_metadata(metadata)
        return await asyncio.to_thread(self._put, target, view, kind, extra)

    def _put(self, target: _AtomicFile, view: memoryview, kind: str, extra: JSONObject) -> ArtifactInfo:
        key = target.key
        # Large objects are hashed on another thread while their bytes go to disk.
        digest: Future[str] | str = (
            hash_in_background(view) if len(view) >= PARALLEL_HASH_BYTES else sha256_hex(view)
        )

        def write(target: _AtomicFile) -> ArtifactInfo:
            target.write(view)
            if isinstance(digest, str):
                info = ArtifactInfo(key, len(view), digest, kind, extra, utc_now())
                target.commit(encode_trailer(info))
                return info
            # The trailer's length does not depend on the digest (64 hex digits): write it with a
            # placeholder and flush everything while the hash finishes, then put the digest in place.
            # The last flush then rewrites one block and no file size, which is cheap.
            pending = ArtifactInfo(key, len(view), "0" * 64, kind, extra, utc_now())
            target.write(encode_trailer(pending))
            target.sync_data()
            info = dataclasses.replace(pending, sha256=digest.result())
            target.write_at(len(view), encode_trailer(info))
            target.commit()
            return info

        try:
            self._guard(key, target.open)
            return self._guard(key, write, target)
        except BaseException:
            target.discard()
            raise

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
        # Every step on the temporary file ends before a cancellation lets `discard` run (a thread
        # cannot be stopped, and its descriptor must not be closed under it).
        target = _AtomicFile(self, key, path, if_absent=if_absent)
        try:
            await finish_in_thread(self._guard, key, target.open)
            size, digest = await drain(chunks, lambda view: self._guard(key, target.write, view))
            info = ArtifactInfo(key, size, digest, kind, extra, utc_now())
            await finish_in_thread(self._guard, key, target.commit, encode_trailer(info))
        except BaseException:
            await asyncio.to_thread(target.discard)
            raise
        return info

    def make_dirs(self, directory: str) -> None:
        """Create `directory` and its missing parents below the root, each made durable."""
        if os.path.isdir(directory):
            return
        relative = os.path.relpath(directory, self.root)
        current = self.root
        for part in relative.split(os.sep):
            current = os.path.join(current, part)
            try:
                os.mkdir(current)
            except FileExistsError:
                continue
            self.sync_dir(os.path.dirname(current))

    def sync_dir(self, directory: str) -> None:
        if not self.fsync:
            return
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await asyncio.to_thread(self._guard, key, self._delete, path)

    def _delete(self, path: str) -> None:
        self.confine(path)
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            return
        directory = os.path.dirname(path)
        self.sync_dir(directory)
        # Empty directories left behind are removed (a racing put recreates what it needs).
        while directory != self.root:
            try:
                os.rmdir(directory)
            except OSError:
                break
            directory = os.path.dirname(directory)

    # -- reads ----------------------------------------------------------------------------------

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        return await asyncio.to_thread(self._guard, key, self._get, path, key)

    def _get(self, path: str, key: str) -> bytes:
        self.confine(path)
        try:
            handle = open(path, "rb", opener=_no_follow)  # noqa: SIM115 - closed below
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"no artifact {key!r} in the {self.where}", details={"key": key}) from None
        with handle:
            if os.fstat(handle.fileno()).st_size <= SMALL_FILE_BYTES:
                # Small files: one read for bytes and record alike.
                raw = handle.read()
                info = self._parse(raw, len(raw), key)
                data = raw[: info.size]
            else:
                info = self._read_record(handle, key)
                data = handle.read(info.size)
        check_integrity(data, sha256_hex(data), info, self.where)
        return data

    async def open_read(self, key: str) -> ArtifactReader:
        path = self._path(key)
        opened = await asyncio.to_thread(self._guard, key, self._open_handle, path, key)
        handle, info = opened

        async def chunks() -> AsyncIterator[bytes]:
            remaining = info.size
            while remaining > 0:
                chunk = await asyncio.to_thread(self._guard, key, handle.read, min(CHUNK_BYTES, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk

        async def close() -> None:
            await asyncio.to_thread(handle.close)

        return ArtifactReader(info, chunks(), where=self.where, on_close=close)

    async def stat(self, key: str) -> ArtifactInfo:
        path = self._path(key)
        return await asyncio.to_thread(self._guard, key, self._stat, path, key)

    def _stat(self, path: str, key: str) -> ArtifactInfo:
        handle, info = self._open_handle(path, key)
        handle.close()
        return info

    async def exists(self, key: str) -> bool:
        path = self._path(key)
        return await asyncio.to_thread(self._guard, key, self._exists, path)

    def _exists(self, path: str) -> bool:
        self.confine(path)
        return os.path.isfile(path)

    def _open_handle(self, path: str, key: str) -> tuple[IO[bytes], ArtifactInfo]:
        """The file positioned at its first byte, and its checked trailer."""
        self.confine(path)
        try:
            handle = open(path, "rb", opener=_no_follow)  # noqa: SIM115 - closed by the caller
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"no artifact {key!r} in the {self.where}", details={"key": key}) from None
        try:
            info = self._read_record(handle, key)
        except BaseException:
            handle.close()
            raise
        return handle, info

    def _read_record(self, handle: IO[bytes], key: str) -> ArtifactInfo:
        """The checked trailer of an open artifact file, which is left at its first byte."""
        end = os.fstat(handle.fileno()).st_size
        tail = min(end, _FOOTER.size + _TAIL_GUESS)
        handle.seek(end - tail)
        info = self._parse(handle.read(tail), end, key, handle)
        handle.seek(0)
        return info

    def _parse(self, tail: bytes, end: int, key: str, handle: IO[bytes] | None = None) -> ArtifactInfo:
        """The record in `tail`, the last bytes of a file of `end` bytes (more are read from `handle`
        when the trailer is longer than `tail`)."""
        if end < _FOOTER.size or len(tail) < _FOOTER.size:
            raise mismatch(self.where, key, "is truncated (no trailer)")
        length, magic = _FOOTER.unpack(tail[-_FOOTER.size :])
        if magic != MAGIC or length > min(_MAX_TRAILER, end - _FOOTER.size):
            raise mismatch(self.where, key, "is truncated or damaged (bad trailer)")
        if length + _FOOTER.size > len(tail) and handle is not None:
            handle.seek(end - _FOOTER.size - length)
            tail = handle.read(length + _FOOTER.size)
        info = _decode_trailer(tail[-_FOOTER.size - length : -_FOOTER.size], key, self.where)
        if info.size != end - _FOOTER.size - length:
            raise mismatch(
                self.where, key, f"holds {end - _FOOTER.size - length} bytes, {info.size} were stored"
            )
        return info

    async def list(
        self, prefix: str = "", *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[str]:
        position = list_position(prefix, limit, cursor)
        return await asyncio.to_thread(self._list, position, limit)

    def _list(self, position: ListPosition, limit: int) -> Page[str]:
        head = position.head[:-1].split("/") if position.head else []
        directory = os.path.join(self.root, *[segment + _DIR for segment in head])
        after = None if position.after is None else segment_order(position.after)
        keys: builtins.list[str] = []
        for key in self._walk(directory, position.head, position.partial, after):
            keys.append(key)
            if len(keys) > limit:
                break
        return list_page(keys, position, limit)

    def _walk(self, directory: str, base: str, partial: str, after: tuple[str, ...] | None) -> Iterator[str]:
        """Keys below `directory` (whose keys start with `base`) in listing order, after `after`."""
        self.confine(directory)
        try:
            with os.scandir(directory) as scan:
                found = list(scan)
            for entry in found:
                if entry.is_symlink():
                    self.confine(entry.path)  # refuses it, naming it
            names = [entry.name for entry in found]
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise StorageError(
                f"cannot list {directory}: {exc.strerror}", details={"root": self.root}
            ) from exc
        entries = []
        for name in names:
            if name.endswith(_BLOB):
                entries.append((name[: -len(_BLOB)], 0))
            elif name.endswith(_DIR):
                entries.append((name[: -len(_DIR)], 1))
        entries.sort()
        for segment, is_dir in entries:
            if segment in ("", ".", "..") or not segment.startswith(partial):
                continue
            key = base + segment
            order = segment_order(key)
            if not is_dir:
                if after is None or order > after:
                    yield key
            elif after is None or order > after:
                yield from self._walk(os.path.join(directory, segment + _DIR), key + "/", "", None)
            elif after[: len(order)] == order:
                yield from self._walk(os.path.join(directory, segment + _DIR), key + "/", "", after)

    # -- internals ------------------------------------------------------------------------------

    def _path(self, key: str) -> str:
        segments = validate_key(key).split("/")
        for segment in segments:
            if len(segment.encode()) > self._max_segment:
                raise ValidationError(
                    f"key segment {segment[:40]!r}... is longer than {self._max_segment} bytes, "
                    "the file system's limit for one name",
                    details={"field": "key"},
                )
        names = [segment + _DIR for segment in segments[:-1]] + [segments[-1] + _BLOB]
        return os.path.join(self.root, *names)

    def confine(self, path: str) -> None:
        """`validation_error` if `path` or a directory on the way to it is a symlink (see
        `core.keys.refuse_symlinks`); files are also opened with `O_NOFOLLOW`."""
        refuse_symlinks(self.root, path, self.where)

    def _guard(self, key: str, action: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run `action`; an `OSError` becomes `StorageError` naming the key and root, cause chained."""
        try:
            return action(*args, **kwargs)
        except ASMError:
            raise
        except OSError as exc:
            reason = exc.strerror or errno.errorcode.get(exc.errno or 0, type(exc).__name__)
            raise StorageError(
                f"{self.where}: {key!r} failed: {reason}", details={"key": key, "root": self.root}
            ) from exc
