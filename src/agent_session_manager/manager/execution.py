"""`RunExecution`: one run executing, from `running` to its recorded outcome.

`SessionManager.execute_run` builds one per run and awaits `execute`. What the run learns while it
streams (its events, the model, the provider's session id, a reported cost, events the store refused)
lives on the execution; the outcome is written in one atomic `flush` with its terminal event.

Rules:

* A store failure while events stream does not stop the run: the event is counted in
  `persistence_failures`, logged, and appended again once when the run ends (marked
  `metadata["_persistence_retried"]`, so it carries a later sequence number than its neighbours); what
  still fails is returned in `unpersisted_events`. Failures of the lifecycle writes themselves (status
  and terminal event) are raised: without them the run's state would be unknown.
* Failure, time limit and cancellation each end the run with its status, `ended_at`, error and terminal
  event (`run_failed` / `run_timeout` / `run_cancelled`) and raise: `RunFailed`, `RunTimedOut`,
  `RunCancelled` (cancelled through `cancel`), or `asyncio.CancelledError` re-raised when the caller's
  own task was cancelled. Each exception carries the `RunResult`.
* Cost: the adapter's reported cost (`AdapterResult.cost_usd`, else `run_completed.data.total_cost_usd`),
  else the pricing table (`pricing=None` disables it); also for failed runs, whose tokens were spent.
* `run_completed` is written only if the adapter did not emit one.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, NoReturn

from ..core.clock import utc_now
from ..core.errors import ASMError, InvalidTransition, RunCancelled, RunFailed, RunTimedOut, ValidationError
from ..core.models import TERMINAL_SESSION_STATUSES, Event, EventType, Run, RunStatus, Session
from ..core.usage import is_amount
from ..pricing import PricingTable, cost_of
from ..sessions.base import SessionStore
from .base import (
    AdapterResult,
    ProviderAdapter,
    RunContext,
    RunResult,
    RunTelemetry,
    RunTrace,
    input_messages,
)
from .pipeline import EventContext, EventPipeline
from .redaction import Redactor

logger = logging.getLogger("agent_session_manager.manager")

EventCallback = Callable[[Event], Awaitable[None] | None]

#: Longest error message kept on a run or event (16 KiB: enough for a provider's stack trace).
MAX_ERROR_MESSAGE = 16_384
RETRIED_KEY = "_persistence_retried"


class RunExecution:
    """One running run: streams the adapter's events into the store and records how it ended.

    `run` is the run already saved as `running`; `cancel(reason)` stops it from another task, and
    `done` is set once the outcome is recorded (whatever it was).
    """

    def __init__(
        self,
        *,
        store: SessionStore,
        pipeline: EventPipeline,
        pricing: PricingTable | None,
        redactor: Redactor | None,
        adapter: ProviderAdapter,
        session: Session,
        run: Run,
        callback: EventCallback | None,
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.pricing = pricing
        self.redactor = redactor
        self.adapter = adapter
        self.session = session
        self.run = run
        self.ctx = run_context(session, run, adapter.name)
        self.callback = callback
        self.events: list[Event] = []
        self.failed: list[Event] = []
        self.persistence_failures = 0
        self.model: str | None = None
        self.provider_session_id: str | None = None
        self.reported_cost: float | None = None
        self.saw_run_completed = False
        self.closed = False
        self.reason: str | None = None
        self.done = asyncio.Event()
        self._task: asyncio.Task[AdapterResult] | None = None
        self.trace: RunTrace | None = None

    @classmethod
    async def start(
        cls,
        store: SessionStore,
        pipeline: EventPipeline,
        pricing: PricingTable | None,
        redactor: Redactor | None,
        adapter: ProviderAdapter,
        run: Run,
        callback: EventCallback | None,
    ) -> RunExecution:
        """Check the run's session is open and save the run as `running` (now, by `adapter`)."""
        session = await store.get_session(run.session_id)
        check_open(session)
        running = run.with_status(RunStatus.RUNNING).model_copy(
            update={"started_at": utc_now(), "provider": adapter.name}
        )
        running = await store.save_run(running)
        return cls(
            store=store,
            pipeline=pipeline,
            pricing=pricing,
            redactor=redactor,
            adapter=adapter,
            session=session,
            run=running,
            callback=callback,
        )

    def attach(self, telemetry: RunTelemetry | None) -> None:
        """Let `telemetry` observe this run: every event as it is stored, then the recorded outcome."""
        if telemetry is not None:
            self.trace = telemetry.start(self.session, self.run)

    def cancel(self, reason: str | None) -> None:
        """Cancel the adapter's task; `execute` records `cancelled` with `reason` and raises."""
        self.reason = reason
        if self._task is not None:
            self._task.cancel()

    async def execute(self, limit: float | None, options: Mapping[str, Any] | None) -> RunResult:
        """Send the input messages, run the adapter under `limit` seconds and record the outcome."""
        ctx = RunContext(session=self.session, run=self.run, emit=self.emit, options=dict(options or {}))

        async def body() -> AdapterResult:
            for message in input_messages(self.run.input):
                await self.emit(EventType.MESSAGE_SENT, message)
            result = await self.adapter.execute(ctx)
            if not isinstance(result, AdapterResult):
                raise ValidationError(
                    f"{type(self.adapter).__name__}.execute must return an AdapterResult, "
                    f"not {type(result).__name__}"
                )
            return result

        self._task = asyncio.create_task(body(), name=f"asm-run-{self.run.id}")
        try:
            return await self._await_outcome(self._task, limit)
        finally:
            self.closed = True
            self.done.set()

    async def emit(
        self,
        type: EventType | str,
        data: Mapping[str, Any] | None = None,
        *,
        metadata: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
    ) -> Event:
        """The adapter's `ctx.emit`: build, persist (a failure is counted, not raised) and observe."""
        if self.closed:
            raise ValidationError(
                f"run {self.run.id} has ended; its events can no longer be emitted",
                details={"run_id": self.run.id},
            )
        event = self.pipeline.build(type, data, self.ctx, metadata=metadata, timestamp=timestamp)
        try:
            event = await self.pipeline.persist(event)
        except Exception as exc:
            self.persistence_failures += 1
            self.failed.append(event)
            logger.warning(
                "could not persist %s event %s of run %s (will retry when the run ends): %s",
                str(event.type),
                event.id,
                self.run.id,
                describe(exc),
            )
        else:
            self.events.append(event)
        self._observe(event)
        if self.callback is not None:
            outcome = self.callback(event)
            if inspect.isawaitable(outcome):
                await outcome
        return event

    def _observe(self, event: Event) -> None:
        if self.trace is not None:
            self.trace.feed(event)
        data = event.data
        if event.type is EventType.RUN_STARTED:
            if isinstance(data.get("model"), str):
                self.model = data["model"]
            for key in ("provider_session_id", "session_id", "thread_id"):
                if isinstance(data.get(key), str):
                    self.provider_session_id = data[key]
                    break
        elif event.type is EventType.TOKEN_USAGE_UPDATED:
            usage = {k: v for k, v in data.items() if is_amount(v)}
            self.run = self.run.add_token_usage(usage)
        elif event.type is EventType.RUN_COMPLETED:
            self.saw_run_completed = True
            if is_amount(data.get("total_cost_usd")):
                self.reported_cost = float(data["total_cost_usd"])

    async def _await_outcome(self, task: asyncio.Task[AdapterResult], limit: float | None) -> RunResult:
        timer = asyncio.timeout(limit)
        try:
            async with timer:
                result = await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling() > 0:
                await asyncio.shield(self._finish_cancelled())
                raise
            outcome = await self._finish_cancelled()
            raise RunCancelled(f"run {self.run.id} was cancelled", outcome) from None
        except Exception as exc:
            if isinstance(exc, TimeoutError) and timer.expired():
                outcome = await self._finish_timeout(limit)
                raise RunTimedOut(
                    f"run {self.run.id} exceeded its time limit of {limit} s", outcome
                ) from None
            _raise_failed(exc, await self._finish_failed(exc))
        return await self._finish_completed(result)

    async def _finish_completed(self, result: AdapterResult) -> RunResult:
        run = self.run
        if result.token_usage is not None:
            run = run.model_copy(update={"token_usage": dict(result.token_usage)})
        model = result.model or self.model
        provider_session_id = result.provider_session_id or self.provider_session_id
        provider_metadata: dict[str, Any] = {"provider": run.provider}
        if provider_session_id:
            provider_metadata["provider_session_id"] = provider_session_id
        if model:
            provider_metadata["model"] = model
        cost = result.cost_usd if result.cost_usd is not None else self._cost(run, model)
        run = run.model_copy(
            update={
                "cost_usd": cost,
                "provider_metadata": provider_metadata,
                "metadata": {**run.metadata, **result.metadata},
            }
        ).complete(redacted(self.redactor, dict(result.output)))
        closing: list[Event] = []
        if not self.saw_run_completed:
            closing.append(
                self.pipeline.build(EventType.RUN_COMPLETED, {"stop_reason": result.stop_reason}, self.ctx)
            )
        session = await self.store.get_session(run.session_id)
        sessions = dict(session.metadata.get("provider_sessions") or {})
        sessions[str(run.provider)] = {k: v for k, v in provider_metadata.items() if k != "provider"}
        session = session.model_copy(
            update={"metadata": {**session.metadata, "provider_sessions": sessions}, "updated_at": utc_now()}
        )
        return await self._record(session, run, closing, output=dict(result.output), model=model)

    async def _finish_failed(self, exc: BaseException) -> RunResult:
        error = error_record(self.redactor, exc)
        run = self.run.model_copy(update={"cost_usd": self._cost(self.run, self.model)})
        data = {"error_code": error["code"], "error_message": error["message"]}
        return await self._end(run.fail(error), EventType.RUN_FAILED, data)

    async def _finish_timeout(self, limit: float | None) -> RunResult:
        await hint_cancel(self.adapter, self.run.id)
        error = {"code": "timeout", "message": f"the run exceeded its time limit of {limit} s"}
        run = self.run.with_status(RunStatus.TIMEOUT).model_copy(
            update={"error": error, "cost_usd": self._cost(self.run, self.model)}
        )
        return await self._end(run, EventType.RUN_TIMEOUT, {"timeout_seconds": limit})

    async def _finish_cancelled(self) -> RunResult:
        await hint_cancel(self.adapter, self.run.id)
        run = self.run.with_status(RunStatus.CANCELLED).model_copy(
            update={"cost_usd": self._cost(self.run, self.model)}
        )
        return await self._end(run, EventType.RUN_CANCELLED, reason_data(self.reason))

    async def _end(self, run: Run, kind: EventType, data: Mapping[str, Any]) -> RunResult:
        session = await self.store.get_session(run.session_id)
        event = self.pipeline.build(kind, data, self.ctx)
        return await self._record(session, run, [event], output=None, model=self.model)

    async def _record(
        self,
        session: Session,
        run: Run,
        closing: list[Event],
        *,
        output: dict[str, Any] | None,
        model: str | None,
    ) -> RunResult:
        """Retry the events that failed while streaming, then write run + terminal events atomically."""
        self.closed = True
        unpersisted: list[Event] = []
        for event in self.failed:
            retried = event.model_copy(update={"metadata": {**event.metadata, RETRIED_KEY: True}})
            try:
                self.events.append(await self.pipeline.persist(retried))
            except Exception as exc:
                logger.error("event %s of run %s could not be persisted: %s", event.id, run.id, describe(exc))
                unpersisted.append(event)
        if self.persistence_failures:
            run = run.model_copy(
                update={
                    "metadata": {
                        **run.metadata,
                        "persistence_failures": self.persistence_failures,
                        "unpersisted_events": len(unpersisted),
                    }
                }
            )
        flushed = await self.store.flush(session, run, closing)
        self.events.extend(flushed)
        stored = await self.store.get_run(run.id)
        if self.trace is not None:
            for event in flushed:
                self.trace.feed(event)
            self.trace.finish(stored)
        return RunResult(
            session_id=run.session_id,
            run_id=run.id,
            status=stored.status,
            output=output,
            token_usage=dict(stored.token_usage),
            cost_usd=stored.cost_usd,
            events=sorted(self.events, key=lambda e: e.sequence_number or 0),
            persistence_failures=self.persistence_failures,
            unpersisted_events=unpersisted,
            error=stored.error,
            provider=stored.provider,
            model=model,
        )

    def _cost(self, run: Run, model: str | None) -> float | None:
        if self.reported_cost is not None:
            return self.reported_cost
        if self.pricing is None:
            return None
        return cost_of(run.token_usage, run.provider, model, self.pricing)


def run_context(session: Session, run: Run, provider: str | None) -> EventContext:
    """The pipeline context of a run's events: ids, provider, and the run's or session's correlation id."""
    correlation = run.metadata.get("correlation_id", session.metadata.get("correlation_id"))
    return EventContext(
        session_id=session.id,
        run_id=run.id,
        provider=provider,
        correlation_id=correlation if isinstance(correlation, str) else None,
    )


def error_record(redactor: Redactor | None, exc: BaseException) -> dict[str, Any]:
    """A run's `error`: the `ASMError`'s code (else `provider_error`), message (bounded), type; redacted."""
    if isinstance(exc, ASMError):
        record: dict[str, Any] = {"code": exc.code, "message": exc.message, "retryable": exc.retryable}
    else:
        record = {"code": "provider_error", "message": str(exc) or type(exc).__name__}
    record["message"] = record["message"][:MAX_ERROR_MESSAGE]
    record["type"] = type(exc).__name__
    result = redacted(redactor, record)
    assert result is not None
    return result


def redacted(redactor: Redactor | None, value: dict[str, Any] | None) -> dict[str, Any] | None:
    """`value` with secrets replaced, when a redactor is configured."""
    if value is None or redactor is None:
        return value
    cleaned, _ = redactor.redact_value(value)
    return dict(cleaned)


def reason_data(reason: str | None) -> dict[str, Any]:
    """The data of a `*_cancelled` event: the reason, when one was given."""
    return {} if reason is None else {"reason": reason}


def describe(exc: BaseException) -> str:
    """An exception for a log line: an `ASMError`'s message, else its type and text."""
    return str(exc) if isinstance(exc, ASMError) else f"{type(exc).__name__}: {exc}"


async def hint_cancel(adapter: ProviderAdapter, run_id: str) -> None:
    """Tell the provider to stop; its failure to do so never blocks recording the cancellation."""
    try:
        await adapter.cancel(run_id)
    except Exception as exc:
        logger.warning("adapter %s could not cancel run %s: %s", adapter.name, run_id, describe(exc))


def _raise_failed(exc: Exception, outcome: RunResult) -> NoReturn:
    error = outcome.error or {}
    raise RunFailed(
        f"run {outcome.run_id} failed: [{error.get('code')}] {error.get('message')}", outcome
    ) from exc


def check_open(session: Session) -> None:
    """Refuse to run anything in a session that has ended."""
    if session.status in TERMINAL_SESSION_STATUSES:
        raise InvalidTransition(
            f"session {session.id} is {session.status.value}; it cannot run anything",
            details={"session_id": session.id, "status": session.status.value},
        )
