"""`asm demo`: the main job of the README, then the commands that show what it stored.

The suggested commands are printed so that they work as printed from the same directory: the program
as it was invoked (`asm` when that is what `PATH` finds, else its path), plus the global options that
differ from what the environment already gives (with secrets masked: a masked URL must be typed in again).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..demo import record_full_demo
from ..open import DEFAULT_SNAPSHOTS_URL, default_artifacts_url, default_database_url
from .common import (
    Settings,
    console,
    open_composite,
    open_snapshots,
    run,
    run_cost,
    say,
    settings,
    shown,
    size,
    timeline,
    usd,
)

#: Where the demo keeps its workspace, under the current directory like the other embedded defaults.
DEFAULT_WORKSPACES_DIR = Path(".asm/workspaces")


def demo(
    ctx: typer.Context,
    workspaces_url: Annotated[
        str | None,
        typer.Option(
            "--workspaces-url",
            envvar="ASM_WORKSPACES_URL",
            show_envvar=True,
            help="Where the demo's workspace lives, kept after the demo (default: ./.asm/workspaces).",
        ),
    ] = None,
) -> None:
    """Record a scripted agent session (with a workspace file, an artifact and a snapshot), print it."""
    chosen = settings(ctx)
    workspaces = workspaces_url or DEFAULT_WORKSPACES_DIR.resolve().as_uri()

    async def go() -> None:
        async with await open_composite(ctx, migrate=True) as store, await open_snapshots(ctx) as snapshots:
            record = await record_full_demo(store, snapshots, workspaces)
            run_id = record.artifact.run_id
            costs = [run_cost(r) for r in (await store.list_runs(record.session.id)).items]
        session, sid = record.session, record.session.id
        say(
            f"session {sid}  agent={session.agent_id}  status={session.status.value}  "
            f"events={len(record.events)}  cost USD {usd(sum(c for c in costs if c is not None))}  "
            f"stored in {shown(chosen.database_url)}"
        )
        console.print(timeline(record.events))
        say(f"workspace file  {record.workspace_file} (in {shown(workspaces)})")
        say(
            f"artifact        {record.artifact.key} ({size(record.artifact.byte_size)}, "
            f"{record.artifact.content_type}, run {run_id}) in {shown(chosen.artifacts_url)}"
        )
        say(
            f"snapshot        {record.snapshot.scope} {record.snapshot.scope_id}: latest and history "
            f"{record.snapshot_id} in {shown(chosen.snapshots_url)}"
        )
        asm = " ".join([_program(), *_global_options(chosen)])
        say("\nLook at what was stored:")
        scope = f"{sid} {record.snapshot.scope_id}"
        for command, comment in (
            ("sessions list --tag demo", ""),
            (f"sessions show {sid}", ""),
            (f"events list {sid} --type tool_call_completed", ""),
            (f"events tail {sid}", "# follows the session live; Ctrl-C ends it"),
            ("usage", ""),
            ("cost", ""),
            (f"artifacts ls demo/{sid}/", ""),
            (f"artifacts get {shlex.quote(record.artifact.key)}", ""),
            (f"snapshots ls {scope}", ""),
            (f"snapshots show {scope}", ""),
            (f"export {sid} --output {sid}.jsonl", ""),
            ("doctor", ""),
            ("ui", "# browse it in a web browser, live (extra [ui]); Ctrl-C stops it"),
        ):
            say(f"  {asm} {command}" + (f"   {comment}" if comment else ""))

    run(go())


def _program() -> str:
    """How to run this program again from the current directory."""
    me = Path(sys.argv[0])
    found = shutil.which("asm")
    if not me.is_file() or (found is not None and os.path.samefile(found, me)):
        return "asm"
    try:
        path = str(me.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        path = str(me.resolve())
    return shlex.quote(path if "/" in path else f"./{path}")


def _global_options(chosen: Settings) -> list[str]:
    """The global options whose value differs from what the environment (or the default) gives."""
    options: list[str] = []
    for flag, value, default in (
        ("--database-url", chosen.database_url, default_database_url()),
        ("--artifacts-url", chosen.artifacts_url, default_artifacts_url()),
        (
            "--snapshots-url",
            chosen.snapshots_url,
            os.environ.get("ASM_SNAPSHOTS_URL") or DEFAULT_SNAPSHOTS_URL,
        ),
    ):
        if value != default:
            options += [flag, shlex.quote(shown(value))]
    return options
