"""`asm ui`: the session browser in a web browser, live (extra `[ui]`).

It serves the stores of the global options (`--database-url`, `--artifacts-url`, `--snapshots-url`)
on 127.0.0.1:8765 until Ctrl-C. Read-only unless `--allow-writes`; any address but loopback needs a
token (`--token` or `ASM_UI_TOKEN`), checked on every request.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ..core.errors import DependencyNotAvailable
from .common import run, say, settings
from .demo import DEFAULT_WORKSPACES_DIR


def ui(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on (anything but loopback needs a token).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free port).")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="ASM_UI_TOKEN",
            show_envvar=True,
            help="Required on every request (open the printed address with ?token=...).",
        ),
    ] = None,
    workspaces_url: Annotated[
        str | None,
        typer.Option(
            "--workspaces-url",
            envvar="ASM_WORKSPACES_URL",
            show_envvar=True,
            help="Where the sessions' workspaces are (default: ./.asm/workspaces, as for asm demo).",
        ),
    ] = None,
    allow_writes: Annotated[
        bool,
        typer.Option(
            "--allow-writes",
            help="Enable deleting sessions and running retention (with CSRF protection and a confirmation).",
        ),
    ] = False,
) -> None:
    """Browse the stored sessions in a web browser, live; Ctrl-C stops the server."""
    try:
        from ..ui import UIConfig, serve
    except ImportError as exc:
        raise DependencyNotAvailable(
            f"asm ui needs the [ui] extra: pip install 'agent-session-manager[ui]' ({exc.name} is missing)",
            details={"extra": "ui"},
        ) from None
    chosen = settings(ctx)
    config = UIConfig(
        database_url=chosen.database_url,
        artifacts_url=chosen.artifacts_url,
        snapshots_url=chosen.snapshots_url,
        workspaces_url=workspaces_url or DEFAULT_WORKSPACES_DIR.resolve().as_uri(),
        token=token,
        allow_writes=allow_writes,
    )

    def ready(address: str) -> None:
        mode = "writes allowed" if allow_writes else "read-only"
        entry = f"{address}?token=<your token>" if token else address
        say(f"asm ui serving {entry} ({mode}); Ctrl-C stops it")

    run(serve(config, host, port, ready))
