"""`asm`: look at stored agent sessions, follow them live and look after the stores, without code.

Every failure ends the same way: one line `error: [code] message` on stderr and a non-zero status
(1 for errors of the library, 2 for a mistake on the command line, 130 for Ctrl-C); `--debug`
(anywhere on the command line) shows the traceback instead. URLs are printed with secrets masked.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..core.errors import ASMError
from ..open import DEFAULT_SNAPSHOTS_URL, default_artifacts_url, default_database_url
from . import artifacts, db, demo, doctor, events, maintenance, otel, sessions, snapshots, transfer, ui, usage
from .common import Settings, error_line

app = typer.Typer(
    name="asm",
    help="agent-session-manager: durable memory for AI agents. Add --debug for tracebacks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(sessions.app, name="sessions")
app.add_typer(events.app, name="events")
app.add_typer(artifacts.app, name="artifacts")
app.add_typer(snapshots.app, name="snapshots")
app.add_typer(maintenance.app, name="maintenance")
app.add_typer(db.app, name="db")
app.add_typer(otel.app, name="otel")
app.command("demo")(demo.demo)
app.command("usage")(usage.usage)
app.command("cost")(usage.cost)
app.command("export")(transfer.export)
app.command("import")(transfer.import_)
app.command("doctor")(doctor.doctor)
app.command("ui")(ui.ui)


@app.callback()
def root(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="ASM_DATABASE_URL",
            show_envvar=True,
            help="Session store URL (default: sqlite:///./.asm/asm.db).",
        ),
    ] = None,
    artifacts_url: Annotated[
        str | None,
        typer.Option(
            "--artifacts-url",
            envvar="ASM_ARTIFACTS_URL",
            show_envvar=True,
            help="Artifact store URL (default: file://./.asm/artifacts).",
        ),
    ] = None,
    snapshots_url: Annotated[
        str | None,
        typer.Option(
            "--snapshots-url",
            envvar="ASM_SNAPSHOTS_URL",
            show_envvar=True,
            help=f"Snapshot storage URL (default: {DEFAULT_SNAPSHOTS_URL}).",
        ),
    ] = None,
) -> None:
    """agent-session-manager: durable memory for AI agents. Add --debug for tracebacks."""
    ctx.obj = Settings(
        database_url=database_url or default_database_url(),
        artifacts_url=artifacts_url or default_artifacts_url(),
        snapshots_url=snapshots_url or DEFAULT_SNAPSHOTS_URL,
    )


#: Click's UsageError (Typer vendors Click in recent releases): every mistake on the command line.
UsageError: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


def main() -> None:
    """Entry point: one clear line with the error code on failure, a traceback only with --debug."""
    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    try:
        status = app(standalone_mode=False)
    except ASMError as exc:
        if debug:
            raise
        error_line(exc.code, exc.message)
        sys.exit(1)
    except UsageError as exc:
        if debug:
            raise
        _usage_error(exc)
    except typer.Abort:
        error_line("aborted", "aborted")
        sys.exit(1)
    except Exception as exc:
        if debug:
            raise
        error_line(
            "internal_error", f"{type(exc).__name__}: {exc} (run again with --debug for the traceback)"
        )
        sys.exit(1)
    sys.exit(status if isinstance(status, int) else 0)


def _usage_error(exc: Exception) -> None:
    """A command-line mistake: the one-line error with a pointer to `--help` (or the help itself when a
    command group was given no command), exit status 2."""
    context = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" and context is not None:
        sys.stdout.write(context.get_help() + "\n")
        sys.exit(0)
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    where = f" (see: {context.command_path} --help)" if context is not None else ""
    error_line("usage_error", f"{message}{where}")
    sys.exit(2)
