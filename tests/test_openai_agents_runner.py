"""The OpenAI Agents SDK end to end on our stores: a real `Runner.run` of an agent with a tool on a
scripted model (no network), over several turns, kept by `ASMSession` and resumed in a fresh process
under `Runner.run_sync`; `ASMTracingProcessor` records each run with its model, tokens, tool calls and
cost; `asm import --from openai-sqlite:///path` brings a `SQLiteSession` database over."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import agents
import pytest
from agents import Runner, SQLiteSession, trace

from agent_session_manager import ASMError, EventType, RunStatus, open_store
from agent_session_manager.integrations.openai_agents import (
    ASMSession,
    ASMTracingProcessor,
    asm_session_id,
    import_sqlite_sessions,
)
from agent_session_manager.pricing import DEFAULT_PRICING, PricingTable, ProviderPricing, Rates
from agent_session_manager.sessions.base import SessionStore
from agent_session_manager.sessions.sql import migrations
from openai_agents_agent import CACHED_TOKENS, INPUT_TOKENS, MODEL, OUTPUT_TOKENS, weather_agent
from openai_agents_items import SAMPLES

QUESTION = "What's the weather in Paris?"
TESTS = Path(__file__).parent


@pytest.fixture
def tracing() -> Iterator[list[ASMTracingProcessor]]:
    """The SDK's trace processors for one test (none of them exports anywhere); emptied afterwards."""
    chosen: list[ASMTracingProcessor] = []
    yield chosen
    agents.set_trace_processors([])


def call_cost() -> float:
    rates = DEFAULT_PRICING.rates_for("openai", MODEL)
    assert rates is not None
    uncached = INPUT_TOKENS - CACHED_TOKENS
    return uncached * rates.input + CACHED_TOKENS * rates.rate("cache_read") + OUTPUT_TOKENS * rates.output


async def test_runner_turns_are_kept_and_each_run_is_recorded(
    store: SessionStore, tracing: list[ASMTracingProcessor]
) -> None:
    processor = ASMTracingProcessor(store)
    agents.set_trace_processors([processor])
    agent = weather_agent()
    session = ASMSession(f"chat-{uuid.uuid4().hex}", store)
    first = await Runner.run(agent, QUESTION, session=session)
    second = await Runner.run(agent, "Anything else?", session=session)
    await processor.flush()

    assert first.final_output == "The weather: sunny in Paris."
    assert second.final_output == f"You asked 2 questions; the first was: {QUESTION}"
    events = await store.get_events(session.asm_session_id)
    assert [e.type for e in events] == [
        EventType.MESSAGE_SENT,
        EventType.TOOL_CALL_STARTED,
        EventType.TOOL_CALL_COMPLETED,
        EventType.MESSAGE_RECEIVED,
        EventType.MESSAGE_SENT,
        EventType.MESSAGE_RECEIVED,
    ]
    assert events[1].data["tool_name"] == "get_weather"
    assert (await session.get_items())[0] == {"role": "user", "content": QUESTION}

    runs = (await store.list_runs(session.asm_session_id)).items
    assert len(runs) == 2
    tool_run, chat_run = runs
    assert [e.run_id for e in events] == [tool_run.id] * 4 + [chat_run.id] * 2
    assert tool_run.status == RunStatus.COMPLETED
    assert tool_run.provider == "openai"
    assert tool_run.provider_metadata == {"model": MODEL}
    assert tool_run.turn_count == 2
    assert tool_run.token_usage == {
        "input_tokens": 2 * (INPUT_TOKENS - CACHED_TOKENS),
        "output_tokens": 2 * OUTPUT_TOKENS,
        "cache_read_tokens": 2 * CACHED_TOKENS,
        "cache_creation_tokens": 0,
        "total_tokens": 2 * (INPUT_TOKENS + OUTPUT_TOKENS),
        "requests": 2,
    }
    assert tool_run.cost_usd == pytest.approx(2 * call_cost())
    assert chat_run.cost_usd == pytest.approx(call_cost())
    recorded = tool_run.metadata["openai_agents"]
    call = {"name": "get_weather", "input": '{"city": "Paris"}', "output": "sunny in Paris"}
    assert recorded["tool_calls"] == [call]
    assert recorded["agents"] == ["weather"]
    assert recorded["workflow_name"] == "Agent workflow"
    assert tool_run.ended_at is not None and tool_run.ended_at >= tool_run.started_at


async def test_runs_without_an_asm_session_land_in_the_group_or_trace_session(
    store: SessionStore, tracing: list[ASMTracingProcessor]
) -> None:
    pricing = PricingTable(providers={"openai": ProviderPricing(models={MODEL: Rates.per_million(1.0, 2.0)})})
    processor = ASMTracingProcessor(store, pricing=pricing, agent_id="weather-bot")
    agents.set_trace_processors([processor])
    group = f"group-{uuid.uuid4().hex}"
    with trace("two questions", group_id=group):
        await Runner.run(weather_agent(), QUESTION)
        await Runner.run(weather_agent(), "Anything else?")
    await processor.flush()
    session = await store.get_session(asm_session_id(group))
    assert session.agent_id == "weather-bot"
    runs = (await store.list_runs(session.id)).items
    assert [r.turn_count for r in runs] == [2, 1]
    assert runs[1].cost_usd == pytest.approx((INPUT_TOKENS * 1.0 + OUTPUT_TOKENS * 2.0) / 1e6)
    assert {r.metadata["openai_agents"]["workflow_name"] for r in runs} == {"two questions"}


@agents.function_tool(name_override="get_weather")
def offline_weather(city: str) -> str:
    """A weather tool whose station is down."""
    raise RuntimeError(f"station offline in {city}")


async def test_a_failed_tool_and_an_unpriced_model_are_recorded_honestly(
    store: SessionStore, tracing: list[ASMTracingProcessor]
) -> None:
    processor = ASMTracingProcessor(store, pricing=PricingTable())
    agents.set_trace_processors([processor])
    agent = weather_agent().clone(tools=[offline_weather])
    session = ASMSession(f"chat-{uuid.uuid4().hex}", store)
    await Runner.run(agent, QUESTION, session=session)
    await processor.flush()
    (run,) = (await store.list_runs(session.asm_session_id)).items
    assert run.cost_usd is None
    (call,) = run.metadata["openai_agents"]["tool_calls"]
    assert call["name"] == "get_weather"
    assert call["error"].startswith("Error running tool (non-fatal)")
    assert call["output"] == "An error occurred while running the tool. Please try again."


#: `python -c TURN url session_id question`: one turn under `Runner.run_sync` in a fresh process, with
#: the session and the tracing processor opened by URL; prints the final output.
TURN = """
import sys
import agents
from agents import Runner
from openai_agents_agent import weather_agent
from agent_session_manager.integrations.openai_agents import ASMSession, ASMTracingProcessor

url, session_id, question = sys.argv[1:4]
processor = ASMTracingProcessor.from_url(url)
agents.set_trace_processors([processor])
session = ASMSession.from_url(session_id, url=url)
print(Runner.run_sync(weather_agent(), question, session=session).final_output, flush=True)
session.close()
processor.shutdown()
"""


@pytest.mark.slow
def test_a_conversation_resumes_in_a_fresh_process(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path}/asm.db"
    migrations.upgrade(db_url)
    session_id = f"resume-{uuid.uuid4().hex}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    answers = []
    for question in (QUESTION, "And what did I ask first?"):
        done = subprocess.run(
            [sys.executable, "-c", TURN, db_url, session_id, question],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        answers.append(done.stdout.strip())
    assert answers == ["The weather: sunny in Paris.", f"You asked 2 questions; the first was: {QUESTION}"]

    async def stored() -> tuple[int, list[float | None]]:
        async with await open_store(db_url) as check:
            events = await check.get_events(session_id)
            runs = (await check.list_runs(session_id)).items
            return len(events), [r.cost_usd for r in runs]

    count, costs = asyncio.run(stored())
    assert count == 6
    assert costs == [pytest.approx(2 * call_cost()), pytest.approx(call_cost())]


def sdk_database(path: Path) -> dict[str, list[object]]:
    """A `SQLiteSession` file written by the SDK itself: two sessions and one corrupt row."""
    conversations: dict[str, list[object]] = {
        "alice": list(SAMPLES.values()),
        "bob / ü": [{"role": "user", "content": "hi"}, SAMPLES["ResponseOutputMessageParam"]],
    }
    for sdk_id, items in conversations.items():
        session = SQLiteSession(sdk_id, path)
        asyncio.run(session.add_items(items))  # type: ignore[arg-type]
        session.close()
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO agent_messages (session_id, message_data) VALUES (?, ?)", ("bob / ü", "{not json")
        )
    return conversations


def test_asm_import_from_an_sdk_sqlite_database(tmp_path: Path) -> None:
    from test_cli import invoke

    conversations = sdk_database(tmp_path / "sdk.db")
    db_url = f"sqlite:///{tmp_path}/asm.db"
    migrations.upgrade(db_url)
    done = invoke(["--database-url", db_url, "import", "--from", f"openai-sqlite://{tmp_path}/sdk.db"])
    assert done.returncode == 0, done.stderr
    assert "imported alice as alice: 33 items" in done.stdout
    assert "1 unreadable rows skipped" in done.stdout

    async def read() -> dict[str, list[object]]:
        async with await open_store(db_url) as check:
            return {sdk_id: await ASMSession(sdk_id, check).get_items() for sdk_id in conversations}

    assert asyncio.run(read()) == conversations
    again = invoke(["--database-url", db_url, "import", "--from", f"openai-sqlite://{tmp_path}/sdk.db"])
    assert again.returncode != 0
    assert "already_exists" in again.stderr


async def test_import_refuses_bad_urls_and_files(tmp_path: Path) -> None:
    async with await open_store("memory://") as target:
        for bad in ("sqlite:///x.db", f"openai-sqlite://{tmp_path}/missing.db", "openai-sqlite://"):
            with pytest.raises(ASMError) as caught:
                await import_sqlite_sessions(target, bad)
            assert caught.value.code == "validation_error"
        (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
        with pytest.raises(ASMError) as caught:
            await import_sqlite_sessions(target, f"openai-sqlite://{tmp_path}/junk.db")
        assert caught.value.code == "storage_error"
