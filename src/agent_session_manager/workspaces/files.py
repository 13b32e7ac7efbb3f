"""Files: the `FileRef` a workspace hands out, and the helpers of Conjure's `Storage` module.

* `generate_session_id()`: 12 random bytes from `secrets` as URL-safe Base64 without padding, i.e. 16
  characters of `[A-Za-z0-9_-]` (Conjure's format, e.g. `"Xt7kB9mP2Qw5nL3j"`).
* `compute_checksum(data)`: SHA-256 as 64 lowercase hex digits.
* `guess_content_type(path)`: Conjure's 15-extension table first, then the standard library's built-in
  table (not the machine's `/etc/mime.types`, so every machine answers the same), else
  `application/octet-stream`.
* `build_file_ref(path, content, ...)`: a `FileRef` for content, computing what is not given.
"""

from __future__ import annotations

import mimetypes
import posixpath
from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from ..core.clock import utc_now
from ..core.digest import sha256_hex
from ..core.ids import SESSION_PREFIX, new_id
from ..core.keys import validate_key
from ..core.models import Record, utc_validator

DEFAULT_CONTENT_TYPE = "application/octet-stream"

#: Conjure's table (`Conjure.Storage.guess_content_type/1`); it wins over the standard library's.
CONJURE_CONTENT_TYPES: dict[str, str] = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".xls": "application/vnd.ms-excel",
    ".pdf": "application/pdf",
    ".json": "application/json",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".html": "text/html",
    ".xml": "application/xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".zip": "application/zip",
    ".tar": "application/x-tar",
    ".gz": "application/gzip",
}

#: Common types that the standard library's built-in table lacks (it is consulted after these).
EXTRA_CONTENT_TYPES: dict[str, str] = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".toml": "application/toml",
    ".jsonl": "application/jsonl",
    ".ndjson": "application/x-ndjson",
}

_BUILTIN_TYPES = mimetypes.MimeTypes()  # built-in table only: the same answer on every machine


class FileRef(Record):
    """What a workspace knows about one file: where, how big, what type, which SHA-256, since when.

    `path` is relative to the workspace (`/`-separated). `storage_url` is where the durable copy lives
    (`s3://bucket/key`, or a `file://` URI for local workspaces), or None when the file exists only
    locally so far. `checksum` is None only when it cannot be known without downloading the file.
    `created_at` is when this content was written (UTC).
    """

    path: str
    size: int = Field(ge=0)
    content_type: str | None = None
    checksum: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    storage_url: str | None = None
    created_at: datetime = Field(default_factory=utc_now)

    _check_times = field_validator("created_at", mode="after")(utc_validator)

    @field_validator("path", mode="after")
    @classmethod
    def _check_path(cls, value: str) -> str:
        return validate_key(value, "path")


def generate_session_id() -> str:
    """A new session id, the same kind the session stores make: `ses_` and the 32 hex digits of a
    UUIDv7 (74 random bits), valid as a session, workspace and snapshot id alike."""
    return new_id(SESSION_PREFIX)


def compute_checksum(data: bytes | bytearray | memoryview) -> str:
    """SHA-256 of `data` as 64 lowercase hex digits (Conjure's name for `core.digest.sha256_hex`)."""
    return sha256_hex(data)


def guess_content_type(path: str) -> str:
    """The MIME type for `path`'s extension (case-insensitive); `application/octet-stream` if unknown."""
    extension = posixpath.splitext(path)[1].lower()
    if not extension:
        return DEFAULT_CONTENT_TYPE
    known = CONJURE_CONTENT_TYPES.get(extension) or EXTRA_CONTENT_TYPES.get(extension)
    if known is not None:
        return known
    guessed, _ = _BUILTIN_TYPES.guess_type("x" + extension, strict=False)
    return guessed or DEFAULT_CONTENT_TYPE


def build_file_ref(
    path: str,
    content: bytes | bytearray | memoryview,
    *,
    content_type: str | None = None,
    checksum: str | None = None,
    storage_url: str | None = None,
    created_at: datetime | None = None,
) -> FileRef:
    """A `FileRef` for `content` at `path`; type and checksum are computed unless given."""
    fields: dict[str, Any] = {
        "path": path,
        "size": memoryview(content).nbytes,
        "content_type": content_type or guess_content_type(path),
        "checksum": checksum or compute_checksum(content),
        "storage_url": storage_url,
    }
    if created_at is not None:
        fields["created_at"] = created_at
    return FileRef(**fields)
