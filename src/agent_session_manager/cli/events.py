"""`asm events list | tail`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from .common import console, event_row, open_sessions, print_json, print_json_line, run, timeline

app = typer.Typer(help="Read and follow a session's event log.", no_args_is_help=True)

After = Annotated[int | None, typer.Option(help="Only events with a sequence number above this.")]
RunId = Annotated[str | None, typer.Option("--run", help="Only this run's events.")]
Types = Annotated[list[str] | None, typer.Option("--type", help="Only these event types (repeatable).")]


def _aware(value: datetime | None) -> datetime | None:
    """Command-line times without a zone are UTC (the store rejects naive datetimes)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@app.command("list")
def list_events(
    ctx: typer.Context,
    session_id: str,
    after: After = None,
    before: Annotated[int | None, typer.Option(help="Only events below this sequence number.")] = None,
    since: Annotated[datetime | None, typer.Option(help="Only events at or after this time (UTC).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Only events at or before this time (UTC).")] = None,
    run_id: RunId = None,
    types: Types = None,
    limit: Annotated[int | None, typer.Option(help="At most this many events.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts.")] = False,
) -> None:
    """A session's events in order, with the filters of `get_events`."""

    async def go() -> None:
        async with await open_sessions(ctx) as store:
            events = await store.get_events(
                session_id,
                after=after,
                before=before,
                since=_aware(since),
                until=_aware(until),
                run_id=run_id,
                types=types,
                limit=limit,
            )
        if as_json:
            print_json([e.to_dict() for e in events])
        else:
            console.print(timeline(events, title=session_id))

    run(go())


@app.command("tail")
def tail(
    ctx: typer.Context,
    session_id: str,
    after: After = None,
    last: Annotated[int, typer.Option(help="Without --after: start with the last N events.")] = 10,
    run_id: RunId = None,
    types: Types = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Follow a session live (also events written by other processes) until interrupted."""

    async def go() -> None:
        async with await open_sessions(ctx) as store:
            start = after
            if start is None:
                start = max(0, await store.get_latest_sequence(session_id) - last)
            async for event in store.subscribe(session_id, after=start, run_id=run_id, types=types):
                if as_json:
                    print_json_line(event.to_dict())
                else:
                    console.print("  ".join(event_row(event)), highlight=False, soft_wrap=True)

    run(go())
