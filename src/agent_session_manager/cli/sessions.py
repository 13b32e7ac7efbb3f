"""`asm sessions list | show | delete`.

`list` runs on the query API (`query_api(store).search_sessions`), so every filter is applied by the
database and pages come from keyset cursors: a cursor belongs to its filters and order, and reusing it
with other ones is `invalid_cursor`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from ..artifacts.registry import ArtifactRegistry
from ..core.errors import ValidationError
from ..core.models import ArtifactRecord
from ..core.pagination import MAX_PAGE_SIZE, all_items
from ..query import SessionOrder, query_api
from .common import (
    AsJson,
    Since,
    Until,
    console,
    new_table,
    open_composite,
    open_sessions,
    print_json,
    run,
    runs_table,
    say,
    sessions_table,
    size,
    time_range,
    timeline,
    usd,
    when,
)

app = typer.Typer(help="List, show and delete sessions.", no_args_is_help=True)


@app.command("list")
def list_sessions(
    ctx: typer.Context,
    agent: Annotated[str | None, typer.Option(help="Only this agent's sessions.")] = None,
    user: Annotated[str | None, typer.Option(help="Only the sessions of this user (their user_id).")] = None,
    status: Annotated[list[str] | None, typer.Option(help="Only these statuses (repeatable).")] = None,
    tag: Annotated[
        list[str] | None, typer.Option(help="Only sessions carrying this tag (repeatable: all of them).")
    ] = None,
    provider: Annotated[
        list[str] | None, typer.Option(help="Only sessions with a run on this provider (repeatable).")
    ] = None,
    since: Since = None,
    until: Until = None,
    order: Annotated[
        SessionOrder, typer.Option(help="Sort order (the cursor belongs to it).")
    ] = SessionOrder.UPDATED_AT_DESC,
    limit: Annotated[int, typer.Option(help="Page size (1-1000).")] = 50,
    cursor: Annotated[str | None, typer.Option(help="The cursor printed by the previous page.")] = None,
    as_json: AsJson = False,
) -> None:
    """Sessions matching every filter (--since/--until: creation time), most recently updated first."""
    low, high = time_range(since, until)

    async def go() -> None:
        async with await open_sessions(ctx) as store:
            page = await query_api(store).search_sessions(
                agent_id=agent,
                user_id=user,
                status=status,
                provider=provider,
                tags=tag,
                created_after=low,
                created_before=high,
                order_by=order,
                limit=limit,
                cursor=cursor,
            )
        if as_json:
            print_json({"sessions": [s.to_dict() for s in page], "next_cursor": page.next_cursor})
            return
        console.print(sessions_table(page.items))
        if page.next_cursor:
            say(f"next page: --cursor {page.next_cursor}")

    run(go())


@app.command("show")
def show(
    ctx: typer.Context,
    session_id: str,
    last: Annotated[
        int,
        typer.Option(
            "--events", min=0, help="Show the last N events of the timeline (asm events list: all)."
        ),
    ] = 100,
    as_json: AsJson = False,
) -> None:
    """A session with its totals, its runs (token usage, cost), its artifacts and its latest events.

    A run's cost is the one stored with it, else its token usage priced with the built-in table.
    """

    async def go() -> None:
        async with await open_sessions(ctx) as store:
            query = query_api(store)
            session = await store.get_session(session_id)
            stats = await query.get_session_stats(session_id)
            cost = await query.get_cost_summary(session_id=session_id)
            runs = await all_items(lambda c: store.list_runs(session_id, limit=MAX_PAGE_SIZE, cursor=c))
            artifacts: list[ArtifactRecord] = []
            if isinstance(store, ArtifactRegistry):
                registry = store
                artifacts = await all_items(
                    lambda c: registry.list_artifact_records(session_id, limit=MAX_PAGE_SIZE, cursor=c)
                )
            events = await store.get_events(session_id, last=last) if last else []
        if as_json:
            print_json(
                {
                    "session": session.to_dict(),
                    "stats": stats.model_dump(mode="json"),
                    "cost": cost.model_dump(mode="json"),
                    "runs": [r.to_dict() for r in runs],
                    "artifacts": [a.to_dict() for a in artifacts],
                    "events": [e.to_dict() for e in events],
                }
            )
            return
        console.print(
            f"[bold]{session.id}[/bold]  agent={session.agent_id}  status={session.status.value}  "
            f"tags={','.join(session.tags) or '-'}  created={session.created_at.isoformat()}",
            highlight=False,
        )
        if session.metadata:
            say(f"metadata: {session.metadata}")
        tokens = stats.token_totals
        unpriced = f" ({cost.unmapped_runs} run(s) not priced)" if cost.unmapped_runs else ""
        say(
            f"{stats.event_count} events, {stats.run_count} runs, tokens in/out/total "
            f"{tokens.input_tokens}/{tokens.output_tokens}/{tokens.total_tokens}, "
            f"cost USD {usd(cost.total_cost_usd)}{unpriced}, "
            f"{stats.artifact_count} artifacts ({size(stats.artifact_bytes)})"
        )
        console.print(runs_table(runs))
        if artifacts:
            console.print(_artifacts_table(artifacts))
        console.print(timeline(events))
        if len(events) < stats.event_count:
            say(
                f"the last {len(events)} of {stats.event_count} events; "
                f"all of them: asm events list {session.id}"
            )

    run(go())


def _artifacts_table(records: list[ArtifactRecord]) -> Table:
    table = new_table("artifacts", "key", "size", "content type", "run", "created (UTC)", numeric={"size"})
    for record in records:
        table.add_row(
            record.key,
            size(record.byte_size),
            record.content_type or "",
            (record.run_id or "")[-8:],
            when(record.created_at),
        )
    return table


@app.command("delete")
def delete(
    ctx: typer.Context,
    session_id: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a session with its runs, events, artifact records and their blobs in the --artifacts-url
    store (cannot be undone)."""
    if not yes and not (
        sys.stdin.isatty() and typer.confirm(f"Delete session {session_id} and everything it owns?")
    ):
        raise ValidationError("not confirmed; nothing was deleted (pass --yes to skip the question)")

    async def go() -> None:
        async with await open_composite(ctx) as store:
            await store.get_session(session_id)
            await store.delete_session(session_id)
        say(f"deleted {session_id}")

    run(go())
