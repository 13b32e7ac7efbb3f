"""Statistics, usage and cost in the `QueryAPI` contract. Part of `QueryAPIContract`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ..core.models import Run, RunStatus, Session
from ..pricing import PricingTable, ProviderPricing, Rates
from ..query.base import QueryAPI
from ..sessions.base import SessionStore
from .query_corpus import T0, Corpus, QueryContract, oracle_total


class SummaryContract(QueryContract):
    """`get_session_stats`, `get_usage_summary`, `get_cost_summary`."""

    # -- statistics, usage, cost ----------------------------------------------------------------

    async def _priced(self, store: SessionStore) -> tuple[Session, Session]:
        """Two sessions whose runs exercise every pricing rule (rates chosen to add up exactly)."""
        a = await store.save_session(Session(id="ses_cost_a", agent_id="alpha"))
        b = await store.save_session(Session(id="ses_cost_b", agent_id="beta"))
        runs = [
            # exact model match: 10*1 + 4*2 + 6*0.5 (cache read) + 2*4 (cache creation) = 29
            Run(
                id="run_exact",
                session_id=a.id,
                provider="anthropic",
                provider_metadata={"model": "claude-x"},
                token_usage={
                    "input_tokens": 10,
                    "output_tokens": 4,
                    "cache_read_input_tokens": 6,
                    "cache_creation_tokens": 2,
                },
                started_at=T0,
            ),
            # longest prefix "claude-x-1" (not "claude-x"): 10*8 + 1*16 = 96
            Run(
                id="run_prefix",
                session_id=a.id,
                provider="anthropic",
                provider_metadata={"model": "claude-x-1-preview"},
                token_usage={"input_tokens": 10, "output_tokens": 1},
                started_at=T0 + timedelta(hours=1),
            ),
            # provider default: 3*0.25 + 1*0.5 = 1.25
            Run(
                id="run_default",
                session_id=b.id,
                provider="anthropic",
                provider_metadata={"model": "other"},
                token_usage={"input_tokens": 3, "output_tokens": 1},
                started_at=T0 + timedelta(hours=2),
            ),
            # stored cost wins over the table
            Run(
                id="run_stored",
                session_id=b.id,
                provider="openai",
                provider_metadata={"model": "gpt-x"},
                token_usage={"input_tokens": 1000, "output_tokens": 1000, "total_tokens": 2000},
                cost_usd=0.75,
                started_at=T0 + timedelta(hours=3),
            ),
            # cannot be priced: unknown provider, and usage that is not a count
            Run(
                id="run_unknown_provider",
                session_id=b.id,
                provider="mystery",
                token_usage={"input_tokens": 7},
                started_at=T0 + timedelta(hours=4),
            ),
            Run(
                id="run_bad_usage",
                session_id=a.id,
                provider="anthropic",
                provider_metadata={"model": "claude-x"},
                token_usage={"input_tokens": "lots"},
                started_at=T0 + timedelta(hours=5),
            ),
        ]
        for run in runs:
            await store.save_run(run)
        return a, b

    PRICING = PricingTable(
        providers={
            "anthropic": ProviderPricing(
                default=Rates(input=0.25, output=0.5),
                models={
                    "claude-x": Rates(input=1.0, output=2.0, cache_read=0.5, cache_creation=4.0),
                    "claude-x-1": Rates(input=8.0, output=16.0),
                },
            )
        }
    )

    async def test_cost_summary_prices_each_run_once(self, api: QueryAPI, store: SessionStore) -> None:
        await self._priced(store)
        cost = await api.get_cost_summary(pricing=self.PRICING)
        assert cost.total_cost_usd == pytest.approx(29 + 96 + 1.25 + 0.75)
        assert (cost.run_count, cost.priced_run_count, cost.unmapped_runs) == (6, 4, 2)
        assert cost.by_provider["anthropic"].cost_usd == pytest.approx(29 + 96 + 1.25)
        assert cost.by_provider["anthropic"].run_count == 3
        assert cost.by_provider["openai"].cost_usd == pytest.approx(0.75)
        assert set(cost.by_provider) == {"anthropic", "openai"}
        assert cost.by_model["claude-x"].cost_usd == pytest.approx(29)
        assert cost.by_model["claude-x-1-preview"].input_tokens == 10
        assert cost.by_model["gpt-x"].output_tokens == 1000
        mapping = {"anthropic": {"default": {"input": 1.0, "output": 1.0}}}
        as_dict = await api.get_cost_summary(pricing=mapping, session_id="ses_cost_b")
        assert as_dict.total_cost_usd == pytest.approx(3 + 1 + 0.75)
        assert as_dict.unmapped_runs == 1
        only_beta = await api.get_cost_summary(pricing=self.PRICING, agent_id="beta", provider="anthropic")
        assert only_beta.total_cost_usd == pytest.approx(1.25)
        window = await api.get_cost_summary(
            pricing=self.PRICING, since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3)
        )
        assert window.total_cost_usd == pytest.approx(96 + 1.25 + 0.75)
        default_table = await api.get_cost_summary()
        assert default_table.priced_run_count == 1 and default_table.unmapped_runs == 5

    async def test_usage_summary_totals_by_provider_and_model(
        self, api: QueryAPI, store: SessionStore
    ) -> None:
        await self._priced(store)
        usage = await api.get_usage_summary()
        assert usage.run_count == 6
        assert usage.total_input_tokens == 10 + 10 + 3 + 1000 + 7
        assert usage.total_output_tokens == 4 + 1 + 1 + 1000
        assert usage.total_cache_read_tokens == 6
        assert usage.total_cache_creation_tokens == 2
        assert usage.total_tokens == 22 + 11 + 4 + 2000 + 7
        assert usage.by_provider["anthropic"].run_count == 4
        assert usage.by_provider["anthropic"].total_tokens == 22 + 11 + 4
        assert usage.by_provider["mystery"].input_tokens == 7
        assert usage.by_model["claude-x"].run_count == 2
        assert usage.by_model["unknown"].run_count == 1
        sliced = await api.get_usage_summary(session_id="ses_cost_a", since=T0 + timedelta(minutes=1))
        assert (sliced.run_count, sliced.total_tokens) == (2, 11)
        assert (await api.get_usage_summary(agent_id="beta", provider=["openai", "mystery"])).run_count == 2

    async def test_session_stats(self, api: QueryAPI, store: SessionStore, corpus: Corpus) -> None:
        stats = await api.get_session_stats("ses_05")
        events = [e for e in corpus.events if e.session_id == "ses_05"]
        runs = [r for r in corpus.runs if r.session_id == "ses_05"]
        assert stats.event_count == 5 and stats.latest_sequence == 5
        assert stats.first_event_at == min(e.timestamp for e in events)
        assert stats.last_event_at == max(e.timestamp for e in events)
        assert stats.run_count == 2
        assert stats.status_counts == {RunStatus.COMPLETED: 1, RunStatus.RUNNING: 1}
        assert stats.token_totals.total_tokens == sum(oracle_total(r.token_usage) for r in runs)
        used = {r.provider for r in runs} | {e.provider for e in events}
        assert stats.providers_used == sorted(p for p in used if p)
        assert (stats.artifact_count, stats.artifact_bytes) == (0, 0)
        empty = await store.save_session(Session(agent_id="quiet"))
        quiet = await api.get_session_stats(empty.id)
        assert (quiet.event_count, quiet.first_event_at, quiet.run_count) == (0, None, 0)
