"""OpenTelemetry GenAI export: stored sessions replayed as spans (checked against the semantic
conventions package), the live option on SessionManager emitting the same spans, and `asm otel export`
delivering to a real OTLP/HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes
from opentelemetry.semconv.attributes import error_attributes, exception_attributes
from opentelemetry.trace import SpanKind, StatusCode

import agent_session_manager as asm
from agent_session_manager.core.errors import ValidationError
from agent_session_manager.demo import SCRIPT, record_demo
from agent_session_manager.manager import Fail, ScriptedAdapter, SessionManager
from agent_session_manager.otel import GenAITelemetry, export_session

ASM = str(Path(sys.executable).with_name("asm"))
#: Every attribute name the conventions define that we may use.
KNOWN = {
    value
    for module in (gen_ai_attributes, error_attributes, exception_attributes)
    for name, value in vars(module).items()
    if name.isupper() and isinstance(value, str)
}


@pytest.fixture
def captured() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {span.name: span for span in spans}


def ns(value: Any) -> int:
    return round(value.timestamp() * 1_000_000) * 1000


def shape(spans: tuple[ReadableSpan, ...]) -> list[tuple[Any, ...]]:
    """What must match between a live run and its replay: names, kinds, times, attributes, status."""
    return sorted(
        (s.name, s.kind, s.start_time, s.end_time, dict(s.attributes or {}), s.status.status_code)
        for s in spans
    )


async def test_a_recorded_run_exports_as_genai_spans(
    captured: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = captured
    async with await asm.open_store("memory://") as store:
        session, events = await record_demo(store)
        report = await export_session(store, session.id, provider)
        run = (await store.list_runs(session.id)).items[0]
    spans = exporter.get_finished_spans()
    assert (report.runs, report.spans) == (1, len(spans)) == (1, 4)
    named = by_name(spans)
    agent, tool = named["invoke_agent support-bot"], named["execute_tool billing.list_invoices"]
    chat, answer = sorted(
        (s for s in spans if s.name == "chat claude-sonnet-4"), key=lambda s: s.start_time or 0
    )
    for span in spans:
        assert set(span.attributes or {}) <= KNOWN, set(span.attributes or {}) - KNOWN
    assert chat.parent is not None and chat.parent.span_id == agent.context.span_id
    assert tool.parent is not None and tool.parent.span_id == agent.context.span_id
    assert {chat.context.trace_id, tool.context.trace_id} == {agent.context.trace_id}
    assert (agent.kind, chat.kind, tool.kind) == (SpanKind.INTERNAL, SpanKind.CLIENT, SpanKind.INTERNAL)
    assert agent.attributes == {
        gen_ai_attributes.GEN_AI_OPERATION_NAME: "invoke_agent",
        gen_ai_attributes.GEN_AI_AGENT_ID: "support-bot",
        gen_ai_attributes.GEN_AI_AGENT_NAME: "support-bot",
        gen_ai_attributes.GEN_AI_CONVERSATION_ID: session.id,
        gen_ai_attributes.GEN_AI_PROVIDER_NAME: "scripted",
        gen_ai_attributes.GEN_AI_REQUEST_MODEL: "claude-sonnet-4",
        gen_ai_attributes.GEN_AI_RESPONSE_MODEL: "claude-sonnet-4",
        gen_ai_attributes.GEN_AI_USAGE_INPUT_TOKENS: 812,
        gen_ai_attributes.GEN_AI_USAGE_OUTPUT_TOKENS: 96,
        gen_ai_attributes.GEN_AI_RESPONSE_FINISH_REASONS: ("end_turn",),
    }
    assert (agent.start_time, agent.end_time) == (ns(run.started_at), ns(run.ended_at))
    started = next(e for e in events if e.type == "tool_call_started")
    completed = next(e for e in events if e.type == "tool_call_completed")
    assert (tool.start_time, tool.end_time) == (ns(started.timestamp), ns(completed.timestamp))
    assert tool.attributes == {
        gen_ai_attributes.GEN_AI_OPERATION_NAME: "execute_tool",
        gen_ai_attributes.GEN_AI_TOOL_NAME: "billing.list_invoices",
        gen_ai_attributes.GEN_AI_TOOL_CALL_ID: "call_1",
    }
    turn = next(e for e in events if e.type == "turn_completed")
    assert (chat.start_time, chat.end_time) == (agent.start_time, ns(started.timestamp))
    assert (answer.start_time, answer.end_time) == (ns(completed.timestamp), ns(turn.timestamp))
    assert chat.attributes is not None and answer.attributes is not None
    assert chat.attributes[gen_ai_attributes.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_call",)
    assert answer.attributes[gen_ai_attributes.GEN_AI_USAGE_INPUT_TOKENS] == 812
    assert gen_ai_attributes.GEN_AI_INPUT_MESSAGES not in chat.attributes
    assert gen_ai_attributes.GEN_AI_OUTPUT_MESSAGES not in answer.attributes
    assert agent.status.status_code is StatusCode.UNSET


async def test_contents_only_when_asked(captured: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exporter = captured
    async with await asm.open_store("memory://") as store:
        session, _ = await record_demo(store)
        await export_session(store, session.id, provider, capture_content=True)
    named = by_name(exporter.get_finished_spans())
    tool = named["execute_tool billing.list_invoices"].attributes or {}
    assert orjson.loads(str(tool[gen_ai_attributes.GEN_AI_TOOL_CALL_ARGUMENTS])) == {"month": 3}
    assert orjson.loads(str(tool[gen_ai_attributes.GEN_AI_TOOL_CALL_RESULT])) == {
        "invoices": ["INV-301", "INV-301-dup"]
    }
    chat = named["chat claude-sonnet-4"].attributes or {}
    prompt = {"role": "user", "parts": [{"type": "text", "content": "My March invoice was charged twice."}]}
    assert orjson.loads(str(chat[gen_ai_attributes.GEN_AI_INPUT_MESSAGES])) == [prompt]
    reply = orjson.loads(str(chat[gen_ai_attributes.GEN_AI_OUTPUT_MESSAGES]))
    assert reply[0]["role"] == "assistant" and "INV-301-dup" in reply[0]["parts"][0]["content"]


async def test_failures_set_error_type_and_status(
    captured: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = captured
    script = [
        ("run_started", {"model": "m1"}),
        ("tool_call_started", {"tool_call_id": "t1", "tool_name": "search"}),
        ("tool_call_failed", {"tool_call_id": "t1", "tool_name": "search", "error_code": "tool_timeout"}),
        ("tool_call_started", {"tool_call_id": "t2", "tool_name": "fetch"}),
        Fail(RuntimeError("provider exploded")),
    ]
    async with await asm.open_store("memory://") as store:
        manager = SessionManager(store)
        with pytest.raises(asm.RunFailed):
            await manager.run_once(ScriptedAdapter(script), "go", agent_id="a1")
        session = (await store.list_sessions()).items[0]
        await export_session(store, session.id, provider)
    named = by_name(exporter.get_finished_spans())
    failed_tool, unfinished, agent = (
        named["execute_tool search"],
        named["execute_tool fetch"],
        named["invoke_agent a1"],
    )
    assert (failed_tool.attributes or {})[error_attributes.ERROR_TYPE] == "tool_timeout"
    assert (unfinished.attributes or {})[error_attributes.ERROR_TYPE] == "unfinished"
    assert (agent.attributes or {})[error_attributes.ERROR_TYPE] == "provider_error"
    assert {s.status.status_code for s in (failed_tool, unfinished, agent)} == {StatusCode.ERROR}


async def test_a_session_without_runs_exports_nothing_and_says_so(
    captured: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = captured
    async with await asm.open_store("memory://") as store:
        session = await SessionManager(store).start_session("idle")
        report = await export_session(store, session.id, provider)
        with pytest.raises(asm.SessionNotFound):
            await export_session(store, "ses_missing", provider)
    assert (report.runs, report.spans) == (0, 0)
    assert report.message == f"session {session.id} has no runs; nothing exported"
    assert exporter.get_finished_spans() == ()


async def test_live_spans_are_the_replayed_ones(
    captured: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = captured
    async with await asm.open_store("memory://") as store:
        manager = SessionManager(store, telemetry=GenAITelemetry(provider))
        result = await manager.run_once(
            ScriptedAdapter(SCRIPT), "My March invoice was charged twice.", agent_id="bot"
        )
        live = exporter.get_finished_spans()
        exporter.clear()
        await export_session(store, result.session_id, provider)
        replayed = exporter.get_finished_spans()
    assert len(live) == 4
    assert shape(live) == shape(replayed)
    with pytest.raises(ValidationError):
        SessionManager(store, telemetry=object())  # type: ignore[arg-type]


class _Receiver(BaseHTTPRequestHandler):
    requests: list[ExportTraceServiceRequest]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        type(self).requests.append(request)
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[ExportTraceServiceRequest]]]:
    handler = type("Receiver", (_Receiver,), {"requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler.requests
    server.shutdown()
    server.server_close()


async def recorded(tmp_path: Path) -> tuple[str, str, str]:
    url = f"sqlite:///{tmp_path}/otel.db"
    async with await asm.open_store(url, migrate=True) as store:
        session, _ = await record_demo(store)
        idle = await SessionManager(store).start_session("idle")
    return url, session.id, idle.id


def asm_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ASM, *args], capture_output=True, text=True, timeout=60, check=False)


async def test_cli_export_reaches_an_otlp_receiver(
    tmp_path: Path, receiver: tuple[str, list[ExportTraceServiceRequest]]
) -> None:
    url, session_id, idle_id = await recorded(tmp_path)
    endpoint, requests = receiver
    done = asm_cli("--database-url", url, "otel", "export", "--endpoint", endpoint)
    assert done.returncode == 0, done.stderr
    assert f"session {session_id}: 1 run(s), 4 span(s)" in done.stdout
    assert f"session {idle_id} has no runs; nothing exported" in done.stdout
    spans = [
        span
        for request in requests
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    assert sorted(s.name for s in spans) == [
        "chat claude-sonnet-4",
        "chat claude-sonnet-4",
        "execute_tool billing.list_invoices",
        "invoke_agent support-bot",
    ]
    agent = next(s for s in spans if s.name.startswith("invoke_agent"))
    attributes = {a.key: a.value for a in agent.attributes}
    assert attributes[gen_ai_attributes.GEN_AI_CONVERSATION_ID].string_value == session_id
    assert attributes[gen_ai_attributes.GEN_AI_USAGE_INPUT_TOKENS].int_value == 812


async def test_cli_export_to_an_unreachable_endpoint_is_one_line(tmp_path: Path) -> None:
    url, session_id, _ = await recorded(tmp_path)
    async with await asm.open_store(url) as store:
        before = await store.get_events(session_id)
    done = asm_cli(
        "--database-url",
        url,
        "otel",
        "export",
        "--session",
        session_id,
        "--endpoint",
        "http://127.0.0.1:9",
        "--timeout",
        "1",
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "storage_connection_failed" in lines[0] and "127.0.0.1:9" in lines[0], (
        done.stderr
    )
    async with await asm.open_store(url) as store:
        assert await store.get_events(session_id) == before
    bad = asm_cli("--database-url", url, "otel", "export", "--endpoint", "ftp://x")
    assert bad.returncode == 1 and "validation_error" in bad.stderr


def test_the_readme_example_runs() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("\n## OpenTelemetry: sessions as GenAI traces\n", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    done = subprocess.run(
        [sys.executable, "-c", example], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert '"name": "invoke_agent bot"' in done.stdout
    assert done.stdout.strip().splitlines()[-1].endswith(": 1 run(s), 4 span(s)")
