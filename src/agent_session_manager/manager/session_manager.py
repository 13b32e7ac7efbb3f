"""`SessionManager`: the session and run lifecycle over any `SessionStore`, and `run_once`.

Every status change is written together with its event in one atomic `flush` (session and
`session_created`, run and `run_failed`, ...), so a reader never sees a status without its event or the
reverse. Events of a running run are appended one by one as the adapter emits them, each with its
sequence number, so `store.subscribe` follows the run live.

Rules:

* `execute_run` sets `started_at` when the run starts running, not when it was created; the run itself
  executes in a `RunExecution` (`manager/execution.py`, which states how outcomes are recorded).
* `cancel_run` cancels a run executing in this manager and waits until it is recorded; a run that is
  not executing here (pending, or executing in another process) is marked cancelled in the store, and
  its executor's final write is then refused with `invalid_transition`. Cancelling a finished run is a
  no-op that returns it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..core.errors import InvalidTransition, RunCancelled, RunFailed, RunTimedOut, ValidationError
from ..core.json import checked_object
from ..core.models import (
    TERMINAL_RUN_STATUSES,
    Event,
    EventType,
    Run,
    RunStatus,
    Session,
    SessionStatus,
)
from ..open import open_store
from ..pricing import DEFAULT_PRICING, PricingTable
from ..sessions.base import SessionStore
from .base import (
    ProviderAdapter,
    RunResult,
    RunTelemetry,
    check_adapter,
    check_telemetry,
    check_time_limit,
    normalize_input,
)
from .execution import (
    EventCallback,
    RunExecution,
    check_open,
    error_record,
    hint_cancel,
    reason_data,
    redacted,
    run_context,
)
from .pipeline import EventContext, EventPipeline, UnknownTypes
from .redaction import Redactor

_STORE_METHODS = ("save_session", "get_session", "save_run", "get_run", "append_event", "flush")


class SessionManager:
    """Session and run lifecycle, provider adapters and the event pipeline over one `SessionStore`.

    Args:
        store: any async `SessionStore` (from `open_store`, or your own).
        pricing: the table for costs the adapter does not report (`DEFAULT_PRICING`, illustrative;
            `None` for none).
        redactor: a `Redactor` to strip secrets from everything the manager stores (events, run
            input/output/error); off by default.
        unknown_types: what to do with an adapter event of unknown type, `"record"` (as
            `error_occurred`, keeping the original) or `"reject"` (`invalid_event_type`).
        telemetry: told about every run as it happens (`otel.GenAITelemetry()`: GenAI spans); off by default.

    Raises:
        ValidationError: `store`, `pricing` or `telemetry` is not what it must be.

    Example:
        >>> manager = SessionManager(await open_store("memory://"))  # doctest: +SKIP
        >>> reply = ("message_received", {"role": "assistant", "content": "Hello."})
        >>> result = await manager.run_once(ScriptedAdapter([reply]), "Hi")  # doctest: +SKIP
    """

    def __init__(
        self,
        store: SessionStore,
        *,
        pricing: PricingTable | None = DEFAULT_PRICING,
        redactor: Redactor | None = None,
        unknown_types: UnknownTypes = "record",
        telemetry: RunTelemetry | None = None,
    ) -> None:
        _check_store(store)
        check_telemetry(telemetry)
        if pricing is not None and not isinstance(pricing, PricingTable):
            raise ValidationError("pricing must be a PricingTable or None", details={"field": "pricing"})
        self.store = store
        self.pricing = pricing
        self.redactor = redactor
        self.pipeline = EventPipeline(store, redactor=redactor, unknown_types=unknown_types)
        self.telemetry = telemetry
        self._active: dict[str, RunExecution] = {}
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
        check_open(session)
        fields: dict[str, Any] = {
            "session_id": session.id,
            "input": redacted(self.redactor, run_input),
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
        check_adapter(adapter)
        limit = check_time_limit(time_limit)
        run = await self.store.get_run(run_id)
        if run.status is not RunStatus.PENDING or run.id in self._claimed:
            raise InvalidTransition(
                f"run {run.id} is {run.status.value}; only a pending run can be executed",
                details={"run_id": run.id, "status": run.status.value},
            )
        self._claimed.add(run.id)
        try:
            execution = await RunExecution.start(
                self.store, self.pipeline, self.pricing, self.redactor, adapter, run, event_callback
            )
            execution.attach(self.telemetry)
            self._active[run.id] = execution
            try:
                return await execution.execute(limit, adapter_options)
            finally:
                del self._active[run.id]
        finally:
            self._claimed.discard(run.id)

    async def cancel_run(
        self, run_id: str, adapter: ProviderAdapter | None = None, *, reason: str | None = None
    ) -> Run:
        """Cancel a run: if it executes in this manager, cancel it there and wait until it is recorded;
        otherwise ask `adapter` (best effort) and record `cancelled` with `run_cancelled`."""
        execution = self._active.get(run_id)
        if execution is not None:
            execution.cancel(reason)
            await execution.done.wait()
            return await self.store.get_run(run_id)
        run = await self.store.get_run(run_id)
        if run.status in TERMINAL_RUN_STATUSES:
            return run
        if adapter is not None:
            await hint_cancel(adapter, run_id)
        session = await self.store.get_session(run.session_id)
        cancelled = run.with_status(RunStatus.CANCELLED)
        event = self.pipeline.build(
            EventType.RUN_CANCELLED,
            reason_data(reason),
            run_context(session, run, run.provider),
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
        check_adapter(adapter)
        check_time_limit(time_limit)
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
            check_adapter(adapter)
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
            record = error_record(self.redactor, error)
        elif isinstance(error, Mapping):
            record = checked_object(dict(error), "error")
        else:
            raise ValidationError("error must be an exception or a mapping", details={"field": "error"})
        return {"error_code": record.get("code"), "error_message": record.get("message")}


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

    Args:
        store: any `SessionStore` object (memory, SQLite, PostgreSQL, composite, your own), or a URL,
            which is opened with `open_store` and closed afterwards.
        adapter: the `ProviderAdapter` that runs the run.
        input: text (stored as `{"prompt": text}`), a mapping (`prompt` or `messages`), or `None`.
        pricing, redactor, unknown_types: as for `SessionManager`.
        **options: `SessionManager.run_once`'s keywords (`agent_id`, `metadata`, `time_limit`, ...).

    Returns:
        The `RunResult`, with every event of the session in sequence order.

    Raises:
        RunFailed, RunTimedOut, RunCancelled: the run did not complete (recorded; `.result` attached).
        ValidationError: a bad argument, before anything is written.

    Example:
        >>> reply = ("message_received", {"role": "assistant", "content": "Hello."})
        >>> result = await run_once("memory://", ScriptedAdapter([reply]), "Hi")  # doctest: +SKIP
        >>> result.status.value  # doctest: +SKIP
        'completed'
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


def _check_store(store: Any) -> None:
    missing = [name for name in _STORE_METHODS if not callable(getattr(store, name, None))]
    if missing or not inspect.iscoroutinefunction(store.append_event):
        raise ValidationError(
            f"{type(store).__name__} is not an async SessionStore"
            + (f" (missing {', '.join(missing)})" if missing else " (its methods must be coroutines)")
            + "; open one with open_store(url)",
            details={"store": type(store).__name__},
        )
