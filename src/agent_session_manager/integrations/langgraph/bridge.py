"""What `ASMSaver` and `ASMStore` share: where their store lives, and `from_url`'s context manager.

A LangGraph component has sync and async methods. Given a store opened on the caller's event loop, the
async methods run there and the sync ones are refused (they could only block that loop); given a store
living on `sync.portal()` (a `sync.SyncStore`, which is what `from_url` opens), both kinds hand their work
to the portal's loop, so they work from plain sync code and from any event loop alike.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

from ... import sync
from ...core.errors import ValidationError
from ...open import open_store
from ...sessions.base import SessionStore

T = TypeVar("T")


class PortalBridge:
    """Runs a component's work where its store lives (see the module docstring)."""

    def __init__(self, store: SessionStore | sync.SyncStore) -> None:
        if isinstance(store, sync.SyncStore):
            self.store: SessionStore = store.wrapped
            self._portal: sync.Portal | None = store.portal
        else:
            self.store = store
            self._portal = None

    async def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self._portal is None:
            return await fn(*args, **kwargs)
        return await self._portal.acall(fn, *args, **kwargs)

    def _block(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self._portal is None:
            name = type(self).__name__
            raise ValidationError(
                f"the sync methods of {name} need a store on sync.portal(): use {name}.from_url(url) or "
                f"{name}(sync.portal().open_store(url)); with a store opened on your own event loop, use "
                "the async methods"
            )
        return self._portal.call(fn, *args, **kwargs)


class Opened(Generic[T]):
    """`from_url(...)`: a `with` or `async with` block around a component whose store it opens on the
    portal and closes at the end."""

    def __init__(self, url: str, options: dict[str, Any], make: Callable[[sync.SyncStore], T]) -> None:
        self._url = url
        self._options = options
        self._make = make
        self._store: sync.SyncStore | None = None

    def __enter__(self) -> T:
        url, options = self._url, self._options
        self._store = sync.portal().wrap(lambda: open_store(url, **options))
        return self._make(self._store)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._store is not None:
            self._store.close()

    async def __aenter__(self) -> T:
        portal = sync.portal()
        url, options = self._url, self._options
        store = await portal.acall(lambda: open_store(url, **options))
        self._store = sync.SyncStore(portal, store, owns_loop=False)
        return self._make(self._store)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._store is not None:
            await sync.portal().acall(self._store.wrapped.close)
