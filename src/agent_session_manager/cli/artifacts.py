"""`asm artifacts ls | get | put | rm`: the blobs of the `--artifacts-url` store.

`ls` and `get` read the artifact store alone. `put` and `rm` go through the composite store (both
`--database-url` and `--artifacts-url`), so the blob and its registry record are written and removed
together in the safe order (blob before record on put, record before blob on rm): a failure leaves at
worst an orphan blob for maintenance, never a record pointing at nothing. `get` verifies the SHA-256 while
it streams; with `--output` the file appears only once the whole verified content is in it. `rm` is
idempotent: removing a missing key succeeds and says so.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Annotated, BinaryIO

import typer

from ..artifacts.base import ArtifactInfo, ArtifactStore
from ..core.errors import NotFound
from ..core.keys import validate_key
from ..workspaces.files import guess_content_type
from .common import (
    AsJson,
    Output,
    chunks_of,
    console,
    input_file,
    json_object,
    new_table,
    note,
    open_artifacts,
    open_composite,
    print_json,
    run,
    say,
    size,
    to_output,
    when,
)

app = typer.Typer(help="List, read, write and remove artifact blobs.", no_args_is_help=True)

#: Concurrent `stat` calls while listing.
STAT_CONCURRENCY = 16


@app.command("ls")
def ls(
    ctx: typer.Context,
    prefix: Annotated[
        str, typer.Argument(help='Only keys starting with this (a plain prefix: "rep" finds "report.pdf").')
    ] = "",
    limit: Annotated[int, typer.Option(help="Page size (1-1000).")] = 50,
    cursor: Annotated[str | None, typer.Option(help="The cursor printed by the previous page.")] = None,
    as_json: AsJson = False,
) -> None:
    """Keys with their size, content type and modification time, one page at a time."""

    async def go() -> None:
        async with await open_artifacts(ctx) as store:
            page = await store.list(prefix, limit=limit, cursor=cursor)
            infos = await _stats(store, page.items)
        if as_json:
            print_json({"artifacts": [asdict(i) for i in infos], "next_cursor": page.next_cursor})
            return
        table = new_table(
            "artifacts", "key", "size", "content type", "modified (UTC)", "sha256", numeric={"size"}
        )
        for info in infos:
            table.add_row(
                info.key, size(info.size), info.content_type, when(info.modified_at), info.sha256[:12]
            )
        console.print(table)
        if page.next_cursor:
            say(f"next page: --cursor {page.next_cursor}")

    run(go())


async def _stats(store: ArtifactStore, keys: list[str]) -> list[ArtifactInfo]:
    """`stat` of each key, a few at a time; keys removed since the listing are left out."""
    gate = asyncio.Semaphore(STAT_CONCURRENCY)

    async def one(key: str) -> ArtifactInfo | None:
        async with gate:
            try:
                return await store.stat(key)
            except NotFound:
                return None

    return [info for info in await asyncio.gather(*(one(k) for k in keys)) if info is not None]


@app.command("get")
def get(
    ctx: typer.Context,
    key: str,
    output: Output = None,
) -> None:
    """Write an artifact's content (checked against its SHA-256) to stdout or a file."""

    async def copy(sink: BinaryIO) -> int:
        async with await open_artifacts(ctx) as store, await store.open_read(key) as reader:
            async for chunk in reader:
                sink.write(chunk)
            return reader.info.size

    async def go() -> None:
        written = await to_output(output, copy)
        if output is not None:
            note(f"wrote {key} ({size(written)}) to {output}")

    run(go())


@app.command("put")
def put(
    ctx: typer.Context,
    key: str,
    source: Annotated[str, typer.Argument(metavar="FILE", help="The content: a file, or - for stdin.")],
    content_type: Annotated[
        str | None, typer.Option(help="Default: guessed from FILE's name (application/octet-stream).")
    ] = None,
    session: Annotated[str | None, typer.Option("--session", help="Register it with this session.")] = None,
    run_id: Annotated[
        str | None, typer.Option("--run", help="Register it with this run (and its session).")
    ] = None,
    metadata: Annotated[
        str | None, typer.Option(metavar="JSON|FILE", help="A JSON object stored with it (at most 1 KiB).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Store a file under KEY (replacing any previous version atomically) and register it."""
    fields = None if metadata is None else json_object(metadata, "--metadata", inline=True)
    kind = content_type or (guess_content_type(source) if source != "-" else None)

    async def go() -> None:
        with input_file(source) as stream:
            async with await open_composite(ctx) as store:
                info = await store.put_stream(
                    key,
                    chunks_of(stream),
                    content_type=kind,
                    metadata=fields,
                    session_id=session,
                    run_id=run_id,
                )
        if as_json:
            print_json(asdict(info))
        else:
            say(f"stored {info.key} ({size(info.size)}, {info.content_type}, sha256 {info.sha256})")

    run(go())


@app.command("rm")
def rm(
    ctx: typer.Context,
    keys: Annotated[list[str], typer.Argument(metavar="KEY...", help="The keys to remove.")],
) -> None:
    """Remove blobs and their records; a key that does not exist is not an error."""
    for key in keys:
        validate_key(key)  # every key is checked before anything is removed

    async def go() -> None:
        async with await open_composite(ctx) as store:
            for key in keys:
                existed = await store.exists(key)
                await store.delete(key)
                say(f"removed {key}" if existed else f"{key}: not there (nothing to remove)")

    run(go())
