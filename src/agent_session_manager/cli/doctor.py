"""`asm doctor`: is everything reachable and consistent? One line per finding; exit 1 if any is not ok.

Checks, in order: the session store answers (`--database-url`), its schema is at the newest revision
this version knows (SQL stores), the maintenance health check finds no inconsistency (each issue is one
finding), and the artifact store answers a listing (`--artifacts-url`). A check that cannot run because an
earlier one failed is reported as skipped. Nothing is created or changed.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import asdict, dataclass
from typing import Literal, TypeVar

import typer

from ..core.errors import ASMError
from ..core.urls import scheme_of
from ..maintenance import maintenance_api
from ..open import open_artifact_store, open_store
from ..sessions.sql import migrations
from .common import AsJson, print_json, run, say, settings, shown

T = TypeVar("T")
Status = Literal["ok", "fail", "skip"]
SQL_SCHEMES = ("sqlite", "postgresql", "postgres")


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    message: str
    code: str | None = None


def doctor(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Check connectivity, schema revision and consistency of the stores; one line per finding."""
    chosen = settings(ctx)
    findings = run(_checks(chosen.database_url, chosen.artifacts_url))
    healthy = all(f.status == "ok" for f in findings)
    if as_json:
        print_json({"ok": healthy, "findings": [asdict(f) for f in findings]})
    else:
        for f in findings:
            code = f" [{f.code}]" if f.code else ""
            say(f"{f.status.upper():<4}  {f.check:<9} {f.message}{code}")
    if not healthy:
        raise typer.Exit(1)


async def _attempt(check: str, call: Awaitable[T], findings: list[Finding]) -> T | None:
    """`call`'s result, or None after recording its `ASMError` as a failed finding."""
    try:
        return await call
    except ASMError as exc:
        findings.append(Finding(check, "fail", exc.message, exc.code))
        return None


async def _checks(database_url: str, artifacts_url: str) -> list[Finding]:
    findings: list[Finding] = []
    if await _schema(database_url, findings):
        store = await _attempt("database", open_store(database_url), findings)
        if store is not None:
            async with store:
                if scheme_of(database_url) not in SQL_SCHEMES:
                    findings.append(Finding("database", "ok", f"{shown(database_url)} opens"))
                issues = await _attempt("health", maintenance_api(store).health_check(), findings)
            if issues is not None:
                findings.extend(Finding("health", "fail", issue.message, issue.kind) for issue in issues)
                if not issues:
                    findings.append(
                        Finding("health", "ok", "no orphaned rows, every sequence counter current")
                    )
    if not any(f.check == "health" for f in findings):
        findings.append(Finding("health", "skip", "needs a reachable database with a current schema"))
    artifacts = await _attempt("artifacts", open_artifact_store(artifacts_url), findings)
    if artifacts is not None:
        async with artifacts:
            listed = await _attempt("artifacts", artifacts.list(limit=1), findings)
        if listed is not None:
            findings.append(Finding("artifacts", "ok", f"{shown(artifacts_url)} answers"))
    return findings


async def _schema(url: str, findings: list[Finding]) -> bool:
    """For a SQL store, record whether it answers and whether its schema is current; whether the store
    can be opened without migrating (always, for other stores)."""
    if scheme_of(url) not in SQL_SCHEMES:
        return True
    revisions = await _attempt("database", migrations.status_async(url), findings)
    if revisions is None:
        findings.append(Finding("schema", "skip", "the database did not answer"))
        return False
    findings.append(Finding("database", "ok", f"{shown(url)} answers"))
    current, head = revisions
    if current == head:
        findings.append(Finding("schema", "ok", f"at the newest revision {head}"))
        return True
    state = "empty (no schema)" if current is None else f"at revision {current}"
    findings.append(
        Finding("schema", "fail", f"{state}, newest is {head}: run asm db upgrade", "migration_required")
    )
    return False
