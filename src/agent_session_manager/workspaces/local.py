"""Local workspaces: one directory per session under a base path (the system temp dir by default).

`await LocalWorkspaceStorage.init(session_id, base_path=None, keep=False, **callbacks)` makes
`<base_path>/asm_ws_<session_id>/`. The workspace is temporary by default: `close()` (or leaving
`async with`) and `cleanup()` delete the directory. With `keep=True` both leave it in place (Conjure's
`cleanup_on_exit: false`), and a later `init` with the same base path and session id reopens it.

There is no remote copy, so the two sync calls reconcile the workspace with its directory: they hash
every file, fire `created` / `modified` / `deleted` for what other programs changed since the last look,
and return the files created or modified. What the workspace has seen is kept in an index file beside the
directory (`asm_ws_<session_id>.index.json`, never inside it), so events fire once per change even
across processes.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import secrets
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import orjson

from ..core.errors import ASMError, StorageConnectionFailed, StorageError, ValidationError
from ..core.ids import validate_id
from ..core.keys import validate_key
from ..core.urls import check_options, file_url_path
from . import fs
from .base import FileCallbacks, FileEvent, FileRefs
from .files import FileRef, generate_session_id, guess_content_type

log = logging.getLogger("agent_session_manager.workspaces")

#: Change found by a scan or made by an operation: the event and the file it concerns.
Change = tuple[FileEvent, FileRef]
Changes = list[Change]
#: Failures of a multi-item operation: `{"path", "code", "error"}` each.
Failures = list[dict[str, Any]]


@dataclass(frozen=True)
class Entry:
    """What the workspace last saw at a path: content hash and size, and (remote backends) the ETag
    the remote object had then, or None when the file is not known to be stored remotely."""

    checksum: str
    size: int
    etag: str | None = None


class Index:
    """The `Entry` of every path the workspace knows, saved atomically to a JSON file."""

    def __init__(self, path: Path, files: dict[str, Entry] | None = None) -> None:
        self.path = path
        self.files: dict[str, Entry] = files or {}

    @classmethod
    def load(cls, path: Path) -> Index:
        """The index saved at `path`; empty when missing or unreadable (it is only knowledge: a lost
        index costs extra checksum comparisons and repeated events, never data)."""
        try:
            raw = orjson.loads(path.read_bytes())
            files = {p: Entry(e["sha256"], int(e["size"]), e.get("etag")) for p, e in raw["files"].items()}
        except FileNotFoundError:
            files = {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("ignoring unreadable workspace index %s: %s", path, exc)
            files = {}
        return cls(path, files)

    def dump(self) -> bytes:
        files = {p: {"sha256": e.checksum, "size": e.size, "etag": e.etag} for p, e in self.files.items()}
        return orjson.dumps({"version": 1, "files": files})

    def write(self, data: bytes) -> None:
        temp = self.path.with_name(f"{fs.TEMP_PREFIX}{secrets.token_hex(6)}-{self.path.name}")
        temp.write_bytes(data)
        os.replace(temp, self.path)


def validate_session_id(session_id: object) -> str:
    """A session id usable as a directory name and key segment: 1-128 of `[A-Za-z0-9_.:-]`, not `.`/`..`."""
    checked = validate_id(session_id, "session_id")
    validate_key(checked, "session_id")
    return checked


def mtime(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


class LocalWorkspaceStorage:
    """A workspace in a local directory. See the module docstring and `workspaces.base`."""

    backend = "local"

    def __init__(
        self,
        session_id: str,
        directory: Path,
        index: Index,
        callbacks: FileCallbacks,
        keep: bool,
    ) -> None:
        self._session_id = session_id
        self._directory = directory
        self._index = index
        self._callbacks = callbacks
        self._keep = keep
        self._lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def init(
        cls,
        session_id: str | None = None,
        *,
        base_path: str | os.PathLike[str] | None = None,
        keep: bool = False,
        **options: Any,
    ) -> Self:
        """Create (or reopen) `<base_path>/asm_ws_<session_id>/`; options are the `on_file_*` callbacks."""
        callbacks = FileCallbacks.pop_from(options)
        check_options(options, (), "workspace")
        sid = validate_session_id(session_id if session_id is not None else generate_session_id())
        base = Path(base_path) if base_path is not None else Path(tempfile.gettempdir())
        directory, index = await asyncio.to_thread(prepare_directory, base, f"asm_ws_{sid}")
        return cls(sid, directory, index, callbacks, keep)

    @classmethod
    async def from_url(cls, url: str, session_id: str | None = None, **options: Any) -> Self:
        """`file:///base/path` (or `file://` for the system temp dir)."""
        return await cls.init(session_id, base_path=file_url_path(url), **options)

    # -- the port -----------------------------------------------------------------------------

    @property
    def session_id(self) -> str:
        return self._session_id

    def local_path(self) -> Path:
        return self._directory

    async def write(self, path: str, content: bytes) -> FileRef:
        path, data = self._checked(path), as_bytes(content)
        async with self._lock:
            checksum = await self._fs("write", path, fs.write_file, self._directory, path, data, durable=True)
            ref, changes = await self._remember(path, Entry(checksum, len(data)))
        await self._emit(changes)
        return ref

    async def read(self, path: str) -> bytes:
        path = self._checked(path)
        data: bytes = await self._fs("read", path, fs.read_file, self._directory, path)
        return data

    async def exists(self, path: str) -> bool:
        path = self._checked(path)
        return await self._fs("stat", path, fs.file_size, self._directory, path) is not None

    async def delete(self, path: str) -> None:
        path = self._checked(path)
        async with self._lock:
            await self._delete_remote(path)
            await self._fs("delete", path, fs.delete_file, self._directory, path)
            changes = self._forget(path)
            await self._save_index()
        await self._emit(changes)

    async def list(self) -> FileRefs:
        self._check_open()
        scanned = await self._fs("list", "", fs.scan, self._directory)
        return [
            self._ref(p, Entry(f.checksum, f.size), mtime(f.mtime_ns)) for p, f in sorted(scanned.items())
        ]

    async def sync_to_remote(self) -> FileRefs:
        """Reconcile with the directory (there is no remote): see the module docstring."""
        return await self._rescan(None)

    async def sync_from_remote(self, paths: Iterable[str] | None = None) -> FileRefs:
        """Reconcile with the directory, only `paths` when given (there is no remote)."""
        return await self._rescan(self._checked_paths(paths))

    async def cleanup(self) -> None:
        """Delete the directory and the index (not with `keep=True`) and close the handle; one
        `storage_error` lists every failure (calling `cleanup()` again retries)."""
        async with self._lock:
            self._closed = True
            failures = [] if self._keep else await asyncio.to_thread(self._remove_local)
        raise_failures(f"cleanup of workspace {self._session_id!r}", failures)

    async def close(self) -> None:
        """Release the handle; a temporary workspace (`keep=False`) is deleted like `cleanup()`."""
        if self._closed:
            return
        try:
            if not self._keep:
                await self.cleanup()
        finally:
            self._closed = True

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- shared with the remote backends ------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ValidationError(
                f"the workspace handle of session {self._session_id!r} is closed",
                details={"session_id": self._session_id},
            )

    def _checked(self, path: object) -> str:
        self._check_open()
        return fs.check_path(path)

    def _checked_paths(self, paths: Iterable[str] | None) -> set[str] | None:
        if isinstance(paths, str):
            raise ValidationError("paths must be an iterable of paths, not one string")
        return None if paths is None else {self._checked(p) for p in paths}

    async def _fs(self, action: str, path: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a blocking `fs` function in a thread, turning OS errors into `storage_error`."""
        try:
            return await asyncio.to_thread(function, *args, **kwargs)
        except OSError as exc:
            raise fs.storage_error(action, path, exc) from exc

    def _storage_url(self, path: str, entry: Entry) -> str | None:
        return (self._directory / path).as_uri()

    def _ref(self, path: str, entry: Entry, created_at: datetime | None = None) -> FileRef:
        fields: dict[str, Any] = {
            "path": path,
            "size": entry.size,
            "content_type": guess_content_type(path),
            "checksum": entry.checksum,
            "storage_url": self._storage_url(path, entry),
        }
        if created_at is not None:
            fields["created_at"] = created_at
        return FileRef(**fields)

    def _record(self, path: str, entry: Entry, ref: FileRef) -> Changes:
        """Store `entry` for `path`; the `created` / `modified` change it is, if any."""
        old = self._index.files.get(path)
        self._index.files[path] = entry
        if old is None:
            return [(FileEvent.CREATED, ref)]
        if old.checksum != entry.checksum:
            return [(FileEvent.MODIFIED, ref)]
        return []

    async def _delete_remote(self, path: str) -> None:
        """Remove the remote copy of `path` (none here; remote backends override this)."""

    async def _remember(self, path: str, entry: Entry) -> tuple[FileRef, Changes]:
        """Record what a write stored at `path` and save the index; its ref and change."""
        ref = self._ref(path, entry)
        changes = self._record(path, entry, ref)
        await self._save_index()
        return ref, changes

    def _forget(self, path: str) -> Changes:
        """Drop `path` from the index; a `deleted` change if the workspace knew it."""
        old = self._index.files.pop(path, None)
        return [] if old is None else [(FileEvent.DELETED, self._ref(path, old))]

    async def _save_index(self) -> None:
        data = self._index.dump()
        try:
            await asyncio.to_thread(self._index.write, data)
        except OSError as exc:
            raise fs.storage_error("save the index of", self._session_id, exc) from exc

    async def _emit(self, changes: Changes) -> None:
        """Call the callback of every change in order; failures are reported, never raised."""
        for event, ref in changes:
            callback = self._callbacks.for_event(event)
            if callback is None:
                continue
            try:
                result = callback(ref, self._session_id)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                self._report_callback_error(event, ref, exc)

    def _report_callback_error(self, event: FileEvent, ref: FileRef, exc: Exception) -> None:
        handler = self._callbacks.on_error
        if handler is not None:
            try:
                handler(event, ref, self._session_id, exc)
                return
            except Exception:
                log.exception("on_callback_error failed for %s of %r", event.value, ref.path)
        log.error(
            "workspace %s: %s callback for %r failed",
            self._session_id,
            event.value,
            ref.path,
            exc_info=exc,
        )

    async def _rescan(self, only: set[str] | None) -> FileRefs:
        self._check_open()
        async with self._lock:
            scanned = await self._fs("scan", "", fs.scan, self._directory, only)
            changes: Changes = []
            changed: FileRefs = []
            for path, found in sorted(scanned.items()):
                ref = self._ref(path, Entry(found.checksum, found.size), mtime(found.mtime_ns))
                recorded = self._record(path, Entry(found.checksum, found.size), ref)
                changes += recorded
                changed += [ref] if recorded else []
            gone = [p for p in self._index.files if p not in scanned and (only is None or p in only)]
            for path in sorted(gone):
                changes += self._forget(path)
            await self._save_index()
        await self._emit(changes)
        return changed

    def _remove_local(self) -> Failures:
        failures = fs.remove_tree(self._directory)
        try:
            self._index.path.unlink(missing_ok=True)
        except OSError as exc:
            failures.append({"path": str(self._index.path), "error": f"{type(exc).__name__}: {exc}"})
        if not failures:
            self._index.files.clear()
        return failures


def prepare_directory(base: Path, name: str) -> tuple[Path, Index]:
    """Create `base/name/` (and `base`) and load the index beside it. An index without its directory
    (removed by hand or by a temp cleaner) describes files that are not there: it is dropped, so
    that a sync cannot mistake the missing files for deletions. A relative `base` is taken from the
    working directory now, so that `file://` URIs of the files can be made later."""
    base = base.absolute()
    directory = base / name
    index_path = base / f"{name}.index.json"
    try:
        base.mkdir(parents=True, exist_ok=True)
        try:
            directory.mkdir()
            index_path.unlink(missing_ok=True)
        except FileExistsError:
            pass
    except OSError as exc:
        raise StorageError(
            f"could not create the workspace directory {str(directory)!r}: {exc.strerror or exc}",
            details={"path": str(directory)},
        ) from exc
    if directory.is_symlink() or not directory.is_dir():
        raise ValidationError(
            f"{str(directory)!r} exists and is not a directory", details={"path": str(directory)}
        )
    return directory, Index.load(index_path)


def as_bytes(content: object) -> bytes:
    """`content` as bytes; `validation_error` for text or anything that is not bytes-like."""
    if isinstance(content, bytes):
        return content
    if isinstance(content, bytearray | memoryview):
        return bytes(content)
    raise ValidationError(
        f"content must be bytes, not {type(content).__name__} (encode text first)",
        details={"field": "content"},
    )


def raise_failures(action: str, failures: Failures) -> None:
    """Raise one error listing every failure of `action` (retryable if all were connection failures)."""
    if not failures:
        return
    retryable = all(f.get("code") == StorageConnectionFailed.code for f in failures)
    error_class = StorageConnectionFailed if retryable else StorageError
    raise error_class(
        f"{action} failed for {len(failures)} item(s): "
        + "; ".join(f"{f['path']}: {f['error']}" for f in failures[:5])
        + (" ..." if len(failures) > 5 else ""),
        details={"failures": failures},
    )


def failure(path: str, exc: BaseException) -> dict[str, Any]:
    """One entry of a failure list: the path, our error code and a secret-free message."""
    if isinstance(exc, ASMError):
        return {"path": path, "code": exc.code, "error": exc.message}
    return {"path": path, "code": StorageError.code, "error": f"{type(exc).__name__}: {exc}"}
