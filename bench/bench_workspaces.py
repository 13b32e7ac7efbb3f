"""What workspace sync costs on top of bare obstore, on the same SeaweedFS in the same run.

A tree of N small files (1 KiB, in 10 directories) written into `local_path()` by "another program".

* full push: `sync_to_remote()` of the whole tree (scan + hash + list + N uploads, 16 at a time) against
  bare obstore reading and putting the same N files, 16 at a time.
* incremental push: the same tree with 10 files changed. Only those 10 may be uploaded: the count that
  `sync_to_remote()` returns is printed, and checked independently by comparing the bucket's ETags before
  and after. Compared with a naive re-upload of all N files (what a sync without checksums does) and with
  bare puts of exactly the 10 changed files (an oracle that knows what changed without looking).
* full pull: `sync_from_remote()` of the N files into an empty cache against bare obstore getting them
  and writing the files, 16 at a time.

Ratio = ours / baseline in files per second (above 1.0 = faster than the baseline).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import obstore

from agent_session_manager._s3 import parse_s3_url, s3_store
from agent_session_manager.testing.services import SeaweedFS
from agent_session_manager.workspaces.s3 import S3WorkspaceStorage

from .common import Result, header, report

CONCURRENCY = 16
CHANGED = 10


def make_tree(root: Path, count: int) -> list[str]:
    paths = [f"dir{i % 10}/file{i:05d}.txt" for i in range(count)]
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(os.urandom(512).hex().encode())
    return paths


async def timed(work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await work()
    return time.perf_counter() - started, result


async def bounded(items: list[str], work: Callable[[str], Awaitable[None]]) -> None:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(item: str) -> None:
        async with limit:
            await work(item)

    await asyncio.gather(*(one(i) for i in items))


async def etags(raw: Any, prefix: str) -> dict[str, str]:
    return {m["path"]: m["e_tag"] async for batch in obstore.list(raw, prefix=prefix) for m in batch}


@dataclass
class Round:
    """Seconds taken by each case in one round, and what the incremental push uploaded."""

    push: float
    bare_push: float
    incremental: float
    naive: float
    oracle: float
    pull: float
    bare_pull: float
    uploaded: int
    changed_etags: int


async def one_round(url: str, credentials: dict[str, str], count: int, session: str, scratch: Path) -> Round:
    location, settings = parse_s3_url(url, **credentials)
    raw = s3_store(location, settings)
    ws = await S3WorkspaceStorage.init(
        session, url=url, cache_path=scratch / "push", concurrency=CONCURRENCY, **credentials
    )
    root = ws.local_path()
    paths = await asyncio.to_thread(make_tree, root, count)

    async def bare_put(path: str) -> None:
        data = await asyncio.to_thread((root / path).read_bytes)
        await obstore.put_async(raw, f"{location.prefix}bare-{session}/{path}", data)

    bare_push, _ = await timed(lambda: bounded(paths, bare_put))
    push, pushed = await timed(ws.sync_to_remote)
    assert len(pushed) == count

    changed = paths[:: max(1, count // CHANGED)][:CHANGED]
    for path in changed:
        (root / path).write_bytes(b"changed " + os.urandom(8).hex().encode())
    before = await etags(raw, f"{location.prefix}{session}/")
    incremental, pushed = await timed(ws.sync_to_remote)
    after = await etags(raw, f"{location.prefix}{session}/")
    naive, _ = await timed(lambda: bounded(paths, bare_put))
    oracle, _ = await timed(lambda: bounded(changed, bare_put))

    fresh = await S3WorkspaceStorage.init(
        session, url=url, cache_path=scratch / "pull", concurrency=CONCURRENCY, **credentials
    )
    pull, pulled = await timed(fresh.sync_from_remote)
    assert len(pulled) == count

    async def bare_get(path: str) -> None:
        result = await obstore.get_async(raw, f"{location.prefix}{session}/{path}")
        data = bytes(await result.bytes_async())
        await asyncio.to_thread(_write, scratch / "bare-pull" / path, data)

    bare_pull, _ = await timed(lambda: bounded(paths, bare_get))
    await fresh.close()
    await ws.cleanup()
    return Round(
        push=push,
        bare_push=bare_push,
        incremental=incremental,
        naive=naive,
        oracle=oracle,
        pull=pull,
        bare_pull=bare_pull,
        uploaded=len(pushed),
        changed_etags=sum(1 for key, tag in after.items() if before.get(key) != tag),
    )


async def run(url: str, credentials: dict[str, str], count: int, rounds: int, scratch: Path) -> None:
    await one_round(url, credentials, min(count, 50), "warm-up", scratch / "warm-up")
    results = [
        await one_round(url, credentials, count, f"bench-{n}", scratch / f"round{n}") for n in range(rounds)
    ]
    print(
        f"incremental push: sync_to_remote uploaded {[r.uploaded for r in results]} file(s) per round; "
        f"objects whose ETag changed: {[r.changed_etags for r in results]} (expected {CHANGED})",
        flush=True,
    )

    def med(field: str) -> float:
        return statistics.median(getattr(r, field) for r in results)

    header()
    report(
        Result(
            f"push {count} new files vs bare read+put",
            count / med("push"),
            count / med("bare_push"),
            "files/s",
        )
    )
    report(
        Result(
            f"push {CHANGED} changed of {count} vs naive re-upload of all",
            count / med("incremental"),
            count / med("naive"),
            "files/s",
        )
    )
    report(
        Result(
            f"push {CHANGED} changed of {count} vs bare put of just the {CHANGED}",
            1 / med("incremental"),
            1 / med("oracle"),
            "syncs/s",
        )
    )
    report(
        Result(
            f"pull {count} files into an empty cache vs bare get+write",
            count / med("pull"),
            count / med("bare_pull"),
            "files/s",
        )
    )


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def main(quick: bool) -> None:
    count, rounds = (50, 1) if quick else (1000, 3)
    with SeaweedFS() as server, tempfile.TemporaryDirectory() as scratch:
        target = server.make_bucket()
        asyncio.run(run(target.url("bench"), target.credentials(), count, rounds, Path(scratch)))
