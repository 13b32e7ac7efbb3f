"""Identifiers: a prefix plus the 32 lowercase hex digits of a UUIDv7.

UUIDv7 puts the millisecond timestamp first, so ids sort by creation time and B-tree inserts stay local.
Within one process ids are strictly increasing even inside one millisecond (RFC 9562 §6.2, method 3:
the random bits after a repeated timestamp are the previous value plus one).
Callers may bring their own ids: 1-128 characters of `[A-Za-z0-9_.:-]`.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid

from .errors import ValidationError

SESSION_PREFIX = "ses_"
RUN_PREFIX = "run_"
EVENT_PREFIX = "evt_"
ARTIFACT_PREFIX = "art_"

_ID_RE = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")
_lock = threading.Lock()
_last = 0


def uuid7() -> uuid.UUID:
    """A new UUIDv7, strictly greater than the previous one made by this process."""
    global _last
    with _lock:
        ms = time.time_ns() // 1_000_000
        rand = int.from_bytes(os.urandom(10), "big") & ((1 << 74) - 1)
        candidate = (ms << 74) | rand
        if candidate <= _last:
            candidate = _last + 1
        _last = candidate
    ms_part = candidate >> 74
    rand_a = (candidate >> 62) & 0xFFF
    rand_b = candidate & ((1 << 62) - 1)
    value = (ms_part << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return uuid.UUID(int=value)


def new_id(prefix: str) -> str:
    """`prefix` + 32 hex digits of a fresh UUIDv7, e.g. `ses_0190...`."""
    return prefix + uuid7().hex


def validate_id(value: object, field: str = "id") -> str:
    """Return `value` if it is a valid id, else raise `validation_error` naming the field."""
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise ValidationError(
            f"{field} must be 1-128 characters of [A-Za-z0-9_.:-]",
            details={"field": field},
        )
    return value
