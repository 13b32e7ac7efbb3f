"""Retention on LangGraph threads never breaks a thread's latest checkpoint: `ASMSaver.prune` and our
`RetentionPolicy` (event-count pruning) both leave the state intact, and the graph continues exactly as on
LangGraph's own `InMemorySaver`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from agent_session_manager import sync
from agent_session_manager.integrations.langgraph import ASMSaver
from agent_session_manager.integrations.langgraph.layout import STATE_TYPES, session_id_for
from agent_session_manager.maintenance import RetentionPolicy, maintenance_api
from test_langgraph_graph import CONFIG, THREAD, build, question


def _turns(graph: Any, first: int, last: int) -> None:
    for turn in range(first, last + 1):
        graph.invoke({"messages": [question(turn, interrupt_at=0)]}, CONFIG)


def _values(graph: Any) -> list[dict[str, Any]]:
    return [m.model_dump() for m in graph.get_state(CONFIG).values["messages"]]


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sync.SyncStore]:
    if request.param == "memory":
        url, options = "memory://", {}
    elif request.param == "sqlite":
        url, options = f"sqlite:///{tmp_path / 'asm.db'}", {"migrate": True}
    else:
        url, options = request.getfixturevalue("postgres_url"), {"migrate": True}
    opened = sync.portal().open_store(url, **options)
    yield opened
    opened.delete_session(session_id_for(THREAD))
    opened.close()


def test_prune_and_retention_keep_the_latest_checkpoint(store: sync.SyncStore) -> None:
    reference = build(InMemorySaver())
    _turns(reference, 1, 8)
    saver = ASMSaver(store)
    graph = build(saver)
    _turns(graph, 1, 6)
    before = _values(graph)
    session_id = session_id_for(THREAD)
    state_events = len(store.get_events(session_id, types=STATE_TYPES))

    saver.prune([THREAD])
    assert len(list(graph.get_state_history(CONFIG))) == 1
    assert len(store.get_events(session_id, types=STATE_TYPES)) < state_events / 4
    assert _values(build(ASMSaver(store))) == before  # a fresh saver reads the pruned thread alike

    policy = RetentionPolicy(
        max_events_per_session=5, exempt_statuses=frozenset(), max_completed_session_age_days=None
    )
    report = maintenance_api(store).execute(policy)  # the sync store gives the blocking twin
    assert report.events_pruned > 0
    assert len(store.get_events(session_id, types=["message_sent", "message_received"])) < 12

    graph = build(ASMSaver(store))
    assert _values(graph) == before
    _turns(graph, 7, 8)
    assert _values(graph) == _values(reference)

    saver.prune([THREAD], strategy="delete")
    assert graph.get_state(CONFIG).values == {}
