"""Object keys and relative paths that cannot escape their root or prefix.

Shared by artifacts (keys), workspaces (paths) and snapshots (identifiers). A key is `/`-separated
segments: no empty segment (so no leading `/`, no `a//b`), no `.` or `..` segment, no backslash, no NUL
or other control character, valid UTF-8, at most 1024 bytes. Anything else is `validation_error`, raised
before any I/O, so nothing can be read or written outside a file root or an S3 prefix.

A key cannot name anything outside a root, but a symlink planted inside the root could lead there:
file backends pass every path through `refuse_symlinks` before touching it.
"""

from __future__ import annotations

import os
import stat
import unicodedata

from .errors import ValidationError

MAX_KEY_BYTES = 1024


def validate_key(key: object, field: str = "key") -> str:
    """Return `key` unchanged if it is a safe relative key, else raise `validation_error`."""
    if not isinstance(key, str) or not key:
        raise ValidationError(f"{field} must be a non-empty string", details={"field": field})
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValidationError(f"{field} must be valid UTF-8", details={"field": field}) from None
    if size > MAX_KEY_BYTES:
        raise ValidationError(
            f"{field} is {size} bytes; at most {MAX_KEY_BYTES} are allowed",
            details={"field": field, "bytes": size},
        )
    if any(unicodedata.category(ch) == "Cc" for ch in key) or "\\" in key:
        raise ValidationError(
            f"{field} must not contain control characters or backslashes",
            details={"field": field},
        )
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise ValidationError(
                f"{field} {key!r} has an empty, '.' or '..' segment (or a leading '/'); "
                "keys are relative and cannot leave their root",
                details={"field": field},
            )
    return key


def validate_key_prefix(prefix: object, field: str = "prefix") -> str:
    """Return `prefix` if some valid key can start with it (`""`, `"reports/"`, `"reports/2026-"`).

    A listing prefix is a plain string prefix, so its last segment may be partial; everything before
    its last `/` must already follow the key rules.
    """
    if prefix == "":
        return ""
    if not isinstance(prefix, str):
        raise ValidationError(f"{field} must be a string", details={"field": field})
    try:
        validate_key(prefix + "x", field)
    except ValidationError:
        raise ValidationError(
            f"no valid key can start with {field} {prefix!r} (keys are relative, '/'-separated, "
            "without empty, '.' or '..' segments, control characters or backslashes, "
            f"at most {MAX_KEY_BYTES} bytes)",
            details={"field": field},
        ) from None
    return prefix


def validate_prefix(prefix: str, field: str = "prefix") -> str:
    """A prefix is empty, or a valid key; returned with exactly one trailing `/` when not empty."""
    stripped = prefix.strip("/")
    if not stripped:
        return ""
    return validate_key(stripped, field) + "/"


def refuse_symlinks(root: str | os.PathLike[str], path: str | os.PathLike[str], where: str) -> None:
    """`validation_error` if `path` (below `root`) or a directory on the way to it is a symlink.

    Checks the components that exist (a missing one ends the walk: what is created below it is
    real). A link that another program swaps in between this check and the use is not caught; only a
    descriptor-relative walk (as `workspaces.fs` does) closes that window.
    """
    current = os.fspath(root)
    for part in os.path.relpath(path, root).split(os.sep):
        if part in ("", "."):
            continue
        current = os.path.join(current, part)
        try:
            mode = os.lstat(current).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return
        if stat.S_ISLNK(mode):
            name = os.path.relpath(current, root)
            raise ValidationError(
                f"{name!r} in the {where} is a symlink; file stores never follow symlinks",
                details={"path": name, "root": os.fspath(root)},
            )
