"""Snapshots in a directory, laid out like Strands' `FileStorage(baseDir)`:
`<base_dir>/<session_id>/scopes/<scope>/<scope_id>/snapshots/...` (see `snapshots.base`).

Every write is atomic and durable: a temporary file beside the target (`.<name>.<random>.tmp`, which
listings ignore), fsync, then a rename over the target (latest, manifest) or a hard link to a name
that must not exist yet (history: create-only, `already_exists` if taken), then an fsync of the
directory. Identifiers are validated, and a symlink planted below `base_dir` is refused
(`validation_error`), never followed, so no path can leave `base_dir`.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Self, TypeVar

from ..core.errors import AlreadyExists, StorageError, ValidationError
from ..core.keys import refuse_symlinks
from ..core.urls import check_options, file_url_path
from .dialects import Format
from .keyed import DIALECT_OPTIONS, KeyedSnapshotStorage

_T = TypeVar("_T")


class FileSnapshotStorage(KeyedSnapshotStorage):
    """Strands-compatible snapshot storage in a local directory."""

    def __init__(
        self, base_dir: str | os.PathLike[str], *, format: Format = "typescript", namespace: str | None = None
    ) -> None:
        super().__init__(format=format, namespace=namespace)
        self._base = Path(base_dir)

    @classmethod
    async def from_url(cls, url: str, **options: Any) -> Self:
        """`file:///path/to/dir` (or `file://./relative`); options `format` and `namespace`."""
        check_options(options, DIALECT_OPTIONS, "file snapshot storage")
        path = file_url_path(url)
        if path is None:
            raise ValidationError("a file:// snapshot URL needs a directory: file:///path/to/snapshots")
        return cls(path, **options)

    @property
    def base_dir(self) -> Path:
        return self._base

    def _where(self, key: str) -> str:
        return str(self._base / key)

    async def _run(self, key: str, action: str, work: Callable[[], _T]) -> _T:
        """`work()` on a thread once `key` is known to go through no symlink below `base_dir`."""

        def confined() -> _T:
            refuse_symlinks(self._base, self._base / key, "snapshot directory")
            return work()

        try:
            return await asyncio.to_thread(confined)
        except OSError as exc:
            raise StorageError(
                f"could not {action} {self._where(key)!r}: {exc.strerror or exc}",
                details={"key": self._where(key), "errno": exc.errno},
            ) from exc

    async def _get(self, key: str) -> bytes | None:
        def read() -> bytes | None:
            try:
                fd = os.open(self._base / key, os.O_RDONLY | os.O_NOFOLLOW)
                with os.fdopen(fd, "rb") as handle:
                    return handle.read()
            except (FileNotFoundError, NotADirectoryError):
                return None

        return await self._run(key, "read", read)

    async def _put(self, key: str, data: bytes, *, create_only: bool) -> None:
        target = self._base / key

        def write() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                if create_only:
                    os.link(temp, target)
                else:
                    os.replace(temp, target)
            finally:
                temp.unlink(missing_ok=True)
            directory = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

        try:
            await self._run(key, "write", write)
        except StorageError as exc:
            if isinstance(exc.__cause__, FileExistsError):
                raise AlreadyExists(
                    f"snapshot {self._where(key)!r} already exists; history is immutable",
                    details={"key": self._where(key)},
                ) from None
            raise

    async def _list_keys(self, prefix: str, after: str | None) -> AsyncIterator[str]:
        def names() -> list[str]:
            try:
                return sorted(os.listdir(self._base / prefix))
            except (FileNotFoundError, NotADirectoryError):
                return []

        for name in await self._run(prefix, "list", names):
            key = prefix + name
            if after is None or key > after:
                yield key

    async def _delete(self, keys: list[str]) -> None:
        def unlink() -> None:
            for key in keys:
                refuse_symlinks(self._base, self._base / key, "snapshot directory")
                (self._base / key).unlink(missing_ok=True)

        await self._run(keys[0] if keys else "", "delete", unlink)

    async def _delete_tree(self, prefix: str) -> None:
        def remove() -> None:
            path = self._base / prefix
            if path.exists():
                shutil.rmtree(path)

        await self._run(prefix, "delete", remove)

    def __repr__(self) -> str:
        return f"<FileSnapshotStorage {str(self._base)!r}>"
