"""`asm export ID` and `asm import FILE`: a session as one portable file (`query.export`'s format).

Two encodings of the same content: `json` (one canonical document) and `jsonl` (JSON Lines, streamed
page by page, so memory stays bounded for sessions of any size). Without `--format`, an `--output`
ending in `.jsonl` or `.ndjson` gets JSON Lines and everything else JSON. `--output` is written to a
temporary file that replaces the target only once the whole export is in it: a failed export never
leaves a torn file. `import` recognises both encodings by their first line, reads a file or standard
input (`-`), and writes all or nothing; a session that already exists is `already_exists`.
`import --from URL` reads another system's store instead: `openai-sqlite:///path` imports every session
of an OpenAI Agents SDK `SQLiteSession` database (extra `[openai-agents]`).
"""

from __future__ import annotations

from dataclasses import asdict
from enum import StrEnum
from typing import Annotated, BinaryIO

import orjson
import typer

from ..core.errors import DependencyNotAvailable, ValidationError
from ..query.export import export_session, import_session, stream_session_jsonl
from .common import (
    AsJson,
    Output,
    chunks_of,
    input_file,
    note,
    open_sessions,
    print_json,
    run,
    say,
    to_output,
)


class Format(StrEnum):
    JSON = "json"
    JSONL = "jsonl"


def export(
    ctx: typer.Context,
    session_id: str,
    output: Output = None,
    format: Annotated[
        Format | None,
        typer.Option(
            "--format",
            help="json (one document) or jsonl (JSON Lines, streamed). Default: by "
            "the --output suffix (.jsonl/.ndjson), else json.",
        ),
    ] = None,
) -> None:
    """Export a session with its runs, events and artifact records."""
    chosen = format or (
        Format.JSONL if output is not None and output.endswith((".jsonl", ".ndjson")) else Format.JSON
    )

    async def write(sink: BinaryIO) -> str:
        async with await open_sessions(ctx) as store:
            if chosen is Format.JSON:
                document = await export_session(store, session_id)
                sink.write(document.to_json() + b"\n")
                return _counts(len(document.runs), len(document.events), len(document.artifacts))
            last = b""
            async for chunk in stream_session_jsonl(store, session_id):
                sink.write(chunk)
                last = chunk
            end = orjson.loads(last)
            return _counts(end["runs"], end["events"], end["artifacts"])

    async def go() -> None:
        counts = await to_output(output, write)
        if output is not None:
            note(f"exported {session_id} ({counts}) as {chosen.value} to {output}")

    run(go())


def _counts(runs: int, events: int, artifacts: int) -> str:
    return f"{runs} runs, {events} events, {artifacts} artifact records"


def import_(
    ctx: typer.Context,
    source: Annotated[
        str | None,
        typer.Argument(metavar="FILE", help="An export file (JSON or JSON Lines), or - for stdin."),
    ] = None,
    from_url: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="URL",
            help="Import every session of another store instead of a FILE: openai-sqlite:///path "
            "(an OpenAI Agents SDK SQLiteSession database), langgraph-sqlite:///path.db or "
            "langgraph-postgres://user@host/db (every thread of a LangGraph saver database; needs the "
            "[langgraph] extra and the stock saver package).",
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Import a session exported by `asm export` (or `export_session`), all or nothing; or, with
    `--from`, every session of another system's store."""

    async def go() -> None:
        if from_url is not None and source is None:
            await _import_from(ctx, from_url, as_json)
            return
        if source is None or from_url is not None:
            raise ValidationError("give either an export FILE or --from URL", details={"field": "source"})
        with input_file(source) as stream:
            first = stream.readline()
            async with await open_sessions(ctx) as store:
                if _is_jsonl_header(first):
                    result = await import_session(store, chunks_of(stream, first))
                else:
                    result = await import_session(store, first + stream.read())
        if as_json:
            print_json(asdict(result))
            return
        renumbered = " (events renumbered from 1 by the target store)" if result.renumbered else ""
        say(
            f"imported {result.session_id}: "
            f"{_counts(result.runs, result.events, result.artifacts)}{renumbered}"
        )

    run(go())


async def _import_from(ctx: typer.Context, url: str, as_json: bool) -> None:
    """`asm import --from URL`: every session of an OpenAI Agents SDK `SQLiteSession` database, or every
    thread of a LangGraph saver database."""
    if url.startswith("langgraph-"):
        await _import_langgraph(ctx, url, as_json)
        return
    if not url.startswith("openai-sqlite:"):
        raise ValidationError(
            "--from supports openai-sqlite:///path (an OpenAI Agents SDK SQLiteSession database), "
            "langgraph-sqlite:///path and langgraph-postgres://... (a LangGraph saver database)",
            details={"field": "from"},
        )
    from ..integrations.openai_agents.importer import import_sqlite_sessions

    async with await open_sessions(ctx) as store:
        imported = await import_sqlite_sessions(store, url)
    if as_json:
        print_json([asdict(one) for one in imported])
        return
    for one in imported:
        skipped = f", {one.skipped} unreadable rows skipped" if one.skipped else ""
        say(f"imported {one.sdk_session_id} as {one.session_id}: {one.items} items{skipped}")
    say(f"{len(imported)} sessions imported")


async def _import_langgraph(ctx: typer.Context, url: str, as_json: bool) -> None:
    try:
        from ..integrations.langgraph.importer import import_langgraph
    except ModuleNotFoundError as exc:
        raise DependencyNotAvailable(
            "asm import --from needs LangGraph: pip install 'agent-session-manager[langgraph]'"
        ) from exc
    async with await open_sessions(ctx) as store:
        result = await import_langgraph(store, url)
    if as_json:
        print_json(asdict(result))
        return
    say(
        f"imported {result.threads} LangGraph threads: "
        f"{result.checkpoints} checkpoints, {result.writes} writes"
    )


def _is_jsonl_header(line: bytes) -> bool:
    """Whether `line` is the header line of JSON Lines (a JSON document starts otherwise)."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return isinstance(record, dict) and record.get("kind") == "header"
