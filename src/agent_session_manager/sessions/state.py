"""Scoped state documents: the rules every backend shares (scope syntax, values, merges, versions).

A state document is a JSON object stored under a *scope*, a string `<kind>:<name>`: state that outlives
one event log, or that several sessions share. The convention (what the integrations use):

* `app:<agent_id>` — state of one agent (application), shared by all its users and sessions;
* `user:<agent_id>:<user_id>` — state of one user of one agent, shared by that user's sessions;
* `session:<session_id>` — state of one session; deleted with the session.

Other kinds (`[a-z][a-z0-9_]*`) are allowed for an application's own documents. The name is 1 or more
characters of text without control characters; a `session:` name must be a valid id. A scope is at most
`MAX_SCOPE_LENGTH` characters.

Every document has a version: 1 when it is created, one more per change (`put_state`, `merge_state`, a
`state_updates` entry of `append_events`). An `expected_version` makes a change conditional: it is
compared with the stored version (0 when the scope holds nothing) in the same atomic step as the write,
and a mismatch raises `ConflictError` (code `conflict`, `details={"expected", "actual"}`) and writes
nothing. `merge_state` is a shallow merge — the delta's keys replace the stored ones, and a key whose
value is `None` is removed — and is atomic without an expectation too: concurrent merges of different
keys never lose one. After `delete_state` the scope holds nothing and a new document starts at version 1.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..core.errors import ConflictError, InvalidCursor, SessionNotFound, ValidationError
from ..core.ids import validate_id
from ..core.json import JSONObject, checked_object
from ..core.pagination import decode_cursor, encode_cursor

#: Longest scope accepted (characters).
MAX_SCOPE_LENGTH = 512
#: Versions and expectations are 64-bit signed integers in every backend.
MAX_VERSION = 2**63 - 1
SESSION_SCOPE_PREFIX = "session:"
_SCOPE = re.compile(r"[a-z][a-z0-9_]*:[^\x00-\x1f\x7f]+")


@dataclass(frozen=True, slots=True)
class State:
    """A stored state document: its scope, value (a JSON object), version and last change time (UTC)."""

    scope: str
    value: JSONObject
    version: int
    updated_at: datetime


def check_scope(scope: Any) -> str:
    """`scope` if it is a valid scope (see the module docstring), else `validation_error`."""
    if (
        not isinstance(scope, str)
        or len(scope) > MAX_SCOPE_LENGTH
        or not _SCOPE.fullmatch(scope)
        or not _encodable(scope)
    ):
        raise ValidationError(
            "a scope is '<kind>:<name>' (kind [a-z][a-z0-9_]*, name non-empty text without control "
            f"characters, at most {MAX_SCOPE_LENGTH} characters), e.g. 'app:<agent_id>', "
            "'user:<agent_id>:<user_id>', 'session:<session_id>'",
            details={"field": "scope", "value": repr(scope)[:100]},
        )
    if scope.startswith(SESSION_SCOPE_PREFIX):
        validate_id(scope[len(SESSION_SCOPE_PREFIX) :], "scope")
    elif scope.startswith("user:") and not re.fullmatch(r"user:[^:]+:.+", scope):
        raise ValidationError(
            "a user scope is 'user:<agent_id>:<user_id>'", details={"field": "scope", "value": scope}
        )
    return scope


def check_prefix(prefix: Any) -> str:
    """A `list_states` prefix: any string without control characters (`""` for everything)."""
    if prefix is None:
        return ""
    if not isinstance(prefix, str) or len(prefix) > MAX_SCOPE_LENGTH or re.search(r"[\x00-\x1f\x7f]", prefix):
        raise ValidationError("prefix must be text without control characters", details={"field": "prefix"})
    return prefix


def session_scope(session_id: str) -> str:
    """The scope of a session's own state, deleted with the session."""
    return SESSION_SCOPE_PREFIX + session_id


def check_value(value: Any) -> JSONObject:
    """A copy of a `put_state` value: a JSON object that round-trips exactly, else `validation_error`."""
    return checked_object(value, "value")


@dataclass(frozen=True, slots=True)
class Delta:
    """A validated `merge_state` delta: keys to set (with their values) and keys to remove."""

    sets: JSONObject
    removes: list[str]

    @classmethod
    def check(cls, delta: Any, field: str = "delta") -> Delta:
        """Split a delta (a JSON object; `None` values remove their key), else `validation_error`."""
        checked = checked_object(delta, field)
        return cls(
            sets={k: v for k, v in checked.items() if v is not None},
            removes=sorted(k for k, v in checked.items() if v is None),
        )

    def apply(self, value: JSONObject | None) -> JSONObject:
        """The shallow merge of this delta into `value` (a new object; `value` is not changed)."""
        merged = dict(value or {})
        for key in self.removes:
            merged.pop(key, None)
        merged.update(self.sets)
        return merged


@dataclass(frozen=True, slots=True)
class StateChange:
    """One validated write of a document: a replacement (`put_state`) or a merge, maybe conditional."""

    scope: str
    delta: Delta
    #: True: the document becomes `delta.sets` (a put); False: `delta` is merged into it.
    replace: bool
    expected: int | None

    @classmethod
    def put(cls, scope: Any, value: Any, expected: Any) -> StateChange:
        return cls(check_scope(scope), Delta(check_value(value), []), True, check_expected_version(expected))

    @classmethod
    def merge(cls, scope: Any, delta: Any, expected: Any, field: str = "delta") -> StateChange:
        return cls(check_scope(scope), Delta.check(delta, field), False, check_expected_version(expected))

    @property
    def session_id(self) -> str | None:
        """The session a `session:` scope belongs to (it must exist to create the document)."""
        return (
            self.scope[len(SESSION_SCOPE_PREFIX) :] if self.scope.startswith(SESSION_SCOPE_PREFIX) else None
        )

    def value_after(self, stored: JSONObject | None) -> JSONObject:
        """The document's value once this change is applied to `stored` (None: no document yet)."""
        return dict(self.delta.sets) if self.replace else self.delta.apply(stored)

    def refusal(self, stored_version: int, session_exists: bool) -> None:
        """Raise why this change cannot apply to a document at `stored_version` (0: none): the
        expectation (`ConflictError`), or a `session:` scope of a missing session (`SessionNotFound`)."""
        check_version(self.scope, self.expected, stored_version)
        if stored_version == 0 and self.session_id is not None and not session_exists:
            raise SessionNotFound(
                f"session {self.session_id!r} not found (scope {self.scope!r})",
                details={"session_id": self.session_id, "scope": self.scope},
            )


class StateWrites(abc.ABC):
    """`put_state` and `merge_state`, written once: a backend validates nothing itself and supplies only
    `_change_state`, which applies one checked `StateChange` atomically."""

    async def put_state(self, scope: str, value: JSONObject, *, expected_version: int | None = None) -> State:
        return await self._change_state(StateChange.put(scope, value, expected_version))

    async def merge_state(
        self, scope: str, delta: JSONObject, *, expected_version: int | None = None
    ) -> State:
        return await self._change_state(StateChange.merge(scope, delta, expected_version))

    @abc.abstractmethod
    async def _change_state(self, change: StateChange) -> State:
        """Apply `change` atomically (the expectation checked in the same step as the write), or raise
        why it cannot apply (`StateChange.refusal`), writing nothing."""


def check_state_updates(updates: Any) -> list[StateChange]:
    """The `state_updates` of `append_events` as merges, checked, scopes in sorted order (the lock
    order, so concurrent batches touching several scopes cannot deadlock)."""
    if updates is None:
        return []
    if not isinstance(updates, Mapping):
        raise ValidationError(
            "state_updates must be a mapping {scope: delta}", details={"field": "state_updates"}
        )
    scopes = [check_scope(scope) for scope in updates]
    return [StateChange.merge(scope, updates[scope], None, "state_updates") for scope in sorted(scopes)]


def encode_state_cursor(prefix: str, scope: str) -> str:
    """The `list_states` cursor after `scope`, bound to `prefix`."""
    return encode_cursor(f"states:{prefix}", [scope])


def decode_state_cursor(cursor: str | None, prefix: str) -> str | None:
    """The scope a `list_states` cursor resumes after (`invalid_cursor` if not made for `prefix`)."""
    if cursor is None:
        return None
    key = decode_cursor(cursor, f"states:{prefix}")
    if len(key) != 1 or not isinstance(key[0], str):
        raise InvalidCursor()
    return key[0]


def prefix_end(prefix: str) -> str | None:
    """The smallest string after every string starting with `prefix` (None: no bound), in code point
    order, which is the order of every backend (PostgreSQL `COLLATE "C"`, SQLite `BINARY`)."""
    if not prefix or ord(prefix[-1]) == 0x10FFFF:
        return None
    following = ord(prefix[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are not text: the next code point is U+E000
        following = 0xE000
    return prefix[:-1] + chr(following)


def check_expected_version(expected: Any) -> int | None:
    """`expected_version` if it is None or an int from 0 (the scope holds nothing) to 2**63-1."""
    if expected is None:
        return None
    if isinstance(expected, bool) or not isinstance(expected, int) or not 0 <= expected <= MAX_VERSION:
        raise ValidationError(
            "expected_version must be an integer from 0 (no document) to 2**63-1",
            details={"field": "expected_version", "value": repr(expected)},
        )
    return expected


def check_version(scope: str, expected: int | None, actual: int) -> None:
    """Raise `ConflictError` if an expectation was given and the stored version is another."""
    if expected is not None and expected != actual:
        raise version_conflict(scope, expected, actual)


def version_conflict(scope: str, expected: int, actual: int) -> ConflictError:
    """The error of a conditional state change whose expectation did not hold (nothing was written)."""
    return ConflictError(
        f"state {scope!r} is at version {actual}, not the expected {expected}",
        details={"scope": scope, "expected": expected, "actual": actual},
    )


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
