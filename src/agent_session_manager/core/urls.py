"""Store URLs: parsing helpers, backend options (`check_options`, `option_bool`, `option_int`) and
credential masking.

Credentials may arrive in a URL (`postgresql://user:secret@host/db`, `s3://bucket?secret_access_key=...`).
They are never printed, logged or put in an error message: `redact_url` is applied wherever a URL is shown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from .errors import ValidationError

_SECRET_PARAMS = frozenset(
    {
        "password",
        "secret",
        "secret_access_key",
        "aws_secret_access_key",
        "session_token",
        "aws_session_token",
        "token",
        "access_key_id",
        "aws_access_key_id",
        "sslpassword",
    }
)
MASK = "***"
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")


def scheme_of(url: str) -> str:
    """The URL's scheme without a driver suffix: `postgresql+asyncpg://` -> `postgresql`.

    Read from the text alone, so that even a malformed URL gets its scheme named in the error.
    """
    found = _SCHEME.match(url)
    return found.group(1).split("+", 1)[0].lower() if found else ""


def file_url_path(url: str) -> str | None:
    """The directory of a `file:` URL: `file:///abs` and `file://localhost/abs` -> `/abs`,
    `file://./rel` -> `./rel`, `file://` -> None (the caller's default)."""
    parts = urlsplit(url)
    host = "" if parts.netloc in ("", "localhost") else parts.netloc
    return unquote(host + parts.path) or None


def redact_url(url: str) -> str:
    """`url` with any password and secret query parameters replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{user}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if k.lower() in _SECRET_PARAMS else v) for k, v in pairs], safe="*")
    slashes = "//" if url[len(parts.scheme) + 1 :].startswith("//") else ""
    return (
        f"{parts.scheme}:{slashes}{netloc}{parts.path}"
        + (f"?{query}" if query else "")
        + (f"#{parts.fragment}" if parts.fragment else "")
    )


def check_options(given: Iterable[str], known: Iterable[str], what: str) -> None:
    """Refuse options a backend does not understand (from the URL's query or keywords), naming them
    and the ones it knows: `validation_error`, before anything is opened."""
    unknown = sorted(set(given) - set(known))
    if unknown:
        expected = sorted(known)
        raise ValidationError(
            f"unknown {what} option(s) {unknown}; known: {expected}",
            details={"options": unknown, "known": expected},
        )


def option_bool(value: Any, field: str) -> bool:
    """A boolean option given as a bool or as URL text (`true`/`false`/`1`/`0`/`yes`/`no`/`on`/`off`)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValidationError(f"{field} must be true or false, got {value!r}", details={"field": field})


def option_int(value: Any, field: str, minimum: int) -> int:
    """An integer option `>= minimum`, given as an int or as URL text."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = minimum - 1
    if isinstance(value, bool) or number < minimum:
        raise ValidationError(f"{field} must be an integer >= {minimum}", details={"field": field})
    return number
