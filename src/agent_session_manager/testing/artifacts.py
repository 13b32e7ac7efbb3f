"""The `ArtifactStore` contract suite: every artifact backend, ours or a third party's, passes it.

Use it with pytest and pytest-asyncio (`asyncio_mode = "auto"`)::

    from agent_session_manager.testing import ArtifactStoreContract

    class TestMyStore(ArtifactStoreContract):
        async def new_store(self):
            return await MyStore.connect(...)   # connected and EMPTY

        async def corrupt(self, store, key):     # optional: enables the integrity tests
            ...change the stored bytes of `key` behind the store's back, keeping its checksum...

        async def outside(self, store):          # optional: enables the "nothing escaped" checks
            return ...a snapshot of everything outside the store's root or prefix...

Each test gets a fresh store from `new_store()` and closes it afterwards.
"""

from __future__ import annotations

import array
import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..artifacts.base import ArtifactStore, segment_order
from ..core.digest import sha256_hex as sha
from ..core.errors import (
    AlreadyExists,
    ChecksumMismatch,
    InvalidCursor,
    NotFound,
    StorageError,
    ValidationError,
)
from ..core.pagination import pages
from .registry import Contract

#: Keys that must be refused before any I/O: they would escape a root or a prefix, or are not text.
BAD_KEYS: list[Any] = [
    "../x",
    "a/../../x",
    "/abs",
    "a//b",
    "a/./b",
    "a/",
    ".",
    "..",
    "a\x00b",
    "a\nb",
    "tab\there",
    "back\\slash",
    "k" * 1025,
    "",
    None,
    5,
    b"bytes",
]
#: Keys with unusual but valid characters; every backend stores and lists them unchanged.
ODD_KEYS = [
    "é/ü 1.txt",
    "emoji/🙂",
    "spaces and (parens)",
    "a{b}~c",
    "q?x#y",
    "per%41",
    ".hidden/.x",
    "..x",
    "a.d/b.blob",
    "x.tmp",
]
#: Keys whose two listing orders differ ("/" sorts after "-" and "." as a byte).
TREE = ["a", "a/b", "a/b/c", "a-c", "a.txt", "a0", "ab/c", "b", "z/y"]
BIG = 12 * 1024 * 1024


def listing_ordered(keys: list[str]) -> bool:
    """Whether `keys` is in one of the two allowed listing orders (by segments, or by UTF-8 bytes)."""
    return keys in (sorted(keys, key=segment_order), sorted(keys, key=lambda k: k.encode()))


async def all_keys(store: ArtifactStore, prefix: str = "", limit: int = 1000) -> list[str]:
    """Every key under `prefix`, following cursors to the end (every page but the last is full)."""
    listing = [page async for page in pages(lambda cursor: store.list(prefix, limit=limit, cursor=cursor))]
    assert all(len(page.items) == limit for page in listing[:-1])
    return [key for page in listing for key in page.items]


async def agen(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        await asyncio.sleep(0)
        yield part


class Boom(Exception):
    """Raised by a caller's chunk iterator in the tests."""


class ArtifactStoreContract(Contract):
    """Subclass in a test module and implement `new_store` (and optionally `corrupt`, `outside`)."""

    async def new_store(self) -> ArtifactStore:
        """Return a connected, empty store. Subclasses must override this."""
        raise NotImplementedError

    async def corrupt(self, store: ArtifactStore, key: str) -> None:
        """Change the bytes stored for `key` without the store (keep its recorded checksum)."""
        raise NotImplementedError

    async def outside(self, store: ArtifactStore) -> object:
        """A snapshot of what exists outside the store's root or prefix (`None`: not checked)."""
        return None

    @pytest.fixture
    async def store(self) -> AsyncIterator[ArtifactStore]:
        store = await self.new_store()
        try:
            yield store
        finally:
            await store.close()

    @staticmethod
    async def _read_into(store: ArtifactStore, key: str, received: list[bytes]) -> None:
        """Stream `key` into `received` chunk by chunk (what was handed out before an error stays)."""
        async with await store.open_read(key) as reader:
            async for chunk in reader:
                received.append(chunk)

    async def _corrupt_or_skip(self, store: ArtifactStore, key: str) -> None:
        try:
            await self.corrupt(store, key)
        except NotImplementedError:
            pytest.skip("this backend's test does not implement corrupt()")

    # -- put / get / stat -----------------------------------------------------------------------

    async def test_put_get_round_trip_records_size_checksum_type_and_metadata(
        self, store: ArtifactStore
    ) -> None:
        assert isinstance(store, ArtifactStore)
        data = b"--- a/file.ex\n+++ b/file.ex\n@@ -1 +1 @@\n-old\n+new"
        info = await store.put("patch-abc123", data, content_type="text/x-diff", metadata={"run": "r1"})
        assert (info.key, info.size, info.sha256) == ("patch-abc123", len(data), sha(data))
        assert (info.content_type, info.metadata) == ("text/x-diff", {"run": "r1"})
        assert info.modified_at.utcoffset() == timedelta(0)
        assert await store.get("patch-abc123") == data
        stat = await store.stat("patch-abc123")
        assert (stat.key, stat.size, stat.sha256, stat.content_type, stat.metadata) == (
            "patch-abc123",
            len(data),
            sha(data),
            "text/x-diff",
            {"run": "r1"},
        )
        assert abs(stat.modified_at - info.modified_at) < timedelta(minutes=5)
        assert await store.exists("patch-abc123")
        assert await all_keys(store) == ["patch-abc123"]

    async def test_defaults_are_octet_stream_and_empty_metadata(self, store: ArtifactStore) -> None:
        info = await store.put("k", b"x")
        assert (info.content_type, info.metadata) == ("application/octet-stream", {})
        stat = await store.stat("k")
        assert (stat.content_type, stat.metadata) == ("application/octet-stream", {})

    async def test_put_replaces_the_whole_object(self, store: ArtifactStore) -> None:
        await store.put("k", b"first version, long", content_type="text/plain", metadata={"v": 1, "a": 2})
        info = await store.put("k", b"v2", metadata={"v": 2})
        assert await store.get("k") == b"v2"
        stat = await store.stat("k")
        assert (stat.size, stat.sha256, stat.content_type, stat.metadata) == (
            2,
            sha(b"v2"),
            "application/octet-stream",
            {"v": 2},
        )
        assert info.sha256 == stat.sha256
        assert await all_keys(store) == ["k"]

    async def test_metadata_round_trips_any_json_object(self, store: ArtifactStore) -> None:
        metadata = {"unicode": "é ✓ 🙂", "nested": {"list": [1, 2.5, None, True, "x"]}, "empty": {}}
        await store.put("m", b"1", metadata=metadata, content_type="text/plain; charset=utf-8")
        stat = await store.stat("m")
        assert stat.metadata == metadata
        assert stat.content_type == "text/plain; charset=utf-8"

    async def test_data_may_be_any_bytes_like_or_a_list_of_them(self, store: ArtifactStore) -> None:
        words = array.array("I", [1, 2, 3])
        cases: dict[str, tuple[Any, bytes]] = {
            "bytearray": (bytearray(b"ba"), b"ba"),
            "memoryview": (memoryview(b"0123456789")[2:5], b"234"),
            "list": ([b"a", bytearray(b"b"), memoryview(b"cd")], b"abcd"),
            "tuple": ((b"x", b"y"), b"xy"),
            "empty-list": ([], b""),
            "typed-view": (memoryview(words), words.tobytes()),
        }
        for key, (data, expected) in cases.items():
            info = await store.put(key, data)
            assert (info.size, info.sha256) == (len(expected), sha(expected)), key
            assert await store.get(key) == expected, key

    async def test_wrong_data_is_refused_and_nothing_is_stored(self, store: ArtifactStore) -> None:
        bad_data: list[Any] = ["text", [b"a", "b"], 123, None, memoryview(b"abcdef")[::2], {"a": b"b"}]
        for bad in bad_data:
            with pytest.raises(ValidationError) as info:
                await store.put("k", bad)
            assert info.value.code == "validation_error"
        assert not await store.exists("k")
        assert await all_keys(store) == []

    async def test_empty_object(self, store: ArtifactStore) -> None:
        info = await store.put("empty", b"")
        assert (info.size, info.sha256) == (0, sha(b""))
        assert await store.get("empty") == b""
        assert (await store.stat("empty")).size == 0
        async with await store.open_read("empty") as reader:
            assert [chunk async for chunk in reader] == []

    async def test_missing_key_is_not_found_and_delete_is_idempotent(self, store: ArtifactStore) -> None:
        for call in (store.get, store.stat, store.open_read):
            with pytest.raises(NotFound) as info:
                await call("does-not-exist")
            assert info.value.code == "not_found"
        assert not await store.exists("does-not-exist")
        await store.delete("does-not-exist")
        await store.put("k", b"v")
        await store.delete("k")
        await store.delete("k")
        assert not await store.exists("k")
        with pytest.raises(NotFound):
            await store.get("k")
        assert await all_keys(store) == []

    async def test_content_type_and_metadata_are_validated_before_writing(self, store: ArtifactStore) -> None:
        for content_type in ["", "text", "text/plain\r\nX-Evil: 1", "tëxt/plain", " text/plain", 5]:
            with pytest.raises(ValidationError):
                await store.put("k", b"v", content_type=content_type)  # type: ignore[arg-type]
        for metadata in [{"x": float("nan")}, {"x": b"b"}, {"big": "x" * 2000}, ["no"], {1: "a"}]:
            with pytest.raises(ValidationError):
                await store.put("k", b"v", metadata=metadata)  # type: ignore[arg-type]
            with pytest.raises(ValidationError):
                await store.put_stream("k", [b"v"], metadata=metadata)  # type: ignore[arg-type]
        assert await all_keys(store) == []

    # -- keys -----------------------------------------------------------------------------------

    async def test_keys_that_could_escape_are_refused_and_nothing_is_written(
        self, store: ArtifactStore
    ) -> None:
        before = await self.outside(store)
        for key in BAD_KEYS:
            calls = [
                store.put(key, b"v"),
                store.put_stream(key, [b"v"]),
                store.get(key),
                store.stat(key),
                store.exists(key),
                store.delete(key),
                store.open_read(key),
            ]
            for call in calls:
                with pytest.raises(ValidationError) as info:
                    await call
                assert info.value.code == "validation_error", key
        for prefix in ["../", "a//", "/x", "a/../", "x\x00", 5]:
            with pytest.raises(ValidationError):
                await store.list(prefix)  # type: ignore[arg-type]
        assert await all_keys(store) == []
        assert await self.outside(store) == before

    async def test_long_keys_up_to_the_limit(self, store: ArtifactStore) -> None:
        key = "/".join(["k" * 99] * 9)  # 899 bytes
        await store.put(key, b"long")
        assert await store.get(key) == b"long"
        assert await all_keys(store) == [key]
        with pytest.raises(ValidationError):
            await store.put("/".join(["k" * 100] * 10) + "/x" * 12, b"too long")

    async def test_unusual_characters_round_trip_and_list_unchanged(self, store: ArtifactStore) -> None:
        for index, key in enumerate(ODD_KEYS):
            await store.put(key, str(index).encode())
        for index, key in enumerate(ODD_KEYS):
            assert await store.get(key) == str(index).encode(), key
        assert sorted(await all_keys(store)) == sorted(ODD_KEYS)

    # -- listing --------------------------------------------------------------------------------

    async def test_a_key_and_keys_below_it_coexist(self, store: ArtifactStore) -> None:
        await store.put("a", b"file")
        await store.put("a/b", b"below")
        assert (await store.get("a"), await store.get("a/b")) == (b"file", b"below")
        await store.delete("a")
        assert await store.get("a/b") == b"below"
        assert await all_keys(store) == ["a/b"]

    async def test_list_filters_by_string_prefix_in_listing_order(self, store: ArtifactStore) -> None:
        for key in TREE:
            await store.put(key, key.encode())
        everything = await all_keys(store)
        assert sorted(everything) == sorted(TREE)
        assert listing_ordered(everything)
        expected = {
            "a": ["a", "a/b", "a/b/c", "a-c", "a.txt", "a0", "ab/c"],
            "a/": ["a/b", "a/b/c"],
            "a/b/": ["a/b/c"],
            "a-": ["a-c"],
            "ab": ["ab/c"],
            "z/": ["z/y"],
            "zz": [],
            "c": [],
        }
        for prefix, keys in expected.items():
            got = await all_keys(store, prefix)
            assert sorted(got) == sorted(keys), prefix
            assert got == [k for k in everything if k.startswith(prefix)], prefix

    async def test_paging_returns_every_key_exactly_once(self, store: ArtifactStore) -> None:
        for key in TREE:
            await store.put(key, b"")
        everything = await all_keys(store)
        for prefix in ["", "a"]:
            wanted = [k for k in everything if k.startswith(prefix)]
            for limit in range(1, len(wanted) + 1):
                assert await all_keys(store, prefix, limit) == wanted, (prefix, limit)

    async def test_cursors_belong_to_their_prefix_and_limits_are_checked(self, store: ArtifactStore) -> None:
        for key in TREE:
            await store.put(key, b"")
        page = await store.list("a", limit=2)
        assert page.next_cursor is not None
        with pytest.raises(InvalidCursor):
            await store.list("b", cursor=page.next_cursor)
        with pytest.raises(InvalidCursor):
            await store.list("a", cursor=page.next_cursor[:-3] + "AAA")
        for limit in [0, -1, 1001, "5", True]:
            with pytest.raises(ValidationError):
                await store.list("", limit=limit)  # type: ignore[arg-type]

    # -- streams --------------------------------------------------------------------------------

    async def test_put_stream_from_async_and_plain_iterables(self, store: ArtifactStore) -> None:
        parts = [b"alpha-", b"", b"beta-", bytes(range(256)) * 10]
        whole = b"".join(parts)
        info = await store.put_stream("s/async", agen(parts), content_type="text/plain", metadata={"n": 4})
        assert (info.size, info.sha256, info.content_type, info.metadata) == (
            len(whole),
            sha(whole),
            "text/plain",
            {"n": 4},
        )
        assert await store.get("s/async") == whole
        mixed: list[bytes | bytearray | memoryview] = [bytearray(b"x"), memoryview(b"yz"), b"w"]
        await store.put_stream("s/plain", iter(mixed))
        assert await store.get("s/plain") == b"xyzw"
        await store.put_stream("s/empty", [])
        assert await store.get("s/empty") == b""
        assert (await store.stat("s/async")).sha256 == sha(whole)

    async def test_failing_stream_stores_nothing_and_keeps_the_old_version(
        self, store: ArtifactStore
    ) -> None:
        await store.put("k", b"old")
        boom = Boom("caller's iterator failed")

        async def failing() -> AsyncIterator[bytes]:
            yield b"new-" * 1000
            yield b"more" * 300_000
            raise boom

        with pytest.raises(Boom) as info:
            await store.put_stream("k", failing())
        assert info.value is boom
        with pytest.raises(Boom):
            await store.put_stream("fresh", failing())
        assert await store.get("k") == b"old"
        assert not await store.exists("fresh")
        assert await all_keys(store) == ["k"]

    async def test_bad_chunks_are_refused(self, store: ArtifactStore) -> None:
        with pytest.raises(ValidationError):
            await store.put_stream("k", agen([b"ok", "text"]))  # type: ignore[list-item]
        with pytest.raises(ValidationError):
            await store.put_stream("k", b"not an iterable of chunks")  # type: ignore[arg-type]
        assert await all_keys(store) == []

    async def test_large_objects_round_trip_by_put_and_by_stream(self, store: ArtifactStore) -> None:
        data = os.urandom(BIG)
        info = await store.put("big/put", data)
        assert info.sha256 == sha(data)
        assert await store.get("big/put") == data
        chunk = 1024 * 1024 + 7
        streamed = await store.put_stream("big/stream", (data[i : i + chunk] for i in range(0, BIG, chunk)))
        assert (streamed.size, streamed.sha256) == (BIG, sha(data))
        async with await store.open_read("big/stream") as reader:
            assert reader.info.size == BIG
            pieces = [piece async for piece in reader]
        assert len(pieces) > 1
        assert b"".join(pieces) == data

    async def test_open_read_gives_info_first_and_can_stop_early(self, store: ArtifactStore) -> None:
        data = os.urandom(3 * 1024 * 1024)
        await store.put("r", data, content_type="application/x-test")
        reader = await store.open_read("r")
        assert (reader.info.size, reader.info.sha256) == (len(data), sha(data))
        assert reader.info.content_type == "application/x-test"
        first = await anext(reader)
        assert data.startswith(first)
        await reader.close()
        async with await store.open_read("r") as again:
            assert await again.read() == data

    # -- concurrency ----------------------------------------------------------------------------

    async def test_racing_writers_leave_one_complete_version(self, store: ArtifactStore) -> None:
        payloads = [bytes([n]) * (256 * 1024 + n) for n in range(8)]
        await asyncio.gather(*(store.put("race", p) for p in payloads))
        final = await store.get("race")
        assert final in payloads
        assert (await store.stat("race")).sha256 == sha(final)

    async def test_concurrent_writes_to_distinct_keys(self, store: ArtifactStore) -> None:
        keys = [f"many/{n:02d}" for n in range(20)]
        await asyncio.gather(*(store.put(k, k.encode()) for k in keys))
        assert await all_keys(store, "many/") == keys
        assert await asyncio.gather(*(store.get(k) for k in keys)) == [k.encode() for k in keys]

    # -- create-only puts ------------------------------------------------------------------------

    async def test_create_only_put_refuses_an_existing_key_and_changes_nothing(
        self, store: ArtifactStore
    ) -> None:
        first = await store.put("v/1", b"first", metadata={"n": 1}, if_absent=True)
        assert first.sha256 == sha(b"first")
        for attempt in (
            store.put("v/1", b"second", if_absent=True),
            store.put_stream("v/1", agen([b"sec", b"ond"]), if_absent=True),
        ):
            with pytest.raises(AlreadyExists) as raised:
                await attempt
            assert raised.value.code == "already_exists" and raised.value.details["key"] == "v/1"
        assert await store.get("v/1") == b"first"
        assert (await store.stat("v/1")).metadata == {"n": 1}
        assert await all_keys(store) == ["v/1"]
        streamed = await store.put_stream("v/2", agen([b"a", b"b"]), if_absent=True)
        assert streamed.size == 2 and await store.get("v/2") == b"ab"
        await store.delete("v/1")
        await store.put("v/1", b"again", if_absent=True)
        assert await store.get("v/1") == b"again"
        await store.put("v/1", b"overwritten")
        assert await store.get("v/1") == b"overwritten"

    async def test_failing_create_only_stream_leaves_the_key_free(self, store: ArtifactStore) -> None:
        async def failing() -> AsyncIterator[bytes]:
            yield b"part"
            raise Boom

        with pytest.raises(Boom):
            await store.put_stream("free", failing(), if_absent=True)
        assert not await store.exists("free")
        await store.put_stream("free", agen([b"ok"]), if_absent=True)
        assert await store.get("free") == b"ok"

    async def test_racing_create_only_puts_exactly_one_wins(self, store: ArtifactStore) -> None:
        payloads = [bytes([n]) * (64 * 1024 + n) for n in range(8)]

        async def attempt(n: int) -> bytes | None:
            try:
                if n % 2:
                    await store.put_stream("slot", agen([payloads[n]]), if_absent=True)
                else:
                    await store.put("slot", payloads[n], if_absent=True)
            except AlreadyExists:
                return None
            return payloads[n]

        for _ in range(3):
            won = [p for p in await asyncio.gather(*(attempt(n) for n in range(8))) if p is not None]
            assert len(won) == 1, f"{len(won)} create-only puts of one key succeeded"
            assert await store.get("slot") == won[0]
            await store.delete("slot")

    @given(
        data=st.binary(max_size=3000),
        segments=st.lists(
            st.text(
                st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"]), min_size=1, max_size=8
            ).filter(lambda s: s not in (".", "..") and "/" not in s and "\\" not in s),
            min_size=1,
            max_size=3,
        ),
    )
    @settings(
        max_examples=25,
        deadline=None,
        # Every backend's subclass runs this method: different executors by design, one store each.
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
    )
    async def test_any_bytes_under_any_valid_key_round_trip(
        self, store: ArtifactStore, data: bytes, segments: list[str]
    ) -> None:
        key = "/".join(segments)
        info = await store.put(key, data)
        assert info.sha256 == sha(data)
        assert await store.get(key) == data
        assert key in await all_keys(store)
        await store.delete(key)
        assert not await store.exists(key)

    # -- integrity ------------------------------------------------------------------------------

    async def test_corruption_behind_the_stores_back_is_detected(self, store: ArtifactStore) -> None:
        small = b"precious bytes " * 10
        await store.put("c/small", small)
        await self._corrupt_or_skip(store, "c/small")
        with pytest.raises(ChecksumMismatch) as info:
            await store.get("c/small")
        assert info.value.code == "checksum_mismatch"
        assert isinstance(info.value, StorageError)
        received: list[bytes] = []
        with pytest.raises(ChecksumMismatch):
            await self._read_into(store, "c/small", received)
        assert received == []

    async def test_corruption_of_a_large_object_is_detected_when_streaming(
        self, store: ArtifactStore
    ) -> None:
        data = os.urandom(3 * 1024 * 1024)
        await store.put("c/large", data)
        await self._corrupt_or_skip(store, "c/large")
        with pytest.raises(ChecksumMismatch):
            await store.get("c/large")
        received: list[bytes] = []
        with pytest.raises(ChecksumMismatch):
            await self._read_into(store, "c/large", received)
        assert sum(map(len, received)) < len(data)


def flip_byte(data: bytes, position: int = 0) -> bytes:
    """`data` with one byte changed (what the corruption hooks write back)."""
    return data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1 :]


def walk(root: str) -> Iterator[str]:
    """Every file path under `root` (for "nothing was written outside" checks)."""
    for directory, _, files in os.walk(root):
        for name in files:
            yield os.path.join(directory, name)
