"""The Starlette application behind `asm ui`: routes, rendering, the live streams, the write actions.

Pages are rendered on the server by Jinja2 templates (autoescaping on for every template) from what
`ui.data` reads; the only script is `static/ui.js` (live updates, no framework), the only style sheet
`static/ui.css`, both shipped in the package. Charts are inline SVG laid out by `ui.charts`.
"""

from __future__ import annotations

import asyncio
import csv
import difflib
import io
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..artifacts.base import ArtifactInfo
from ..cli.common import parse_time, run_cost, size, usd
from ..cli.maintenance import REPORT_ROWS, policy_for
from ..composite import CompositeSessionStore, open_composite_store
from ..core.clock import utc_now
from ..core.errors import ASMError, NotFound, ValidationError
from ..core.models import EventType, SessionStatus, event_type
from ..core.urls import redact_url
from ..core.usage import total_tokens
from ..maintenance import maintenance_api
from ..open import open_snapshot_storage, open_workspace_storage
from ..query import SessionOrder
from ..query.summary import model_of
from ..snapshots import SnapshotLocation, SnapshotStorage
from ..workspaces.base import WorkspaceStorage
from ..workspaces.files import compute_checksum, guess_content_type
from . import charts, data, render
from .security import AccessGuard, Csrf

#: Bytes of an artifact shown inline at most (text and JSON previews).
PREVIEW_BYTES = 256 * 1024
#: Image types shown inline (never SVG: it can carry script).
INLINE_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
#: Artifact keys per page of the artifacts list; snapshot ids per page of a history.
LIST_PAGE = 100
#: Default range of the usage page, and its longest.
USAGE_DAYS = 14
MAX_USAGE_DAYS = 92
#: How often the live sessions list looks for new sessions (seconds).
LIST_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class UIConfig:
    """How `asm ui` serves: the stores, the token, whether writes are allowed.

    Args:
        database_url: the session store (any `open_store` URL).
        artifacts_url: the artifact store (any `open_artifact_store` URL).
        snapshots_url: the snapshot storage (any `open_snapshot_storage` URL).
        workspaces_url: where the sessions' workspaces are (any `open_workspace_storage` URL); None: the
            UI shows no workspaces.
        token: required on every request when set (see `ui.security`); None on loopback only.
        allow_writes: enable the destructive actions (delete a session, run retention).
    """

    database_url: str
    artifacts_url: str
    snapshots_url: str
    workspaces_url: str | None = None
    token: str | None = None
    allow_writes: bool = False


@dataclass
class Stores:
    """The open stores a running UI reads."""

    sessions: CompositeSessionStore
    snapshots: SnapshotStorage


def create_app(config: UIConfig, stores: Stores | None = None) -> Starlette:
    """The ASGI application of `asm ui`.

    Args:
        config: the stores' URLs (shown masked), the token and `allow_writes`.
        stores: already open stores to serve (the caller closes them); by default the application opens
            the stores of `config` when it starts and closes them when it stops.

    Returns:
        A Starlette application; serve it with any ASGI server (`asm ui` uses uvicorn).

    Raises:
        ASMError: when it starts, if a store cannot be opened (for example `migration_required`).

    Example:
        >>> app = create_app(UIConfig("sqlite:///./.asm/asm.db", "file://./.asm/artifacts",
        ...                           "file://./.asm/snapshots"))
    """
    ui = _UI(config, stores)
    routes = [
        Route("/", ui.home),
        Route("/sessions", ui.sessions),
        Route("/sessions/live", ui.sessions_live),
        Route("/sessions/{session_id}", ui.session),
        Route("/sessions/{session_id}/events/{sequence:int}", ui.event_link),
        Route("/sessions/{session_id}/live", ui.session_live),
        Route("/sessions/{session_id}/raw/{sequence:int}", ui.event_raw),
        Route("/sessions/{session_id}/delete", ui.delete_session, methods=["GET", "POST"]),
        Route("/sessions/{session_id}/snapshots", ui.snapshots),
        Route("/sessions/{session_id}/workspace", ui.workspace),
        Route("/sessions/{session_id}/workspace/view/{path:path}", ui.workspace_file),
        Route("/sessions/{session_id}/workspace/raw/{path:path}", ui.workspace_raw),
        Route("/artifacts", ui.artifacts),
        Route("/artifacts/view/{key:path}", ui.artifact),
        Route("/artifacts/raw/{key:path}", ui.artifact_raw),
        Route("/usage", ui.usage),
        Route("/usage.csv", ui.usage_csv),
        Route("/maintenance", ui.maintenance, methods=["GET", "POST"]),
        Mount("/static", StaticFiles(packages=[("agent_session_manager.ui", "static")]), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=ui.lifespan,
        exception_handlers={ASMError: ui.store_error, HTTPException: ui.http_error, Exception: ui.crash},
    )
    app.add_middleware(AccessGuard, token=config.token)
    return app


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("agent_session_manager.ui", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=render.when,
        duration=render.duration,
        usd=usd,
        size=size,
        number=render.number,
        json=render.pretty_json,
        text=render.text_of,
        path=lambda key: quote(key, safe="/"),
        tokens=total_tokens,
        model=model_of,
        run_cost=run_cost,
    )
    return env


class _UI:
    """The handlers, sharing the stores, the templates and the CSRF token."""

    def __init__(self, config: UIConfig, stores: Stores | None) -> None:
        self.config = config
        self.stores = stores
        self._given = stores is not None
        self.csrf = Csrf()
        self.templates = _environment()

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if not self._given:
                sessions = await open_composite_store(self.config.database_url, self.config.artifacts_url)
                stack.push_async_callback(sessions.close)
                snapshots = await open_snapshot_storage(self.config.snapshots_url)
                stack.push_async_callback(snapshots.close)
                self.stores = Stores(sessions, snapshots)
            yield

    @property
    def store(self) -> CompositeSessionStore:
        assert self.stores is not None, "the application has not started"
        return self.stores.sessions

    # -- rendering ---------------------------------------------------------------------------------

    def page(self, request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        body = self.templates.get_template(template).render(
            request=request,
            path=request.url.path,
            query=request.query_params,
            csrf=self.csrf.token,
            allow_writes=self.config.allow_writes,
            where={
                "sessions": redact_url(self.config.database_url),
                "artifacts": redact_url(self.config.artifacts_url),
                "snapshots": redact_url(self.config.snapshots_url),
                "workspaces": redact_url(self.config.workspaces_url or "-"),
            },
            **values,
        )
        return HTMLResponse(body, status_code=status_code)

    def macro(self, template: str, name: str, value: Any) -> str:
        """One row or event as its page shows it (the live streams send these fragments)."""
        module = self.templates.get_template(template).module
        return str(getattr(module, name)(value))

    async def store_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ASMError)
        status = 404 if isinstance(exc, NotFound) else 400 if isinstance(exc, ValidationError) else 500
        return self.page(request, "error.html", status, status=status, code=exc.code, message=exc.message)

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = "not_found" if exc.status_code == 404 else "http_error"
        return self.page(
            request, "error.html", exc.status_code, status=exc.status_code, code=code, message=exc.detail
        )

    async def crash(self, request: Request, exc: Exception) -> Response:
        """An unexpected failure: the error page, without the exception's text (it may hold data)."""
        return self.page(
            request, "error.html", 500, status=500, code="internal_error", message=type(exc).__name__
        )

    # -- sessions ----------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/sessions", status_code=303)

    async def sessions(self, request: Request) -> Response:
        filters = _session_filters(request)
        listing = await data.list_sessions(self.store, filters)
        live = filters == data.SessionFilters(order=filters.order) and filters.order != "created_at_asc"
        newest = max((r.session.created_at for r in listing.rows), default=utc_now())
        return self.page(
            request,
            "sessions.html",
            listing=listing,
            filters=filters,
            statuses=list(SessionStatus),
            orders=list(SessionOrder),
            live=live,
            newest=newest.isoformat(),
            next_url=_with(request, cursor=listing.next_cursor) if listing.next_cursor else None,
            first_url=_with(request, cursor=None) if filters.cursor else None,
        )

    async def sessions_live(self, request: Request) -> Response:
        after = parse_time(request.query_params.get("after"), "after") or utc_now()

        async def rows() -> AsyncIterator[str]:
            newest = after
            yield "retry: 1000\n\n"
            while True:
                for session in await data.sessions_since(self.store, newest):
                    row = await data.session_row(self.store, session)
                    newest = max(newest, session.created_at)
                    html = self.macro("_session_row.html", "session_row", row)
                    yield _sse("session", {"id": session.id, "html": html})
                await asyncio.sleep(LIST_POLL_SECONDS)

        return _stream(rows())

    async def session(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        query = _timeline_query(request)
        view = await data.session_view(self.store, session_id, query)
        page = view.timeline
        first = page.events[0].sequence_number if page.events else None
        last = page.events[-1].sequence_number if page.events else None
        paging = {"after": None, "before": None, "latest": None}
        earlier = None
        if page.has_earlier:
            earlier = _with(request, **{**paging, "before": first or query.before or query.after + 1})
        later = None
        if page.has_later:
            later = _with(request, **{**paging, "after": last or (query.before or 1) - 1})
        live = not page.has_later
        return self.page(
            request,
            "session.html",
            view=view,
            cards=render.cards(page.events),
            tl=query,
            event_types=[t.value for t in EventType],
            other_types=[t for t in query.types if t not in set(EventType)],
            previous_url=earlier,
            next_url=later,
            first_url=_with(request, **paging) if page.has_earlier else None,
            last_url=_with(request, **{**paging, "latest": 1}) if page.has_later else None,
            live_after=last if last is not None else 0 if query.backward else query.after,
            live=live,
            stream_url=_with(request, **paging).replace(request.url.path, f"{request.url.path}/live", 1),
        )

    async def event_link(self, request: Request) -> Response:
        """`/sessions/ID/events/N`: the timeline page holding event N, scrolled to it (a deep link)."""
        session_id, sequence = request.path_params["session_id"], request.path_params["sequence"]
        after = max(0, (sequence - 1) // data.EVENT_PAGE * data.EVENT_PAGE)
        target = f"/sessions/{quote(session_id)}?{urlencode({'after': after})}#seq-{sequence}"
        return RedirectResponse(target, status_code=303)

    async def event_raw(self, request: Request) -> Response:
        """One event as stored, pretty JSON: what a timeline row shows when its raw JSON is expanded
        (fetched then, so a page does not carry the raw documents of all its events)."""
        session_id, sequence = request.path_params["session_id"], request.path_params["sequence"]
        found = await self.store.get_events(session_id, after=max(0, sequence - 1), limit=1)
        if not found or found[0].sequence_number != sequence:
            raise NotFound(f"event #{sequence} of {session_id!r} not found", details={"sequence": sequence})
        return Response(render.pretty_json(found[0].to_dict()), media_type="application/json")

    async def session_live(self, request: Request) -> Response:
        """Server-sent events: each event appended to the session (by any process), as rendered HTML,
        read with the store's `subscribe` from the last sequence number the page (or the browser's
        `Last-Event-ID` on reconnect) has seen."""
        session_id = request.path_params["session_id"]
        query = _timeline_query(request)
        await self.store.get_session(session_id)
        resume = request.headers.get("last-event-id", "")
        after = int(resume) if resume.isdigit() else query.after

        async def events() -> AsyncIterator[str]:
            yield "retry: 1000\n\n"
            subscription = self.store.subscribe(
                session_id, after=after, run_id=query.run_id, types=query.types or None
            )
            async for event in subscription:
                html = self.macro("_event.html", "event_card", render.card(event))
                payload = {"sequence": event.sequence_number, "html": html}
                yield f"id: {event.sequence_number}\n" + _sse("event", payload)

        return _stream(events())

    async def delete_session(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        session = await self.store.get_session(session_id)
        if request.method == "GET":
            return self.page(request, "confirm_delete.html", session=session)
        form = await self._write_form(request)
        if form.get("confirm") != session_id:
            raise ValidationError("not confirmed: type the session id to delete it; nothing was deleted")
        await self.store.delete_session(session_id)
        return self.page(request, "done.html", message=f"deleted session {session_id}")

    async def _write_form(self, request: Request) -> dict[str, str]:
        """The fields of a write's form, after the checks every write passes (403 otherwise)."""
        if not self.config.allow_writes:
            raise HTTPException(403, "read-only: start asm ui with --allow-writes to change anything")
        body = (await request.body()).decode("utf-8", errors="replace")
        form = dict(parse_qsl(body, keep_blank_values=True))
        if not self.csrf.check(form.get("csrf"), request.headers.get("origin"), request.headers.get("host")):
            raise HTTPException(403, "the form's CSRF token is missing or wrong: reload the page")
        return form

    # -- snapshots ---------------------------------------------------------------------------------

    async def snapshots(self, request: Request) -> Response:
        assert self.stores is not None
        storage = self.stores.snapshots
        session = await self.store.get_session(request.path_params["session_id"])
        params = request.query_params
        location = SnapshotLocation(
            session_id=session.id,
            scope="multiAgent" if params.get("scope") == "multiAgent" else "agent",
            scope_id=params.get("scope_id") or session.agent_id,
        )
        start_after = params.get("start_after") or None
        ids = await storage.list_snapshot_ids(location, limit=LIST_PAGE + 1, start_after=start_after)
        shown = params.get("show")
        left, right = params.get("a"), params.get("b")
        latest = await storage.load_snapshot(location)
        viewed = None if shown is None else await self._snapshot(location, shown)
        diff = None
        if left is not None and right is not None:
            diff = _diff(
                render.pretty_json((await self._snapshot(location, left)).model_dump(mode="json")),
                render.pretty_json((await self._snapshot(location, right)).model_dump(mode="json")),
                left,
                right,
            )
        return self.page(
            request,
            "snapshots.html",
            session=session,
            location=location,
            ids=ids[:LIST_PAGE],
            next_url=_with(request, start_after=ids[LIST_PAGE - 1]) if len(ids) > LIST_PAGE else None,
            latest=None if latest is None else latest.model_dump(mode="json"),
            viewed=None if viewed is None else viewed.model_dump(mode="json"),
            shown=shown,
            diff=diff,
        )

    async def _snapshot(self, location: SnapshotLocation, snapshot_id: str) -> Any:
        assert self.stores is not None
        found = await self.stores.snapshots.load_snapshot(
            location, None if snapshot_id == "latest" else snapshot_id
        )
        if found is None:
            raise NotFound(f"snapshot {snapshot_id!r} not found", details={"snapshot_id": snapshot_id})
        return found

    # -- workspaces --------------------------------------------------------------------------------

    @asynccontextmanager
    async def _workspace(self, request: Request) -> AsyncIterator[WorkspaceStorage]:
        """The session's workspace, opened as `init` opens it (kept: closing it deletes nothing)."""
        if self.config.workspaces_url is None:
            raise HTTPException(404, "no workspaces: start asm ui with --workspaces-url")
        session = await self.store.get_session(request.path_params["session_id"])
        async with await open_workspace_storage(self.config.workspaces_url, session.id, keep=True) as ws:
            yield ws

    async def workspace(self, request: Request) -> Response:
        async with self._workspace(request) as ws:
            files = sorted(await ws.list(), key=lambda ref: ref.path)
        return self.page(request, "workspace.html", session_id=request.path_params["session_id"], files=files)

    async def workspace_file(self, request: Request) -> Response:
        path = request.path_params["path"]
        async with self._workspace(request) as ws:
            content = await ws.read(path)
        kind = guess_content_type(path)
        preview, truncated = (None, False)
        if not _is_image(kind) and _is_text(kind):
            preview, truncated = _preview_text(content, kind, len(content))
        return self.page(
            request,
            "workspace_file.html",
            session_id=request.path_params["session_id"],
            file_path=path,
            content_type=kind,
            size=len(content),
            checksum=compute_checksum(content),
            preview=preview,
            truncated=truncated,
            image=_is_image(kind),
        )

    async def workspace_raw(self, request: Request) -> Response:
        path = request.path_params["path"]
        async with self._workspace(request) as ws:
            content = await ws.read(path)
        kind = guess_content_type(path)
        inline = request.query_params.get("inline") == "1" and _is_image(kind)
        return Response(
            content,
            media_type=kind if inline else "application/octet-stream",
            headers={"content-disposition": _disposition(path, inline)},
        )

    # -- artifacts ---------------------------------------------------------------------------------

    async def artifacts(self, request: Request) -> Response:
        prefix = request.query_params.get("prefix", "")
        page = await self.store.list(prefix, limit=LIST_PAGE, cursor=request.query_params.get("cursor"))
        infos = await asyncio.gather(*(self.store.stat(key) for key in page.items))
        return self.page(
            request,
            "artifacts.html",
            prefix=prefix,
            infos=infos,
            next_url=_with(request, cursor=page.next_cursor) if page.next_cursor else None,
        )

    async def artifact(self, request: Request) -> Response:
        key = request.path_params["key"]
        info = await self.store.stat(key)
        record = await _or_none(self.store.get_artifact_record(key))
        preview, truncated, image = None, False, _inline_image(info)
        if not image and _is_text(info.content_type):
            preview, truncated = await self._preview(key, info)
        return self.page(
            request,
            "artifact.html",
            info=info,
            record=record,
            preview=preview,
            truncated=truncated,
            image=image,
        )

    async def _preview(self, key: str, info: ArtifactInfo) -> tuple[str, bool]:
        """The artifact's first `PREVIEW_BYTES` as text (JSON pretty-printed when it parses whole)."""
        head = b""
        async with await self.store.open_read(key) as reader:
            async for chunk in reader:
                head += chunk
                if len(head) >= PREVIEW_BYTES:
                    break
        return _preview_text(head, info.content_type, info.size)

    async def artifact_raw(self, request: Request) -> Response:
        """The artifact's bytes, verified as they stream: a download, or inline for safe image types."""
        key = request.path_params["key"]
        reader = await self.store.open_read(key)
        info = reader.info
        inline = request.query_params.get("inline") == "1" and _inline_image(info)
        headers = {
            "content-disposition": _disposition(key, inline),
            "content-length": str(info.size),
            "x-asm-sha256": info.sha256,
        }

        async def body() -> AsyncIterator[bytes]:
            async with reader:
                async for chunk in reader:
                    yield chunk

        media = info.content_type if inline else "application/octet-stream"
        return StreamingResponse(body(), media_type=media, headers=headers)

    # -- usage -------------------------------------------------------------------------------------

    async def _usage_view(self, request: Request) -> data.UsageView:
        params = request.query_params
        until = parse_time(params.get("until") or None, "until") or utc_now()
        since = parse_time(params.get("since") or None, "since") or (until - timedelta(days=USAGE_DAYS - 1))
        if since > until:
            raise ValidationError("since is after until", details={"field": "since"})
        if until - since > timedelta(days=MAX_USAGE_DAYS):
            raise ValidationError(
                f"the range is longer than {MAX_USAGE_DAYS} days", details={"field": "since"}
            )
        return await data.usage_view(self.store, since, until, params.get("agent") or None)

    async def usage(self, request: Request) -> Response:
        view = await self._usage_view(request)
        days = [(d.day.strftime("%m-%d"), d) for d in view.days]
        models = sorted(view.by_model.items())
        agents = sorted(view.by_agent.items())
        money = "{:,.4f}".format
        return self.page(
            request,
            "usage.html",
            view=view,
            charts=[
                charts.bar_chart("tokens per day", [(label, d.tokens) for label, d in days]),
                charts.bar_chart("cost per day (USD)", [(label, d.cost_usd) for label, d in days], money),
                charts.bar_chart("tokens per model", [(m, v[0]) for m, v in models]),
                charts.bar_chart("cost per model (USD)", [(m, v[1]) for m, v in models], money),
                charts.bar_chart("tokens per agent", [(a, v[0]) for a, v in agents]),
                charts.bar_chart("cost per agent (USD)", [(a, v[1]) for a, v in agents], money),
            ],
            csv_url="/usage.csv" + (f"?{request.url.query}" if request.url.query else ""),
        )

    async def usage_csv(self, request: Request) -> Response:
        view = await self._usage_view(request)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["breakdown", "key", "tokens", "cost_usd", "runs"])
        for day in view.days:
            writer.writerow(["day", day.day.date().isoformat(), day.tokens, f"{day.cost_usd:.6f}", day.runs])
        for name, (tokens, cost) in sorted(view.by_model.items()):
            writer.writerow(["model", name, tokens, f"{cost:.6f}", view.total.by_model[name].run_count])
        for name, (tokens, cost) in sorted(view.by_agent.items()):
            writer.writerow(["agent", name, tokens, f"{cost:.6f}", ""])
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": "attachment; filename=usage.csv"},
        )

    # -- maintenance -------------------------------------------------------------------------------

    async def maintenance(self, request: Request) -> Response:
        if request.method == "GET":
            return self.page(request, "maintenance.html", report=None, rows=REPORT_ROWS, policy="")
        form = await self._write_form(request)
        if form.get("confirm") != "yes":
            raise ValidationError("not confirmed: tick the confirmation box; nothing was changed")
        text = form.get("policy", "")
        try:
            fields = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ValidationError(
                f"the policy is not valid JSON: {exc}", details={"field": "policy"}
            ) from None
        if not isinstance(fields, dict):
            raise ValidationError("the policy must be a JSON object", details={"field": "policy"})
        dry_run = form.get("dry_run") == "1"
        report = await maintenance_api(self.store).execute(policy_for(fields, self.store), dry_run=dry_run)
        return self.page(request, "maintenance.html", report=report, rows=REPORT_ROWS, policy=text)


# -- helpers -----------------------------------------------------------------------------------------


def _sse(kind: str, payload: dict[str, Any]) -> str:
    """One server-sent event; the JSON payload is one line, so it cannot break the framing."""
    return f"event: {kind}\ndata: {orjson.dumps(payload).decode()}\n\n"


def _stream(chunks: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        chunks,
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


def _with(request: Request, **changes: Any) -> str:
    """This page's address with some query parameters changed (None removes one)."""
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    items += [(k, str(v)) for k, v in changes.items() if v is not None]
    return f"{request.url.path}?{urlencode(items)}"


def _session_filters(request: Request) -> data.SessionFilters:
    params = request.query_params
    order = params.get("order") or SessionOrder.UPDATED_AT_DESC
    if order not in set(SessionOrder):
        raise ValidationError(f"unknown order {order!r}", details={"field": "order"})
    statuses = [s for s in params.getlist("status") if s]
    try:
        chosen = tuple(SessionStatus(s) for s in statuses)
    except ValueError:
        raise ValidationError(f"unknown status in {statuses}", details={"field": "status"}) from None
    return data.SessionFilters(
        agent_id=params.get("agent") or None,
        user_id=params.get("user") or None,
        statuses=chosen,
        tags=tuple(word for tag in params.getlist("tag") for word in tag.split()),
        created_after=parse_time(params.get("since") or None, "since"),
        created_before=parse_time(params.get("until") or None, "until"),
        order=SessionOrder(order),
        cursor=params.get("cursor") or None,
    )


def _timeline_query(request: Request) -> data.TimelineQuery:
    params = request.query_params
    bounds: dict[str, int | None] = {}
    for name in ("after", "before"):
        value = params.get(name) or None
        if value is not None and not value.isdigit():
            raise ValidationError(f"{name} must be a sequence number", details={"field": name})
        bounds[name] = None if value is None else int(value)
    return data.TimelineQuery(
        after=bounds["after"] or 0,
        before=bounds["before"],
        latest=params.get("latest") == "1",
        run_id=params.get("run") or None,
        types=tuple(event_type(t.strip()) for t in params.getlist("type") if t.strip()),
    )


async def _or_none(call: Awaitable[Any]) -> Any:
    try:
        return await call
    except NotFound:
        return None


def _inline_image(info: ArtifactInfo) -> bool:
    return _is_image(info.content_type)


def _disposition(path: str, inline: bool) -> str:
    """`Content-Disposition` for a file at `path`: inline (safe images only) or a download."""
    return f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{quote(PurePosixPath(path).name)}"


def _is_image(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() in INLINE_IMAGES


def _preview_text(head: bytes, content_type: str, size: int) -> tuple[str, bool]:
    """The first `PREVIEW_BYTES` of a file of `size` bytes as text (JSON pretty-printed when it is whole
    and parses), and whether it was cut."""
    truncated = size > PREVIEW_BYTES
    head = head[:PREVIEW_BYTES]
    if "json" in content_type and not truncated:
        try:
            return render.pretty_json(orjson.loads(head)), False
        except orjson.JSONDecodeError:
            pass
    return head.decode("utf-8", errors="replace"), truncated


def _is_text(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return kind.startswith("text/") or kind.endswith(("json", "xml", "yaml", "+json", "javascript"))


@dataclass(frozen=True)
class DiffLine:
    kind: str
    text: str


def _diff(left: str, right: str, left_name: str, right_name: str) -> list[DiffLine]:
    """A unified diff of two pretty-printed snapshots, each line tagged add, remove, hunk or same."""
    kinds: dict[str, str] = {"+": "add", "-": "remove", "@": "hunk"}
    lines = difflib.unified_diff(
        left.splitlines(), right.splitlines(), left_name, right_name, n=3, lineterm=""
    )
    return [DiffLine(kinds.get(line[:1], "same"), line) for line in lines]
