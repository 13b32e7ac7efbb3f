"""`asm db upgrade | status | downgrade`: look after the SQL schema (Alembic, table `asm_alembic_version`)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from alembic.util import CommandError

from ..core.errors import ValidationError
from ..core.urls import redact_url
from ..sessions.sql import migrations
from .common import console, settings

app = typer.Typer(help="Create, upgrade and inspect the SQL schema.", no_args_is_help=True)

URL = Annotated[
    str | None,
    typer.Argument(help="Database URL (default: --database-url, ASM_DATABASE_URL, or the embedded SQLite)."),
]


def _url(ctx: typer.Context, url: str | None) -> str:
    return url or settings(ctx).database_url


def _show(url: str) -> None:
    current, head = migrations.status(url)
    console.print(f"database: {redact_url(url)}", highlight=False)
    console.print(f"current:  {current or '(empty: no schema)'}", highlight=False)
    console.print(f"head:     {head}", highlight=False)
    state = "up to date" if current == head else "upgrade needed: asm db upgrade"
    console.print(state, highlight=False)


@app.command()
def upgrade(ctx: typer.Context, url: URL = None) -> None:
    """Create the schema, or bring it up to the newest revision (safe to run twice, or concurrently)."""
    target = _url(ctx, url)
    migrations.upgrade(target)
    _show(target)


@app.command()
def status(ctx: typer.Context, url: URL = None) -> None:
    """Print the current and the newest schema revision."""
    _show(_url(ctx, url))


@app.command()
def downgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help='Target revision ("base" drops every table of the store).')],
    url: URL = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Take the schema down to REVISION, dropping what later revisions added (their data with it)."""
    target = _url(ctx, url)
    if not yes and not (
        sys.stdin.isatty()
        and typer.confirm(f"Downgrade {redact_url(target)} to {revision}, dropping tables and their data?")
    ):
        raise ValidationError("not confirmed; nothing was changed (pass --yes to skip the question)")
    try:
        migrations.downgrade(target, revision)
    except CommandError as exc:  # Alembic's: an unknown or unreachable revision
        raise ValidationError(
            f"cannot downgrade to {revision!r}: {exc}", details={"revision": revision}
        ) from None
    _show(target)
