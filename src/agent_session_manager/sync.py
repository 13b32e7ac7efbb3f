"""The sync facade: every store method without `await`, for scripts and sync frameworks.

It is not a second implementation: a private event loop runs in a daemon thread, the async store lives
on that loop, and each call is handed over and waited for. So it works from a plain script, from worker
threads, and from a thread while another event loop runs elsewhere in the process, without deadlock.

    from agent_session_manager import sync
    with sync.open_store("sqlite:///./.asm/asm.db") as store:
        session = store.save_session(Session(agent_id="a"))
        for event in store.subscribe(session.id):   # async iterators become plain iterators
            ...

Methods are looked up on the wrapped store, so every backend and every later method works unchanged.
`store.query_api()` and `store.maintenance_api()` (and `query_api(store)` / `maintenance_api(store)`)
give the store's query API and maintenance, blocking too.
A call that returns an async iterator (an artifact reader, say) returns a plain iterator instead, which
is also a context manager that closes the async one.

`open_store` gives each store a loop of its own, stopped when the store closes. `portal()` is the one
loop shared by the whole process, for code that bridges a framework's sync API to many stores (see
`Portal`): every integration's sync methods go through it, so none runs a loop thread of its own.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator, Iterator
from datetime import timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

from .core.errors import ValidationError
from .maintenance import maintenance_api
from .open import open_artifact_store as _open_artifact_store
from .open import open_store as _open_store
from .query import query_api

T = TypeVar("T")


class Portal:
    """An event loop running forever in a daemon thread, accepting work from any other thread or loop.

    Async stores are bound to the loop that opened them; a portal owns that loop, so sync code (a
    framework's sync API, `Runner.run_sync`, a notebook cell, a worker thread) and async code on other
    loops can share one store. A blocking call waits in the calling thread while the portal's loop does
    the work, so it never deadlocks, even from the thread of another running event loop (that loop is
    paused for the duration of the call, as any sync call pauses it). `await portal.acall(...)` is the
    non-blocking way in from async code. The one thing refused is a blocking call from the portal's own
    thread (code running on its loop), which could only deadlock: it raises `validation_error`.

    Use the shared one, `portal()`; a `Portal()` of your own is stopped with `close()`.

    Example:
        >>> from agent_session_manager import Session, sync
        >>> portal = sync.portal()
        >>> store = portal.open_store("memory://")      # lives on the portal's loop
        >>> store.save_session(Session(agent_id="bot")).agent_id
        'bot'
        >>> async def count(store):                     # any coroutine function runs there too
        ...     return len((await store.list_sessions()).items)
        >>> portal.call(count, store.wrapped)
        1
        >>> store.close()                               # closes the store; the portal keeps running
    """

    def __init__(self, name: str = "asm-portal") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    @property
    def closed(self) -> bool:
        """Whether `close()` stopped this portal's loop."""
        return self.loop.is_closed()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the portal's loop and block until it finishes; its result or exception is ours.

        Raises:
            ValidationError: called from the portal's own thread, or after `close()` (the coroutine
                is closed unstarted).
        """
        if threading.current_thread() is self._thread:
            coro.close()
            raise ValidationError("the sync facade cannot be called from inside its own event loop")
        if self.loop.is_closed():
            coro.close()
            raise ValidationError("this portal is closed")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def call(self, fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T:
        """Blocking: `await fn(*args, **kwargs)` on the portal's loop and return its result.

        Args:
            fn: an async function (or any callable returning an awaitable), called on the portal's loop.
            *args: positional arguments for `fn`.
            **kwargs: keyword arguments for `fn`.

        Returns:
            What `fn` returned, once awaited.

        Raises:
            ValidationError: called from the portal's own thread, or after `close()`.
        """
        return self.run(_awaited(lambda: fn(*args, **kwargs)))

    async def acall(self, fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T:
        """Non-blocking: from any event loop, await `fn(*args, **kwargs)` run on the portal's loop.

        On the portal's own loop it simply awaits; elsewhere the caller's loop keeps running while it
        waits, and cancelling the caller cancels the work on the portal.
        """
        if asyncio.get_running_loop() is self.loop:
            return await fn(*args, **kwargs)
        if self.loop.is_closed():
            raise ValidationError("this portal is closed")
        future = asyncio.run_coroutine_threadsafe(_awaited(lambda: fn(*args, **kwargs)), self.loop)
        return await asyncio.wrap_future(future)

    def iterate(self, source: AsyncIterator[T]) -> Generator[T, None, None]:
        """A blocking generator over an async iterator that lives on the portal's loop."""
        try:
            while True:
                try:
                    yield self.run(_anext(source))
                except StopAsyncIteration:
                    return
        finally:
            closer = getattr(source, "aclose", None)
            if closer is not None and self.loop.is_running():
                self.run(closer())

    def wrap(self, opener: Callable[[], Awaitable[Any]]) -> SyncStore:
        """A `SyncStore` around the store `opener()` opens on this loop; its `close()` leaves the loop."""
        return SyncStore(self, self.run(_awaited(opener)), owns_loop=False)

    def open_store(self, url: str | None = None, **options: Any) -> SyncStore:
        """`agent_session_manager.open_store` on this portal's loop, as a blocking `SyncStore`."""
        return self.wrap(lambda: _open_store(url, **options))

    def open_artifact_store(self, url: str | None = None, **options: Any) -> SyncStore:
        """`agent_session_manager.open_artifact_store` on this portal's loop, as a blocking `SyncStore`."""
        return self.wrap(lambda: _open_artifact_store(url, **options))

    def close(self) -> None:
        """Stop the loop and its thread; idempotent. Stores still open on it should be closed first."""
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
        if not self.loop.is_running() and not self.loop.is_closed():
            self.loop.close()


_shared: Portal | None = None
_shared_lock = threading.Lock()


def _forget_shared() -> None:
    """In a forked child the portal's thread does not exist: the child starts its own on first use."""
    global _shared, _shared_lock
    _shared, _shared_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_shared)


def portal() -> Portal:
    """The process-wide `Portal`: one background loop, started on first use, shared by every caller.

    Integrations run their sync methods through it, so a store opened by one of them is usable from
    any thread and from inside another running event loop (a sync framework call made from async code)
    without deadlock. Its thread is a daemon: nothing needs closing at exit. A forked child process
    gets a portal of its own (stores opened before the fork belong to the parent's).

    Returns:
        The shared portal (the same object on every call, from every thread).

    Example:
        >>> from agent_session_manager import sync
        >>> sync.portal() is sync.portal()
        True
    """
    global _shared
    with _shared_lock:
        if _shared is None or _shared.closed:
            _shared = Portal()
        return _shared


async def _anext(source: AsyncIterator[T]) -> T:
    return await source.__anext__()


class SyncIterator(Iterator[T]):
    """A blocking view of an async iterator living on the facade's loop (e.g. `open_read`'s reader).

    Other attributes (such as a reader's `info`) are those of the async iterator.
    """

    def __init__(self, runner: Portal, source: AsyncIterator[T]) -> None:
        self._runner = runner
        self._source = source
        self._items = runner.iterate(source)

    def __next__(self) -> T:
        return next(self._items)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)

    def close(self) -> None:
        """Close the async iterator (and whatever it holds open)."""
        self._items.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SyncProxy:
    """A blocking view of an async object living on a portal's loop (a store, its query API, its
    maintenance): coroutine methods block until done, async generators become plain iterators, and
    other attributes are the object's own."""

    def __init__(self, runner: Portal, target: Any) -> None:
        self._runner = runner
        self._target = target

    @property
    def wrapped(self) -> Any:
        """The async object behind this proxy (it lives on the proxy's loop)."""
        return self._target

    @property
    def portal(self) -> Portal:
        """The portal whose loop the object lives on (`await proxy.portal.acall(...)` from async code)."""
        return self._runner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if inspect.isasyncgenfunction(attr):
            return lambda *args, **kwargs: self._runner.iterate(attr(*args, **kwargs))
        if inspect.iscoroutinefunction(attr):
            return lambda *args, **kwargs: self._blocking(self._runner.run(attr(*args, **kwargs)))
        return attr

    def _blocking(self, result: Any) -> Any:
        if hasattr(result, "__anext__"):
            return SyncIterator(self._runner, result)
        return result


class SyncStore(SyncProxy):
    """A blocking proxy of an async store; use as a context manager or call `close()`."""

    def __init__(self, runner: Portal, target: Any, *, owns_loop: bool = True) -> None:
        super().__init__(runner, target)
        self._owns_loop = owns_loop
        self._closed = False

    def query_api(self) -> SyncProxy:
        """The store's `QueryAPI` (as `agent_session_manager.query_api` gives it), blocking.

        Example:
            >>> with sync.open_store("memory://") as store:  # doctest: +SKIP
            ...     page = store.query_api().search_sessions(agent_id="bot")
        """
        return SyncProxy(self._runner, query_api(self._target))

    def maintenance_api(
        self, artifacts: Any = None, *, unregistered_blob_grace: timedelta | None = None
    ) -> SyncProxy:
        """The store's `Maintenance` (as `agent_session_manager.maintenance_api` gives it), blocking.

        `artifacts` is an async artifact store, or a sync one opened on the same portal.
        """
        if isinstance(artifacts, SyncProxy):
            artifacts = artifacts.wrapped
        maintenance = maintenance_api(
            self._target, artifacts, unregistered_blob_grace=unregistered_blob_grace
        )
        return SyncProxy(self._runner, maintenance)

    def close(self) -> None:
        """Close the store, then stop its loop if it has one of its own; idempotent."""
        if self._closed or self._runner.closed:
            return
        self._closed = True
        try:
            self._runner.run(self._target.close())
        finally:
            if self._owns_loop:
                self._runner.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def wrap(opener: Callable[[], Awaitable[Any]]) -> SyncStore:
    """A `SyncStore` around the store that `opener()` opens on a private loop of its own."""
    runner = Portal(name="asm-sync-loop")
    try:
        target = runner.run(_awaited(opener))
    except BaseException:
        runner.close()
        raise
    return SyncStore(runner, target)


async def _awaited(opener: Callable[[], Awaitable[T]]) -> T:
    return await opener()


def open_store(url: str | None = None, **options: Any) -> SyncStore:
    """The blocking twin of `agent_session_manager.open_store` (on a private loop of its own)."""
    return wrap(lambda: _open_store(url, **options))


def open_artifact_store(url: str | None = None, **options: Any) -> SyncStore:
    """The blocking twin of `agent_session_manager.open_artifact_store` (on a private loop of its own)."""
    return wrap(lambda: _open_artifact_store(url, **options))
