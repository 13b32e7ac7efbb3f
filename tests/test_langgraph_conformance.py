"""LangGraph's own conformance suite (`langgraph-checkpoint-conformance`) on `ASMSaver`, every backend.

Every capability is run, the base ones and `copy_thread`, `prune` and `delete_for_runs`: none may fail
and none may be skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import ALL_CAPABILITIES

from agent_session_manager import open_store
from agent_session_manager.integrations.langgraph import ASMSaver

EXPECTED = ALL_CAPABILITIES


async def _run(url: str) -> None:
    name = f"ASMSaver-{uuid.uuid4().hex[:8]}"

    @checkpointer_test(name=name)
    async def factory() -> AsyncIterator[ASMSaver]:
        store = await open_store(url, **({} if url.startswith("memory") else {"migrate": True}))
        try:
            yield ASMSaver(store)
        finally:
            await store.close()

    report = await validate(factory, capabilities={cap.value for cap in EXPECTED})
    assert {cap for cap, result in report.results.items() if result.detected} == {
        cap.value for cap in EXPECTED
    }
    results = {cap.value: report.results[cap.value] for cap in EXPECTED}
    problems = {
        cap: result.failures or f"{result.tests_skipped} skipped"
        for cap, result in results.items()
        if result.passed is not True or result.tests_failed or result.tests_skipped
    }
    assert not problems
    assert report.passed_all_base()
    assert sum(r.tests_passed for r in results.values()) == 81


async def test_memory() -> None:
    await _run("memory://")


async def test_sqlite(tmp_path: Path) -> None:
    await _run(f"sqlite:///{tmp_path / 'asm.db'}")


@pytest.mark.postgres
async def test_postgres(postgres_url: str) -> None:
    await _run(postgres_url)
