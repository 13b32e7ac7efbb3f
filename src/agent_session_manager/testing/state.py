"""The contract of scoped state documents (`get_state`, `put_state`, `merge_state`, `delete_state`,
`list_states`, `append_events(state_updates=)`), on every backend.

`SessionStoreContract` includes these tests. The race between OS processes needs a store that other
processes can open: a backend's test class returns its URL from `shared_url()`; a store that lives in
one process only (memory) races the same workers as tasks of this process instead.
"""

from __future__ import annotations

import asyncio
import inspect
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ..core.errors import ASMError, ConflictError, InvalidCursor, SessionNotFound, ValidationError
from ..core.models import Event, EventType, Session
from ..sessions.base import SessionStore
from ..sessions.state import State
from .races import ProcessRaces, in_processes

#: Scopes every backend refuses (`validation_error`) before anything is written.
BAD_SCOPES: list[Any] = [
    None,
    5,
    b"app:x",
    "",
    "app",
    "app:",
    ":x",
    "App:x",
    "1app:x",
    "a-b:x",
    "app:x\n",
    "app:\x00",
    "app:\ud800",
    "session:",
    "session:has space",
    "session:" + "x" * 129,
    "user:agent-only",
    "user::u",
    "app:" + "x" * 600,
]
#: Values and deltas that are not JSON objects, or would not come back unchanged.
BAD_VALUES: list[Any] = [
    None,
    [1, 2],
    "text",
    5,
    {"n": float("nan")},
    {"n": float("inf")},
    {"t": (1, 2)},
    {"s": {1, 2}},
    {"b": b"bytes"},
    {1: "int key"},
    {"big": 2**64},
    {"nul": "a\x00b"},
    {"when": datetime(2026, 1, 1, tzinfo=UTC)},
]
BAD_EXPECTATIONS: list[Any] = [-1, 2**63, True, 1.5, "1"]

#: A racing worker, run as `python -c RACER url scope worker rounds`: `race` (its source is appended,
#: so the worker imports only the library) on its own connection, printing `race`'s result as JSON.
RACER = """
import asyncio, sys, orjson
from typing import Any
from agent_session_manager import ConflictError, open_store
from agent_session_manager.sessions.base import SessionStore

async def main(url, scope, worker, rounds):
    async with await open_store(url) as store:
        print(orjson.dumps(await race(store, scope, worker, rounds)).decode(), flush=True)

"""


async def race(store: SessionStore, scope: str, worker: int, rounds: int) -> dict[str, Any]:
    """One racer's rounds (see `RACER`): what it merged, what it put, and each conflict it saw as
    `[version read, expected, actual]`."""
    merged: list[str] = []
    put: list[str] = []
    conflicts: list[list[int]] = []
    for n in range(rounds):
        key = f"m{worker}_{n}"
        await store.merge_state(scope, {key: n})
        merged.append(key)
        current = await store.get_state(scope)
        assert current is not None
        await asyncio.sleep(0)  # let the other racers in between the read and the write
        mine = f"p{worker}_{n}"
        try:
            if n % 2:
                await store.put_state(scope, {**current.value, mine: n}, expected_version=current.version)
            else:
                await store.merge_state(scope, {mine: n}, expected_version=current.version)
        except ConflictError as exc:
            conflicts.append([current.version, exc.details["expected"], exc.details["actual"]])
        else:
            put.append(mine)
    return {"merged": merged, "put": put, "conflicts": conflicts}


_RUN = "\nasyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))\n"


def _recent(moment: datetime) -> bool:
    return moment.tzinfo is not None and abs(datetime.now(UTC) - moment) < timedelta(minutes=5)


class StateContract(ProcessRaces):
    """Tests of state documents; mixed into `SessionStoreContract`, which provides `store`."""

    async def test_put_and_get_state_count_versions(self, store: SessionStore) -> None:
        assert await store.get_state("app:support-bot") is None
        first = await store.put_state("app:support-bot", {"greeting": "hi", "limits": {"a": 1}})
        assert isinstance(first, State)
        assert (first.scope, first.value, first.version) == (
            "app:support-bot",
            {"greeting": "hi", "limits": {"a": 1}},
            1,
        )
        assert _recent(first.updated_at)
        assert await store.get_state("app:support-bot") == first
        second = await store.put_state("app:support-bot", {"greeting": "hello"})
        assert (second.value, second.version) == ({"greeting": "hello"}, 2)
        assert second.updated_at >= first.updated_at
        got = await store.get_state("app:support-bot")
        assert got == second
        assert got is not None
        got.value["greeting"] = "changed by the caller"
        assert (await store.get_state("app:support-bot")) == second
        assert await store.get_state("app:other") is None

    async def test_merge_state_is_shallow_and_none_removes_a_key(self, store: SessionStore) -> None:
        created = await store.merge_state("user:bot:u1", {"a": 1, "gone": None, "nested": {"x": 1, "y": 2}})
        assert (created.value, created.version) == ({"a": 1, "nested": {"x": 1, "y": 2}}, 1)
        merged = await store.merge_state("user:bot:u1", {"b": [1, None], "nested": {"x": None}, "a": None})
        assert (merged.value, merged.version) == ({"b": [1, None], "nested": {"x": None}}, 2)
        assert await store.get_state("user:bot:u1") == merged
        unchanged = await store.merge_state("user:bot:u1", {})
        assert (unchanged.value, unchanged.version) == (merged.value, 3)

    async def test_expected_version_makes_a_change_conditional(self, store: SessionStore) -> None:
        scope = "app:cas"
        created = await store.put_state(scope, {"n": 0}, expected_version=0)
        assert created.version == 1
        for attempt in (
            store.put_state(scope, {"n": 9}, expected_version=0),
            store.put_state(scope, {"n": 9}, expected_version=2),
            store.merge_state(scope, {"n": 9}, expected_version=7),
        ):
            with pytest.raises(ConflictError) as raised:
                await attempt
            assert raised.value.code == "conflict" and not raised.value.retryable
            assert raised.value.details["actual"] == 1
        assert await store.get_state(scope) == created
        assert (await store.merge_state(scope, {"m": 1}, expected_version=1)).version == 2
        assert (await store.put_state(scope, {"n": 2}, expected_version=2)).value == {"n": 2}
        with pytest.raises(ConflictError) as missing:
            await store.merge_state("app:nothing", {"n": 1}, expected_version=1)
        assert (missing.value.details["expected"], missing.value.details["actual"]) == (1, 0)
        assert await store.get_state("app:nothing") is None
        assert (await store.merge_state("app:nothing", {"n": 1}, expected_version=0)).version == 1

    async def test_delete_state_and_start_again(self, store: SessionStore) -> None:
        await store.put_state("app:a", {"v": 1})
        await store.put_state("app:a", {"v": 2})
        await store.put_state("app:b", {"v": 1})
        assert await store.delete_state("app:a") is True
        assert await store.delete_state("app:a") is False
        assert await store.get_state("app:a") is None
        again = await store.merge_state("app:a", {"v": 3})
        assert (again.value, again.version) == ({"v": 3}, 1)
        assert (await store.get_state("app:b")) is not None

    async def test_list_states_by_prefix_pages_each_scope_once(self, store: SessionStore) -> None:
        scopes = [
            "app:a",
            "app:a:sub",
            "app:b",
            "app_x:1",
            "user:a:1",
            "user:a:2",
            "user:a:10",
            "user:ab:1",
            "user:b:1",
            "custom:é",
            "custom:z",
        ]
        for n, scope in enumerate(scopes):
            await store.put_state(scope, {"n": n})
        everything: list[State] = []
        cursor = None
        while True:
            page = await store.list_states(limit=3, cursor=cursor)
            everything.extend(page.items)
            if page.next_cursor is None:
                break
            assert len(page.items) == 3
            cursor = page.next_cursor
        assert [s.scope for s in everything] == sorted(scopes)
        assert all(s.value == {"n": scopes.index(s.scope)} and s.version == 1 for s in everything)
        user_a = await store.list_states("user:a:")
        assert [s.scope for s in user_a.items] == ["user:a:1", "user:a:10", "user:a:2"]
        assert user_a.next_cursor is None
        assert [s.scope for s in (await store.list_states("app:")).items] == ["app:a", "app:a:sub", "app:b"]
        assert [s.scope for s in (await store.list_states("custom:é")).items] == ["custom:é"]
        assert (await store.list_states("nothing:")).items == []
        first = await store.list_states("user:", limit=1)
        assert first.next_cursor is not None
        with pytest.raises(InvalidCursor):
            await store.list_states("app:", cursor=first.next_cursor)
        for limit in (0, -1, 1001):
            with pytest.raises(ValidationError):
                await store.list_states(limit=limit)
        with pytest.raises(ValidationError):
            await store.list_states("bad\nprefix")

    async def test_session_scopes_need_their_session_and_go_with_it(self, store: SessionStore) -> None:
        with pytest.raises(SessionNotFound):
            await store.put_state("session:ses_missing", {"a": 1})
        with pytest.raises(SessionNotFound):
            await store.merge_state("session:ses_missing", {"a": 1})
        assert (await store.list_states()).items == []
        session = await store.save_session(Session(agent_id="bot"))
        other = await store.save_session(Session(agent_id="bot"))
        await store.put_state(f"session:{session.id}", {"cart": [1]})
        await store.merge_state(f"session:{other.id}", {"cart": [2]})
        await store.put_state("user:bot:u1", {"kept": True})
        await store.delete_session(session.id)
        assert await store.get_state(f"session:{session.id}") is None
        assert [s.scope for s in (await store.list_states()).items] == sorted(
            [f"session:{other.id}", "user:bot:u1"]
        )

    async def test_append_events_with_state_updates_is_both_or_neither(self, store: SessionStore) -> None:
        session = await store.save_session(Session(agent_id="bot"))
        own = f"session:{session.id}"
        await store.put_state("app:bot", {"turns": 0, "mode": "chat"})

        def event(**data: Any) -> Event:
            return Event(type=EventType.MESSAGE_SENT, session_id=session.id, data=data)

        stored = await store.append_events(
            [event(n=1), event(n=2)], state_updates={"app:bot": {"turns": 2, "mode": None}, own: {"step": 1}}
        )
        assert [e.sequence_number for e in stored] == [1, 2]
        app = await store.get_state("app:bot")
        assert app is not None and (app.value, app.version) == ({"turns": 2}, 2)
        assert (await store.get_state(own)) is not None
        failing: list[tuple[list[Any], dict[str, Any]]] = [
            ([event(n=3), "not an event"], {"app:bot": {"turns": 3}}),
            (
                [event(n=3), Event(type=EventType.MESSAGE_SENT, session_id="ses_missing")],
                {"app:bot": {"turns": 3}},
            ),
            ([event(n=3)], {"app:bot": {"turns": 3}, "session:ses_missing": {"x": 1}}),
            ([event(n=3)], {"app:bot": {"turns": 3}, "bad scope": {"x": 1}}),
            ([event(n=3)], {"app:bot": {"turns": 3}, "app:other": ["not", "an", "object"]}),
            ([event(n=3)], {"app:bot": {"turns": float("nan")}}),
        ]
        for events, updates in failing:
            with pytest.raises(ASMError):
                await store.append_events(events, state_updates=updates)
            assert await store.get_latest_sequence(session.id) == 2
            assert await store.get_state("app:bot") == app
            assert await store.get_state("app:other") is None
        with pytest.raises(ConflictError):
            await store.append_events(
                [event(n=3)], expected_sequence=1, state_updates={"app:bot": {"turns": 3}}
            )
        assert await store.get_state("app:bot") == app
        with pytest.raises(ValidationError):
            await store.append_events([event(n=3)], state_updates=[("app:bot", {"turns": 3})])  # type: ignore[arg-type]
        assert await store.get_latest_sequence(session.id) == 2
        assert await store.append_events([], state_updates={"app:bot": {"turns": 5}}) == []
        app = await store.get_state("app:bot")
        assert app is not None and (app.value, app.version) == ({"turns": 5}, 3)
        # A retry after a lost reply (every event already stored) changes nothing, state included.
        assert await store.append_events(stored, state_updates={"app:bot": {"turns": 2}}) == stored
        assert await store.get_state("app:bot") == app
        partly = await store.append_events([stored[1], event(n=3)], state_updates={own: {"step": 2}})
        assert [e.sequence_number for e in partly] == [2, 3]
        own_state = await store.get_state(own)
        assert own_state is not None and (own_state.value, own_state.version) == ({"step": 2}, 2)

    async def test_bad_input_is_refused_and_nothing_is_written(self, store: SessionStore) -> None:
        for scope in BAD_SCOPES:
            for attempt in (
                store.get_state(scope),
                store.put_state(scope, {"a": 1}),
                store.merge_state(scope, {"a": 1}),
                store.delete_state(scope),
            ):
                with pytest.raises(ValidationError) as raised:
                    await attempt
                assert raised.value.code == "validation_error", scope
        for value in BAD_VALUES:
            for attempt in (store.put_state("app:x", value), store.merge_state("app:x", value)):
                with pytest.raises(ValidationError) as raised:
                    await attempt
                assert raised.value.code == "validation_error", value
        for expected in BAD_EXPECTATIONS:
            for attempt in (
                store.put_state("app:x", {"a": 1}, expected_version=expected),
                store.merge_state("app:x", {"a": 1}, expected_version=expected),
            ):
                with pytest.raises(ValidationError) as raised:
                    await attempt
                assert raised.value.details["field"] == "expected_version"
        assert (await store.list_states()).items == []

    async def test_tasks_racing_merges_and_conditional_changes_lose_nothing(
        self, store: SessionStore
    ) -> None:
        results = await asyncio.gather(*(race(store, "app:tasks", worker, 6) for worker in range(8)))
        self._check_race(await store.get_state("app:tasks"), results)

    async def test_processes_racing_merges_and_conditional_changes_lose_nothing(
        self, store: SessionStore
    ) -> None:
        url = self.shared_url()
        scope, workers, rounds = "app:processes", 4, 10
        if url is None:
            # This store lives in one process: the same workers race as tasks of this process.
            results = await asyncio.gather(*(race(store, scope, w, rounds) for w in range(workers)))
        else:
            results = await in_processes(RACER + inspect.getsource(race) + _RUN, url, scope, workers, rounds)
        self._check_race(await store.get_state(scope), results)

    @staticmethod
    def _check_race(final: State | None, results: list[dict[str, Any]]) -> None:
        """Every change that succeeded counts one version, and no key a success wrote is lost."""
        assert final is not None
        merged = [key for result in results for key in result["merged"]]
        put = [key for result in results for key in result["put"]]
        assert final.version == len(merged) + len(put)
        assert set(merged) | set(put) <= set(final.value)
        for read, expected, actual in (c for result in results for c in result["conflicts"]):
            assert expected == read < actual, "a conflict reports the expectation and a newer version"
