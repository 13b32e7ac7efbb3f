"""`asm`: look at stored agent sessions and look after the database without writing code."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..core.errors import ASMError
from ..core.models import Event
from ..demo import record_demo, summarize
from ..open import open_store

app = typer.Typer(
    name="asm",
    help="agent-session-manager: durable memory for AI agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)

DatabaseURL = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="ASM_DATABASE_URL",
        help="Session store URL (default: the embedded SQLite database ./.asm/asm.db).",
    ),
]


@app.callback()
def root() -> None:
    """agent-session-manager: durable memory for AI agents."""


def timeline(events: list[Event]) -> Table:
    table = Table(title="timeline", show_lines=False)
    table.add_column("seq", justify="right", style="bold")
    table.add_column("time (UTC)")
    table.add_column("type", style="cyan")
    table.add_column("summary")
    for event in events:
        table.add_row(
            str(event.sequence_number),
            event.timestamp.strftime("%H:%M:%S.%f")[:-3],
            event.type.value,
            summarize(event),
        )
    return table


@app.command()
def demo(database_url: DatabaseURL = None) -> None:
    """Record a scripted agent conversation, read it back and print its timeline."""

    async def run() -> None:
        async with await open_store(database_url or "memory://") as store:
            session, events = await record_demo(store)
        console.print(
            f"[bold]session[/bold] {session.id}  agent={session.agent_id}  "
            f"status={session.status.value}  events={len(events)}"
        )
        console.print(timeline(events))

    asyncio.run(run())


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
        errors.print(f"error: [{exc.code}] {exc.message}", markup=False, highlight=False)
        sys.exit(1)
