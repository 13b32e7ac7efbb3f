"""The `WorkspaceStorage` port (Conjure's `Storage` behaviour): a per-session working
directory that programs (say, a container with it mounted) use as plain files, optionally mirrored to
remote storage.

A handle is made by a backend's `init(session_id, **options)` (or `open_workspace_storage(url)`), and
offers `write`, `read`, `delete` (idempotent), `exists`, `list`, `local_path`, `sync_to_remote`,
`sync_from_remote`, `cleanup` and `close`. Paths are relative, `/`-separated and validated like object
keys (`core.keys`): `..`, absolute paths, NUL and control characters raise `validation_error` before
any I/O. The workspace never follows a symlink: an operation whose path goes through one raises
`validation_error` (except that `write` replaces and `delete` removes a symlink at the path itself, never
touching its target), and a scan (`list`, `sync_*`) that meets a symlink pointing outside the directory
raises `validation_error` naming it, before anything is transferred. Symlinks pointing inside, FIFOs,
sockets and devices are skipped (logged), never read.

File callbacks (`on_file_created=`, `on_file_modified=`, `on_file_deleted=`, `on_file_synced=` options
of `init`) are called as `callback(file_ref, session_id)` (plain or async functions), exactly once per
change, after the change is complete:

* `created`: a path the workspace did not know gets content (`write`, or a sync that finds a new file);
* `modified`: a known path gets different content (same bytes again is no change, and fires nothing);
* `deleted`: a known path goes away (`delete`, or a sync that finds it gone);
* `synced`: a file was transferred by `sync_to_remote` / `sync_from_remote` (after its `created` /
  `modified`, if any). Write-through uploads by `write` are part of the write and do not fire it.

A callback that raises does not undo or interrupt anything: the operation's result stands, every
other callback still runs, and the failure goes to `on_callback_error(event, file_ref, session_id,
exc)` if given, else to the `agent_session_manager.workspaces` logger at ERROR level with traceback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

from .files import FileRef

__all__ = [
    "CallbackErrorHandler",
    "FileCallback",
    "FileCallbacks",
    "FileEvent",
    "FileRef",
    "FileRefs",
    "WorkspaceStorage",
]


class FileEvent(StrEnum):
    """The four file events of Conjure (`callback_event`)."""

    CREATED = "created"
    MODIFIED = "modified"
    DELETED = "deleted"
    SYNCED = "synced"


#: `callback(file_ref, session_id)`; may be a plain function or a coroutine function.
FileCallback = Callable[[FileRef, str], Awaitable[None] | None]
#: Receives every exception raised by a file callback: `(event, file_ref, session_id, exc)`.
CallbackErrorHandler = Callable[[FileEvent, FileRef, str, Exception], None]
FileRefs = list[FileRef]


@dataclass(frozen=True)
class FileCallbacks:
    """The callbacks of one workspace handle, built from `init`'s `on_file_*` options."""

    created: FileCallback | None = None
    modified: FileCallback | None = None
    deleted: FileCallback | None = None
    synced: FileCallback | None = None
    on_error: CallbackErrorHandler | None = None

    @classmethod
    def pop_from(cls, options: dict[str, Any]) -> FileCallbacks:
        """Take `on_file_created`, `on_file_modified`, `on_file_deleted`, `on_file_synced` and
        `on_callback_error` out of `options`."""
        return cls(
            created=options.pop("on_file_created", None),
            modified=options.pop("on_file_modified", None),
            deleted=options.pop("on_file_deleted", None),
            synced=options.pop("on_file_synced", None),
            on_error=options.pop("on_callback_error", None),
        )

    def for_event(self, event: FileEvent) -> FileCallback | None:
        return {
            FileEvent.CREATED: self.created,
            FileEvent.MODIFIED: self.modified,
            FileEvent.DELETED: self.deleted,
            FileEvent.SYNCED: self.synced,
        }[event]


@runtime_checkable
class WorkspaceStorage(Protocol):
    """One session's workspace. Every backend passes `testing.WorkspaceStorageContract`."""

    @property
    def session_id(self) -> str:
        """The session this workspace belongs to."""
        ...

    @classmethod
    async def init(cls, session_id: str | None = None, **options: Any) -> Self:
        """Set up the workspace of `session_id` (a new `generate_session_id()` when None)."""
        ...

    async def write(self, path: str, content: bytes) -> FileRef:
        """Store `content` at `path` atomically (readers see the old or the new bytes, never a mix)."""
        ...

    async def read(self, path: str) -> bytes:
        """The content at `path`; `not_found` if there is none."""
        ...

    async def delete(self, path: str) -> None:
        """Remove `path`; a missing file is not an error."""
        ...

    async def exists(self, path: str) -> bool:
        """Whether `read(path)` would find a file."""
        ...

    async def list(self) -> FileRefs:
        """Every file of the workspace, sorted by path."""
        ...

    def local_path(self) -> Path:
        """The directory to mount into a container or hand to a program."""
        ...

    async def sync_to_remote(self) -> FileRefs:
        """Push what other programs changed in `local_path()`; returns the files uploaded."""
        ...

    async def sync_from_remote(self, paths: Iterable[str] | None = None) -> FileRefs:
        """Pull what changed remotely (only `paths`, when given); returns the files downloaded."""
        ...

    async def cleanup(self) -> None:
        """Delete every file of the workspace, locally and remotely, and close the handle; raise one
        error listing every failure (no callbacks fire: the whole workspace ends)."""
        ...

    async def close(self) -> None:
        """Release the handle (a temporary local workspace is deleted; remote data stays)."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...
