"""A real compiled LangGraph graph (agent -> tools -> agent, scripted nodes, no model) on `ASMSaver`.

50 turns, an interrupt on turn 25 resumed in a fresh process (a fresh saver on memory), time travel to an
earlier checkpoint and a fork; after each stage the state and the whole history equal what LangGraph's
own `InMemorySaver` gives for the same script. Also: storage stays linear (no message stored twice) and
the messages are readable as core events.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import Command, interrupt

from agent_session_manager import sync
from agent_session_manager.integrations.langgraph import ASMSaver
from agent_session_manager.integrations.langgraph.layout import CHECKPOINT, session_id_for

TURNS = 50
INTERRUPT_TURN = 25
THREAD = "support/thread #1"  # not a valid session id: exercises the reversible mapping


def agent(state: MessagesState) -> dict[str, list[AnyMessage]]:
    """A scripted model: asks for the `lookup` tool after a human message, answers after a tool."""
    messages = state["messages"]
    n, last = len(messages), messages[-1]
    usage = {"input_tokens": 10 * n, "output_tokens": 5, "total_tokens": 10 * n + 5}
    if isinstance(last, HumanMessage):
        call = {"id": f"call-{n}", "name": "lookup", "args": {"q": last.content}}
        return {
            "messages": [AIMessage(f"looking up {n}", id=f"ai-{n}", tool_calls=[call], usage_metadata=usage)]
        }
    return {"messages": [AIMessage(f"answer {n}: {last.content}", id=f"ai-{n}", usage_metadata=usage)]}


def tools(state: MessagesState) -> dict[str, list[AnyMessage]]:
    """Runs each tool call; a query asking for approval interrupts the graph until a human answers."""
    last = state["messages"][-1]
    assert isinstance(last, AIMessage)
    out: list[AnyMessage] = []
    for call in last.tool_calls:
        query = call["args"]["q"]
        verdict = interrupt({"approve": query}) if "approve" in query else "auto"
        out.append(
            ToolMessage(f"{query} -> {verdict}", tool_call_id=call["id"], name="lookup", id=f"t-{call['id']}")
        )
    return {"messages": out}


def route(state: MessagesState) -> str:
    last = state["messages"][-1]
    return "tools" if isinstance(last, AIMessage) and last.tool_calls else END


def build(checkpointer: BaseCheckpointSaver[Any]) -> Any:
    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", tools)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["tools", END])
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=checkpointer)


def question(turn: int, interrupt_at: int) -> HumanMessage:
    text = f"please approve refund {turn}" if turn == interrupt_at else f"question {turn}"
    return HumanMessage(text, id=f"h-{turn}")


CONFIG = {"configurable": {"thread_id": THREAD}}


def first_part(graph: Any, interrupt_at: int = INTERRUPT_TURN) -> None:
    """Turns 1..interrupt_at; the last one stops at the tool's interrupt."""
    for turn in range(1, interrupt_at + 1):
        graph.invoke({"messages": [question(turn, interrupt_at)]}, CONFIG)


def second_part(graph: Any, interrupt_at: int = INTERRUPT_TURN, turns: int = TURNS) -> None:
    """Resume the interrupt, then the remaining turns."""
    graph.invoke(Command(resume="approved"), CONFIG)
    for turn in range(interrupt_at + 1, turns + 1):
        graph.invoke({"messages": [question(turn, interrupt_at)]}, CONFIG)


def travel_and_fork(graph: Any) -> dict[str, Any]:
    """Replay from the checkpoint after turn 10's answer, then fork it with an edited state."""
    history = list(graph.get_state_history(CONFIG))
    target = next(s for s in history if len(s.values["messages"]) == 40 and not s.next)
    replayed = graph.invoke(None, target.config)
    forked_config = graph.update_state(target.config, {"messages": [HumanMessage("fork", id="h-fork")]})
    forked = graph.invoke(None, forked_config)
    return {"replayed": len(replayed["messages"]), "forked": [m.content for m in forked["messages"][-3:]]}


def snapshot(graph: Any, *, history: bool = False) -> dict[str, Any]:
    """What must be equal between two savers: the state, and (`history`) the whole history without
    checkpoint ids or times."""
    state = graph.get_state(CONFIG)
    steps = [
        (
            [m.model_dump() for m in s.values.get("messages", [])],
            list(s.next),
            s.metadata.get("step"),
            s.metadata.get("source"),
            [(t.name, [i.value for i in t.interrupts]) for t in s.tasks],
        )
        for s in graph.get_state_history(CONFIG)
    ]
    return {
        "values": [m.model_dump() for m in state.values["messages"]],
        "next": list(state.next),
        "history": steps,
    }


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    """The same script on LangGraph's own InMemorySaver."""
    graph = build(InMemorySaver())
    first_part(graph)
    interrupted = snapshot(graph)
    second_part(graph)
    done = snapshot(graph)
    travelled = travel_and_fork(graph)
    return {
        "interrupted": interrupted,
        "done": done,
        "travelled": travelled,
        "final": snapshot(graph, history=True),
    }


def _resume_in_fresh_process(url: str) -> dict[str, Any]:
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[2]); import test_langgraph_graph as t;"
        "from agent_session_manager.integrations.langgraph import ASMSaver\n"
        "with ASMSaver.from_url(sys.argv[1]) as saver:\n"
        "    graph = t.build(saver); t.second_part(graph); print(json.dumps(t.snapshot(graph)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, url, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "memory":
        yield "memory://"
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'asm.db'}"
    else:
        from agent_session_manager.sessions.sql import migrations

        url: str = request.getfixturevalue("postgres_url")
        migrations.upgrade(url)
        yield url


def test_graph_matches_in_memory_saver(store_url: str, reference: dict[str, Any]) -> None:
    options = {} if store_url == "memory://" else {"migrate": True}
    store = sync.portal().open_store(store_url, **options)
    try:
        saver = ASMSaver(store)
        graph = build(saver)
        first_part(graph)
        assert snapshot(graph) == reference["interrupted"]
        assert graph.get_state(CONFIG).next == ("tools",)

        if store_url == "memory://":
            graph = build(ASMSaver(store))  # a fresh saver: nothing cached
            second_part(graph)
            resumed = _jsonable(snapshot(graph))
        else:
            resumed = _resume_in_fresh_process(store_url)
        assert resumed == _jsonable(reference["done"])

        graph = build(ASMSaver(store))
        assert snapshot(graph) == reference["done"]
        assert travel_and_fork(graph) == reference["travelled"]
        assert snapshot(graph, history=True) == reference["final"]

        session_id = session_id_for(THREAD)
        session = store.get_session(session_id)
        assert session.metadata["langgraph"]["thread_id"] == THREAD
        events = store.get_events(session_id)
        # Linear storage: the message list is stored whole once, then only its new elements.
        records = [
            e.data["values"]["messages"][1]
            for e in events
            if e.type == CHECKPOINT and "messages" in e.data["values"]
        ]
        assert [r[0] for r in records].count("full") == 1
        appended = sum(len(r[2]) for r in records if r[0] == "append")
        assert appended <= len(reference["done"]["values"]) + 10
        # The messages are core events too, with their token usage.
        humans = [e.data["content"] for e in events if e.type == "message_sent"]
        assert humans[:3] == ["question 1", "question 2", "question 3"]
        assert sum(1 for e in events if e.type == "tool_call_started") >= TURNS
        usage = [e.data for e in events if e.type == "token_usage_updated"]
        assert usage[0] == {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    finally:
        store.delete_session(session_id_for(THREAD))  # PostgreSQL's database is shared by the session
        store.close()


def test_readme_example_runs() -> None:
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = text.index("## LangGraph")
    blocks = re.findall(r"```python\n(.*?)```", text[start : text.index("\n## ", start + 5)], flags=re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md[LangGraph]", "exec"), {"__name__": "__main__"})


def test_state_edited_in_place_is_saved_like_in_memory_saver() -> None:
    """LangGraph's own tests edit a `get_state` result in place and write it back with `update_state`:
    the edit is saved (nothing compares objects), and what the saver handed out before is untouched."""
    store = sync.portal().open_store("memory://")
    try:
        outcomes = []
        for saver in (InMemorySaver(), ASMSaver(store)):
            graph = build(saver)
            first_part(graph, interrupt_at=2)  # turn 2 waits at the tool's interrupt
            before = graph.get_state(CONFIG)
            last = before.values["messages"][-1]
            last.tool_calls[0]["args"]["q"] = "edited"
            graph.update_state(CONFIG, {"messages": last})
            second_part(graph, interrupt_at=2, turns=3)
            untouched = graph.get_state(before.config).values["messages"][-1].tool_calls[0]["args"]
            outcomes.append((snapshot(graph, history=True), untouched))
        assert outcomes[0] == outcomes[1]
        assert outcomes[1][1] == {"q": "please approve refund 2"}
        assert snapshot(build(ASMSaver(store)), history=True) == outcomes[0][0]  # rebuilt from storage
    finally:
        store.close()


def test_state_handed_out_is_a_copy() -> None:
    """A node may return an object it keeps (a fake model's canned answer): editing a `get_state`
    result must not reach it, as with LangGraph's savers, which hand out deserialized copies."""
    canned = AIMessage(
        "canned", id="ai-canned", tool_calls=[{"id": "c1", "name": "lookup", "args": {"q": "x"}}]
    )
    builder = StateGraph(MessagesState)
    builder.add_node("model", lambda state: {"messages": [canned]})
    builder.add_edge(START, "model")
    builder.add_edge("model", END)
    with ASMSaver.from_url("memory://") as saver:
        graph = builder.compile(checkpointer=saver)
        graph.invoke({"messages": [HumanMessage("hi", id="h-1")]}, CONFIG)
        handed = graph.get_state(CONFIG).values["messages"][-1]
        handed.tool_calls[0]["args"]["q"] = "edited"
        assert canned.tool_calls[0]["args"] == {"q": "x"}
        assert graph.get_state(CONFIG).values["messages"][-1].tool_calls[0]["args"] == {"q": "x"}
