"""Serving the UI: open the stores, listen, run uvicorn until Ctrl-C (or SIGTERM), close the stores.

The stores are opened before the socket, so a store that cannot be opened (`migration_required`, a
server that does not answer) fails the command with its error line instead of a server that answers
every request with an error. `port=0` picks a free port; the address printed is the real one.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import uvicorn

from ..composite import open_composite_store
from ..core.errors import ValidationError
from ..open import open_snapshot_storage
from .app import Stores, UIConfig, create_app
from .security import check_bind

#: Seconds that open live streams get to finish when the server stops.
GRACEFUL_SECONDS = 1


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host:port` (`validation_error` naming the address if that fails)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ValidationError(f"cannot listen on {host}:{port}: {exc}", details={"host": host}) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise ValidationError(f"cannot listen on {host}:{port}: {reason}", details={"host": host}) from None
    sock.set_inheritable(True)
    return sock


def address_of(sock: socket.socket) -> str:
    """`http://host:port/` of a listening socket (IPv6 in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


async def serve(config: UIConfig, host: str, port: int, ready: Callable[[str], None]) -> None:
    """Serve the UI of `config` on `host:port` until interrupted; `ready(address)` once it listens.

    Args:
        config: stores, token and `allow_writes`.
        host: the address to listen on; anything but loopback needs `config.token`.
        port: the port (0: any free one).
        ready: called with the server's address once it accepts connections.

    Raises:
        ValidationError: a non-loopback `host` without a token, or an address that cannot be used.
        ASMError: a store that cannot be opened.

    Example:
        >>> asyncio.run(serve(config, "127.0.0.1", 8765, print))  # doctest: +SKIP
    """
    check_bind(host, config.token)
    async with (
        await open_composite_store(config.database_url, config.artifacts_url) as sessions,
        await open_snapshot_storage(config.snapshots_url) as snapshots,
    ):
        app = create_app(config, Stores(sessions, snapshots))
        sock = listen(host, port)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_level="warning",
                timeout_graceful_shutdown=GRACEFUL_SECONDS,
                access_log=False,
            )
        )
        ready(address_of(sock))
        try:
            await server.serve(sockets=[sock])
        finally:
            sock.close()
