"""`asm usage` and `asm cost`: token and cost summaries by provider and model (the query API's).

A run's model is its `provider_metadata["model"]`; runs without a provider or model are grouped under
`unknown`. Cost is a run's stored `cost_usd` (what the manager computed when the run ended), else its
token usage priced with a table: the built-in illustrative one, or `--pricing FILE`, which then
*replaces* it. A run that neither prices is counted as not priced, never guessed.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from ..query import query_api
from ..query.base import UsageTotals
from .common import (
    AsJson,
    Since,
    Until,
    console,
    json_object,
    new_table,
    open_sessions,
    print_json,
    run,
    say,
    time_range,
    usd,
)

SessionOpt = Annotated[str | None, typer.Option("--session", help="Only this session's runs.")]
AgentOpt = Annotated[str | None, typer.Option("--agent", help="Only runs of this agent's sessions.")]
ProviderOpt = Annotated[
    list[str] | None, typer.Option("--provider", help="Only these providers (repeatable).")
]
PricingOpt = Annotated[
    str | None,
    typer.Option(
        "--pricing",
        metavar="FILE",
        help='A JSON pricing table in USD per token, e.g. {"openai": {"models": {"gpt-4o": {"input": '
        '2.5e-06, "output": 1e-05}}}}; it replaces the built-in prices for runs without a stored cost.',
    ),
]


def _filters(
    session: str | None, agent: str | None, provider: list[str] | None, since: str | None, until: str | None
) -> dict[str, Any]:
    """The run filters both summaries take, checked before any store is opened."""
    low, high = time_range(since, until)
    return {"session_id": session, "agent_id": agent, "provider": provider, "since": low, "until": high}


def usage(
    ctx: typer.Context,
    session: SessionOpt = None,
    agent: AgentOpt = None,
    provider: ProviderOpt = None,
    since: Since = None,
    until: Until = None,
    as_json: AsJson = False,
) -> None:
    """Token usage of the runs started in the time range, by provider and by model."""
    filters = _filters(session, agent, provider, since, until)

    async def go() -> None:
        async with await open_sessions(ctx) as store:
            summary = await query_api(store).get_usage_summary(**filters)
        if as_json:
            print_json(summary.model_dump(mode="json"))
            return
        console.print(_usage_table("by provider", "provider", summary.by_provider))
        console.print(_usage_table("by model", "model", summary.by_model))
        say(
            f"{summary.run_count} runs, tokens in {summary.total_input_tokens}, out "
            f"{summary.total_output_tokens}, cache read {summary.total_cache_read_tokens}, cache write "
            f"{summary.total_cache_creation_tokens}, total {summary.total_tokens}"
        )

    run(go())


TOKEN_COLUMNS = ("runs", "input", "output", "cache read", "cache write", "total")


def _usage_table(title: str, name: str, rows: dict[str, UsageTotals]) -> Table:
    table = new_table(title, name, *TOKEN_COLUMNS, numeric=TOKEN_COLUMNS)
    for key, t in rows.items():
        counts = (t.run_count, t.input_tokens, t.output_tokens, t.cache_read_tokens, t.cache_creation_tokens)
        table.add_row(key, *map(str, counts), str(t.total_tokens))
    return table


def cost(
    ctx: typer.Context,
    session: SessionOpt = None,
    agent: AgentOpt = None,
    provider: ProviderOpt = None,
    since: Since = None,
    until: Until = None,
    pricing: PricingOpt = None,
    as_json: AsJson = False,
) -> None:
    """Cost in USD of the runs started in the time range, by provider and by model."""
    filters = _filters(session, agent, provider, since, until)
    table = None if pricing is None else json_object(pricing, "--pricing", inline=False)

    async def go() -> None:
        async with await open_sessions(ctx) as store:
            summary = await query_api(store).get_cost_summary(**filters, pricing=table)
        if as_json:
            print_json(summary.model_dump(mode="json"))
            return
        by_provider = new_table("by provider", "provider", "runs", "cost USD", numeric={"runs", "cost USD"})
        for key, item in summary.by_provider.items():
            by_provider.add_row(key, str(item.run_count), usd(item.cost_usd))
        columns = ("runs", "input", "output", "cost USD")
        by_model = new_table("by model", "model", *columns, numeric=columns)
        for key, m in summary.by_model.items():
            by_model.add_row(
                key, str(m.run_count), str(m.input_tokens), str(m.output_tokens), usd(m.cost_usd)
            )
        console.print(by_provider)
        console.print(by_model)
        say(
            f"{summary.run_count} runs, {summary.priced_run_count} priced, "
            f"total USD {usd(summary.total_cost_usd)}"
        )
        if summary.unmapped_runs:
            say(
                f"{summary.unmapped_runs} run(s) have no stored cost and no price in the table: "
                "they add nothing (pass --pricing FILE with their provider and model)"
            )

    run(go())
