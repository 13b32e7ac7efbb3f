"""`ASMStore`, LangGraph's `BaseStore` on our state documents: every operation, namespaces, filters and TTL,
sync (through the portal) and async (on the caller's loop), on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_session_manager import open_store, sync
from agent_session_manager.core.errors import ValidationError
from agent_session_manager.integrations.langgraph import ASMStore
from agent_session_manager.integrations.langgraph.store import KIND
from agent_session_manager.maintenance import RetentionPolicy, maintenance_api


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'asm.db'}"
    base: str = request.getfixturevalue("postgres_url")
    return base


def _options(url: str) -> dict[str, bool]:
    return {} if url.startswith("memory") else {"migrate": True}


@pytest.fixture
def memory(url: str) -> Iterator[ASMStore]:
    with ASMStore.from_url(url, **_options(url)) as opened:
        yield opened
        for state in sync.portal().call(opened.store.list_states, KIND, limit=1000).items:
            sync.portal().call(opened.store.delete_state, state.scope)


def test_get_put_delete(memory: ASMStore) -> None:
    ns = ("users", "u-1")
    assert memory.get(ns, "prefs") is None
    memory.put(ns, "prefs", {"theme": "dark", "n": 1})
    item = memory.get(ns, "prefs")
    assert item is not None
    assert (item.namespace, item.key, item.value) == (ns, "prefs", {"theme": "dark", "n": 1})
    created = item.created_at
    memory.put(ns, "prefs", {"theme": "light"})
    again = memory.get(ns, "prefs")
    assert again is not None and again.value == {"theme": "light"} and again.updated_at >= created
    memory.delete(ns, "prefs")
    assert memory.get(ns, "prefs") is None
    memory.delete(ns, "prefs")  # idempotent


def test_namespaces_are_exact_and_escaped(memory: ASMStore) -> None:
    odd = ("a/b", "c#d", "100%", "é")
    memory.put(odd, "k/#%", {"v": 1})
    memory.put(("a",), "k", {"v": 2})
    memory.put(("a", "b"), "k", {"v": 3})
    memory.put(("a", "bc"), "k", {"v": 4})
    assert memory.get(odd, "k/#%").value == {"v": 1}  # type: ignore[union-attr]
    assert sorted(i.value["v"] for i in memory.search(("a",))) == [2, 3, 4]
    assert [i.value["v"] for i in memory.search(("a", "b"))] == [3]
    assert memory.list_namespaces() == [("a",), ("a", "b"), ("a", "bc"), odd]
    assert memory.list_namespaces(prefix=("a",)) == [("a",), ("a", "b"), ("a", "bc")]
    assert memory.list_namespaces(suffix=("b",)) == [("a", "b")]
    assert memory.list_namespaces(prefix=("a", "*")) == [("a", "b"), ("a", "bc")]
    assert memory.list_namespaces(max_depth=1) == [("a",), ("a/b",)]
    assert memory.list_namespaces(limit=2, offset=1) == [("a", "b"), ("a", "bc")]


def test_search_filters_order_and_paging(memory: ASMStore) -> None:
    ns = ("docs",)
    for i in range(6):
        memory.put(
            ns, f"d{i}", {"i": i, "kind": "even" if i % 2 == 0 else "odd", "meta": {"tag": f"t{i % 3}"}}
        )
    newest_first = [item.key for item in memory.search(ns)]
    assert newest_first == ["d5", "d4", "d3", "d2", "d1", "d0"]
    assert [i.key for i in memory.search(ns, filter={"kind": "even"})] == ["d4", "d2", "d0"]
    assert [i.key for i in memory.search(ns, filter={"i": {"$gte": 2, "$lt": 4}})] == ["d3", "d2"]
    assert [i.key for i in memory.search(ns, filter={"i": {"$ne": 0}, "meta": {"tag": "t0"}})] == ["d3"]
    assert [i.key for i in memory.search(ns, limit=2, offset=1)] == ["d4", "d3"]
    assert [i.key for i in memory.search(ns, query="anything", limit=1)] == ["d5"]  # no index: ignored
    assert memory.search(("nothing",)) == []


def test_ttl_expiry_refresh_and_sweep(url: str) -> None:
    with ASMStore.from_url(
        url, ttl={"default_ttl": 0.01, "refresh_on_read": True}, **_options(url)
    ) as memory:
        ns = ("ttl", uuid.uuid4().hex)
        memory.put(ns, "short", {"v": 1})  # default_ttl: 0.6 s
        memory.put(ns, "long", {"v": 2}, ttl=10)
        memory.put(ns, "forever", {"v": 3}, ttl=None)
        deadline = time.monotonic() + 0.4
        while time.monotonic() < deadline:  # reads refresh the expiry
            assert memory.get(ns, "short") is not None
            time.sleep(0.1)
        time.sleep(0.8)
        assert memory.get(ns, "short") is None
        assert sorted(i.key for i in memory.search(ns)) == ["forever", "long"]
        assert memory.get(ns, "long", refresh_ttl=False) is not None
        assert memory.sweep_ttl() == 1
        assert sync.portal().call(memory.store.get_state, f"{KIND}ttl/{ns[1]}/#short") is None
        assert memory.sweep_ttl() == 0


def test_bad_input(memory: ASMStore) -> None:
    with pytest.raises(ValidationError):
        memory.put(("x",), "k", {"v": math.nan})
    assert memory.get(("x",), "k") is None
    with pytest.raises(ValidationError, match="semantic search"):
        ASMStore(memory.store, index={"dims": 3, "embed": lambda texts: [[0.0] * 3 for _ in texts]})
    with pytest.raises(ValueError):  # LangGraph's own namespace validation
        memory.put(("",), "k", {"v": 1})


async def test_async_on_the_callers_loop(url: str) -> None:
    async with await open_store(url, **_options(url)) as store:
        memory = ASMStore(store)
        ns = ("async", uuid.uuid4().hex)
        await memory.aput(ns, "k", {"v": 1}, ttl=0.005)
        assert (await memory.aget(ns, "k")).value == {"v": 1}  # type: ignore[union-attr]
        assert [i.key for i in await memory.asearch(ns)] == ["k"]
        assert ns in await memory.alist_namespaces(prefix=ns)
        await asyncio.sleep(0.5)  # expired (0.3 s after the last read refreshed it)
        task = await memory.start_ttl_sweeper(sweep_interval_minutes=1)
        await asyncio.sleep(0.2)
        assert await store.get_state(f"{KIND}async/{ns[1]}/#k") is None  # swept by the sweeper
        assert not task.done()
        assert await memory.stop_ttl_sweeper()
        with pytest.raises(ValidationError, match="sync methods"):
            memory.get(ns, "k")


def test_maintenance_deletes_expired_items(url: str) -> None:
    with ASMStore.from_url(url, **_options(url)) as memory:
        ns = ("maint", uuid.uuid4().hex)
        memory.put(ns, "gone", {"v": 1}, ttl=0.001)
        memory.put(ns, "kept", {"v": 2}, ttl=60)
        time.sleep(0.2)
        store = sync.SyncStore(sync.portal(), memory.store, owns_loop=False)
        nothing = RetentionPolicy(max_completed_session_age_days=None, hard_delete_after_days=None)
        assert maintenance_api(store).execute(nothing, dry_run=True).states_expired == 1
        assert maintenance_api(store).execute(nothing).states_expired == 1
        assert sync.portal().call(memory.store.get_state, f"{KIND}maint/{ns[1]}/#gone") is None
        assert [i.key for i in memory.search(ns)] == ["kept"]
