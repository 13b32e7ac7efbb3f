"""`asm`: look at stored agent sessions, follow them live and look after the database, without code."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..core.errors import ASMError
from ..core.urls import redact_url
from ..demo import record_demo
from ..open import default_artifacts_url, default_database_url
from . import db, events, sessions
from .common import Settings, console, errors, open_sessions, run, settings, timeline

app = typer.Typer(
    name="asm",
    help="agent-session-manager: durable memory for AI agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(sessions.app, name="sessions")
app.add_typer(events.app, name="events")
app.add_typer(db.app, name="db")


@app.callback()
def root(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="ASM_DATABASE_URL",
            show_envvar=True,
            help="Session store URL (default: sqlite:///./.asm/asm.db).",
        ),
    ] = None,
    artifacts_url: Annotated[
        str | None,
        typer.Option(
            "--artifacts-url",
            envvar="ASM_ARTIFACTS_URL",
            show_envvar=True,
            help="Artifact store URL (default: file://./.asm/artifacts).",
        ),
    ] = None,
) -> None:
    """agent-session-manager: durable memory for AI agents. Add --debug for tracebacks."""
    ctx.obj = Settings(
        database_url=database_url or default_database_url(),
        artifacts_url=artifacts_url or default_artifacts_url(),
    )


@app.command()
def demo(ctx: typer.Context) -> None:
    """Record a scripted agent conversation, read it back and print its timeline."""

    async def go() -> None:
        async with await open_sessions(ctx, migrate=True) as store:
            session, events = await record_demo(store)
        console.print(
            f"[bold]session[/bold] {session.id}  agent={session.agent_id}  "
            f"status={session.status.value}  events={len(events)}  "
            f"stored in {redact_url(settings(ctx).database_url)}",
            highlight=False,
        )
        console.print(timeline(events))
        console.print("\nLook at what was stored:", style="bold")
        for command in (
            "asm sessions list",
            f"asm sessions show {session.id}",
            f"asm events list {session.id} --type tool_call_completed",
            f"asm events tail {session.id}",
        ):
            console.print(f"  .venv/bin/{command}", highlight=False)

    run(go())


def main() -> None:
    """Entry point: one clear line with the error code on failure, a traceback only with --debug."""
    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    try:
        app()
    except ASMError as exc:
        if debug:
            raise
        errors.print(f"error: [{exc.code}] {exc.message}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
