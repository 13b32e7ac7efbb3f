"""`asm export ID` and `asm import FILE`: a session as one portable file (`query.export`'s format).

Two encodings of the same content: `json` (one canonical document) and `jsonl` (JSON Lines, streamed
page by page, so memory stays bounded for sessions of any size). Without `--format`, an `--output`
ending in `.jsonl` or `.ndjson` gets JSON Lines and everything else JSON. `--output` is written to a
temporary file that replaces the target only once the whole export is in it: a failed export never
leaves a torn file. `import` recognises both encodings by their first line, reads a file or standard
input (`-`), and writes all or nothing; a session that already exists is `already_exists`.
"""

from __future__ import annotations

from dataclasses import asdict
from enum import StrEnum
from typing import Annotated, BinaryIO

import orjson
import typer

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
        str, typer.Argument(metavar="FILE", help="An export file (JSON or JSON Lines), or - for stdin.")
    ],
    as_json: AsJson = False,
) -> None:
    """Import a session exported by `asm export` (or `export_session`), all or nothing."""

    async def go() -> None:
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


def _is_jsonl_header(line: bytes) -> bool:
    """Whether `line` is the header line of JSON Lines (a JSON document starts otherwise)."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return isinstance(record, dict) and record.get("kind") == "header"
