"""SHA-256, the one checksum of the library: artifacts, workspace files and archives record it as 64
lowercase hex digits."""

from __future__ import annotations

import hashlib
import re

_HEX64 = re.compile(r"[0-9a-f]{64}")


def sha256_hex(data: bytes | bytearray | memoryview) -> str:
    """SHA-256 of `data` as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


def is_sha256(value: object) -> bool:
    """Whether `value` is a SHA-256 as recorded: a string of 64 lowercase hex digits."""
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None
