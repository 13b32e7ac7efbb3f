"""The session and run lifecycle over any store: `SessionManager`, `run_once`, provider adapters, the
event pipeline (build, validate, redact, persist) and `ScriptedAdapter` for tests and demos."""

from ..core.errors import RunCancelled, RunFailed, RunTimedOut
from .base import (
    AdapterResult,
    Emit,
    ProviderAdapter,
    RunContext,
    RunResult,
    RunTelemetry,
    RunTrace,
)
from .pipeline import EventContext, EventPipeline, shape_warnings
from .redaction import DEFAULT_PATTERNS, Redactor, SecretPattern
from .scripted import Call, Fail, ScriptedAdapter, ScriptEvent, Sleep
from .session_manager import SessionManager, run_once

__all__ = [
    "DEFAULT_PATTERNS",
    "AdapterResult",
    "Call",
    "Emit",
    "EventContext",
    "EventPipeline",
    "Fail",
    "ProviderAdapter",
    "Redactor",
    "RunCancelled",
    "RunContext",
    "RunFailed",
    "RunResult",
    "RunTelemetry",
    "RunTimedOut",
    "RunTrace",
    "ScriptEvent",
    "ScriptedAdapter",
    "SecretPattern",
    "SessionManager",
    "Sleep",
    "run_once",
    "shape_warnings",
]
