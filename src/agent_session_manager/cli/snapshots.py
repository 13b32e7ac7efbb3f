"""`asm snapshots ls | show`: an agent's saved states in the `--snapshots-url` storage (Strands layout).

A snapshot location is the storage's own: `SESSION_ID SCOPE_ID` plus `--scope` (`agent`, the default, or
`multiAgent`); Strands names the scope id after the agent (or orchestrator). The snapshot storage has
its own URL (`--snapshots-url`, `ASM_SNAPSHOTS_URL`, default `file://./.asm/snapshots`) because a Strands
agent may share it: it is a directory or bucket of JSON documents, not the artifact store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

import typer
from rich.json import JSON

from ..core.errors import NotFound
from ..snapshots import Snapshot, SnapshotLocation
from .common import AsJson, console, new_table, open_snapshots, print_json, run, say, when

app = typer.Typer(help="Look at agent snapshots (latest and history).", no_args_is_help=True)

SessionArg = Annotated[str, typer.Argument(metavar="SESSION_ID", help="The session the snapshots belong to.")]
ScopeIdArg = Annotated[str, typer.Argument(metavar="SCOPE_ID", help="The agent (or orchestrator) id.")]


class ScopeKind(StrEnum):
    AGENT = "agent"
    MULTI_AGENT = "multiAgent"


ScopeOpt = Annotated[ScopeKind, typer.Option("--scope", help="The kind of scope.")]


def _location(session_id: str, scope: ScopeKind, scope_id: str) -> SnapshotLocation:
    return SnapshotLocation(session_id=session_id, scope=scope.value, scope_id=scope_id)


def _created(snapshot_id: str) -> datetime:
    """When a history entry was made: the millisecond timestamp in its UUIDv7 id."""
    return datetime.fromtimestamp((UUID(snapshot_id).int >> 80) / 1000, UTC)


@app.command("ls")
def ls(
    ctx: typer.Context,
    session_id: SessionArg,
    scope_id: ScopeIdArg,
    scope: ScopeOpt = ScopeKind.AGENT,
    limit: Annotated[int | None, typer.Option(help="At most this many history ids.")] = None,
    start_after: Annotated[str | None, typer.Option(help="Only history ids after this one (paging).")] = None,
    as_json: AsJson = False,
) -> None:
    """The latest snapshot and the history ids (oldest first) of one location, with the manifest."""
    location = _location(session_id, scope, scope_id)

    async def go() -> None:
        async with await open_snapshots(ctx) as storage:
            latest = await storage.load_snapshot(location)
            ids = await storage.list_snapshot_ids(location, limit=limit, start_after=start_after)
            manifest = await storage.load_manifest(location)
        if as_json:
            print_json(
                {
                    "location": {"session_id": session_id, "scope": location.scope, "scope_id": scope_id},
                    "latest": None if latest is None else {"created_at": latest.created_at.isoformat()},
                    "history": [{"id": i, "created_at": _created(i).isoformat()} for i in ids],
                    "manifest": manifest.to_wire(),
                }
            )
            return
        table = new_table("snapshots", "snapshot", "created (UTC)", caption=location.directory)
        if latest is not None:
            table.add_row("latest", when(latest.created_at))
        for snapshot_id in ids:
            table.add_row(snapshot_id, when(_created(snapshot_id)))
        console.print(table)
        if latest is None and not ids:
            say("no snapshots at this location")

    run(go())


@app.command("show")
def show(
    ctx: typer.Context,
    session_id: SessionArg,
    scope_id: ScopeIdArg,
    snapshot_id: Annotated[
        str, typer.Argument(metavar="[SNAPSHOT_ID]", help="A history id, or latest (the default).")
    ] = "latest",
    scope: ScopeOpt = ScopeKind.AGENT,
    as_json: AsJson = False,
) -> None:
    """One snapshot document: the latest, or a history entry."""
    location = _location(session_id, scope, scope_id)

    async def go() -> Snapshot:
        async with await open_snapshots(ctx) as storage:
            snapshot = await storage.load_snapshot(location, None if snapshot_id == "latest" else snapshot_id)
        if snapshot is None:
            raise NotFound(
                f"no snapshot {snapshot_id!r} at {location.directory}",
                details={"location": location.directory, "snapshot_id": snapshot_id},
            )
        return snapshot

    snapshot = run(go())
    document = snapshot.to_json().decode()
    if as_json:
        say(document)
        return
    say(f"{location.directory} {snapshot_id}  created {when(snapshot.created_at)}")
    console.print(JSON(document))
