"""`ASMStore`: LangGraph's long-term memory (`BaseStore`) on our scoped state documents.

Each item is one state document: scope `lgstore:<label>/<label>/…/#<key>` (every label and the key
percent-encoded, so a namespace prefix is a scope prefix and `/`, `#` in names cannot collide), value
`{"value": <the item>, "created_at": …, "expires_at": … | null, "ttl": <minutes> | null}`; its
`updated_at` is the document's. So items are shared by every process on the same database, a write is
atomic, and `asm` tools see them as `lgstore:` state documents.

- `get`, `put` (`None` deletes), `search` (namespace prefix, `filter` with LangGraph's operators `$eq`,
  `$ne`, `$gt`, `$gte`, `$lt`, `$lte` and nested objects, `limit`, `offset`; newest update first, as the
  SQL stores do) and `list_namespaces` (prefix/suffix conditions with `*`, `max_depth`), sync and async.
- TTL (`ttl=` minutes on `put`, `TTLConfig` for the defaults): an expired item is never returned, a read
  refreshes its expiry when `refresh_ttl` (or `refresh_on_read`) says so, and expired documents are
  deleted by our maintenance (`asm maintenance run`: the document's `expires_at`), by `sweep_ttl()`, or by
  the sweeper `start_ttl_sweeper()` runs every `sweep_interval_minutes`.
- Semantic search (an `index` with embeddings) is not supported: constructing with `index=` raises
  `validation_error`; a `query` without an index is ignored, as in LangGraph's `InMemoryStore`.
- Values must follow our JSON rules (no NaN, no NUL character, string keys): others are `validation_error`,
  and nothing of the batch is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote, unquote

from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
)
from langgraph.store.memory import _compare_values, _does_match

from ... import sync
from ...core.clock import utc_now
from ...core.errors import ValidationError
from ...core.pagination import MAX_PAGE_SIZE, all_items, pages
from ...sessions.base import SessionStore
from ...sessions.state import State
from .bridge import Opened, PortalBridge

KIND = "lgstore:"
ItemT = TypeVar("ItemT", bound=Item)


def scope_of(namespace: tuple[str, ...], key: str) -> str:
    """The state scope of an item."""
    return prefix_of(namespace) + "#" + quote(key, safe="")


def prefix_of(namespace: tuple[str, ...]) -> str:
    """The scope prefix every item of `namespace` (and of the namespaces below it) starts with."""
    return KIND + "".join(quote(label, safe="") + "/" for label in namespace)


def _parse(scope: str) -> tuple[tuple[str, ...], str]:
    path, _, key = scope[len(KIND) :].rpartition("#")
    return tuple(unquote(label) for label in path.split("/")[:-1]), unquote(key)


class ASMStore(PortalBridge, BaseStore):
    """A LangGraph `BaseStore` whose items are our scoped state documents (see the module docstring).

    Args:
        store: a `SessionStore` used from your event loop (async methods), or a `sync.SyncStore` on
            `sync.portal()` (both), as for `ASMSaver`.
        index: not supported (semantic search); giving one raises `validation_error`.
        ttl: LangGraph's `TTLConfig` (`default_ttl`, `refresh_on_read`, `sweep_interval_minutes`).

    Raises:
        ValidationError: `index` given.

    Example:
        >>> with ASMStore.from_url("memory://") as memory:
        ...     memory.put(("users", "u1"), "prefs", {"theme": "dark"})
        ...     memory.get(("users", "u1"), "prefs").value
        {'theme': 'dark'}
    """

    supports_ttl = True

    def __init__(
        self,
        store: SessionStore | sync.SyncStore,
        *,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
    ) -> None:
        if index is not None:
            raise ValidationError(
                "ASMStore does not support semantic search: leave out index= (search by namespace and "
                "filter works without it)",
                details={"field": "index"},
            )
        PortalBridge.__init__(self, store)
        self.ttl_config = ttl
        self._sweeper: asyncio.Task[None] | None = None

    @classmethod
    def from_url(cls, url: str, *, ttl: TTLConfig | None = None, **options: Any) -> Opened[ASMStore]:
        """A store on the session store at `url`, as a sync or async context manager that closes it.

        Args:
            url: a session store URL (`sqlite:///path`, `postgresql://...`, `memory://`).
            ttl: LangGraph's `TTLConfig`.
            **options: passed to `open_store` (for example `migrate=True`).

        Returns:
            A context manager yielding the `ASMStore`.

        Example:
            >>> with ASMStore.from_url("memory://") as memory:
            ...     memory.search(("users",))
            []
        """
        return Opened(url, options, lambda store: cls(store, ttl=ttl))

    # -- BaseStore -----------------------------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run `ops` in order and return their results (sync)."""
        result: list[Result] = self._block(self._batch, list(ops))
        return result

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Run `ops` in order and return their results."""
        result: list[Result] = await self._run(self._batch, list(ops))
        return result

    async def _batch(self, ops: list[Op]) -> list[Result]:
        results: list[Result] = []
        for op in ops:
            if isinstance(op, GetOp):
                results.append(await self._get(op))
            elif isinstance(op, SearchOp):
                results.append(await self._search(op))
            elif isinstance(op, ListNamespacesOp):
                results.append(await self._list_namespaces(op))
            elif isinstance(op, PutOp):
                await self._put(op)
                results.append(None)
            else:
                raise ValidationError(f"unknown store operation {type(op).__name__}")
        return results

    # -- operations ----------------------------------------------------------------------------------

    async def _put(self, op: PutOp) -> None:
        scope = scope_of(op.namespace, op.key)
        if op.value is None:
            await self.store.delete_state(scope)
            return
        now = utc_now()
        document = {
            "value": dict(op.value),
            "created_at": now.isoformat(),
            "expires_at": None if op.ttl is None else (now + timedelta(minutes=op.ttl)).isoformat(),
            "ttl": op.ttl,
        }
        await self.store.put_state(scope, document)

    async def _get(self, op: GetOp) -> Item | None:
        state = await self.store.get_state(scope_of(op.namespace, op.key))
        if state is None or _expired(state):
            return None
        await self._refresh(state, op.refresh_ttl)
        return _item(state, Item)

    async def _search(self, op: SearchOp) -> list[SearchItem]:
        found = [
            state
            async for state in self._states(prefix_of(op.namespace_prefix))
            if not op.filter
            or all(_compare_values(state.value["value"].get(k), v) for k, v in op.filter.items())
        ]
        found.sort(key=lambda s: s.updated_at, reverse=True)
        chosen = found[op.offset : op.offset + op.limit]
        for state in chosen:
            await self._refresh(state, op.refresh_ttl)
        return [_item(state, SearchItem) for state in chosen]

    async def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        namespaces = {_parse(state.scope)[0] async for state in self._states(KIND)}
        if op.match_conditions:
            namespaces = {n for n in namespaces if all(_does_match(c, n) for c in op.match_conditions)}
        if op.max_depth is not None:
            namespaces = {n[: op.max_depth] for n in namespaces}
        return sorted(namespaces)[op.offset : op.offset + op.limit]

    async def _states(self, prefix: str) -> Any:
        """Every live (unexpired) item document under `prefix`."""
        async for page in pages(
            lambda cursor: self.store.list_states(prefix, limit=MAX_PAGE_SIZE, cursor=cursor)
        ):
            for state in page.items:
                if not _expired(state):
                    yield state

    async def _refresh(self, state: State, refresh: bool) -> None:
        ttl = state.value.get("ttl")
        if refresh and ttl is not None:
            expires = (utc_now() + timedelta(minutes=ttl)).isoformat()
            await self.store.merge_state(state.scope, {"expires_at": expires})

    # -- TTL -----------------------------------------------------------------------------------------

    async def asweep_ttl(self) -> int:
        """Delete every expired item; how many were deleted."""
        result: int = await self._run(self._sweep)
        return result

    def sweep_ttl(self) -> int:
        """Sync `asweep_ttl`."""
        result: int = self._block(self._sweep)
        return result

    async def _sweep(self) -> int:
        states = await all_items(
            lambda cursor: self.store.list_states(KIND, limit=MAX_PAGE_SIZE, cursor=cursor)
        )
        expired = [state.scope for state in states if _expired(state)]
        return sum([await self.store.delete_state(scope) for scope in expired])

    async def start_ttl_sweeper(self, sweep_interval_minutes: int | None = None) -> asyncio.Task[None]:
        """Sweep expired items every `sweep_interval_minutes` (default: the `TTLConfig`'s, else 5) until
        `stop_ttl_sweeper()`; returns the sweeping task."""
        minutes = sweep_interval_minutes or (self.ttl_config or {}).get("sweep_interval_minutes") or 5

        async def sweep_forever() -> None:
            while True:
                await self.asweep_ttl()
                await asyncio.sleep(minutes * 60)

        await self.stop_ttl_sweeper()
        self._sweeper = asyncio.create_task(sweep_forever())
        return self._sweeper

    async def stop_ttl_sweeper(self) -> bool:
        """Stop the sweeper started by `start_ttl_sweeper`; whether one was running."""
        task, self._sweeper = self._sweeper, None
        if task is None:
            return False
        task.cancel()
        await asyncio.wait([task])
        return True


def _expired(state: State) -> bool:
    expires = state.value.get("expires_at")
    return expires is not None and datetime.fromisoformat(expires) <= utc_now()


def _item(state: State, kind: type[ItemT]) -> ItemT:
    namespace, key = _parse(state.scope)
    return kind(
        value=state.value["value"],
        key=key,
        namespace=namespace,
        created_at=datetime.fromisoformat(state.value["created_at"]),
        updated_at=state.updated_at,
    )
