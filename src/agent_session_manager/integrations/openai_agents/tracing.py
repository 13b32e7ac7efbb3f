"""`ASMTracingProcessor`: every OpenAI Agents SDK run becomes one of our runs, with tokens and cost.

Register it with `agents.add_trace_processor(ASMTracingProcessor(store))`. It watches the SDK's
traces and spans and, when a run ends, saves one `Run`:

* one run per `Runner.run` (the SDK's `task` span); when task spans are turned off, one per trace;
* in the session of the `ASMSession` the run wrote its items to (those items carry the run's id),
  else in the session named by the trace's `group_id` (mapped like an SDK session id), else in a
  session of its own named after the trace; a missing session is created;
* `provider_metadata["model"]`: the model of its model calls (generation and response spans);
* `token_usage`: the run's total, in our counters: `input_tokens` (not read from or written to a
  cache), `output_tokens`, `cache_read_tokens`, `cache_creation_tokens`, `total_tokens`, plus the SDK's
  `requests`;
* `cost_usd`: each model call priced with our pricing table (`provider` "openai" by default), summed;
  `None` when a call cannot be priced;
* `turn_count`, and in `metadata["openai_agents"]`: the trace id, workflow name, group id, agents,
  handoffs and tool calls (name, arguments, output, error; texts cut at 2,000 characters);
* status `completed`, or `failed` with the error when the run or one of its agents failed.

The SDK calls processors synchronously on the run's thread, so writes are started on the store's loop
and not waited for; `force_flush()` (or `await flush()` on the store's loop) waits for them, and a
failed write is logged, never raised into the agent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

from agents.tracing import Span, Trace, TracingProcessor, get_current_span, get_current_trace

from ... import sync
from ...core.clock import utc_now
from ...core.errors import ASMError, SessionNotFound, ValidationError
from ...core.models import Run, RunStatus, Session, SessionStatus
from ...core.usage import is_amount
from ...pricing import PricingTable, cost_of
from .._stores import BoundStore
from .items import DEFAULT_AGENT_ID, asm_session_id

log = logging.getLogger(__name__)

#: Longest text kept per tool-call field in a run's metadata (the items keep the full text).
TEXT_LIMIT = 2000


class _Registry:
    """Which recorded run each live trace and span belongs to, and which session each run writes to.

    Shared by every processor and `ASMSession` of the process, so items added during a recorded run
    can carry its id and the run lands in their session.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._run_of: dict[str, str] = {}
        self._session_of: dict[str, str] = {}

    def enter(self, key: str, run: str | None) -> None:
        if run is not None:
            with self._lock:
                self._run_of[key] = run

    def run_of(self, key: str | None) -> str | None:
        return None if key is None else self._run_of.get(key)

    def leave(self, key: str) -> str | None:
        with self._lock:
            return self._run_of.pop(key, None)

    def link(self, run: str, session_id: str) -> None:
        with self._lock:
            self._session_of.setdefault(run, session_id)

    def session_of(self, run: str) -> str | None:
        with self._lock:
            return self._session_of.pop(run, None)


_registry = _Registry()


def run_id_for(key: str) -> str:
    """Our run id for an SDK task span id (`span_<hex>`) or trace id (`trace_<hex>`): `run_<hex>`."""
    return asm_session_id(f"run_{key.partition('_')[2] or key}")


def current_run_id(session_id: str) -> str | None:
    """The id of the recorded run the caller is inside of (None outside one), linking it to `session_id`."""
    span = get_current_span()
    run = _registry.run_of(span.span_id) if span is not None else None
    if run is None:
        trace = get_current_trace()
        run = _registry.run_of(trace.trace_id) if trace is not None else None
    if run is None:
        return None
    _registry.link(run, session_id)
    return run_id_for(run)


@dataclass
class _Call:
    model: str | None
    usage: dict[str, Any] | None


@dataclass
class _RunRecord:
    """What the spans of one run said, gathered until it ends."""

    key: str
    info: dict[str, Any]
    started_at: datetime = field(default_factory=utc_now)
    calls: list[_Call] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)
    handoffs: list[dict[str, Any]] = field(default_factory=list)
    turns: int = 0
    usage: dict[str, Any] | None = None
    error: str | None = None
    has_tasks: bool = False


class ASMTracingProcessor(TracingProcessor):
    """Records each OpenAI Agents SDK run as one of our runs (model, tokens, tool calls, cost).

    Args:
        store: an async session store used on the loop the agents run on, or a `sync.SyncStore`.
        pricing: the table to price model calls with (default: `pricing.DEFAULT_PRICING`).
        provider: the provider name model calls are priced under.
        agent_id: the `agent_id` of sessions this creates.

    Example:
        >>> import agents
        >>> from agent_session_manager.integrations.openai_agents import ASMTracingProcessor
        >>> processor = ASMTracingProcessor.from_url("sqlite:///./.asm/asm.db")
        >>> agents.add_trace_processor(processor)  # doctest: +SKIP
        >>> processor.shutdown()
    """

    def __init__(
        self,
        store: Any,
        *,
        pricing: PricingTable | None = None,
        provider: str = "openai",
        agent_id: str = DEFAULT_AGENT_ID,
    ) -> None:
        if pricing is not None and not isinstance(pricing, PricingTable):
            raise ValidationError("pricing must be a PricingTable", details={"field": "pricing"})
        self._bound = BoundStore(store)
        self._owned: sync.SyncStore | None = None
        self.pricing = pricing
        self.provider = provider
        self.agent_id = agent_id
        self._lock = threading.Lock()
        self._runs: dict[str, _RunRecord] = {}
        self._pending: set[concurrent.futures.Future[None] | asyncio.Task[None]] = set()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Self:
        """A processor writing to the store at `url`, opened on the shared portal; `shutdown()` closes it.

        Args:
            url: any `open_store` URL.
            **options: `pricing`, `provider`, `agent_id` for the processor; anything else for `open_store`.

        Returns:
            The processor (register it with `agents.add_trace_processor`).
        """
        mine = {key: options.pop(key) for key in ("pricing", "provider", "agent_id") if key in options}
        store = sync.portal().open_store(url, **options)
        processor = cls(store, **mine)
        processor._owned = store
        return processor

    def on_trace_start(self, trace: Trace) -> None:
        info = trace.export() or {}
        _registry.enter(trace.trace_id, trace.trace_id)
        with self._lock:
            self._runs[trace.trace_id] = _RunRecord(key=trace.trace_id, info=_trace_info(trace, info))

    def on_trace_end(self, trace: Trace) -> None:
        _registry.leave(trace.trace_id)
        with self._lock:
            record = self._runs.pop(trace.trace_id, None)
        if record is not None and not record.has_tasks and (record.calls or record.agents):
            self._save(record, utc_now())
        elif record is not None:
            _registry.session_of(record.key)

    def on_span_start(self, span: Span[Any]) -> None:
        data = span.span_data
        parent = _registry.run_of(span.parent_id) or _registry.run_of(span.trace_id)
        if data.type != "task":
            _registry.enter(span.span_id, parent)
            return
        _registry.enter(span.span_id, span.span_id)
        with self._lock:
            outer = self._runs.get(span.trace_id)
            if outer is not None:
                outer.has_tasks = True
            info = dict(outer.info) if outer is not None else {"trace_id": span.trace_id}
            started = _when(span.started_at)
            self._runs[span.span_id] = _RunRecord(key=span.span_id, info=info, started_at=started)

    def on_span_end(self, span: Span[Any]) -> None:
        run = _registry.leave(span.span_id)
        with self._lock:
            record = self._runs.get(run) if run is not None else None
            if record is None:
                return
            _gather(record, span)
            if span.span_data.type == "task":
                del self._runs[record.key]
            else:
                return
        self._save(record, _when(span.ended_at))

    def force_flush(self) -> None:
        """Wait for the runs being written (from the store's own loop thread it cannot wait: use `flush`)."""
        pending = list(self._pending)
        futures = [p for p in pending if isinstance(p, concurrent.futures.Future)]
        if futures and not self._on_portal_thread():
            concurrent.futures.wait(futures)
        tasks = [p for p in pending if isinstance(p, asyncio.Task)]
        loops = {task.get_loop() for task in tasks}
        for loop in loops:
            if not _on_loop_thread(loop) and loop.is_running():
                asyncio.run_coroutine_threadsafe(_wait_all(tasks), loop).result()

    async def flush(self) -> None:
        """Wait for the runs being written, from async code."""
        for pending in list(self._pending):
            if isinstance(pending, asyncio.Task):
                await asyncio.wait([pending])
            else:
                await asyncio.wait([asyncio.wrap_future(pending)])

    def shutdown(self) -> None:
        """Wait for pending writes, then close the store if `from_url` opened it."""
        self.force_flush()
        owned, self._owned = self._owned, None
        if owned is not None:
            owned.close()

    def _on_portal_thread(self) -> bool:
        portal = self._bound.portal
        return portal is not None and _on_loop_thread(portal.loop)

    def _save(self, record: _RunRecord, ended_at: datetime) -> None:
        linked = _registry.session_of(record.key)
        sdk_id = record.info.get("group_id") or record.info["trace_id"]
        session = Session(
            id=linked or asm_session_id(sdk_id),
            agent_id=self.agent_id,
            status=SessionStatus.ACTIVE,
            metadata={"openai_agents": {"session_id": sdk_id}},
        )
        try:
            run = self._run(record, session.id, ended_at)
            pending = self._bound.submit(_write(self._bound, session, run))
        except ASMError as exc:
            log.warning("could not record the OpenAI Agents run %s: %s", record.key, exc)
            return
        self._pending.add(pending)
        pending.add_done_callback(self._done)

    def _done(self, pending: concurrent.futures.Future[None] | asyncio.Task[None]) -> None:
        self._pending.discard(pending)
        if not pending.cancelled() and pending.exception() is not None:
            log.warning("could not record an OpenAI Agents run: %s", pending.exception())

    def _run(self, record: _RunRecord, session_id: str, ended_at: datetime) -> Run:
        models = [call.model for call in record.calls if call.model]
        usage = _tokens(record.usage) if record.usage else _sum([_tokens(c.usage) for c in record.calls])
        return Run(
            id=run_id_for(record.key),
            session_id=session_id,
            status=RunStatus.FAILED if record.error else RunStatus.COMPLETED,
            error=None if record.error is None else {"code": "agent_error", "message": record.error},
            started_at=record.started_at,
            ended_at=max(ended_at, record.started_at),
            turn_count=record.turns or len(record.calls),
            token_usage=usage,
            cost_usd=self._cost(record.calls),
            provider=self.provider,
            provider_metadata={"model": models[-1]} if models else {},
            metadata={
                "openai_agents": {
                    **record.info,
                    "agents": record.agents,
                    "handoffs": record.handoffs,
                    "tool_calls": record.tools,
                    "models": sorted(set(models)),
                }
            },
        )

    def _cost(self, calls: list[_Call]) -> float | None:
        costs = [cost_of(_tokens(call.usage), self.provider, call.model, self.pricing) for call in calls]
        if not costs or any(cost is None for cost in costs):
            return None
        return sum(cost for cost in costs if cost is not None)


async def _write(bound: BoundStore, session: Session, run: Run) -> None:
    store = bound.store
    try:
        await store.save_run(run)
    except SessionNotFound:
        await store.save_session(session)
        await store.save_run(run)


async def _wait_all(tasks: list[asyncio.Task[None]]) -> None:
    await asyncio.wait(tasks)


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _trace_info(trace: Trace, exported: Mapping[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {"trace_id": trace.trace_id, "workflow_name": trace.name}
    if isinstance(exported.get("group_id"), str):
        info["group_id"] = exported["group_id"]
    return info


def _gather(record: _RunRecord, span: Span[Any]) -> None:
    """Add what one finished span says about its run to `record`."""
    data = span.span_data
    error = span.error
    kind = data.type
    if kind == "generation":
        record.calls.append(_Call(data.model, data.usage))
    elif kind == "response":
        response = data.response
        usage = data.usage
        if usage is None and response is not None and response.usage is not None:
            usage = response.usage.model_dump()
        record.calls.append(_Call(getattr(response, "model", None), usage))
    elif kind == "function":
        call = {"name": data.name, "input": _text(data.input), "output": _text(data.output)}
        if error is not None:
            call["error"] = _error_text(error)
        record.tools.append(call)
    elif kind == "agent":
        record.agents.append(data.name)
        if error is not None:
            record.error = _error_text(error)
    elif kind == "handoff":
        record.handoffs.append({"from": data.from_agent, "to": data.to_agent})
    elif kind == "turn":
        record.turns += 1
    elif kind == "task":
        record.usage = data.usage
        if error is not None:
            record.error = _error_text(error)


def _tokens(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """The SDK's usage (any of its span shapes) in our counters; input excludes cached tokens."""
    if not raw:
        return {}
    details = raw.get("input_tokens_details")
    if isinstance(details, list):
        details = details[0] if details else None
    details = details if isinstance(details, Mapping) else {}
    cached = _count(raw.get("cached_input_tokens", details.get("cached_tokens")))
    written = _count(raw.get("cache_write_input_tokens", details.get("cache_write_tokens")))
    given = _count(raw.get("input_tokens", raw.get("prompt_tokens")))
    output = _count(raw.get("output_tokens", raw.get("completion_tokens")))
    usage = {
        "input_tokens": max(given - cached - written, 0),
        "output_tokens": output,
        "cache_read_tokens": cached,
        "cache_creation_tokens": written,
        "total_tokens": _count(raw.get("total_tokens")) or given + output,
    }
    if "requests" in raw:
        usage["requests"] = _count(raw["requests"])
    return usage


def _sum(usages: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {}
    for usage in usages:
        for key, value in usage.items():
            total[key] = total.get(key, 0) + value
    return total


def _count(value: Any) -> int:
    return int(value) if is_amount(value) else 0


def _error_text(error: Mapping[str, Any]) -> str | None:
    """A span error's message, with the underlying error when the SDK gives it (`data["error"]`)."""
    detail = (error.get("data") or {}).get("error")
    message = error.get("message")
    return _text(f"{message}: {detail}" if isinstance(detail, str) and detail else message)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).replace("\x00", "\ufffd")
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 3] + "..."


def _when(stamp: str | None) -> datetime:
    if not stamp:
        return utc_now()
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return utc_now()
    return moment if moment.tzinfo is not None else utc_now()
