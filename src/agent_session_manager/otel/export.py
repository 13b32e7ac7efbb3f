"""Replay stored sessions as GenAI spans, to any tracer provider or to an OTLP/HTTP endpoint.

The store is only read: an export that fails (an unreachable collector) loses nothing and can be
run again. Spans of a replayed run carry the run's own times, so a trace looks the same whether it
was emitted live (`GenAITelemetry`) or exported later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import TracerProvider as AnyTracerProvider

from ..core.errors import StorageConnectionFailed, ValidationError
from ..core.models import Run
from ..core.pagination import DEFAULT_PAGE_SIZE, all_items
from ..core.urls import redact_url
from ..sessions.base import SessionStore
from .spans import GenAITelemetry

__all__ = ["SessionExport", "export_session", "export_to_otlp"]


@dataclass(frozen=True)
class SessionExport:
    """What `export_session` sent: the session, how many runs and spans."""

    session_id: str
    runs: int
    spans: int

    @property
    def message(self) -> str:
        """One line for people: what was exported, or that the session had nothing to export."""
        if not self.runs:
            return f"session {self.session_id} has no runs; nothing exported"
        return f"session {self.session_id}: {self.runs} run(s), {self.spans} span(s)"


async def _runs(store: SessionStore, session_id: str) -> list[Run]:
    return await all_items(lambda cursor: store.list_runs(session_id, limit=DEFAULT_PAGE_SIZE, cursor=cursor))


async def export_session(
    store: SessionStore,
    session_id: str,
    tracer_provider: AnyTracerProvider | None = None,
    *,
    capture_content: bool = False,
) -> SessionExport:
    """Replay the stored session `session_id` as GenAI spans (`invoke_agent` per run, `chat` per
    model call, `execute_tool` per tool call; see `otel.spans`).

    Args:
        store: The session store to read (nothing is written).
        session_id: The session to export.
        tracer_provider: Where spans go; the global tracer provider when None.
        capture_content: Also record message contents and tool arguments/results (personal data).

    Returns:
        A `SessionExport` counting runs and spans; `runs == 0` means the session had nothing to export.

    Raises:
        SessionNotFound: There is no such session.

    Example:
        >>> report = await export_session(store, "ses_...", provider)   # doctest: +SKIP
        >>> print(report.message)                                       # doctest: +SKIP
    """
    session = await store.get_session(session_id)
    telemetry = GenAITelemetry(tracer_provider, capture_content=capture_content)
    runs = await _runs(store, session.id)
    spans = 0
    for run in runs:
        trace = telemetry.start(session, run)
        for event in await store.get_events(session.id, run_id=run.id):
            trace.feed(event)
        trace.finish(run)
        spans += trace.spans
    return SessionExport(session.id, len(runs), spans)


_EXPORTER_LOGGER = "opentelemetry.exporter.otlp.proto.http.trace_exporter"


def _drop(record: logging.LogRecord) -> bool:
    return False


class _Checked(SpanExporter):
    """An exporter that remembers whether every batch got through."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.failed = 0
        self.sent = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        if result is SpanExportResult.SUCCESS:
            self.sent += len(spans)
        else:
            self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


async def export_to_otlp(
    store: SessionStore,
    session_ids: Iterable[str],
    endpoint: str,
    *,
    capture_content: bool = False,
    send_timeout: float = 10.0,
    service_name: str = "agent-session-manager",
) -> list[SessionExport]:
    """Export sessions to an OTLP/HTTP collector (`http://host:4318`; `/v1/traces` is added).

    Args:
        store: The session store to read (nothing is written).
        session_ids: The sessions to export.
        endpoint: The collector's base URL, or its full `/v1/traces` URL.
        capture_content: Also send message contents and tool arguments/results.
        send_timeout: Seconds the exporter keeps trying one batch.
        service_name: The `service.name` resource attribute of the spans.

    Returns:
        One `SessionExport` per session, in order.

    Raises:
        StorageConnectionFailed: The collector could not be reached or refused the spans.
        ValidationError: `endpoint` is not an http(s) URL.

    Example:
        >>> await export_to_otlp(store, ["ses_..."], "http://127.0.0.1:4318")   # doctest: +SKIP
    """
    if not endpoint.startswith(("http://", "https://")):
        raise ValidationError(
            f"the OTLP endpoint must be an http(s) URL like http://127.0.0.1:4318, got {endpoint!r}",
            details={"field": "endpoint"},
        )
    url = endpoint if endpoint.rstrip("/").endswith("/v1/traces") else endpoint.rstrip("/") + "/v1/traces"
    exporter = _Checked(OTLPSpanExporter(endpoint=url, timeout=send_timeout))
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    reports: list[SessionExport] = []
    # The exporter logs each failed batch; the failure is reported once, below, as an error.
    quiet = logging.getLogger(_EXPORTER_LOGGER)
    quiet.addFilter(_drop)
    try:
        for session_id in session_ids:
            reports.append(await export_session(store, session_id, provider, capture_content=capture_content))
    finally:
        await asyncio.to_thread(provider.force_flush, int(send_timeout * 2000) + 1000)
        await asyncio.to_thread(provider.shutdown)
        quiet.removeFilter(_drop)
    if exporter.failed:
        where = redact_url(url)
        raise StorageConnectionFailed(
            f"could not send {exporter.failed} span(s) to the OTLP endpoint {where}; "
            "nothing in the store changed, export again when it is reachable",
            details={"endpoint": where, "failed_spans": exporter.failed, "sent_spans": exporter.sent},
        )
    return reports
