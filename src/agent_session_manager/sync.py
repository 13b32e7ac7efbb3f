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
A call that returns an async iterator (an artifact reader, say) returns a plain iterator instead, which
is also a context manager that closes the async one.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator, Iterator
from types import TracebackType
from typing import Any, Self, TypeVar

from .core.errors import ValidationError
from .open import open_artifact_store as _open_artifact_store
from .open import open_store as _open_store

T = TypeVar("T")


class _LoopThread:
    """An event loop running forever in a daemon thread, accepting coroutines from other threads."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="asm-sync-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self._thread:
            coro.close()
            raise ValidationError("the sync facade cannot be called from inside its own event loop")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def iterate(self, source: AsyncIterator[T]) -> Generator[T, None, None]:
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

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
        if not self.loop.is_running():
            self.loop.close()


async def _anext(source: AsyncIterator[T]) -> T:
    return await source.__anext__()


class SyncIterator(Iterator[T]):
    """A blocking view of an async iterator living on the facade's loop (e.g. `open_read`'s reader).

    Other attributes (such as a reader's `info`) are those of the async iterator.
    """

    def __init__(self, runner: _LoopThread, source: AsyncIterator[T]) -> None:
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


class SyncStore:
    """A blocking proxy of an async store; use as a context manager or call `close()`."""

    def __init__(self, runner: _LoopThread, target: Any) -> None:
        self._runner = runner
        self._target = target

    @property
    def wrapped(self) -> Any:
        """The async store behind this proxy (it lives on the proxy's private loop)."""
        return self._target

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

    def close(self) -> None:
        """Close the store, then stop the private loop; idempotent."""
        if self._runner.loop.is_closed():
            return
        try:
            self._runner.run(self._target.close())
        finally:
            self._runner.stop()

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
    """A `SyncStore` around the store that `opener()` opens on the facade's private loop."""
    runner = _LoopThread()
    try:
        target = runner.run(_awaited(opener))
    except BaseException:
        runner.stop()
        raise
    return SyncStore(runner, target)


async def _awaited(opener: Callable[[], Awaitable[T]]) -> T:
    return await opener()


def open_store(url: str | None = None, **options: Any) -> SyncStore:
    """The blocking twin of `agent_session_manager.open_store`."""
    return wrap(lambda: _open_store(url, **options))


def open_artifact_store(url: str | None = None, **options: Any) -> SyncStore:
    """The blocking twin of `agent_session_manager.open_artifact_store`."""
    return wrap(lambda: _open_artifact_store(url, **options))
