"""`SessionManager`: the session and run lifecycle over any `SessionStore`, and `run_once`.

Every status change is written together with its event in one atomic `flush` (session and
`session_created`, run and `run_failed`, ...), so a reader never sees a status without its event or the
reverse. Events of a running run are appended one by one as the adapter emits them, each with its
sequence number, so `store.subscribe` follows the run live.

Decisions (the seed differed or was silent, `reference/asm.md` §7):

* `execute_run` sets `started_at` when the run starts running (the seed kept the creation time).
* A store failure while events stream does not stop the run: the event is counted in
  `persistence_failures`, logged, and appended again once when the run ends (marked
  `metadata["_persistence_retried"]`, so it carries a later sequence number than its neighbours); what
  still fails is returned in `unpersisted_events`. Failures of the lifecycle writes themselves (status
  and terminal event) are raised: without them the run's state would be unknown.
* Failure, time limit and cancellation each end the run with its status, `ended_at`, error and terminal
  event (`run_failed` / `run_timeout` / `run_cancelled`) and raise: `RunFailed`, `RunTimedOut`,
  `RunCancelled` (cancelled through `cancel_run`), or `asyncio.CancelledError` re-raised when the
  caller's own task was cancelled. Each exception carries the `RunResult`.
* Cost: the adapter's reported cost (`AdapterResult.cost_usd`, else `run_completed.data.total_cost_usd`),
  else the pricing table (`pricing=None` disables it); also for failed runs, whose tokens were spent.
* `run_completed` is written by the manager only if the adapter did not emit one.
* `cancel_run` cancels a run executing in this manager and waits until it is recorded; a run that is
  not executing here (pending, or executing in another process) is marked cancelled in the store, and
  its executor's final write is then refused with `invalid_transition`. Cancelling a finished run is a
  no-op that returns it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NoReturn

from ..core.clock import utc_now
from ..core.errors import ASMError, InvalidTransition, ValidationError
from ..core.json import checked_object
from ..core.models import (
    TERMINAL_RUN_STATUSES,
    TERMINAL_SESSION_STATUSES,
    Event,
    EventType,
    Run,
    RunStatus,
    Session,
    SessionStatus,
)
from ..open import open_store
from ..pricing import DEFAULT_PRICING, PricingTable, cost_of, is_amount
from ..sessions.base import SessionStore
from .base import (
    AdapterResult,
    ProviderAdapter,
    RunCancelled,
    RunContext,
    RunFailed,
    RunResult,
    RunTimedOut,
    input_messages,
    normalize_input,
)
from .pipeline import EventContext, EventPipeline, UnknownTypes
from .redaction import Redactor

logger = logging.getLogger("agent_session_manager.manager")

EventCallback = Callable[[Event], Awaitable[None] | None]

#: Longest error message kept on a run or event (the seed truncated provider errors at 16 KiB).
MAX_ERROR_MESSAGE = 16_384
RETRIED_KEY = "_persistence_retried"
_STORE_METHODS = ("save_session", "get_session", "save_run", "get_run", "append_event", "flush")


@dataclass
class _Active:
    """A run executing in this manager: its task (for `cancel_run`) and a signal set when recorded."""

    task: asyncio.Task[AdapterResult]
    done: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str | None = None


@dataclass
class _RunState:
    """What the manager learns while a run streams."""

    run: Run
    ctx: EventContext
    events: list[Event] = field(default_factory=list)
    failed: list[Event] = field(default_factory=list)
    persistence_failures: int = 0
    model: str | None = None
    provider_session_id: str | None = None
    reported_cost: float | None = None
    saw_run_completed: bool = False
    closed: bool = False

    def observe(self, event: Event) -> None:
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


class SessionManager:
    """Session and run lifecycle, provider adapters and the event pipeline over one `SessionStore`.

    `pricing`: the table for costs the adapter does not report (`DEFAULT_PRICING`, illustrative; `None`
    for none). `redactor`: a `Redactor` to strip secrets from everything the manager stores (events, run
    input/output/error); off by default. `unknown_types`: what to do with an adapter event of unknown
    type, `"record"` (as `error_occurred`, keeping the original) or `"reject"` (`invalid_event_type`).
    """

    def __init__(
        self,
        store: SessionStore,
        *,
        pricing: PricingTable | None = DEFAULT_PRICING,
        redactor: Redactor | None = None,
        unknown_types: UnknownTypes = "record",
    ) -> None:
        _check_store(store)
        if pricing is not None and not isinstance(pricing, PricingTable):
            raise ValidationError("pricing must be a PricingTable or None", details={"field": "pricing"})
        self.store = store
        self.pricing = pricing
        self.redactor = redactor
        self.pipeline = EventPipeline(store, redactor=redactor, unknown_types=unknown_types)
        self._active: dict[str, _Active] = {}
        #: Runs being started or executed here: a second `execute_run` of one of them is refused.
        self._claimed: set[str] = set()

    # -- sessions -------------------------------------------------------------------------------

    async def start_session(
        self,
        agent_id: str,
        *,
        adapter: ProviderAdapter | None = None,
        metadata: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        tags: list[str] | None = None,
        parent_session_id: str | None = None,
        session_id: str | None = None,
    ) -> Session:
        """Create a pending session (with `metadata["provider"]` from `adapter`) and `session_created`."""
        session, _ = await self._create_session(
            agent_id,
            adapter=adapter,
            metadata=metadata,
            context=context,
            tags=tags,
            parent_session_id=parent_session_id,
            session_id=session_id,
        )
        return session

    async def activate_session(self, session_id: str) -> Session:
        """pending/paused -> active, with `session_started`."""
        session, _ = await self._move_session(session_id, SessionStatus.ACTIVE, EventType.SESSION_STARTED, {})
        return session

    async def complete_session(self, session_id: str) -> Session:
        """active -> completed, with `session_completed`."""
        session, _ = await self._move_session(
            session_id, SessionStatus.COMPLETED, EventType.SESSION_COMPLETED, {}
        )
        return session

    async def fail_session(self, session_id: str, error: BaseException | Mapping[str, Any]) -> Session:
        """-> failed, with `session_failed` carrying the error's code and message."""
        session, _ = await self._move_session(
            session_id, SessionStatus.FAILED, EventType.SESSION_FAILED, self._error_data(error)
        )
        return session

    async def cancel_session(self, session_id: str, reason: str | None = None) -> Session:
        """-> cancelled, with `session_cancelled`."""
        data = {} if reason is None else {"reason": reason}
        session, _ = await self._move_session(
            session_id, SessionStatus.CANCELLED, EventType.SESSION_CANCELLED, data
        )
        return session

    # -- runs -----------------------------------------------------------------------------------

    async def start_run(
        self,
        session_id: str,
        input: str | Mapping[str, Any] | None = None,
        *,
        metadata: Mapping[str, Any] | None = None,
        run_id: str | None = None,
    ) -> Run:
        """Create a pending run of a session that has not ended. Text input becomes `{"prompt": text}`."""
        run_input = normalize_input(input)
        session = await self.store.get_session(session_id)
        _check_open(session)
        fields: dict[str, Any] = {
            "session_id": session.id,
            "input": self._redacted(run_input),
            "metadata": dict(metadata or {}),
        }
        if run_id is not None:
            fields["id"] = run_id
        return await self.store.save_run(Run(**fields))

    async def execute_run(
        self,
        run_id: str,
        adapter: ProviderAdapter,
        *,
        time_limit: float | None = None,
        adapter_options: Mapping[str, Any] | None = None,
        event_callback: EventCallback | None = None,
    ) -> RunResult:
        """Run a pending run with `adapter`: `message_sent` per input message, the adapter's events, and
        the outcome recorded. Returns the result when it completed; raises `RunFailed`, `RunTimedOut`,
        `RunCancelled` or `asyncio.CancelledError` otherwise (after recording it)."""
        _check_adapter(adapter)
        limit = _check_time_limit(time_limit)
        run = await self.store.get_run(run_id)
        if run.status is not RunStatus.PENDING or run.id in self._claimed:
            raise InvalidTransition(
                f"run {run.id} is {run.status.value}; only a pending run can be executed",
                details={"run_id": run.id, "status": run.status.value},
            )
        self._claimed.add(run.id)
        try:
            return await self._execute(run, adapter, limit, adapter_options, event_callback)
        finally:
            self._claimed.discard(run.id)

    async def _execute(
        self,
        run: Run,
        adapter: ProviderAdapter,
        limit: float | None,
        adapter_options: Mapping[str, Any] | None,
        event_callback: EventCallback | None,
    ) -> RunResult:
        session = await self.store.get_session(run.session_id)
        _check_open(session)
        running = run.with_status(RunStatus.RUNNING).model_copy(
            update={"started_at": utc_now(), "provider": adapter.name}
        )
        running = await self.store.save_run(running)
        state = _RunState(run=running, ctx=self._run_context(session, running, adapter.name))
        emit = self._emitter(state, event_callback)
        ctx = RunContext(session=session, run=running, emit=emit, options=dict(adapter_options or {}))

        async def body() -> AdapterResult:
            for message in input_messages(running.input):
                await emit(EventType.MESSAGE_SENT, message)
            result = await adapter.execute(ctx)
            if not isinstance(result, AdapterResult):
                raise ValidationError(
                    f"{type(adapter).__name__}.execute must return an AdapterResult, "
                    f"not {type(result).__name__}"
                )
            return result

        active = _Active(task=asyncio.create_task(body(), name=f"asm-run-{running.id}"))
        self._active[running.id] = active
        try:
            return await self._await_outcome(state, adapter, active, limit)
        finally:
            state.closed = True
            del self._active[running.id]
            active.done.set()

    async def cancel_run(
        self, run_id: str, adapter: ProviderAdapter | None = None, *, reason: str | None = None
    ) -> Run:
        """Cancel a run: if it executes in this manager, cancel it there and wait until it is recorded;
        otherwise ask `adapter` (best effort) and record `cancelled` with `run_cancelled`."""
        active = self._active.get(run_id)
        if active is not None:
            active.reason = reason
            active.task.cancel()
            await active.done.wait()
            return await self.store.get_run(run_id)
        run = await self.store.get_run(run_id)
        if run.status in TERMINAL_RUN_STATUSES:
            return run
        if adapter is not None:
            await _hint_cancel(adapter, run_id)
        session = await self.store.get_session(run.session_id)
        cancelled = run.with_status(RunStatus.CANCELLED)
        event = self.pipeline.build(
            EventType.RUN_CANCELLED,
            _reason(reason),
            self._run_context(session, run, run.provider),
        )
        await self.store.flush(session, cancelled, [event])
        return await self.store.get_run(run_id)

    async def run_once(
        self,
        adapter: ProviderAdapter,
        input: str | Mapping[str, Any] | None,
        *,
        agent_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        tags: list[str] | None = None,
        run_metadata: Mapping[str, Any] | None = None,
        time_limit: float | None = None,
        adapter_options: Mapping[str, Any] | None = None,
        event_callback: EventCallback | None = None,
    ) -> RunResult:
        """The whole lifecycle: session created and started, one run executed, session completed.

        On failure the session is failed (`RunFailed`, `RunTimedOut`), or cancelled (`RunCancelled`,
        `asyncio.CancelledError`), and the exception is raised with the full `RunResult` attached.
        `result.events` holds every event of the session, in sequence order.
        """
        _check_adapter(adapter)
        _check_time_limit(time_limit)
        normalize_input(input)
        session, created = await self._create_session(
            agent_id or adapter.name, adapter=adapter, metadata=metadata, context=context, tags=tags
        )
        session, started = await self._move_session(
            session.id, SessionStatus.ACTIVE, EventType.SESSION_STARTED, {}
        )
        opening = [created, started]
        try:
            run = await self.start_run(session.id, input, metadata=run_metadata)
            result = await self.execute_run(
                run.id,
                adapter,
                time_limit=time_limit,
                adapter_options=adapter_options,
                event_callback=event_callback,
            )
        except (RunFailed, RunTimedOut) as exc:
            _, closing = await self._move_session(
                session.id, SessionStatus.FAILED, EventType.SESSION_FAILED, self._error_data(exc.result)
            )
            exc.result = _with_session_events(exc.result, opening, closing)
            raise
        except RunCancelled as exc:
            _, closing = await self._move_session(
                session.id,
                SessionStatus.CANCELLED,
                EventType.SESSION_CANCELLED,
                {"run_id": exc.result.run_id},
            )
            exc.result = _with_session_events(exc.result, opening, closing)
            raise
        except asyncio.CancelledError:
            await asyncio.shield(
                self._move_session(session.id, SessionStatus.CANCELLED, EventType.SESSION_CANCELLED, {})
            )
            raise
        except Exception as exc:
            await self._move_session(
                session.id, SessionStatus.FAILED, EventType.SESSION_FAILED, self._error_data(exc)
            )
            raise
        _, closing = await self._move_session(
            session.id, SessionStatus.COMPLETED, EventType.SESSION_COMPLETED, {}
        )
        return _with_session_events(result, opening, closing)

    # -- internals: sessions --------------------------------------------------------------------

    async def _create_session(
        self,
        agent_id: str,
        *,
        adapter: ProviderAdapter | None,
        metadata: Mapping[str, Any] | None,
        context: Mapping[str, Any] | None,
        tags: list[str] | None,
        parent_session_id: str | None = None,
        session_id: str | None = None,
    ) -> tuple[Session, Event]:
        meta = dict(metadata or {})
        if adapter is not None:
            _check_adapter(adapter)
            meta["provider"] = adapter.name
        fields: dict[str, Any] = {
            "agent_id": agent_id,
            "metadata": meta,
            "context": dict(context or {}),
            "tags": list(tags or []),
            "parent_session_id": parent_session_id,
        }
        if session_id is not None:
            fields["id"] = session_id
        session = Session(**fields)
        data: dict[str, Any] = {"agent_id": session.agent_id}
        if adapter is not None:
            data["provider"] = adapter.name
        event = self.pipeline.build(EventType.SESSION_CREATED, data, _session_context(session))
        stored = await self.store.flush(session, None, [event])
        return session, stored[0]

    async def _move_session(
        self, session_id: str, status: SessionStatus, kind: EventType, data: Mapping[str, Any]
    ) -> tuple[Session, Event]:
        """Change the session's status and write its event, atomically."""
        session = (await self.store.get_session(session_id)).with_status(status)
        event = self.pipeline.build(kind, data, _session_context(session))
        stored = await self.store.flush(session, None, [event])
        return session, stored[0]

    # -- internals: runs ------------------------------------------------------------------------

    def _run_context(self, session: Session, run: Run, provider: str | None) -> EventContext:
        correlation = run.metadata.get("correlation_id", session.metadata.get("correlation_id"))
        return EventContext(
            session_id=session.id,
            run_id=run.id,
            provider=provider,
            correlation_id=correlation if isinstance(correlation, str) else None,
        )

    def _emitter(self, state: _RunState, callback: EventCallback | None) -> Callable[..., Awaitable[Event]]:
        async def emit(
            type: EventType | str,
            data: Mapping[str, Any] | None = None,
            *,
            metadata: Mapping[str, Any] | None = None,
            timestamp: datetime | None = None,
        ) -> Event:
            if state.closed:
                raise ValidationError(
                    f"run {state.run.id} has ended; its events can no longer be emitted",
                    details={"run_id": state.run.id},
                )
            event = self.pipeline.build(type, data, state.ctx, metadata=metadata, timestamp=timestamp)
            try:
                event = await self.pipeline.persist(event)
            except Exception as exc:
                state.persistence_failures += 1
                state.failed.append(event)
                logger.warning(
                    "could not persist %s event %s of run %s (will retry when the run ends): %s",
                    event.type.value,
                    event.id,
                    state.run.id,
                    _describe(exc),
                )
            else:
                state.events.append(event)
            state.observe(event)
            if callback is not None:
                outcome = callback(event)
                if inspect.isawaitable(outcome):
                    await outcome
            return event

        return emit

    async def _await_outcome(
        self, state: _RunState, adapter: ProviderAdapter, active: _Active, limit: float | None
    ) -> RunResult:
        timer = asyncio.timeout(limit)
        try:
            async with timer:
                result = await active.task
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling() > 0:
                await asyncio.shield(self._finish_cancelled(state, adapter, active.reason))
                raise
            outcome = await self._finish_cancelled(state, adapter, active.reason)
            raise RunCancelled(f"run {state.run.id} was cancelled", outcome) from None
        except Exception as exc:
            if isinstance(exc, TimeoutError) and timer.expired():
                outcome = await self._finish_timeout(state, adapter, limit)
                raise RunTimedOut(
                    f"run {state.run.id} exceeded its time limit of {limit} s", outcome
                ) from None
            self._raise_failed(exc, await self._finish_failed(state, exc))
        return await self._finish_completed(state, result)

    def _raise_failed(self, exc: Exception, outcome: RunResult) -> NoReturn:
        error = outcome.error or {}
        raise RunFailed(
            f"run {outcome.run_id} failed: [{error.get('code')}] {error.get('message')}", outcome
        ) from exc

    async def _finish_completed(self, state: _RunState, result: AdapterResult) -> RunResult:
        run = state.run
        if result.token_usage is not None:
            run = run.model_copy(update={"token_usage": dict(result.token_usage)})
        model = result.model or state.model
        provider_session_id = result.provider_session_id or state.provider_session_id
        provider_metadata: dict[str, Any] = {"provider": run.provider}
        if provider_session_id:
            provider_metadata["provider_session_id"] = provider_session_id
        if model:
            provider_metadata["model"] = model
        cost = result.cost_usd if result.cost_usd is not None else self._cost(state, run, model)
        run = run.model_copy(
            update={
                "cost_usd": cost,
                "provider_metadata": provider_metadata,
                "metadata": {**run.metadata, **result.metadata},
            }
        ).complete(self._redacted(dict(result.output)))
        closing: list[Event] = []
        if not state.saw_run_completed:
            closing.append(
                self.pipeline.build(EventType.RUN_COMPLETED, {"stop_reason": result.stop_reason}, state.ctx)
            )
        session = await self.store.get_session(run.session_id)
        sessions = dict(session.metadata.get("provider_sessions") or {})
        sessions[str(run.provider)] = {k: v for k, v in provider_metadata.items() if k != "provider"}
        session = session.model_copy(
            update={"metadata": {**session.metadata, "provider_sessions": sessions}, "updated_at": utc_now()}
        )
        return await self._record(state, session, run, closing, output=dict(result.output), model=model)

    async def _finish_failed(self, state: _RunState, exc: BaseException) -> RunResult:
        error = self._error_record(exc)
        run = state.run.model_copy(update={"cost_usd": self._cost(state, state.run, state.model)})
        data = {"error_code": error["code"], "error_message": error["message"]}
        return await self._end_run(state, run.fail(error), EventType.RUN_FAILED, data)

    async def _finish_timeout(
        self, state: _RunState, adapter: ProviderAdapter, limit: float | None
    ) -> RunResult:
        await _hint_cancel(adapter, state.run.id)
        error = {"code": "timeout", "message": f"the run exceeded its time limit of {limit} s"}
        run = state.run.with_status(RunStatus.TIMEOUT).model_copy(
            update={"error": error, "cost_usd": self._cost(state, state.run, state.model)}
        )
        return await self._end_run(state, run, EventType.RUN_TIMEOUT, {"timeout_seconds": limit})

    async def _finish_cancelled(
        self, state: _RunState, adapter: ProviderAdapter, reason: str | None
    ) -> RunResult:
        await _hint_cancel(adapter, state.run.id)
        run = state.run.with_status(RunStatus.CANCELLED).model_copy(
            update={"cost_usd": self._cost(state, state.run, state.model)}
        )
        return await self._end_run(state, run, EventType.RUN_CANCELLED, _reason(reason))

    async def _end_run(
        self, state: _RunState, run: Run, kind: EventType, data: Mapping[str, Any]
    ) -> RunResult:
        session = await self.store.get_session(run.session_id)
        event = self.pipeline.build(kind, data, state.ctx)
        return await self._record(state, session, run, [event], output=None, model=state.model)

    async def _record(
        self,
        state: _RunState,
        session: Session,
        run: Run,
        closing: list[Event],
        *,
        output: dict[str, Any] | None,
        model: str | None,
    ) -> RunResult:
        """Retry the events that failed while streaming, then write run + terminal events atomically."""
        state.closed = True
        unpersisted: list[Event] = []
        for event in state.failed:
            retried = event.model_copy(update={"metadata": {**event.metadata, RETRIED_KEY: True}})
            try:
                state.events.append(await self.pipeline.persist(retried))
            except Exception as exc:
                logger.error(
                    "event %s of run %s could not be persisted: %s", event.id, run.id, _describe(exc)
                )
                unpersisted.append(event)
        if state.persistence_failures:
            run = run.model_copy(
                update={
                    "metadata": {
                        **run.metadata,
                        "persistence_failures": state.persistence_failures,
                        "unpersisted_events": len(unpersisted),
                    }
                }
            )
        state.events.extend(await self.store.flush(session, run, closing))
        stored = await self.store.get_run(run.id)
        return RunResult(
            session_id=run.session_id,
            run_id=run.id,
            status=stored.status,
            output=output,
            token_usage=dict(stored.token_usage),
            cost_usd=stored.cost_usd,
            events=sorted(state.events, key=lambda e: e.sequence_number or 0),
            persistence_failures=state.persistence_failures,
            unpersisted_events=unpersisted,
            error=stored.error,
            provider=stored.provider,
            model=model,
        )

    def _cost(self, state: _RunState, run: Run, model: str | None) -> float | None:
        if state.reported_cost is not None:
            return state.reported_cost
        if self.pricing is None:
            return None
        return cost_of(run.token_usage, run.provider, model, self.pricing)

    def _error_record(self, exc: BaseException) -> dict[str, Any]:
        if isinstance(exc, ASMError):
            record: dict[str, Any] = {"code": exc.code, "message": exc.message, "retryable": exc.retryable}
        else:
            record = {"code": "provider_error", "message": str(exc) or type(exc).__name__}
        record["message"] = record["message"][:MAX_ERROR_MESSAGE]
        record["type"] = type(exc).__name__
        redacted = self._redacted(record)
        assert redacted is not None
        return redacted

    def _error_data(self, error: BaseException | RunResult | Mapping[str, Any]) -> dict[str, Any]:
        """`session_failed` data: `error_code`, `error_message` (and the run's id, for run outcomes)."""
        if isinstance(error, RunResult):
            record = dict(error.error or {})
            return {
                "error_code": record.get("code"),
                "error_message": record.get("message"),
                "run_id": error.run_id,
            }
        if isinstance(error, BaseException):
            record = self._error_record(error)
        elif isinstance(error, Mapping):
            record = checked_object(dict(error), "error")
        else:
            raise ValidationError("error must be an exception or a mapping", details={"field": "error"})
        return {"error_code": record.get("code"), "error_message": record.get("message")}

    def _redacted(self, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None or self.redactor is None:
            return value
        redacted, _ = self.redactor.redact_value(value)
        return dict(redacted)


async def run_once(
    store: SessionStore | str,
    adapter: ProviderAdapter,
    input: str | Mapping[str, Any] | None,
    *,
    pricing: PricingTable | None = DEFAULT_PRICING,
    redactor: Redactor | None = None,
    unknown_types: UnknownTypes = "record",
    **options: Any,
) -> RunResult:
    """`SessionManager(store, ...).run_once(adapter, input, **options)` in one call.

    `store` is any `SessionStore` object (memory, SQLite, PostgreSQL, composite, your own), or a URL,
    which is opened with `open_store` and closed afterwards.
    """
    if isinstance(store, str):
        async with await open_store(store) as opened:
            return await run_once(
                opened,
                adapter,
                input,
                pricing=pricing,
                redactor=redactor,
                unknown_types=unknown_types,
                **options,
            )
    manager = SessionManager(store, pricing=pricing, redactor=redactor, unknown_types=unknown_types)
    return await manager.run_once(adapter, input, **options)


def _session_context(session: Session) -> EventContext:
    provider = session.metadata.get("provider")
    correlation = session.metadata.get("correlation_id")
    return EventContext(
        session_id=session.id,
        provider=provider if isinstance(provider, str) else None,
        correlation_id=correlation if isinstance(correlation, str) else None,
    )


def _with_session_events(result: RunResult, opening: list[Event], closing: Event) -> RunResult:
    return replace(result, events=[*opening, *result.events, closing])


def _reason(reason: str | None) -> dict[str, Any]:
    return {} if reason is None else {"reason": reason}


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, ASMError) else f"{type(exc).__name__}: {exc}"


async def _hint_cancel(adapter: ProviderAdapter, run_id: str) -> None:
    """Tell the provider to stop; its failure to do so never blocks recording the cancellation."""
    try:
        await adapter.cancel(run_id)
    except Exception as exc:
        logger.warning("adapter %s could not cancel run %s: %s", adapter.name, run_id, _describe(exc))


def _check_store(store: Any) -> None:
    missing = [name for name in _STORE_METHODS if not callable(getattr(store, name, None))]
    if missing or not inspect.iscoroutinefunction(store.append_event):
        raise ValidationError(
            f"{type(store).__name__} is not an async SessionStore"
            + (f" (missing {', '.join(missing)})" if missing else " (its methods must be coroutines)")
            + "; open one with open_store(url)",
            details={"store": type(store).__name__},
        )


def _check_adapter(adapter: Any) -> None:
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


def _check_time_limit(time_limit: float | None) -> float | None:
    if time_limit is None:
        return None
    if not is_amount(time_limit) or time_limit == 0:
        raise ValidationError("time_limit must be a number of seconds > 0", details={"field": "time_limit"})
    return float(time_limit)


def _check_open(session: Session) -> None:
    if session.status in TERMINAL_SESSION_STATUSES:
        raise InvalidTransition(
            f"session {session.id} is {session.status.value}; it cannot run anything",
            details={"session_id": session.id, "status": session.status.value},
        )
