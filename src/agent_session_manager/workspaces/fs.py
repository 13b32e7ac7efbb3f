"""Race-free file operations inside a workspace directory that other programs also write to.

Every path is walked from the root one segment at a time with `O_NOFOLLOW` directory descriptors, so a
symlink anywhere on the way (even one swapped in by another program between two calls) raises
`validation_error` instead of being followed: nothing outside the root is read or written. Writes go to
a temporary file beside the target (name starting with `TEMP_PREFIX`, which scans skip and paths may
not use) and are renamed into place, so readers never see a torn file. POSIX only (`dir_fd`).

These functions block; the workspace backends call them through `asyncio.to_thread`.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import secrets
import shutil
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import NotFound, StorageError, ValidationError
from ..core.keys import validate_key

log = logging.getLogger("agent_session_manager.workspaces")

TEMP_PREFIX = ".asm-tmp-"
CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def check_path(path: object) -> str:
    """`path` if it is a safe relative workspace path, else `validation_error` (before any I/O)."""
    checked = validate_key(path, "path")
    if any(segment.startswith(TEMP_PREFIX) for segment in checked.split("/")):
        raise ValidationError(
            f"path segments starting with {TEMP_PREFIX!r} are reserved for atomic writes",
            details={"field": "path"},
        )
    return checked


def _symlink_error(path: str) -> ValidationError:
    return ValidationError(
        f"path {path!r} goes through a symlink; workspaces never follow symlinks",
        details={"field": "path", "path": path},
    )


def _is_symlink(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


@contextmanager
def open_dir(root: Path, path: str, segments: list[str], *, create: bool) -> Iterator[int]:
    """A descriptor of the directory `root/segments...`, walked without following symlinks.

    Missing directories are created when `create`, else `not_found`; a segment that is a file is
    `not_found` when reading and `validation_error` when creating.
    """
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        for segment in segments:
            try:
                child = os.open(segment, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise NotFound(f"no file {path!r} in the workspace", details={"path": path}) from None
                with suppress(FileExistsError):
                    os.mkdir(segment, dir_fd=fd)
                child = _open_child_dir(segment, fd, path, create)
            except OSError as exc:
                child = _reject_child(exc, segment, fd, path, create)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _open_child_dir(segment: str, fd: int, path: str, create: bool) -> int:
    try:
        return os.open(segment, _DIR_FLAGS, dir_fd=fd)
    except OSError as exc:
        return _reject_child(exc, segment, fd, path, create)


def _reject_child(exc: OSError, segment: str, fd: int, path: str, create: bool) -> int:
    if _is_symlink(segment, fd):
        raise _symlink_error(path) from None
    if exc.errno == errno.ENOTDIR:
        if create:
            raise ValidationError(
                f"cannot write {path!r}: {segment!r} is a file, not a directory",
                details={"field": "path", "path": path},
            ) from None
        raise NotFound(f"no file {path!r} in the workspace", details={"path": path}) from None
    raise exc


def _split(path: str) -> tuple[list[str], str]:
    *parents, name = path.split("/")
    return parents, name


@contextmanager
def open_file(root: Path, path: str) -> Iterator[int]:
    """A read descriptor of the regular file at `path`: `not_found` if none, `validation_error` for
    a symlink or a special file (FIFO, socket, device), which are never opened for reading."""
    parents, name = _split(path)
    with open_dir(root, path, parents, create=False) as dir_fd:
        try:
            _check_regular(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode, path)
            fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
        except FileNotFoundError:
            raise NotFound(f"no file {path!r} in the workspace", details={"path": path}) from None
        except OSError as exc:
            if _is_symlink(name, dir_fd):
                raise _symlink_error(path) from None
            raise exc
        try:
            _check_regular(os.fstat(fd).st_mode, path)  # swapped since the stat: still refused
            yield fd
        finally:
            os.close(fd)


def _check_regular(mode: int, path: str) -> None:
    if stat.S_ISLNK(mode):
        raise _symlink_error(path)
    if stat.S_ISDIR(mode):
        raise NotFound(f"{path!r} is a directory, not a file", details={"path": path})
    if not stat.S_ISREG(mode):
        raise ValidationError(f"{path!r} is not a regular file", details={"field": "path", "path": path})


def read_file(root: Path, path: str) -> bytes:
    """The whole content of the regular file at `path`."""
    with open_file(root, path) as fd:
        chunks = []
        while chunk := os.read(fd, CHUNK):
            chunks.append(chunk)
        return b"".join(chunks)


def file_size(root: Path, path: str) -> int | None:
    """The size of the regular file at `path`, or None when there is none."""
    try:
        with open_file(root, path) as fd:
            return os.fstat(fd).st_size
    except NotFound:
        return None


def hash_fd(fd: int) -> tuple[str, int]:
    """SHA-256 hex and size of what is read from `fd` to its end."""
    digest = hashlib.sha256()
    size = 0
    while chunk := os.read(fd, CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


class Staged:
    """A temporary file beside `path`, renamed over it by `commit()` or removed by `discard()`."""

    def __init__(self, root: Path, path: str) -> None:
        self.root = root
        self.path = path
        self.parents, self.name = _split(path)
        self.temp = f"{TEMP_PREFIX}{secrets.token_hex(8)}"
        self.digest = hashlib.sha256()
        self.size = 0
        with open_dir(root, path, self.parents, create=True) as dir_fd:
            self.fd: int | None = os.open(
                self.temp,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                0o666,
                dir_fd=dir_fd,
            )

    @property
    def checksum(self) -> str:
        return self.digest.hexdigest()

    def write(self, data: bytes | memoryview) -> None:
        assert self.fd is not None
        view = memoryview(data)
        self.digest.update(view)
        self.size += len(view)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]

    def _close(self, durable: bool) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            try:
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)

    def commit(self, durable: bool = False) -> None:
        """Rename the temporary file over `path` (atomic); `durable` fsyncs it first."""
        try:
            self._close(durable)
            with open_dir(self.root, self.path, self.parents, create=True) as dir_fd:
                try:
                    os.replace(self.temp, self.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                except IsADirectoryError:
                    raise ValidationError(
                        f"cannot write {self.path!r}: it is a directory",
                        details={"field": "path", "path": self.path},
                    ) from None
                if durable:
                    os.fsync(dir_fd)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Remove the temporary file (nothing at `path` changes)."""
        self._close(False)
        try:
            with open_dir(self.root, self.path, self.parents, create=False) as dir_fd:
                os.unlink(self.temp, dir_fd=dir_fd)
        except (OSError, NotFound, ValidationError):
            pass


def write_file(root: Path, path: str, data: bytes, *, durable: bool) -> str:
    """Write `data` at `path` atomically; returns its SHA-256."""
    staged = Staged(root, path)
    try:
        staged.write(data)
    except BaseException:
        staged.discard()
        raise
    staged.commit(durable)
    return staged.checksum


def delete_file(root: Path, path: str) -> bool:
    """Unlink `path` (a symlink itself is removed, never followed); whether something was there."""
    parents, name = _split(path)
    try:
        with open_dir(root, path, parents, create=False) as dir_fd:
            try:
                os.unlink(name, dir_fd=dir_fd)
            except FileNotFoundError:
                return False
            except IsADirectoryError:
                raise ValidationError(
                    f"{path!r} is a directory, not a file", details={"field": "path", "path": path}
                ) from None
            except PermissionError:
                if stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                    raise ValidationError(
                        f"{path!r} is a directory, not a file", details={"field": "path", "path": path}
                    ) from None
                raise
            return True
    except NotFound:
        return False


@dataclass(frozen=True)
class LocalFile:
    """A regular file found by `scan`: content hash, size and modification time."""

    checksum: str
    size: int
    mtime_ns: int


def _inside(root: str, target: str) -> bool:
    return target == root or target.startswith(root.rstrip("/") + "/")


def scan(root: Path, only: set[str] | None = None) -> dict[str, LocalFile]:
    """Every regular file under `root` (or only those in `only`), hashed, without following symlinks.

    Raises `validation_error` listing every symlink that points outside `root`, before returning
    anything. Symlinks pointing inside, special files, names that are not valid paths and temporary
    files of atomic writes are skipped.
    """
    real_root = os.path.realpath(root)
    found: dict[str, LocalFile] = {}
    escaping: list[str] = []
    for dirpath, dirnames, filenames, dir_fd in os.fwalk(root, follow_symlinks=False):
        relative_dir = os.path.relpath(dirpath, root)
        prefix = "" if relative_dir == "." else relative_dir.replace(os.sep, "/") + "/"
        for name in sorted(dirnames + filenames):
            relative = prefix + name
            try:
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(info.st_mode):
                target = os.path.realpath(os.path.join(dirpath, name))
                if _inside(real_root, target):
                    log.info("workspace %s: skipping symlink %r (symlinks are not synced)", root, relative)
                else:
                    escaping.append(relative)
                continue
            if stat.S_ISDIR(info.st_mode) or name.startswith(TEMP_PREFIX):
                continue
            if only is not None and relative not in only:
                continue
            if not stat.S_ISREG(info.st_mode):
                log.warning("workspace %s: skipping %r, not a regular file", root, relative)
                continue
            try:
                check_path(relative)
            except ValidationError:
                log.warning("workspace %s: skipping %r, not a valid workspace path", root, relative)
                continue
            entry = _hash_entry(name, dir_fd)
            if entry is not None:
                found[relative] = entry
    if escaping:
        raise ValidationError(
            f"the workspace {str(root)!r} contains symlinks pointing outside it: {sorted(escaping)}; "
            "they are never followed; remove them to sync",
            details={"field": "path", "symlinks": sorted(escaping)},
        )
    return found


def _hash_entry(name: str, dir_fd: int) -> LocalFile | None:
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except OSError:  # vanished, or swapped for a symlink since it was listed: not followed
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        checksum, size = hash_fd(fd)
        return LocalFile(checksum=checksum, size=size, mtime_ns=info.st_mtime_ns)
    finally:
        os.close(fd)


def remove_tree(path: Path) -> list[dict[str, str]]:
    """Remove `path` and everything under it (symlinks are unlinked, not followed); every failure
    is returned as `{"path", "error"}` instead of stopping the removal."""
    failures: list[dict[str, str]] = []

    def record(failed: str, exc: BaseException) -> None:
        failures.append({"path": failed, "error": f"{type(exc).__name__}: {exc}"})

    if path.is_symlink() or path.is_file():
        try:
            path.unlink()
        except OSError as exc:
            record(str(path), exc)
    elif path.exists():
        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=lambda _f, failed, exc: record(failed, exc))
        else:
            shutil.rmtree(path, onerror=lambda _f, failed, info: record(failed, info[1]))
    return failures


def storage_error(action: str, path: str, exc: OSError) -> StorageError:
    """Our error for a failed local file operation (the OS message, no secrets involved)."""
    return StorageError(
        f"could not {action} {path!r} in the workspace: {exc.strerror or exc}",
        details={"path": path, "errno": exc.errno},
    )
