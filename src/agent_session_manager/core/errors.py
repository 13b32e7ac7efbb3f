"""One exception tree, rooted at `ASMError`: every stable error code of the library is defined here.

Every error carries `.code` (stable, for programs), `.details` (a JSON-friendly dict) and `.retryable`
(whether trying the same call again may succeed). Driver exceptions never leak raw: backends wrap them in
one of these with the original chained as `__cause__`. Messages and details never contain credentials.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ..manager.base import RunResult


class ASMError(Exception):
    """Root of every error this library raises on purpose."""

    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "internal error"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str | None = None, *, details: Mapping[str, Any] | None = None):
        self.message = message or self.default_message
        self.details: dict[str, Any] = dict(details or {})
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        """The error as a JSON-friendly dict (for logs, CLIs and APIs)."""
        return {
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "retryable": self.retryable,
        }


class ValidationError(ASMError):
    """Input that the library refuses before anything is written."""

    code = "validation_error"
    default_message = "invalid input"


class InvalidEventType(ValidationError):
    code = "invalid_event_type"
    default_message = "unknown event type"


class InvalidStatus(ValidationError):
    code = "invalid_status"
    default_message = "unknown status"


class InvalidTransition(ValidationError):
    code = "invalid_transition"
    default_message = "status change not allowed"


class InvalidCursor(ValidationError):
    code = "invalid_cursor"
    default_message = "cursor is malformed, tampered with, or belongs to another query"


class NotFound(ASMError):
    code = "not_found"
    default_message = "not found"


class SessionNotFound(NotFound):
    code = "session_not_found"
    default_message = "session not found"


class RunNotFound(NotFound):
    code = "run_not_found"
    default_message = "run not found"


class AlreadyExists(ASMError):
    code = "already_exists"
    default_message = "already exists"


class ConflictError(ASMError):
    """An optimistic-concurrency expectation did not hold (`details`: `expected`, `actual`); nothing was
    written. Not retryable as is: read the current state, then decide again."""

    code = "conflict"
    default_message = "the expected version did not match"


class StorageError(ASMError):
    """A backend failed to read or write."""

    code = "storage_error"
    default_message = "storage backend failed"


class ChecksumMismatch(StorageError):
    """Stored bytes no longer match the size or SHA-256 recorded when they were written."""

    code = "checksum_mismatch"
    default_message = "stored data does not match its recorded checksum"


class StorageConnectionFailed(StorageError):
    """The backend could not be reached; the same call may succeed later."""

    code = "storage_connection_failed"
    default_message = "could not connect to the storage backend"
    retryable = True


class StorageAccessRefused(StorageError):
    """The backend answered and refused access: unknown role, wrong password, missing database or
    bucket, no credentials. Retrying the same call cannot help; the message says what to fix."""

    code = "storage_access_refused"
    default_message = "the storage backend refused access"


class MigrationRequired(StorageError):
    code = "migration_required"
    default_message = "the database schema is missing or out of date"


class DependencyNotAvailable(ASMError):
    code = "dependency_not_available"
    default_message = "an optional dependency is not installed"


def require_extra(extra: str, *modules: str) -> None:
    """Import `modules`, or raise `DependencyNotAvailable` naming the extra that installs them."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            raise DependencyNotAvailable(
                f"{module!r} is not installed: pip install 'agent-session-manager[{extra}]'",
                details={"dependency": exc.name, "extra": extra},
            ) from exc


class Timeout(ASMError):
    code = "timeout"
    default_message = "operation timed out"
    retryable = True


class RunFailed(ASMError):
    """The adapter raised: the run is `failed`. `.result` has the ids and events; the cause is chained."""

    code = "provider_error"
    default_message = "the run failed"

    def __init__(self, message: str, result: RunResult) -> None:
        super().__init__(message, details={"session_id": result.session_id, "run_id": result.run_id})
        self.result = result


class RunTimedOut(Timeout):
    """The run exceeded its time limit: the run is `timeout`. `.result` has the ids and events."""

    default_message = "the run exceeded its time limit"

    def __init__(self, message: str, result: RunResult) -> None:
        super().__init__(message, details={"session_id": result.session_id, "run_id": result.run_id})
        self.result = result


class RunCancelled(ASMError):
    """The run was cancelled with `cancel_run` while this caller waited for it: the run is `cancelled`.

    (When the caller's own task is cancelled, the manager records the cancellation and re-raises
    `asyncio.CancelledError` instead.)
    """

    code = "cancelled"
    default_message = "the run was cancelled"

    def __init__(self, message: str, result: RunResult) -> None:
        super().__init__(message, details={"session_id": result.session_id, "run_id": result.run_id})
        self.result = result


def error_for_code(code: str) -> type[ASMError]:
    """The exception class that introduced a stable code (unknown codes map to `ASMError`).

    Args:
        code: a stable code, as in `ASMError.code` or `to_dict()["code"]`.

    Returns:
        The class defining that code (`"timeout"` is `Timeout`, of which `RunTimedOut` is a case).

    Example:
        >>> error_for_code("provider_error").__name__
        'RunFailed'
    """
    return _BY_CODE.get(code, ASMError)


def _introducing(cls: type[ASMError]) -> list[type[ASMError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_introducing(sub))
    return found


#: Every code, mapped to the first class (depth-first from `ASMError`) that defines it.
_BY_CODE: dict[str, type[ASMError]] = {}
for _cls in _introducing(ASMError):
    _BY_CODE.setdefault(_cls.code, _cls)
