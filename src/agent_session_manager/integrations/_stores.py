"""A session store together with the event loop it lives on, for framework adapters.

An async store is bound to the loop that opened it. Frameworks call their storage from wherever they
run: the application's loop, the loop `Runner.run_sync` makes in the calling thread, a worker thread.
`BoundStore` takes either an async store (used directly, on the caller's loop, which must be the loop
that opened it) or a blocking `SyncStore` from `agent_session_manager.sync` (its portal's loop runs
every call, whichever thread or loop the call comes from). Adapters' `from_url` open their store on the
shared `sync.portal()`, so sync code needs no loop of its own and no adapter runs a loop thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

from typing_extensions import TypeVar as DefaultTypeVar

from .. import sync
from ..core.errors import ValidationError
from ..sessions.base import SessionStore

T = TypeVar("T")
#: The port of the store (`SessionStore` unless said otherwise: `BoundStore[ArtifactStore]`).
S = DefaultTypeVar("S", default=SessionStore)


class BoundStore(Generic[S]):
    """A session store and how to reach it: directly, or through the portal it lives on.

    Args:
        store: an async `SessionStore` (or composite store) opened on the loop that will call it, or a
            `sync.SyncStore` (for instance `sync.portal().open_store(url)`), usable from any thread.
        kind: the port an async `store` must implement (default `SessionStore`; `ArtifactStore`...).
    """

    def __init__(self, store: Any, kind: type[Any] = SessionStore) -> None:
        if isinstance(store, sync.SyncStore):
            self.store: S = store.wrapped
            self.portal: sync.Portal | None = store.portal
        elif isinstance(store, kind):
            self.store = store
            self.portal = None
        else:
            raise ValidationError(
                f"store must be a {kind.__name__} or a sync.SyncStore, not {type(store).__name__}",
                details={"field": "store"},
            )

    async def call(self, fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T:
        """`await fn(*args, **kwargs)` on the store's loop, from any loop."""
        if self.portal is None:
            return await fn(*args, **kwargs)
        return await self.portal.acall(fn, *args, **kwargs)

    def block(self, fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T:
        """Blocking `await fn(*args, **kwargs)` for sync callers: on the store's portal, or on the shared
        `sync.portal()` for an async store (which then must not be bound to another loop)."""
        return (self.portal or sync.portal()).call(fn, *args, **kwargs)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T] | asyncio.Task[T]:
        """Start `coro` on the store's loop without waiting: from any thread through a portal, else as
        a task of the running loop (`validation_error` when there is none)."""
        if self.portal is not None:
            return asyncio.run_coroutine_threadsafe(coro, self.portal.loop)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            coro.close()
            raise ValidationError(
                "an async store can only be written from its own running event loop; "
                "pass a sync.SyncStore (sync.portal().open_store(url)) to use it from sync code",
                details={"field": "store"},
            ) from None
        return loop.create_task(coro)
