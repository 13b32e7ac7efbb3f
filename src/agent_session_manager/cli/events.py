"""`asm events list | tail`."""

from __future__ import annotations

from typing import Annotated

import typer

from ..sessions.base import check_count
from .common import (
    AsJson,
    Since,
    Until,
    console,
    event_row,
    open_sessions,
    print_json,
    print_json_line,
    run,
    say,
    time_range,
    timeline,
)

app = typer.Typer(help="Read and follow a session's event log.", no_args_is_help=True)

After = Annotated[int | None, typer.Option(help="Only events with a sequence number above this.")]
RunId = Annotated[str | None, typer.Option("--run", help="Only this run's events.")]
Types = Annotated[list[str] | None, typer.Option("--type", help="Only these event types (repeatable).")]


@app.command("list")
def list_events(
    ctx: typer.Context,
    session_id: str,
    after: After = None,
    before: Annotated[int | None, typer.Option(help="Only events below this sequence number.")] = None,
    since: Since = None,
    until: Until = None,
    run_id: RunId = None,
    types: Types = None,
    limit: Annotated[int | None, typer.Option(help="At most this many events (the oldest).")] = None,
    last: Annotated[
        int | None, typer.Option(help="Only the newest N matching events (with --before: the N before it).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """A session's events in order, with the filters of `get_events`.

    Example: `asm events list SESSION --last 20` (the newest 20, oldest first).
    """
    low, high = time_range(since, until)

    async def go() -> None:
        async with await open_sessions(ctx) as store:
            events = await store.get_events(
                session_id,
                after=after,
                before=before,
                since=low,
                until=high,
                run_id=run_id,
                types=types,
                limit=limit,
                last=last,
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
    check_count(last, "last")

    async def go() -> None:
        async with await open_sessions(ctx) as store:
            start = after
            if start is None:
                start = max(0, await store.get_latest_sequence(session_id) - last)
            async for event in store.subscribe(session_id, after=start, run_id=run_id, types=types):
                if as_json:
                    print_json_line(event.to_dict())
                else:
                    say("  ".join(event_row(event)))

    run(go())
