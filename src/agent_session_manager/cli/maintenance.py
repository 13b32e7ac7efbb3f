"""`asm maintenance run --policy FILE|JSON [--dry-run]`: apply a retention policy, then print the report.

The policy is a JSON object of `RetentionPolicy` fields (`maintenance.policy` says what each does), given
inline or as a file. `archive_before_prune: true` archives pruned events to the `--artifacts-url` store
(JSON Lines under `archive_prefix`). Maintenance runs on both stores at once, so removing an artifact
record also removes its blob. A step that fails is reported (one `error:` line each on stderr) and the
exit status is 1; the steps after it still run.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..composite import CompositeSessionStore
from ..maintenance import MaintenanceProgress, MaintenanceReport, RetentionPolicy, maintenance_api
from ..maintenance.base import STEPS
from .common import (
    AsJson,
    console,
    error_line,
    errors,
    json_object,
    new_table,
    open_composite,
    print_json,
    run,
    say,
)

app = typer.Typer(help="Retention and repair of the stores.", no_args_is_help=True)

#: The report's counters, in the order of the steps, with what they count.
REPORT_ROWS = (
    ("sessions_soft_deleted", "sessions soft-deleted"),
    ("sessions_hard_deleted", "sessions deleted for good"),
    ("events_pruned", "events pruned"),
    ("events_archived", "events archived before pruning"),
    ("artifacts_cleaned", "orphaned artifact records removed"),
    ("blobs_deleted", "artifact blobs deleted"),
    ("orphaned_sequences_cleaned", "orphaned sequence counters removed"),
    ("states_expired", "expired state documents deleted"),
)


@app.command("run")
def run_policy(
    ctx: typer.Context,
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            metavar="FILE|JSON",
            help='RetentionPolicy fields as JSON, inline or in a file: {"max_events_per_session": 10000}.',
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be done; change nothing.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Apply a retention policy: expire, delete, prune, clean orphans; then print the report."""
    fields = json_object(policy, "--policy", inline=True)

    async def go() -> MaintenanceReport:
        async with await open_composite(ctx) as store:
            retention = policy_for(fields, store)
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("step {task.completed:.0f}/{task.total:.0f}"),
                TimeElapsedColumn(),
                console=errors,
                transient=True,
            ) as progress:
                task = progress.add_task("dry run" if dry_run else "maintenance", total=len(STEPS))

                def show(at: MaintenanceProgress) -> None:
                    done = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in at.counts.items() if v)
                    label = f"{'dry run: ' if dry_run else ''}{at.step.replace('_', ' ')}"
                    progress.update(
                        task, completed=at.step_number - 1, description=f"{label}  {done}".rstrip()
                    )

                report = await maintenance_api(store).execute(retention, dry_run=dry_run, on_progress=show)
                progress.update(task, completed=len(STEPS))
                return report

    report = run(go())
    for failure in report.errors:
        error_line(failure.code, f"step {failure.step}: {failure.message}")
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        console.print(report_table(report))
        say(f"{'dry run, nothing changed' if dry_run else 'done'} in {report.duration_ms:.0f} ms")
    if report.errors:
        raise typer.Exit(1)


def policy_for(fields: dict[str, Any], store: CompositeSessionStore) -> RetentionPolicy:
    """The `RetentionPolicy` of a JSON object of its fields; `"archive_before_prune": true` archives to
    the composite store's artifact store (`validation_error` for a bad field)."""
    options: dict[str, Any] = dict(fields)
    if options.get("archive_before_prune") is True:
        options["archive_store"] = store.artifacts
    return RetentionPolicy(**options)


def report_table(report: MaintenanceReport) -> Table:
    title = "maintenance report (dry run: would be)" if report.dry_run else "maintenance report"
    table = new_table(title, "what", "count", numeric={"count"})
    for field, label in REPORT_ROWS:
        table.add_row(label, str(getattr(report, field)))
    for failure in report.errors:
        table.add_row(f"step {failure.step} failed", f"[{failure.code}]")
    return table
