"""The `ProviderAdapter` port: how a model provider (an SDK, a CLI, a script) plugs into `SessionManager`.

An adapter runs one run. It receives a `RunContext` (the session, the run, its input messages, options,
and `emit`), streams what happens with `await ctx.emit(type, data)` — `run_started`, `message_streamed`,
`message_received`, `tool_call_started/completed/failed`, `token_usage_updated`, `run_completed`, ... —
and returns an `AdapterResult`. Each `emit` is persisted before it returns, so readers following the
session see it live. The manager owns every status change and the events that go with them
(`run_failed`, `run_cancelled`, `run_timeout`, `session_*`); an adapter only raises or returns.

An adapter must let `asyncio.CancelledError` propagate (clean up in `finally`); `cancel(run_id)` is a
best-effort hint for providers that run work outside this process.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from ..core.errors import ValidationError
from ..core.json import checked_object
from ..core.models import Event, EventType, Run, RunStatus, Session
from ..core.usage import is_amount


class Emit(Protocol):
    """`await emit(type, data, metadata=..., timestamp=...)`: record one event of the run, live.

    Returns the event as stored (with its `sequence_number`), or as built (`sequence_number=None`) if
    the store failed to take it; such failures are counted in `RunResult.persistence_failures`.
    """

    def __call__(
        self,
        type: EventType | str,
        data: Mapping[str, Any] | None = None,
        *,
        metadata: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
    ) -> Awaitable[Event]: ...


@dataclass(frozen=True, slots=True)
class RunContext:
    """What an adapter gets for one run."""

    session: Session
    run: Run
    emit: Emit
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The run's input as chat messages: `input["messages"]`, or `input["prompt"]` as one user turn."""
        return input_messages(self.run.input)


@dataclass(frozen=True, slots=True)
class AdapterResult:
    """What an adapter returns when the run completed.

    `token_usage`: the run's totals; when `None`, the manager sums the adapter's `token_usage_updated`
    events (which are therefore increments, not running totals). `cost_usd`: the provider's own figure,
    preferred over the pricing table. `model` and `provider_session_id` are recorded on the run.
    """

    output: Mapping[str, Any] = field(default_factory=dict)
    token_usage: Mapping[str, Any] | None = None
    cost_usd: float | None = None
    model: str | None = None
    provider_session_id: str | None = None
    stop_reason: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checked_object(dict(self.output), "output")
        checked_object(dict(self.metadata), "metadata")
        if self.token_usage is not None:
            checked_object(dict(self.token_usage), "token_usage")
        if self.cost_usd is not None and not is_amount(self.cost_usd):
            raise ValidationError("cost_usd must be a finite number >= 0", details={"field": "cost_usd"})


@runtime_checkable
class ProviderAdapter(Protocol):
    """A provider plugged into `SessionManager`: `name`, `execute` and a best-effort `cancel`."""

    #: The provider's name, recorded on runs and events and used to look up prices ("anthropic").
    name: str

    async def execute(self, ctx: RunContext) -> AdapterResult:
        """Run `ctx.run`, emitting its events through `ctx.emit`; raise on failure."""
        ...

    async def cancel(self, run_id: str) -> None:
        """Ask the provider to stop `run_id` (best effort; errors are ignored by the manager)."""
        ...


class RunTrace(Protocol):
    """What observes one run for `RunTelemetry`: each of its events in order, then its final state."""

    def feed(self, event: Event) -> None:
        """One event of the run, as it is stored (also the terminal one)."""
        ...

    def finish(self, run: Run) -> None:
        """The run as recorded at its end."""
        ...


@runtime_checkable
class RunTelemetry(Protocol):
    """`SessionManager(telemetry=...)`: told about every run it executes (`otel.GenAITelemetry`)."""

    def start(self, session: Session, run: Run) -> RunTrace:
        """Begin observing `run` (just saved as `running`)."""
        ...


@dataclass(frozen=True, slots=True)
class RunResult:
    """The outcome of `execute_run` / `run_once`.

    `events`: every event recorded for the run (for `run_once`, of the whole session), as stored, in
    sequence order. `persistence_failures`: how many appends failed while the run streamed; the manager
    retries those events once when the run ends, and `unpersisted_events` lists any that still failed.
    `output` is the adapter's output as returned (what is stored may be redacted).
    """

    session_id: str
    run_id: str
    status: RunStatus
    output: dict[str, Any] | None
    token_usage: dict[str, Any]
    cost_usd: float | None
    events: list[Event]
    persistence_failures: int = 0
    unpersisted_events: list[Event] = field(default_factory=list)
    error: dict[str, Any] | None = None
    provider: str | None = None
    model: str | None = None


def normalize_input(run_input: str | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A run input as stored: text becomes `{"prompt": text}`; `messages` must be role/content objects."""
    if run_input is None:
        return None
    if isinstance(run_input, str):
        return {"prompt": run_input}
    checked = checked_object(run_input, "input")
    messages = checked.get("messages")
    if "messages" in checked and not (
        isinstance(messages, list)
        and all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages)
    ):
        raise ValidationError(
            'input["messages"] must be a list of objects with a string "role"',
            details={"field": "input.messages"},
        )
    if "prompt" in checked and not isinstance(checked["prompt"], str):
        raise ValidationError('input["prompt"] must be a string', details={"field": "input.prompt"})
    return checked


def input_messages(run_input: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Chat messages of a (normalized) run input: `messages` as given, or `prompt` as one user turn."""
    if not run_input:
        return []
    if "messages" in run_input:
        return [dict(m) for m in run_input["messages"]]
    if "prompt" in run_input:
        return [{"role": "user", "content": run_input["prompt"]}]
    return []


def check_telemetry(telemetry: Any) -> None:
    """Refuse a `telemetry` that is neither None nor a `RunTelemetry` (`validation_error`)."""
    if telemetry is not None and not isinstance(telemetry, RunTelemetry):
        raise ValidationError(
            "telemetry must have a start(session, run) method, e.g. otel.GenAITelemetry()",
            details={"field": "telemetry"},
        )


def check_adapter(adapter: Any) -> None:
    """Refuse what is not a `ProviderAdapter`: a non-empty `name` and async `execute` and `cancel`."""
    name = getattr(adapter, "name", None)
    if not isinstance(name, str) or not name:
        raise ValidationError(
            f"{type(adapter).__name__} is not a ProviderAdapter: it needs a non-empty string `name`",
            details={"adapter": type(adapter).__name__},
        )
    for method in ("execute", "cancel"):
        if not inspect.iscoroutinefunction(getattr(adapter, method, None)):
            raise ValidationError(
                f"{type(adapter).__name__} is not a ProviderAdapter: `{method}` must be an async method",
                details={"adapter": type(adapter).__name__},
            )


def check_time_limit(time_limit: float | None) -> float | None:
    """A run's time limit as seconds (`None`: no limit); anything but a number > 0 is refused."""
    if time_limit is None:
        return None
    if not is_amount(time_limit) or time_limit == 0:
        raise ValidationError("time_limit must be a number of seconds > 0", details={"field": "time_limit"})
    return float(time_limit)
