"""`asm otel export`: send stored sessions to an OpenTelemetry collector as GenAI spans (OTLP/HTTP).

Sessions are chosen by `--session` (repeatable), else every session updated within `--since`/`--until`
(all sessions when neither is given). The store is only read, so an export that fails (the collector is
down) loses nothing: run it again. Needs the `[otel]` extra.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

import typer

from ..core.errors import require_extra
from ..core.pagination import pages
from ..sessions.base import SessionStore
from .common import AsJson, Since, Until, open_sessions, print_json, run, say, shown, time_range

app = typer.Typer(help="OpenTelemetry: export sessions as GenAI traces.", no_args_is_help=True)


async def _updated(store: SessionStore, since: datetime | None, until: datetime | None) -> AsyncIterator[str]:
    """Ids of the sessions last updated within [since, until], oldest first."""
    async for page in pages(lambda cursor: store.list_sessions(cursor=cursor)):
        for session in page:
            if (since is None or session.updated_at >= since) and (
                until is None or session.updated_at <= until
            ):
                yield session.id


@app.command("export")
def export(
    ctx: typer.Context,
    endpoint: Annotated[
        str,
        typer.Option(help="The collector's OTLP/HTTP URL, e.g. http://127.0.0.1:4318 (/v1/traces is added)."),
    ],
    sessions: Annotated[
        list[str] | None, typer.Option("--session", help="This session (repeatable).")
    ] = None,
    since: Since = None,
    until: Until = None,
    capture_content: Annotated[
        bool, typer.Option(help="Also send message contents and tool arguments/results (personal data).")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to keep trying to deliver one batch.")] = 10.0,
    as_json: AsJson = False,
) -> None:
    """Replay sessions as `invoke_agent` / `chat` / `execute_tool` spans and send them to ENDPOINT."""
    require_extra("otel", "opentelemetry.sdk")
    from ..otel import export_to_otlp

    low, high = time_range(since, until)

    async def go() -> None:
        async with await open_sessions(ctx) as store:
            chosen = list(sessions or [])
            if not chosen:
                chosen = [session_id async for session_id in _updated(store, low, high)]
            reports = await export_to_otlp(
                store, chosen, endpoint, capture_content=capture_content, send_timeout=timeout
            )
        if as_json:
            print_json([{"session_id": r.session_id, "runs": r.runs, "spans": r.spans} for r in reports])
            return
        for report in reports:
            say(report.message)
        if not reports:
            say("no sessions matched; nothing exported")
        else:
            say(f"sent {sum(r.spans for r in reports)} span(s) to {shown(endpoint)}")

    run(go())
