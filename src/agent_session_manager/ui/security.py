"""The safety rules of `asm ui`: who may connect, what they may change, and how.

* Binding anything but a loopback address needs a token (`--token` or `ASM_UI_TOKEN`); `check_bind`
  refuses to start otherwise, before the socket is opened.
* With a token, every request (pages, downloads, static files, the live streams) must carry it: the
  `Authorization: Bearer` header, or the `asm_ui_token` cookie that a first visit with `?token=` sets
  (HttpOnly, SameSite=Strict) before redirecting to the same address without it. Anything else is 401.
* Without a token (loopback only), the `Host` header must name a loopback address, so a web page on
  another site cannot reach the server through DNS rebinding.
* Writes (`POST`) need a CSRF token that only a page of this server shows (a per-process secret,
  compared in constant time), and an `Origin`, when the browser sends one, that is this server.
* Every response carries a Content-Security-Policy that allows scripts, styles and images from this
  server only: even a value that escaped escaping could not run.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Mapping
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.errors import ValidationError

TOKEN_COOKIE = "asm_ui_token"
TOKEN_ENV = "ASM_UI_TOKEN"
LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})

#: Sent with every response.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}
_SECURITY_HEADERS = [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, IPv6 with or without brackets) is this machine only."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve on a non-loopback `host` without a token (`validation_error`)."""
    if token is not None and not token:
        raise ValidationError("the token must not be empty", details={"field": "token"})
    if not is_loopback(host) and token is None:
        raise ValidationError(
            f"a token is required to listen on {host!r} (not a loopback address): pass --token or set "
            f"{TOKEN_ENV}, or listen on 127.0.0.1",
            details={"field": "token", "host": host},
        )


def _host_name(header: str) -> str:
    """The host part of a `Host` header (`[::1]:8765` -> `::1`, `localhost:8765` -> `localhost`)."""
    return urlsplit(f"//{header}").hostname or ""


class AccessGuard:
    """ASGI middleware: the token (or the loopback `Host`) on every request, the security headers on
    every response."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), *_SECURITY_HEADERS]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, secured)

    def _refusal(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        if self.token is None:
            if not is_loopback(_host_name(headers.get("host", ""))):
                return _refused(400, "this server answers only to a loopback Host (127.0.0.1, localhost)")
            return None
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        offered = query.get("token")
        if offered is not None and _same(offered, self.token) and scope["method"] == "GET":
            return _enter(scope, query, self.token)
        if _same(_bearer(headers) or _cookie(headers) or "", self.token):
            return None
        return _refused(401, "a token is required: open this address with ?token=<token>")


def _same(offered: str, token: str) -> bool:
    return hmac.compare_digest(offered.encode(), token.encode())


def _bearer(headers: Headers) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _cookie(headers: Headers) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed cookie header carries no token
        return None
    morsel = jar.get(TOKEN_COOKIE)
    return None if morsel is None else morsel.value


def _enter(scope: Scope, query: Mapping[str, str], token: str) -> Response:
    """A first visit with `?token=`: set the cookie and go to the same address without the token."""
    rest = urlencode({k: v for k, v in query.items() if k != "token"})
    target = scope["path"] + (f"?{rest}" if rest else "")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict", path="/")
    return response


def _refused(status: int, message: str) -> Response:
    return PlainTextResponse(f"{status}: {message}\n", status_code=status)


class Csrf:
    """The CSRF token of one server process: shown in its forms, required by its writes."""

    def __init__(self) -> None:
        self.token = secrets.token_urlsafe(32)

    def check(self, offered: str | None, origin: str | None, host: str | None) -> bool:
        """Whether a write may proceed: the right token and, when the browser names one, our origin."""
        if offered is None or not _same(offered, self.token):
            return False
        return origin is None or urlsplit(origin).netloc == host
