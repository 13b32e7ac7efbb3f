"""One run as OpenTelemetry GenAI spans, built event by event (the replay export and the live option
share it, so both emit the same spans).

Per run (GenAI semantic conventions, attribute names from `opentelemetry-semantic-conventions`):

* `invoke_agent <agent_id>` (INTERNAL), from `run.started_at` to `run.ended_at`: `gen_ai.operation.name`,
  `gen_ai.agent.id`/`.name` (the session's agent), `gen_ai.conversation.id` (the session id),
  `gen_ai.provider.name`, `gen_ai.request.model`/`gen_ai.response.model` (from `run_started` or the
  run's `provider_metadata`), the run's token usage (`gen_ai.usage.*`; input counts cached tokens too,
  as the conventions define it), `gen_ai.response.finish_reasons` (`run_completed.stop_reason`), and on
  a failed, timed-out or cancelled run `error.type` with status ERROR.
* `chat <model>` (CLIENT), one per model call: a call starts where the previous step ended (the run's
  start, a completed turn, a finished tool call) and ends when the model hands over: at its first tool
  call, `turn_completed`, or the run's end. It carries the usage reported while it was open
  (`token_usage_updated`) and, for the last call, the finish reasons.
* `execute_tool <tool_name>` (INTERNAL), `tool_call_started` to `tool_call_completed`/`_failed`
  (matched by `tool_call_id`): `gen_ai.tool.name`, `gen_ai.tool.call.id`, `error.type` on failure.

Span times are the events' timestamps. Message contents (`gen_ai.input.messages`/`output.messages`
on chat spans, `gen_ai.tool.call.arguments`/`.result` on tool spans) may hold personal data and are
only recorded with `capture_content=True`; they are what the store holds, so a redactor configured on
the manager applies to them too. `error_occurred` becomes an `exception` span event on the open span.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes import error_attributes, exception_attributes
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider

from ..core.models import Event, EventType, Run, RunStatus, Session
from ..core.usage import CACHE_CREATION, CACHE_READ, INPUT, OUTPUT, token_counts

__all__ = ["GenAITelemetry", "RunSpans"]

INSTRUMENTATION = "agent_session_manager"
_FAILED_RUNS = {
    EventType.RUN_FAILED: "run_failed",
    EventType.RUN_TIMEOUT: "timeout",
    EventType.RUN_CANCELLED: "cancelled",
}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(value: datetime) -> int:
    """Nanoseconds since the epoch, exactly (our timestamps have microseconds)."""
    return (value - _EPOCH) // timedelta(microseconds=1) * 1000


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _message(data: Mapping[str, Any], default_role: str) -> dict[str, Any]:
    """A message event's data as a GenAI message (`role` + `parts`)."""
    content = data.get("content")
    text = content if isinstance(content, str) else _json(content)
    return {"role": str(data.get("role") or default_role), "parts": [{"type": "text", "content": text}]}


def usage_attributes(usage: Mapping[str, Any]) -> dict[str, int]:
    """Our token counters as `gen_ai.usage.*` attributes (zero counters left out)."""
    counts = token_counts(usage)
    cached = counts[CACHE_READ] + counts[CACHE_CREATION]
    attributes = {
        gen_ai.GEN_AI_USAGE_INPUT_TOKENS: counts[INPUT] + cached,
        gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS: counts[OUTPUT],
        gen_ai.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: counts[CACHE_READ],
        gen_ai.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: counts[CACHE_CREATION],
    }
    return {name: value for name, value in attributes.items() if value}


class RunSpans:
    """The spans of one run: `feed` it the run's events in order, then `finish` it with the stored run."""

    def __init__(self, tracer: Tracer, session: Session, run: Run, *, capture_content: bool = False) -> None:
        self._tracer = tracer
        self._capture = capture_content
        self._provider = run.provider
        self._session_id = session.id
        self._model: str | None = run.provider_metadata.get("model")
        self._mark = _ns(run.started_at)
        self._last = self._mark
        #: How many spans this run has started.
        self.spans = 1
        self._agent = tracer.start_span(
            f"invoke_agent {session.agent_id}",
            kind=SpanKind.INTERNAL,
            start_time=self._mark,
            attributes={
                gen_ai.GEN_AI_OPERATION_NAME: gen_ai.GenAiOperationNameValues.INVOKE_AGENT.value,
                gen_ai.GEN_AI_AGENT_ID: session.agent_id,
                gen_ai.GEN_AI_AGENT_NAME: session.agent_id,
                gen_ai.GEN_AI_CONVERSATION_ID: session.id,
                **({gen_ai.GEN_AI_PROVIDER_NAME: run.provider} if run.provider else {}),
            },
        )
        self._context = trace.set_span_in_context(self._agent)
        self._chat: Span | None = None
        self._chat_usage: dict[str, Any] = {}
        self._inputs: list[dict[str, Any]] = []
        self._outputs: list[dict[str, Any]] = []
        self._tools: dict[str, Span] = {}
        self._started = 0
        self._finish_reasons: list[str] = []
        self._failure: str | None = None

    # -- events ---------------------------------------------------------------------------------

    def feed(self, event: Event) -> None:
        """Advance the spans by one of the run's events."""
        at = _ns(event.timestamp)
        self._last = max(self._last, at)
        data = event.data
        kind = event.type
        if kind is EventType.RUN_STARTED and isinstance(data.get("model"), str):
            self._model = data["model"]
            self._agent.set_attribute(gen_ai.GEN_AI_REQUEST_MODEL, self._model)
        elif kind is EventType.MESSAGE_SENT:
            self._inputs.append(_message(data, "user"))
        elif kind in (EventType.MESSAGE_STREAMED, EventType.TOKEN_USAGE_UPDATED, EventType.MESSAGE_RECEIVED):
            self._open_chat()
            if kind is EventType.MESSAGE_RECEIVED:
                self._outputs.append(_message(data, "assistant"))
            elif kind is EventType.TOKEN_USAGE_UPDATED:
                for name, value in data.items():
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        self._chat_usage[name] = self._chat_usage.get(name, 0) + value
        elif kind is EventType.TOOL_CALL_STARTED:
            self._close_chat(at, ["tool_call"])
            self._start_tool(data, at)
        elif kind in (EventType.TOOL_CALL_COMPLETED, EventType.TOOL_CALL_FAILED):
            self._end_tool(data, at, failed=kind is EventType.TOOL_CALL_FAILED)
            self._mark = at
        elif kind is EventType.TURN_COMPLETED:
            self._close_chat(at, [])
            self._mark = at
        elif kind is EventType.RUN_COMPLETED:
            reason = data.get("stop_reason")
            self._finish_reasons = [str(reason)] if reason else []
            self._close_chat(at, self._finish_reasons)
        elif kind in _FAILED_RUNS:
            self._failure = str(data.get("error_code") or _FAILED_RUNS[EventType(kind)])
            self._close_chat(at, [], error=self._failure)
        elif kind is EventType.ERROR_OCCURRED:
            span = self._chat or self._agent
            span.add_event(
                "exception",
                {
                    exception_attributes.EXCEPTION_TYPE: str(data.get("error_code") or "error"),
                    exception_attributes.EXCEPTION_MESSAGE: str(data.get("error_message") or ""),
                },
                timestamp=at,
            )

    def finish(self, run: Run) -> None:
        """End every span; the agent span gets the run's final usage, model and outcome."""
        end = _ns(run.ended_at) if run.ended_at else self._last
        for call_id in list(self._tools):
            self._end_tool({"tool_call_id": call_id, "error_code": "unfinished"}, end, failed=True)
        if run.status in (RunStatus.FAILED, RunStatus.TIMEOUT, RunStatus.CANCELLED) and not self._failure:
            error = run.error or {}
            self._failure = str(error.get("code") or run.status.value)
        self._close_chat(end, self._finish_reasons, error=self._failure)
        model = run.provider_metadata.get("model") or self._model
        attributes: dict[str, Any] = usage_attributes(run.token_usage)
        if model:
            attributes[gen_ai.GEN_AI_REQUEST_MODEL] = model
            attributes[gen_ai.GEN_AI_RESPONSE_MODEL] = model
        if self._finish_reasons:
            attributes[gen_ai.GEN_AI_RESPONSE_FINISH_REASONS] = self._finish_reasons
        self._agent.set_attributes(attributes)
        self._fail(self._agent, self._failure)
        self._agent.end(end_time=max(end, self._last))

    # -- helpers --------------------------------------------------------------------------------

    def _open_chat(self) -> None:
        if self._chat is not None:
            return
        attributes: dict[str, Any] = {
            gen_ai.GEN_AI_OPERATION_NAME: gen_ai.GenAiOperationNameValues.CHAT.value,
            gen_ai.GEN_AI_CONVERSATION_ID: self._session_id,
        }
        if self._provider:
            attributes[gen_ai.GEN_AI_PROVIDER_NAME] = self._provider
        if self._model:
            attributes[gen_ai.GEN_AI_REQUEST_MODEL] = self._model
        self.spans += 1
        self._chat = self._tracer.start_span(
            f"chat {self._model}" if self._model else "chat",
            context=self._context,
            kind=SpanKind.CLIENT,
            start_time=self._mark,
            attributes=attributes,
        )

    def _close_chat(self, at: int, finish_reasons: list[str], *, error: str | None = None) -> None:
        chat = self._chat
        if chat is None:
            return
        attributes: dict[str, Any] = usage_attributes(self._chat_usage)
        if self._model:
            attributes[gen_ai.GEN_AI_RESPONSE_MODEL] = self._model
        if finish_reasons:
            attributes[gen_ai.GEN_AI_RESPONSE_FINISH_REASONS] = finish_reasons
        if self._capture and self._inputs:
            attributes[gen_ai.GEN_AI_INPUT_MESSAGES] = _json(self._inputs)
        if self._capture and self._outputs:
            attributes[gen_ai.GEN_AI_OUTPUT_MESSAGES] = _json(self._outputs)
        chat.set_attributes(attributes)
        self._fail(chat, error)
        chat.end(end_time=at)
        self._chat = None
        self._chat_usage = {}
        self._inputs = [*self._inputs, *self._outputs]
        self._outputs = []
        self._mark = at

    def _start_tool(self, data: Mapping[str, Any], at: int) -> str:
        """Start an `execute_tool` span; returns the call id it is kept under."""
        name = str(data.get("tool_name") or "tool")
        self._started += 1
        call_id = str(data.get("tool_call_id") or f"#{self._started}")
        attributes: dict[str, Any] = {
            gen_ai.GEN_AI_OPERATION_NAME: gen_ai.GenAiOperationNameValues.EXECUTE_TOOL.value,
            gen_ai.GEN_AI_TOOL_NAME: name,
        }
        if data.get("tool_call_id"):
            attributes[gen_ai.GEN_AI_TOOL_CALL_ID] = call_id
        if self._capture and "tool_input" in data:
            attributes[gen_ai.GEN_AI_TOOL_CALL_ARGUMENTS] = _json(data["tool_input"])
        self.spans += 1
        self._tools[call_id] = self._tracer.start_span(
            f"execute_tool {name}",
            context=self._context,
            kind=SpanKind.INTERNAL,
            start_time=at,
            attributes=attributes,
        )
        return call_id

    def _end_tool(self, data: Mapping[str, Any], at: int, *, failed: bool) -> None:
        call_id = data.get("tool_call_id") or next((key for key in self._tools if key[0] == "#"), None)
        if call_id not in self._tools:
            call_id = self._start_tool(data, at)
        span = self._tools.pop(str(call_id))
        if self._capture and "tool_output" in data:
            span.set_attribute(gen_ai.GEN_AI_TOOL_CALL_RESULT, _json(data["tool_output"]))
        self._fail(span, str(data.get("error_code") or "tool_call_failed") if failed else None)
        span.end(end_time=at)

    @staticmethod
    def _fail(span: Span, error: str | None) -> None:
        if error is not None:
            span.set_attribute(error_attributes.ERROR_TYPE, error)
            span.set_status(Status(StatusCode.ERROR, error))


class GenAITelemetry:
    """`SessionManager(store, telemetry=GenAITelemetry())`: GenAI spans of every run as it happens.

    Args:
        tracer_provider: Where spans go; the global one (`opentelemetry.trace`) when None.
        capture_content: Also record message contents and tool arguments/results (personal data).

    Example:
        >>> from opentelemetry.sdk.trace import TracerProvider
        >>> telemetry = GenAITelemetry(TracerProvider())
    """

    def __init__(
        self, tracer_provider: TracerProvider | None = None, *, capture_content: bool = False
    ) -> None:
        self.tracer = trace.get_tracer(INSTRUMENTATION, tracer_provider=tracer_provider)
        self.capture_content = capture_content

    def start(self, session: Session, run: Run) -> RunSpans:
        """The spans of `run` (its `invoke_agent` span starts now, at `run.started_at`)."""
        return RunSpans(self.tracer, session, run, capture_content=self.capture_content)
