"""S3 workspaces: the files live in a bucket under `<prefix><session_id>/`, and a local cache directory
(`<cache_path>/asm_s3_<session_id>/`, the system temp dir by default) is the working directory that
`local_path()` returns for programs and containers.

* `write` is write-through: the bytes go to a temporary file in the cache, are uploaded (one PUT, with
  `Content-Type` and the SHA-256 as `x-amz-meta-sha256`), and only then renamed into place; if the upload
  fails nothing changed, locally or remotely.
* `read` and `exists` look in the cache first, then in the bucket; a file read from the bucket is
  stored in the cache (verified against its SHA-256 when the object carries one).
* `list` is every file readable: the cache's files plus the bucket's files not in the cache.
* `delete` removes the object, then the cached file.
* `sync_to_remote()` uploads what changed locally since the last sync, judged by SHA-256 (so files
  that another program created or changed in `local_path()` go up, untouched ones do not), and deletes
  the objects of files deleted locally. `sync_from_remote(paths=None)` downloads what changed remotely
  (new objects, or an ETag different from the one last seen) and deletes cached files whose object was
  deleted. Both page through listings of any size. When both sides changed the same file, the side
  being synced from wins: a push uploads the local file, a pull downloads the remote one; a file
  deleted on one side but changed on the other is kept. Transfers run concurrently (`concurrency=`,
  default 16). Files that fail are listed in one `storage_error` raised after the others are done.
* `cleanup()` deletes every object under the session's prefix and the cache directory, and raises one
  error listing every failure. `close()` keeps the bucket (the durable copy) and removes the cache
  directory, unless `keep=True`, or unless the cache holds changes not synced yet: then it stays (with a
  warning) and the next `init` of the session with the same `cache_path` finds them.
* What the workspace has seen (SHA-256, size, ETag per path) is kept in `asm_s3_<session_id>.index.json`
  beside the cache directory. Anything that deletes files in the cache counts as a deletion at the next
  push, so keep the cache where no temp cleaner prunes single files (`cache_path=`).

Objects whose key is not a valid workspace path (written by another tool) are skipped, never followed
out of the cache.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Self, TypeVar

import obstore

from .._s3 import S3_SETTINGS, S3Location, parse_s3_url, s3_delete, s3_error, s3_exists, s3_store
from ..core.digest import sha256_hex
from ..core.errors import ASMError, ChecksumMismatch, NotFound, StorageError, ValidationError
from ..core.keys import validate_key
from ..core.urls import check_options
from . import fs
from .base import FileCallbacks, FileEvent, FileRefs
from .files import FileRef, generate_session_id, guess_content_type
from .local import (
    Changes,
    Entry,
    Failures,
    Index,
    LocalWorkspaceStorage,
    as_bytes,
    failure,
    mtime,
    prepare_directory,
    raise_failures,
    validate_session_id,
)

log = logging.getLogger("agent_session_manager.workspaces")

#: Files up to this size are uploaded and downloaded in one piece; larger ones are streamed.
WHOLE_FILE_LIMIT = 8 * 1024 * 1024
SHA256_METADATA = "sha256"
_T = TypeVar("_T")


@dataclass(frozen=True)
class RemoteFile:
    """An object found by listing: its ETag (or a size/date stand-in), size and modification time."""

    etag: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class Outcome:
    """The result of one transfer or comparison in a sync: the new entry and whether bytes moved."""

    path: str
    entry: Entry
    transferred: bool
    modified: datetime | None = None


class S3WorkspaceStorage(LocalWorkspaceStorage):
    """A workspace stored in S3 with a local cache. See the module docstring and `workspaces.base`."""

    backend = "s3"

    def __init__(
        self,
        session_id: str,
        directory: Path,
        index: Index,
        callbacks: FileCallbacks,
        keep: bool,
        *,
        location: S3Location,
        store: Any,
        concurrency: int,
    ) -> None:
        super().__init__(session_id, directory, index, callbacks, keep)
        self._location = location
        self._store = store
        self._root_key = validate_key(f"{location.prefix}{session_id}", "prefix") + "/"
        self._concurrency = concurrency

    @classmethod
    async def init(
        cls,
        session_id: str | None = None,
        *,
        url: str | None = None,
        bucket: str | None = None,
        prefix: str | None = None,
        cache_path: str | os.PathLike[str] | None = None,
        keep: bool = False,
        concurrency: int = 16,
        **options: Any,
    ) -> Self:
        """Open the workspace of `session_id` in `url` (`s3://bucket/prefix?endpoint=...&region=...`),
        or in `bucket` under `prefix` (Conjure's options; default prefix `sessions/`, while `prefix=`
        with a URL replaces the URL's path). Remaining options:
        the `on_file_*` callbacks, and `endpoint`, `region`, `access_key_id`, `secret_access_key`,
        `session_token`, timeouts (see `_s3`); credentials default to the AWS variables."""
        callbacks = FileCallbacks.pop_from(options)
        if url is None:
            if not bucket:
                raise ValidationError("an S3 workspace needs url= or bucket=", details={"field": "bucket"})
            url, prefix = f"s3://{bucket}", "sessions/" if prefix is None else prefix
        s3_options = {k: options.pop(k) for k in list(options) if k in S3_SETTINGS}
        check_options(options, (), "workspace")
        if prefix is not None:
            s3_options["prefix"] = prefix
        if not 1 <= concurrency <= 256:
            raise ValidationError("concurrency must be between 1 and 256", details={"field": "concurrency"})
        location, settings = parse_s3_url(url, **s3_options)
        store = s3_store(location, settings)
        sid = validate_session_id(session_id if session_id is not None else generate_session_id())
        base = Path(cache_path) if cache_path is not None else Path(tempfile.gettempdir())
        directory, index = await asyncio.to_thread(prepare_directory, base, f"asm_s3_{sid}")
        return cls(
            sid, directory, index, callbacks, keep, location=location, store=store, concurrency=concurrency
        )

    @classmethod
    async def from_url(cls, url: str, session_id: str | None = None, **options: Any) -> Self:
        return await cls.init(session_id, url=url, **options)

    # -- the port -----------------------------------------------------------------------------

    async def write(self, path: str, content: bytes) -> FileRef:
        path, data = self._checked(path), as_bytes(content)
        async with self._lock:
            staged = await self._fs("write", path, fs.Staged, self._directory, path)
            try:
                await self._fs("write", path, staged.write, data)
                etag = await self._put(path, data, staged.checksum)
                await self._fs("write", path, staged.commit)
            except BaseException:
                await asyncio.to_thread(staged.discard)
                raise
            ref, changes = await self._remember(path, Entry(staged.checksum, len(data), etag))
        await self._emit(changes)
        return ref

    async def read(self, path: str) -> bytes:
        path = self._checked(path)
        try:
            return await self._fs("read", path, fs.read_file, self._directory, path)  # type: ignore[no-any-return]
        except NotFound:
            pass
        key = self._key(path)
        try:
            result = await obstore.get_async(self._store, key)
            data = bytes(await result.bytes_async())
        except Exception as exc:
            raise self._error(exc, key) from exc
        checksum = _verified(data, result.attributes.get(SHA256_METADATA), key)
        async with self._lock:
            if path not in self._index.files:  # a known path missing locally is a pending deletion
                await self._fs("cache", path, fs.write_file, self._directory, path, data, durable=False)
                self._index.files[path] = Entry(checksum, len(data), result.meta["e_tag"])
                await self._save_index()
        return data

    async def exists(self, path: str) -> bool:
        if await super().exists(path):
            return True
        return await s3_exists(self._store, self._location, self._key(path))

    async def list(self) -> FileRefs:
        self._check_open()
        local = await self._fs("list", "", fs.scan, self._directory)
        remote = await self._list_remote()
        refs: dict[str, FileRef] = {}
        for path, found in local.items():
            known = self._index.files.get(path)
            etag = known.etag if known and known.checksum == found.checksum else None
            refs[path] = self._ref(path, Entry(found.checksum, found.size, etag), mtime(found.mtime_ns))
        for path, obj in remote.items():
            if path not in refs:
                known = self._index.files.get(path)
                checksum = known.checksum if known and known.etag == obj.etag else None
                refs[path] = FileRef(
                    path=path,
                    size=obj.size,
                    content_type=guess_content_type(path),
                    checksum=checksum,
                    storage_url=self._url(path),
                    created_at=obj.modified,
                )
        return [refs[p] for p in sorted(refs)]

    async def sync_to_remote(self) -> FileRefs:
        """Upload local changes and remove objects of locally deleted files (module docstring)."""
        self._check_open()
        async with self._lock:
            local = await self._fs("scan", "", fs.scan, self._directory)
            remote = await self._list_remote()
            index = self._index.files
            todo = [
                p
                for p, f in sorted(local.items())
                if (e := index.get(p)) is None or e.etag is None or e.checksum != f.checksum
            ]
            outcomes, failures = await self._run_all(todo, lambda p: self._push(p, local[p], remote.get(p)))
            changes, transferred = self._apply(outcomes)
            gone = sorted(p for p in index if p not in local)
            for path, error in (await self._remove_remote(gone, remote)).items():
                failures.append(failure(path, error))
            failed = {f["path"] for f in failures}
            for path in gone:
                if path not in failed:
                    changes += self._forget(path)
            await self._save_index()
        await self._emit(changes)
        raise_failures(f"sync_to_remote of workspace {self._session_id!r}", failures)
        return transferred

    async def sync_from_remote(self, paths: Iterable[str] | None = None) -> FileRefs:
        """Download remote changes and remove cached files whose object was deleted (module docstring)."""
        only = self._checked_paths(paths)
        async with self._lock:
            remote = await self._list_remote()
            if only is not None:
                remote = {p: r for p, r in remote.items() if p in only}
            local = await self._fs("scan", "", fs.scan, self._directory, only)
            index = self._index.files
            todo = [
                p
                for p, r in sorted(remote.items())
                if (e := index.get(p)) is None or e.etag is None or e.etag != r.etag
            ]
            outcomes, failures = await self._run_all(todo, lambda p: self._pull(p, local.get(p)))
            changes, transferred = self._apply(outcomes)
            gone = sorted(
                p
                for p, e in index.items()
                if p not in remote and e.etag is not None and (only is None or p in only)
            )
            for path in gone:
                known, found = index[path], local.get(path)
                if found is None:
                    changes += self._forget(path)
                elif found.checksum == known.checksum:
                    try:
                        await self._fs("delete", path, fs.delete_file, self._directory, path)
                    except (OSError, StorageError, ValidationError) as exc:
                        failures.append(failure(path, exc))
                        continue
                    changes += self._forget(path)
                else:  # changed locally since: kept, and uploaded by the next push
                    index[path] = Entry(known.checksum, known.size, None)
            await self._save_index()
        await self._emit(changes)
        raise_failures(f"sync_from_remote of workspace {self._session_id!r}", failures)
        return transferred

    async def cleanup(self) -> None:
        """Delete every object of the session and the cache directory, and close the handle; one
        `storage_error` lists every failure (calling `cleanup()` again retries)."""
        async with self._lock:
            self._closed = True
            failures: Failures = []
            try:
                keys = [self._key(p) for p in await self._list_remote()]
            except StorageError as exc:
                keys = []
                failures.append(failure(self._root_key, exc))
            for key, error in (await self._delete_keys(keys)).items():
                failures.append(failure(key, error))
            if not failures:
                self._index.files.clear()
            failures += await asyncio.to_thread(self._remove_local)
        raise_failures(f"cleanup of workspace {self._session_id!r}", failures)

    async def close(self) -> None:
        """Release the handle; without `keep=True` the cache directory is removed (the bucket stays).
        Files other programs wrote into `local_path()` since the last sync are not uploaded by this:
        call `sync_to_remote()` first. The cache is kept (and a warning logged) if it has unsynced files."""
        if self._closed:
            return
        try:
            if not self._keep:
                async with self._lock:
                    await self._drop_cache_if_synced()
        finally:
            self._closed = True

    # -- internals ----------------------------------------------------------------------------

    def _key(self, path: str) -> str:
        return validate_key(self._root_key + path, "key")

    def _url(self, path: str) -> str:
        return f"s3://{self._location.bucket}/{self._root_key}{path}"

    def _storage_url(self, path: str, entry: Entry) -> str | None:
        return self._url(path) if entry.etag is not None else None

    def _error(self, exc: Exception, key: str) -> ASMError:
        return s3_error(exc, self._location, key)

    async def _delete_remote(self, path: str) -> None:
        await s3_delete(self._store, self._location, self._key(path))

    async def _put(self, path: str, body: bytes | AsyncIterator[bytes], checksum: str) -> str:
        """PUT `body` (bytes, or chunks streamed as a multipart upload) with its type and SHA-256."""
        key = self._key(path)
        attributes = {"Content-Type": guess_content_type(path), SHA256_METADATA: checksum}
        try:
            result = await obstore.put_async(self._store, key, body, attributes=attributes)
        except Exception as exc:
            raise self._error(exc, key) from exc
        return str(result["e_tag"])

    async def _upload(self, path: str, size: int) -> Entry:
        """Upload the cached file at `path`; the entry records exactly what was uploaded."""
        if size <= WHOLE_FILE_LIMIT:
            data = await self._fs("read", path, fs.read_file, self._directory, path)
            if len(data) <= WHOLE_FILE_LIMIT:
                checksum = sha256_hex(data)
                return Entry(checksum, len(data), await self._put(path, data, checksum))
        for _ in range(3):
            fd_context = fs.open_file(self._directory, path)
            fd = await self._fs("read", path, fd_context.__enter__)
            try:
                checksum, size = await self._fs("read", path, fs.hash_fd, fd)
                await asyncio.to_thread(os.lseek, fd, 0, os.SEEK_SET)
                streamed = hashlib.sha256()
                etag = await self._put(path, _read_chunks(fd, streamed), checksum)
            finally:
                await asyncio.to_thread(fd_context.__exit__, None, None, None)
            if streamed.hexdigest() == checksum:
                return Entry(checksum, size, etag)
        raise StorageError(
            f"{path!r} kept changing while it was uploaded; try the sync again",
            details={"path": path},
        )

    async def _push(self, path: str, found: fs.LocalFile, remote: RemoteFile | None) -> Outcome:
        """Upload one changed local file, unless the object already has the same SHA-256."""
        known = self._index.files.get(path)
        unknown_remote = remote is not None and (known is None or known.etag != remote.etag)
        if remote is not None and unknown_remote and remote.size == found.size:
            checksum, etag = await self._remote_checksum(path)
            if checksum == found.checksum:
                return Outcome(path, Entry(checksum, found.size, etag), transferred=False)
        return Outcome(path, await self._upload(path, found.size), transferred=True)

    async def _remote_checksum(self, path: str) -> tuple[str, str]:
        """The SHA-256 of an object (its metadata, else its bytes) and its ETag."""
        key = self._key(path)
        try:
            result = await obstore.get_async(self._store, key)
            recorded = result.attributes.get(SHA256_METADATA)
            checksum = recorded or sha256_hex(memoryview(await result.bytes_async()))
        except Exception as exc:
            raise self._error(exc, key) from exc
        return str(checksum), str(result.meta["e_tag"])

    async def _pull(self, path: str, found: fs.LocalFile | None) -> Outcome:
        """Download one object into the cache (atomically, verified), unless the cached file already
        has the same content."""
        key = self._key(path)
        try:
            result = await obstore.get_async(self._store, key)
        except Exception as exc:
            raise self._error(exc, key) from exc
        expected = result.attributes.get(SHA256_METADATA)
        etag, modified = str(result.meta["e_tag"]), result.meta["last_modified"]
        if result.meta["size"] <= WHOLE_FILE_LIMIT:
            try:
                data = bytes(await result.bytes_async())
            except Exception as exc:
                raise self._error(exc, key) from exc
            checksum = _verified(data, expected, key)
            entry = Entry(checksum, len(data), etag)
            if found is not None and found.checksum == checksum:
                return Outcome(path, entry, transferred=False, modified=modified)
            await self._fs("write", path, fs.write_file, self._directory, path, data, durable=False)
            return Outcome(path, entry, transferred=True, modified=modified)
        staged = await self._fs("write", path, fs.Staged, self._directory, path)
        try:
            try:
                async for chunk in result.stream(min_chunk_size=fs.CHUNK):
                    await self._fs("write", path, staged.write, bytes(chunk))
            except ASMError:
                raise
            except Exception as exc:
                raise self._error(exc, key) from exc
            _verified_digest(staged.checksum, expected, key)
            entry = Entry(staged.checksum, staged.size, etag)
            if found is not None and found.checksum == staged.checksum:
                await asyncio.to_thread(staged.discard)
                return Outcome(path, entry, transferred=False, modified=modified)
            await self._fs("write", path, staged.commit)
        except BaseException:
            await asyncio.to_thread(staged.discard)
            raise
        return Outcome(path, entry, transferred=True, modified=modified)

    async def _run_all(
        self, paths: builtins.list[str], work: Callable[[str], Awaitable[_T]]
    ) -> tuple[builtins.list[_T], Failures]:
        """`work(path)` for every path, at most `concurrency` at a time; results and failures."""
        limit = asyncio.Semaphore(self._concurrency)

        async def one(path: str) -> _T:
            async with limit:
                return await work(path)

        results = await asyncio.gather(*(one(p) for p in paths), return_exceptions=True)
        done: builtins.list[_T] = []
        failures: Failures = []
        for path, result in zip(paths, results, strict=True):
            if isinstance(result, Exception):
                failures.append(failure(path, result))
            elif isinstance(result, BaseException):
                raise result
            else:
                done.append(result)
        return done, failures

    def _apply(self, outcomes: builtins.list[Outcome]) -> tuple[Changes, FileRefs]:
        """Record each outcome in the index; the changes to announce and the files transferred."""
        changes: Changes = []
        transferred: FileRefs = []
        for outcome in outcomes:
            ref = self._ref(outcome.path, outcome.entry, outcome.modified)
            changes += self._record(outcome.path, outcome.entry, ref)
            if outcome.transferred:
                changes.append((FileEvent.SYNCED, ref))
                transferred.append(ref)
        return changes, transferred

    async def _list_remote(self) -> dict[str, RemoteFile]:
        """Every object under the session's prefix, through all listing pages."""
        found: dict[str, RemoteFile] = {}
        try:
            async for batch in obstore.list(self._store, prefix=self._root_key, chunk_size=1000):
                for meta in batch:
                    path = meta["path"][len(self._root_key) :]
                    try:
                        fs.check_path(path)
                    except ValidationError:
                        log.warning("workspace %s: skipping object %r (not a valid path)", self, meta["path"])
                        continue
                    modified = meta["last_modified"]
                    etag = meta.get("e_tag") or f"{meta['size']}@{modified.isoformat()}"
                    found[path] = RemoteFile(str(etag), int(meta["size"]), modified)
        except Exception as exc:
            raise self._error(exc, self._root_key) from exc
        return found

    async def _remove_remote(
        self, paths: builtins.list[str], remote: dict[str, RemoteFile]
    ) -> dict[str, Exception]:
        """Delete the objects of locally deleted `paths` that did not change remotely since."""
        doomed = []
        for path in paths:
            known, obj = self._index.files[path], remote.get(path)
            if obj is not None and obj.etag == known.etag:
                doomed.append(path)
        failed = await self._delete_keys([self._key(p) for p in doomed])
        return {p: failed[self._key(p)] for p in doomed if self._key(p) in failed}

    async def _delete_keys(self, keys: builtins.list[str]) -> dict[str, Exception]:
        """Delete `keys` (bulk requests of 1,000); the error of every key that could not be deleted."""
        failed: dict[str, Exception] = {}
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            try:
                await _delete_objects(self._store, batch)
            except Exception:  # find out which keys failed, one by one
                for key in batch:
                    try:
                        await _delete_objects(self._store, [key])
                    except Exception as exc:
                        failed[key] = self._error(exc, key)
        return failed

    async def _drop_cache_if_synced(self) -> None:
        try:
            local = await self._fs("scan", "", fs.scan, self._directory)
        except (StorageError, ValidationError) as exc:
            log.warning("workspace %s: keeping the cache %s (%s)", self._session_id, self._directory, exc)
            return
        index = self._index.files
        pending = sorted(
            p
            for p, f in local.items()
            if (e := index.get(p)) is None or e.etag is None or e.checksum != f.checksum
        )
        if pending or any(p not in local for p in index):
            log.warning(
                "workspace %s: keeping the cache %s, it has changes not synced to %s: %s",
                self._session_id,
                self._directory,
                self._location.describe(),
                pending[:10],
            )
            return
        failures = await asyncio.to_thread(self._remove_local)
        if failures:
            log.warning("workspace %s: could not remove the cache: %s", self._session_id, failures)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._session_id} at {self._location.describe()}>"


async def _delete_objects(store: Any, keys: list[str]) -> None:
    """One bulk delete (the seam the tests use to inject failures)."""
    await obstore.delete_async(store, keys)


async def _read_chunks(fd: int, digest: Any) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(os.read, fd, fs.CHUNK):
        digest.update(chunk)
        yield chunk


def _verified(data: bytes, expected: str | None, key: str) -> str:
    checksum = sha256_hex(data)
    _verified_digest(checksum, expected, key)
    return checksum


def _verified_digest(checksum: str, expected: str | None, key: str) -> None:
    if expected is not None and expected != checksum:
        raise ChecksumMismatch(
            f"object {key!r} does not match the SHA-256 recorded when it was written",
            details={"key": key},
        )
