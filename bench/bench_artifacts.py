"""Artifact stores next to bare baselines measured in the same run.

* S3, on a private SeaweedFS started here: our `put` / `get` against bare obstore `put_async` /
  `get_async` of the same bytes on the same server (the bare get copies the result into `bytes`, as ours
  returns), 8 operations in flight, 1 KiB (ops/s), 1 MiB and 32 MiB (MB/s = 10^6 bytes/s). Ours also
  computes and sends the SHA-256 on put and verifies it on get. Target: ratio >= 0.9.
* File: our `put` against a bare atomic write of the same bytes (temporary file, write, fsync, rename,
  fsync of the directory), our `get` (which verifies the SHA-256) against a bare read; one operation at a
  time, both sides in a worker thread as async code must. Target for put: ratio >= 0.8.
* Streams: a 1 GiB `put_stream` + `open_read` round trip on file and on S3, with the peak growth of this
  process's resident memory (psutil, sampled every 2 ms) against the 64 MiB limit; the S3 round trip is
  also compared with bare obstore streaming the same chunks (multipart put from the iterator, chunked get).

Ours and the baseline take turns, batch by batch for S3 (8 operations of 1 MiB or more, 200 of 1 KiB)
and operation by operation for files, in a random order each turn, each turn timed on its own; a side's
rate comes from its median turn. The server's and the disk's slow moments (writeback, other processes on
the 2 shared cores, SeaweedFS's own periodic work) then hit both sides alike and rare stalls do not
decide the result. `--quick` uses tiny sizes and counts (CI), where ratios mean little.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import obstore
import psutil
from obstore.store import S3Store

from agent_session_manager.artifacts.base import ArtifactStore
from agent_session_manager.artifacts.file import FileArtifactStore
from agent_session_manager.open import open_artifact_store
from agent_session_manager.testing.services import S3Target, SeaweedFS

from .common import Result, header, report

KIB, MIB = 1024, 1024 * 1024
S3_TARGET = 0.9
FILE_TARGET = 0.8
RSS_LIMIT = 64 * MIB
IN_FLIGHT = 8


async def alternate(
    label: str,
    unit: str,
    size: int,
    operations: int,
    batch: int,
    ours: Callable[[int], Awaitable[object]],
    bare: Callable[[int], Awaitable[object]],
    target: float | None,
) -> Result:
    """`operations` operations per side, in batches of `batch` running together; ours and bare take
    turns batch by batch, in a random order each turn (a fixed order would line up with periodic stalls
    of the server), each batch timed on its own, after one untimed batch each. Rates come from the
    median batch time of each side: a rare multi-second stall of the server says nothing about either."""
    batch = min(batch, operations)
    await in_flight(batch, bare)
    await in_flight(batch, ours)
    times: dict[str, list[float]] = {"ours": [], "bare": []}
    chance = random.Random(label)
    for turn in range(operations // batch):
        order = [("bare", bare), ("ours", ours)]
        chance.shuffle(order)
        for name, work in order:
            started = time.perf_counter()
            await in_flight(batch, work, first=turn * batch)
            times[name].append(time.perf_counter() - started)
    each = amount(size, batch, unit)
    return report(
        Result(
            label,
            each / statistics.median(times["ours"]),
            each / statistics.median(times["bare"]),
            unit,
            target,
        )
    )


async def in_flight(count: int, operation: Callable[[int], Awaitable[object]], first: int = 0) -> None:
    """Run `operation(first .. first+count-1)` with `IN_FLIGHT` of them running at any time."""
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(index: int) -> None:
        async with gate:
            await operation(index)

    await asyncio.gather(*(one(first + i) for i in range(count)))


def sizes(quick: bool) -> list[tuple[str, int, int, str]]:
    """(label, size, operations per side, unit) per case."""
    if quick:
        return [
            ("1 KiB", KIB, 64, "ops/s"),
            ("256 KiB", 256 * KIB, 16, "MB/s"),
            ("6 MiB", 6 * MIB, 8, "MB/s"),
        ]
    return [("1 KiB", KIB, 8000, "ops/s"), ("1 MiB", MIB, 512, "MB/s"), ("32 MiB", 32 * MIB, 64, "MB/s")]


def amount(size: int, count: int, unit: str) -> float:
    return count if unit == "ops/s" else size * count / 1e6


# -- S3 -------------------------------------------------------------------------------------------


def raw_store(target: S3Target) -> S3Store:
    """A bare obstore client on the benchmark's bucket."""
    return S3Store(
        target.bucket,
        endpoint=target.endpoint,
        region=target.region,
        client_options={"allow_http": True},
        **target.credentials(),
    )


async def bench_s3(target: S3Target, quick: bool) -> None:
    store = await open_artifact_store(target.url("ours"), **target.credentials())
    raw = raw_store(target)
    for label, size, operations, unit in sizes(quick):
        data = os.urandom(size)
        digest = sha256(data)
        batch = IN_FLIGHT if size >= MIB else 25 * IN_FLIGHT
        keys = max(batch, 64 if size <= MIB else IN_FLIGHT)

        async def ours_put(i: int, data: bytes = data, keys: int = keys) -> None:
            await store.put(f"k{i % keys}", data)

        async def bare_put(i: int, data: bytes = data, keys: int = keys) -> None:
            await obstore.put_async(raw, f"bare/k{i % keys}", data)

        async def ours_get(i: int, keys: int = keys) -> None:
            await store.get(f"k{i % keys}")

        async def bare_get(i: int, keys: int = keys) -> None:
            result = await obstore.get_async(raw, f"bare/k{i % keys}")
            bytes(await result.bytes_async())

        async def same_get(i: int, keys: int = keys, digest: str = digest) -> None:
            result = await obstore.get_async(raw, f"bare/k{i % keys}")
            assert sha256(bytes(await result.bytes_async())) == digest

        name = f"{label} x{IN_FLIGHT}"
        args = (unit, size, operations, batch)
        if size == sizes(quick)[1][1]:
            # The method's noise floor: the same bare put on both sides.
            await alternate(f"s3 put {name}: bare vs bare (noise floor)", *args, bare_put, bare_put, None)
        await alternate(f"s3 put {name} vs bare obstore", *args, ours_put, bare_put, S3_TARGET)
        await alternate(f"s3 get {name} vs bare obstore", *args, ours_get, bare_get, S3_TARGET)
        await alternate(f"s3 get {name} vs bare + same verify", *args, ours_get, same_get, None)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- file -----------------------------------------------------------------------------------------


def bare_atomic_write(directory: str, name: str, data: bytes) -> None:
    """What an application would write by hand: tmp file, write, fsync, rename, directory fsync."""
    final = os.path.join(directory, name)
    temp = final + ".tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, final)
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def bare_read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


async def bench_file(scratch: str, quick: bool) -> None:
    store = FileArtifactStore(os.path.join(scratch, "ours"))
    bare_dir = os.path.join(scratch, "bare")
    os.makedirs(bare_dir)
    for label, size, operations, unit in sizes(quick):
        data = os.urandom(size)
        operations = min(operations, 900)  # small files: file creation dominates; 900 is plenty
        keys = 300 if size <= MIB else 8

        async def ours_put(i: int, data: bytes = data, keys: int = keys) -> None:
            await store.put(f"f/k{i % keys}", data)

        async def bare_put(i: int, data: bytes = data, keys: int = keys) -> None:
            await asyncio.to_thread(bare_atomic_write, bare_dir, f"k{i % keys}", data)

        async def ours_get(i: int, keys: int = keys) -> None:
            await store.get(f"f/k{i % keys}")

        async def bare_get(i: int, keys: int = keys) -> None:
            await asyncio.to_thread(bare_read, os.path.join(bare_dir, f"k{i % keys}"))

        async def same_get(i: int, keys: int = keys, digest: str = sha256(data)) -> None:
            assert (
                sha256(await asyncio.to_thread(bare_read, os.path.join(bare_dir, f"k{i % keys}"))) == digest
            )

        # One operation at a time, ours and bare taking turns operation by operation.
        args = (unit, size, operations, 1)
        await alternate(f"file put {label} vs bare atomic write", *args, ours_put, bare_put, FILE_TARGET)
        await alternate(f"file get {label} vs bare read", *args, ours_get, bare_get, None)
        await alternate(f"file get {label} vs bare read + same verify", *args, ours_get, same_get, None)


# -- streams and memory ---------------------------------------------------------------------------


class PeakRSS:
    """The highest resident set size of this process while active, sampled on a thread."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.start = self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.start


async def chunks(total: int, block: bytes) -> AsyncIterator[bytes]:
    for _ in range(total // len(block)):
        yield block


async def round_trip(store: ArtifactStore, key: str, total: int, block: bytes) -> tuple[float, int]:
    """put_stream + open_read of `total` bytes; (MB/s over both, peak RSS growth in bytes)."""
    with PeakRSS() as rss:
        started = time.perf_counter()
        info = await store.put_stream(key, chunks(total, block))
        seen = 0
        async with await store.open_read(key) as reader:
            async for chunk in reader:
                seen += len(chunk)
        elapsed = time.perf_counter() - started
    assert info.size == seen == total
    return 2 * total / 1e6 / elapsed, rss.growth


async def bare_round_trip(raw: S3Store, key: str, total: int, block: bytes) -> float:
    started = time.perf_counter()
    await obstore.put_async(raw, key, chunks(total, block), max_concurrency=6)
    seen = 0
    async for chunk in (await obstore.get_async(raw, key)).stream(min_chunk_size=MIB):
        seen += len(chunk)
    assert seen == total
    return 2 * total / 1e6 / (time.perf_counter() - started)


async def bench_streams(target: S3Target, scratch: str, quick: bool) -> None:
    total = 16 * MIB if quick else 1024 * MIB
    block = os.urandom(MIB)
    label = "16 MiB" if quick else "1 GiB"
    file_store = FileArtifactStore(os.path.join(scratch, "streams"))
    s3 = await open_artifact_store(target.url("streams"), **target.credentials())
    raw = raw_store(target)
    rate, growth = await round_trip(file_store, "big", total, block)
    print(
        f"file put_stream + open_read {label}: {rate:,.0f} MB/s, peak RSS growth {growth / MIB:.1f} MiB"
        f" (limit {RSS_LIMIT // MIB} MiB: {'ok' if growth < RSS_LIMIT else 'ABOVE'})",
        flush=True,
    )
    rate, growth = await round_trip(s3, "big", total, block)
    bare = await bare_round_trip(raw, "bare/big", total, block)
    print(
        f"s3 put_stream + open_read {label}: {rate:,.0f} MB/s, peak RSS growth {growth / MIB:.1f} MiB"
        f" (limit {RSS_LIMIT // MIB} MiB: {'ok' if growth < RSS_LIMIT else 'ABOVE'})",
        flush=True,
    )
    header()
    report(Result(f"s3 put_stream + open_read {label} vs bare obstore streaming", rate, bare, "MB/s"))


async def run(quick: bool) -> None:
    scratch = tempfile.mkdtemp(prefix="asm-bench-artifacts-")
    server = SeaweedFS()
    try:
        await asyncio.to_thread(server.start)
        target = await asyncio.to_thread(server.make_bucket)
        header()
        await bench_s3(target, quick)
        await bench_file(scratch, quick)
        await bench_streams(target, scratch, quick)
    finally:
        await asyncio.to_thread(server.stop)
        shutil.rmtree(scratch, ignore_errors=True)


def main(quick: bool) -> None:
    asyncio.run(run(quick))
