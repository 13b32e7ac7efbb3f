"""What every `asm` command shares: global settings, opening stores, JSON and table output."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
import typer
from rich.console import Console
from rich.table import Table

from ..core.models import Event, Run, Session
from ..demo import summarize
from ..open import default_artifacts_url, default_database_url, open_store
from ..sessions.base import SessionStore

T = TypeVar("T")

console = Console()
errors = Console(stderr=True)


@dataclass
class Settings:
    """The global options: where the stores are."""

    database_url: str
    artifacts_url: str


def settings(ctx: typer.Context) -> Settings:
    obj = ctx.find_root().obj
    if isinstance(obj, Settings):
        return obj
    return Settings(default_database_url(), default_artifacts_url())


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one command's coroutine; Ctrl-C ends it quietly with status 130."""
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        sys.exit(130)


async def open_sessions(ctx: typer.Context, *, migrate: bool = False) -> SessionStore:
    """The session store named by `--database-url` (or the environment, or the embedded default)."""
    return await open_store(settings(ctx).database_url, migrate=migrate)


def print_json(value: Any) -> None:
    """One JSON document on stdout (for `--json`)."""
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


def print_json_line(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value).decode() + "\n")
    sys.stdout.flush()


def timeline(events: list[Event], title: str = "timeline") -> Table:
    table = Table(title=title)
    table.add_column("seq", justify="right", style="bold")
    table.add_column("time (UTC)")
    table.add_column("type", style="cyan")
    table.add_column("run")
    table.add_column("summary")
    for event in events:
        table.add_row(*event_row(event))
    return table


def event_row(event: Event) -> tuple[str, str, str, str, str]:
    return (
        str(event.sequence_number),
        event.timestamp.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        event.type.value,
        (event.run_id or "")[-8:],
        summarize(event),
    )


def sessions_table(sessions: list[Session]) -> Table:
    table = Table(title="sessions")
    for column in ("id", "agent", "status", "tags", "created (UTC)", "updated (UTC)"):
        table.add_column(column)
    for s in sessions:
        table.add_row(
            s.id,
            s.agent_id,
            s.status.value,
            ",".join(s.tags),
            s.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            s.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    return table


def runs_table(runs: list[Run]) -> Table:
    table = Table(title="runs")
    for column in ("id", "status", "provider", "tokens in/out/total", "cost USD", "started", "ended"):
        table.add_column(column)
    for r in runs:
        usage = r.token_usage
        tokens = "/".join(str(usage.get(k, "-")) for k in ("input_tokens", "output_tokens", "total_tokens"))
        table.add_row(
            r.id,
            r.status.value,
            r.provider or "",
            tokens,
            "" if r.cost_usd is None else f"{r.cost_usd:.6f}",
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.ended_at.strftime("%Y-%m-%d %H:%M:%S") if r.ended_at else "",
        )
    return table
