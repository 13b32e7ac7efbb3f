"""OpenTelemetry export of agent sessions, in the GenAI semantic conventions (extra `[otel]`).

Observability stacks (Jaeger, Tempo, Langfuse, Phoenix, Datadog) expect agent runs, model calls and
tool calls as GenAI spans. Two ways to get them from the library:

* **Replay** what is stored, any time later: `await export_session(store, session_id, tracer_provider)`,
  or `await export_to_otlp(store, session_ids, "http://127.0.0.1:4318")`, or `asm otel export`.
* **Live**, as each run happens: `SessionManager(store, telemetry=GenAITelemetry(tracer_provider))`.

Both build the spans with `RunSpans` (`otel.spans`, where the mapping is described), so they emit the
same spans. Message contents are left out unless `capture_content=True`.
"""

from ..core.errors import require_extra

require_extra("otel", "opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http")

from .export import SessionExport, export_session, export_to_otlp  # noqa: E402
from .spans import GenAITelemetry, RunSpans  # noqa: E402

__all__ = ["GenAITelemetry", "RunSpans", "SessionExport", "export_session", "export_to_otlp"]
