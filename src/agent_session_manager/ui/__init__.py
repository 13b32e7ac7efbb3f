"""`asm ui`: a local web interface over any of our stores (extra `[ui]`).

Browse sessions (filters, keyset paging, totals), read a session's timeline (type-specific rendering,
tool calls paired with their results, raw JSON, deep links, paging that stays fast on 100,000 events)
and follow it live as any process appends to it; artifacts with preview and download, snapshot history
with diffs, usage and cost charts with CSV. Read-only unless started with `allow_writes`; a token is
required on anything but loopback (see `ui.security`).

Built on Starlette (ASGI), Jinja2 (templates, autoescaped) and uvicorn (server); every asset ships in the
package, so it works offline with no build step.
"""

from __future__ import annotations

from .app import Stores, UIConfig, create_app
from .server import serve

__all__ = ["Stores", "UIConfig", "create_app", "serve"]
