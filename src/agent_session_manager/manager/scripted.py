"""`ScriptedAdapter`: a `ProviderAdapter` that replays a script, for tests, demos and your own tests.

A script is a list of steps, replayed in order on every run:

* `(type, data)` or `ScriptEvent(type, data, metadata=..., delay=...)`: emit an event (after `delay` s);
* `Sleep(seconds)`: take time (to exercise time limits and cancellation);
* `Fail(error)`: raise `error` (an adapter failure);
* `Call(fn)`: await `fn()` (to synchronise with a test, e.g. wait until a subscriber has seen an event).

The result is `result` if given; otherwise it is derived from the script: `output={"content": ...}` of the
last `message_received`, `model` from `run_started`, `stop_reason` from `run_completed`, and token usage
left to the manager (the sum of the `token_usage_updated` events).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import ValidationError
from ..core.models import EventType
from .base import AdapterResult, RunContext


@dataclass(frozen=True, slots=True)
class ScriptEvent:
    """Emit one event, `delay` seconds after the previous step."""

    type: EventType | str
    data: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] | None = None
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Sleep:
    """Take `seconds` without emitting anything."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Fail:
    """Raise `error`, as a provider that fails mid-run would."""

    error: Exception


@dataclass(frozen=True, slots=True)
class Call:
    """Await `fn()` at this point of the script."""

    fn: Callable[[], Awaitable[Any]]


ScriptStep = ScriptEvent | Sleep | Fail | Call | tuple[EventType | str, Mapping[str, Any]]


class ScriptedAdapter:
    """Replays `script` on each run; `delay` seconds between events unless a step sets its own."""

    def __init__(
        self,
        script: Iterable[ScriptStep],
        *,
        name: str = "scripted",
        result: AdapterResult | None = None,
        delay: float = 0.0,
    ) -> None:
        self.name = name
        self.script = [_step(step) for step in script]
        self.result = result
        self.delay = delay
        #: Run ids this adapter was asked to cancel (`cancel` is otherwise a no-op: nothing runs remotely).
        self.cancelled: list[str] = []

    async def execute(self, ctx: RunContext) -> AdapterResult:
        output: dict[str, Any] = {}
        model: str | None = None
        stop_reason: str | None = None
        for step in self.script:
            if isinstance(step, ScriptEvent):
                await asyncio.sleep(step.delay or self.delay)
                await ctx.emit(step.type, step.data, metadata=step.metadata)
                data = step.data
                if step.type == EventType.MESSAGE_RECEIVED and "content" in data:
                    output = {"content": data["content"]}
                elif step.type == EventType.RUN_STARTED and isinstance(data.get("model"), str):
                    model = data["model"]
                elif step.type == EventType.RUN_COMPLETED and isinstance(data.get("stop_reason"), str):
                    stop_reason = data["stop_reason"]
            elif isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
            elif isinstance(step, Fail):
                raise step.error
            else:
                await step.fn()
        if self.result is not None:
            return self.result
        return AdapterResult(output=output, model=model, stop_reason=stop_reason)

    async def cancel(self, run_id: str) -> None:
        self.cancelled.append(run_id)


def _step(step: Any) -> ScriptEvent | Sleep | Fail | Call:
    if isinstance(step, ScriptEvent | Sleep | Fail | Call):
        return step
    if isinstance(step, tuple) and len(step) == 2 and isinstance(step[1], Mapping):
        return ScriptEvent(step[0], step[1])
    raise ValidationError(
        f"a script step must be (type, data), ScriptEvent, Sleep, Fail or Call, not {step!r}",
        details={"field": "script"},
    )
