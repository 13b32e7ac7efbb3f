"""`asm sessions list | show | delete`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..core.errors import ValidationError
from .common import console, open_sessions, print_json, run, runs_table, sessions_table, timeline

app = typer.Typer(help="List, show and delete sessions.", no_args_is_help=True)


@app.command("list")
def list_sessions(
    ctx: typer.Context,
    agent: Annotated[str | None, typer.Option(help="Only this agent's sessions.")] = None,
    status: Annotated[list[str] | None, typer.Option(help="Only these statuses (repeatable).")] = None,
    limit: Annotated[int, typer.Option(help="Page size (1-1000).")] = 50,
    cursor: Annotated[str | None, typer.Option(help="The cursor printed by the previous page.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts.")] = False,
) -> None:
    """Sessions, oldest first, one page at a time."""

    async def go() -> None:
        async with await open_sessions(ctx) as store:
            page = await store.list_sessions(agent_id=agent, status=status, limit=limit, cursor=cursor)
        if as_json:
            print_json({"sessions": [s.to_dict() for s in page], "next_cursor": page.next_cursor})
            return
        console.print(sessions_table(page.items))
        if page.next_cursor:
            console.print(f"next page: --cursor {page.next_cursor}", highlight=False)

    run(go())


@app.command("show")
def show(
    ctx: typer.Context,
    session_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts.")] = False,
) -> None:
    """A session with its runs (token usage, cost) and its event timeline."""

    async def go() -> None:
        async with await open_sessions(ctx) as store:
            session = await store.get_session(session_id)
            runs = []
            cursor = None
            while True:
                page = await store.list_runs(session_id, limit=1000, cursor=cursor)
                runs.extend(page.items)
                if (cursor := page.next_cursor) is None:
                    break
            events = await store.get_events(session_id)
        if as_json:
            print_json(
                {
                    "session": session.to_dict(),
                    "runs": [r.to_dict() for r in runs],
                    "events": [e.to_dict() for e in events],
                }
            )
            return
        console.print(
            f"[bold]{session.id}[/bold]  agent={session.agent_id}  status={session.status.value}  "
            f"tags={','.join(session.tags) or '-'}  created={session.created_at.isoformat()}"
        )
        if session.metadata:
            console.print(f"metadata: {session.metadata}", highlight=False)
        console.print(runs_table(runs))
        console.print(timeline(events))

    run(go())


@app.command("delete")
def delete(
    ctx: typer.Context,
    session_id: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a session with its runs, events and artifact records (cannot be undone)."""
    if not yes and not (
        sys.stdin.isatty() and typer.confirm(f"Delete session {session_id} and everything it owns?")
    ):
        raise ValidationError("not confirmed; nothing was deleted (pass --yes to skip the question)")

    async def go() -> None:
        async with await open_sessions(ctx) as store:
            await store.get_session(session_id)
            await store.delete_session(session_id)
        console.print(f"deleted {session_id}")

    run(go())
