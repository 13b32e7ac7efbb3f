"""`ASMSaver`: a LangGraph checkpointer on our sessions, with storage linear in the conversation.

Every thread is one of our sessions, so `asm sessions`, `asm events`, search, export and retention work
on LangGraph threads too; the layout is described in `layout`. Each method exists sync and async (the
sync ones go through `sync.portal()`), plus `copy_thread`, `prune` and `delete_for_runs`.
"""

from __future__ import annotations

import copy
import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from ... import sync
from ...core.errors import SessionNotFound, ValidationError
from ...core.ids import EVENT_PREFIX, new_id
from ...core.models import Event, Session, SessionStatus
from ...core.pagination import MAX_PAGE_SIZE
from ...sessions.base import SessionStore
from . import layout
from .bridge import Opened, PortalBridge
from .layout import BLOBS, CHECKPOINT, MISSING, STATE_TYPES, WRITES, Thread, session_id_for

#: Threads whose fold is kept in memory (least recently used first out).
CACHED_THREADS = 256
_PAGE = MAX_PAGE_SIZE


class ASMSaver(PortalBridge, BaseCheckpointSaver[str]):
    """A LangGraph `BaseCheckpointSaver` storing each thread as one of our sessions.

    Give it an async store used from your event loop (`ASMSaver(await open_store(url))`; the async
    methods then run on that loop), or a store living on `sync.portal()` (`ASMSaver.from_url(url)`, or
    `ASMSaver(sync.portal().open_store(url))`), which both the sync and the async methods can use.

    Args:
        store: a `SessionStore`, or a `sync.SyncStore` opened through `sync.portal()`.
        serde: LangGraph's serializer (default: `JsonPlusSerializer`, as for LangGraph's own savers).

    Raises:
        ValidationError: a sync method on a saver whose store is not on the portal.

    Example:
        >>> from langgraph.graph import StateGraph
        >>> builder = StateGraph(int)
        >>> _ = builder.add_node("add_one", lambda x: x + 1)
        >>> _ = builder.set_entry_point("add_one")
        >>> _ = builder.set_finish_point("add_one")
        >>> with ASMSaver.from_url("memory://") as saver:
        ...     graph = builder.compile(checkpointer=saver)
        ...     graph.invoke(1, {"configurable": {"thread_id": "t1"}})
        2
    """

    def __init__(
        self, store: SessionStore | sync.SyncStore, *, serde: SerializerProtocol | None = None
    ) -> None:
        BaseCheckpointSaver.__init__(self, serde=serde)
        PortalBridge.__init__(self, store)
        self._threads: OrderedDict[str, Thread] = OrderedDict()

    # -- construction --------------------------------------------------------------------------------

    @classmethod
    def from_url(
        cls, url: str, *, serde: SerializerProtocol | None = None, **options: Any
    ) -> Opened[ASMSaver]:
        """A saver on the store at `url`, as a sync or async context manager that closes the store.

        The store lives on `sync.portal()`, so the saver works from sync code (`graph.invoke`) and from
        any event loop (`graph.ainvoke`), like `SqliteSaver.from_conn_string` / `PostgresSaver`.

        Args:
            url: a session store URL (`sqlite:///path`, `postgresql://...`, `memory://`).
            serde: LangGraph's serializer (default `JsonPlusSerializer`).
            **options: passed to `open_store` (for example `migrate=True`).

        Returns:
            A context manager yielding the `ASMSaver`.

        Example:
            >>> with ASMSaver.from_url("memory://") as saver:
            ...     saver.get_tuple({"configurable": {"thread_id": "none"}}) is None
            True
        """
        return Opened(url, options, lambda store: cls(store, serde=serde))

    # -- the fold cache ------------------------------------------------------------------------------

    async def _thread(self, session_id: str, *, fresh: bool = True) -> Thread:
        """The thread's fold, brought up to date with one read (a full fold on first use or a reset).

        Writes pass `fresh=False`: they only need the values this process last saw (a delta against an
        older base is still exact), so they skip the read when the thread is cached.
        """
        cached = self._threads.get(session_id)
        if cached is not None:
            self._threads.move_to_end(session_id)
            if not fresh:
                return cached
            if cached.last_seq:
                events = await self._read(session_id, after=cached.last_seq - 1)
                if (
                    events
                    and events[0].id == cached.last_id
                    and all(cached.apply(e, incremental=True) for e in events)
                ):
                    return cached
        thread = Thread(session_id, self.serde)
        try:
            async for event in self.store.iter_events(session_id, types=STATE_TYPES):
                thread.apply(event, incremental=False)
        except SessionNotFound:
            pass
        thread.exists = bool(thread.last_seq) or await self._exists(session_id)
        if cached is not None:
            # Refolded in place: a write running meanwhile holds this object and must see what it
            # remembers. Values are kept only when nothing had been folded (no deletion can be behind).
            cached.take(thread, keep_values=not cached.last_seq)
            return cached
        self._threads[session_id] = thread
        while len(self._threads) > CACHED_THREADS:
            self._threads.popitem(last=False)
        return thread

    async def _read(self, session_id: str, *, after: int) -> list[Event]:
        try:
            return await self.store.get_events(session_id, after=after, types=STATE_TYPES)
        except SessionNotFound:
            return []

    async def _exists(self, session_id: str) -> bool:
        try:
            await self.store.get_session(session_id)
        except SessionNotFound:
            return False
        return True

    async def _ensure_session(self, thread: Thread, thread_id: str) -> None:
        if thread.exists:
            return
        await self.store.save_session(
            Session(
                id=thread.session_id,
                agent_id=layout.AGENT_ID,
                status=SessionStatus.ACTIVE,
                metadata={"langgraph": {"thread_id": thread_id}},
            )
        )
        thread.exists = True

    # -- reading -------------------------------------------------------------------------------------

    def _tuple(self, thread: Thread, thread_id: str, record: layout.CheckpointRecord) -> CheckpointTuple:
        checkpoint: Checkpoint = self.serde.loads_typed(layout.decode(record.checkpoint))
        values: dict[str, Any] = {}
        for channel, version in checkpoint["channel_versions"].items():
            value = thread.value(record.ns, channel, version, verify=True)
            if value is not MISSING:
                # The cache's own objects (checked against their serialized form just now), in a list of
                # the caller's; other values are copied whole.
                values[channel] = value.copy() if type(value) is list else copy.deepcopy(value)
        config: RunnableConfig = {
            "configurable": {"thread_id": thread_id, "checkpoint_ns": record.ns, "checkpoint_id": record.id}
        }
        parent: RunnableConfig | None = None
        if record.parent:
            parent = {
                "configurable": {
                    "thread_id": thread_id,
                    "checkpoint_ns": record.ns,
                    "checkpoint_id": record.parent,
                }
            }
        return CheckpointTuple(
            config=config,
            checkpoint={**checkpoint, "channel_values": values},
            metadata=self.serde.loads_typed(layout.decode(record.metadata)),
            parent_config=parent,
            pending_writes=thread.pending_writes(record.ns, record.id),
        )

    async def _get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        thread_id = str(config["configurable"]["thread_id"])
        ns = config["configurable"].get("checkpoint_ns", "")
        thread = await self._thread(session_id_for(thread_id))
        checkpoint_id = get_checkpoint_id(config)
        record = thread.checkpoints.get(ns, {}).get(checkpoint_id) if checkpoint_id else thread.latest(ns)
        if record is None:
            return None
        found = self._tuple(thread, thread_id, record)
        return found._replace(config=config) if checkpoint_id else found

    async def _list(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> list[CheckpointTuple]:
        found: list[CheckpointTuple] = []
        if limit is not None and limit <= 0:
            return found
        wanted_ns = config["configurable"].get("checkpoint_ns") if config else None
        wanted_id = get_checkpoint_id(config) if config else None
        before_id = get_checkpoint_id(before) if before else None
        async for thread_id in self._thread_ids(config):
            thread = await self._thread(session_id_for(thread_id))
            records = sorted(thread.all_checkpoints(), key=lambda r: r.id, reverse=True)
            for record in records:
                if wanted_ns is not None and record.ns != wanted_ns:
                    continue
                if (wanted_id and record.id != wanted_id) or (before_id and record.id >= before_id):
                    continue
                if filter:
                    metadata = self.serde.loads_typed(layout.decode(record.metadata))
                    if not all(metadata.get(k) == v for k, v in filter.items()):
                        continue
                found.append(self._tuple(thread, thread_id, record))
                if limit is not None and len(found) >= limit:
                    return found
        return found

    async def _thread_ids(self, config: RunnableConfig | None) -> AsyncIterator[str]:
        if config is not None:
            yield str(config["configurable"]["thread_id"])
            return
        cursor: str | None = None
        while True:
            ids, cursor = await self._thread_page(cursor)
            for thread_id in ids:
                yield thread_id
            if cursor is None:
                return

    async def _thread_page(self, cursor: str | None) -> tuple[list[str], str | None]:
        page = await self.store.list_sessions(agent_id=layout.AGENT_ID, limit=_PAGE, cursor=cursor)
        ids = [s.metadata["langgraph"]["thread_id"] for s in page.items if "langgraph" in s.metadata]
        return ids, page.next_cursor

    # -- writing -------------------------------------------------------------------------------------

    async def _put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        thread_id = str(config["configurable"]["thread_id"])
        ns = config["configurable"].get("checkpoint_ns", "")
        parent_id = config["configurable"].get("checkpoint_id")
        session_id = session_id_for(thread_id)
        thread = await self._thread(session_id, fresh=False)
        stripped = {k: v for k, v in checkpoint.items() if k != "channel_values"}
        values = checkpoint["channel_values"]
        parent = thread.checkpoints.get(ns, {}).get(parent_id) if parent_id else None
        parent_versions = thread.checkpoint_versions(parent) if parent is not None else {}
        records: dict[str, list[Any]] = {}
        remembered: dict[str, tuple[Any, Any]] = {}
        views: list[Event] = []
        for channel, version in new_versions.items():
            value = values.get(channel, MISSING)
            base = parent_versions.get(channel)
            if base is None:
                base = thread.latest_version(ns, channel)
            record, new_items, fingerprint, kept = layout.make_record(
                thread, self.serde, ns, channel, value, base
            )
            remembered[channel] = (kept, fingerprint)
            records[channel] = [version, record]
            views.extend(
                layout.message_events(
                    session_id, new_items, ns=ns, checkpoint_id=checkpoint["id"], channel=channel
                )
            )
        data = layout.checkpoint_data(
            serde=self.serde,
            ns=ns,
            checkpoint=stripped,
            parent=parent_id,
            metadata=get_checkpoint_metadata(config, metadata),
            values=records,
        )
        # Remembered before the append, so a put that starts meanwhile compares against this one; if the
        # append fails, the thread's fold is dropped, and no later delta can build on the lost value.
        for channel, version in new_versions.items():
            value = values.get(channel, MISSING)
            if value is not MISSING:
                thread.remember(ns, channel, version, *remembered[channel])
        try:
            await self._ensure_session(thread, thread_id)
            await self.store.append_events([*views, Event(type=CHECKPOINT, session_id=session_id, data=data)])
        except BaseException:
            self._threads.pop(session_id, None)
            raise
        return {
            "configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint["id"]}
        }

    async def _put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str
    ) -> None:
        thread_id = str(config["configurable"]["thread_id"])
        session_id = session_id_for(thread_id)
        encoded = [
            [layout.write_index(channel, i), channel, *layout.encode(self.serde.dumps_typed(value))]
            for i, (channel, value) in enumerate(writes)
        ]
        data = {
            "ns": config["configurable"].get("checkpoint_ns", ""),
            "checkpoint_id": config["configurable"]["checkpoint_id"],
            "task_id": task_id,
            "task_path": task_path,
            "writes": encoded,
        }
        thread = await self._thread(session_id, fresh=False)
        await self._ensure_session(thread, thread_id)
        await self.store.append_events([Event(type=WRITES, session_id=session_id, data=data)])

    async def _delete_thread(self, thread_id: str) -> None:
        session_id = session_id_for(str(thread_id))
        self._threads.pop(session_id, None)
        await self.store.delete_session(session_id)

    async def _copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        source = session_id_for(str(source_thread_id))
        target = session_id_for(str(target_thread_id))
        thread = await self._thread(target)
        batch: list[Event] = []
        try:
            async for e in self.store.iter_events(source, batch_size=_PAGE):
                fresh = {"id": new_id(EVENT_PREFIX), "session_id": target, "sequence_number": None}
                batch.append(e.model_copy(update=fresh))
                if len(batch) == _PAGE:
                    await self._copy_batch(thread, str(target_thread_id), batch)
        except SessionNotFound:
            pass
        await self._copy_batch(thread, str(target_thread_id), batch)
        self._threads.pop(target, None)

    async def _copy_batch(self, thread: Thread, thread_id: str, batch: list[Event]) -> None:
        if batch:
            await self._ensure_session(thread, thread_id)
            await self.store.append_events(batch)
            batch.clear()

    async def _prune(self, thread_ids: Sequence[str], strategy: str) -> None:
        if strategy not in ("keep_latest", "delete"):
            raise ValidationError(f"unknown prune strategy {strategy!r}; expected 'keep_latest' or 'delete'")
        for thread_id in thread_ids:
            if strategy == "delete":
                await self._delete_thread(thread_id)
                continue
            thread = await self._thread(session_id_for(str(thread_id)))
            keep: set[tuple[str, str]] = set()
            for ns in thread.checkpoints:
                keep |= self._kept_chain(thread, ns)
            drop = {(r.ns, r.id) for r in thread.all_checkpoints()} - keep
            await self._drop(thread, drop)

    def _kept_chain(self, thread: Thread, ns: str) -> set[tuple[str, str]]:
        """The latest checkpoint of `ns`, and the ancestors its `DeltaChannel`s are rebuilt from: back to
        the nearest one holding a stored value (a snapshot) for each of them, or to the root."""
        latest = thread.latest(ns)
        if latest is None:
            return set()
        metadata = self.serde.loads_typed(layout.decode(latest.metadata))
        pending = set(metadata.get("counters_since_delta_snapshot") or ())
        kept = {(ns, latest.id)}
        record: layout.CheckpointRecord | None = latest
        while pending and record is not None:
            versions = thread.checkpoint_versions(record)
            pending = {c for c in pending if thread.value(ns, c, versions.get(c)) is MISSING}
            kept.add((ns, record.id))
            record = thread.checkpoints[ns].get(record.parent) if record.parent else None
        return kept

    async def _drop(self, thread: Thread, drop: set[tuple[str, str]]) -> None:
        """Delete the checkpoints in `drop` with their writes, first saving as full records every value
        a kept checkpoint was built from that lived in a deleted event."""
        if not drop and not thread.superseded:
            return
        dead = set(thread.superseded)
        dead |= {r.event_id for r in thread.all_checkpoints() if (r.ns, r.id) in drop}
        dead |= {event_id for event_id, key in thread.write_events.items() if key in drop}
        rescued: list[list[Any]] = []
        for record in thread.all_checkpoints():
            if (record.ns, record.id) in drop:
                continue
            for channel, version in thread.checkpoint_versions(record).items():
                key = (record.ns, channel, version)
                chain = thread.chain(key)
                if any(k in thread.records and thread.records[k][1] in dead for k in chain):
                    value = thread.value(record.ns, channel, version, verify=True)
                    rescued.append([record.ns, channel, version, layout.full_record(self.serde, value)])
        session_id = thread.session_id
        self._threads.pop(session_id, None)
        if rescued:
            await self.store.append_events([_reset(session_id, rescued)])
        if dead:
            await self.store.delete_events(session_id, ids=sorted(dead))
            # Tells every other process's cached fold to fold the thread again, now without them.
            await self.store.append_events([_reset(session_id, [])])

    async def _delete_for_runs(self, run_ids: Sequence[str]) -> None:
        wanted = {str(r) for r in run_ids}
        if not wanted:
            return
        async for thread_id in self._thread_ids(None):
            thread = await self._thread(session_id_for(thread_id))
            drop = {(r.ns, r.id) for r in thread.all_checkpoints() if r.run_id in wanted}
            if drop:
                await self._drop(thread, drop)

    # -- BaseCheckpointSaver, async ------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint `config` names (its `checkpoint_id`, else the latest of its thread and
        namespace), with its pending writes in LangGraph's order; None when there is none."""
        result: CheckpointTuple | None = await self._run(self._get_tuple, config)
        return result

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Checkpoints newest first: of `config`'s thread (and namespace, when given) or of every thread,
        whose metadata has every `filter` item, older than `before`, at most `limit`."""
        for item in await self._run(self._list, config, filter, before, limit):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint: one event with the channels of `new_versions` (unchanged values and
        already stored list elements are referenced, not stored again) and the new messages as core
        events, in one atomic append. Returns the config naming the stored checkpoint."""
        result: RunnableConfig = await self._run(self._put, config, checkpoint, metadata, new_versions)
        return result

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        """Store a task's pending writes for the checkpoint `config` names (first write per index wins;
        special writes replace)."""
        await self._run(self._put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete the thread: its session with every checkpoint, write and message event."""
        await self._run(self._delete_thread, thread_id)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint, write and message of a thread into another (appended to it)."""
        await self._run(self._copy_thread, source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """`keep_latest`: keep each namespace's latest checkpoint (and the ancestors its DeltaChannels
        need), saving its values whole first; `delete`: delete the threads."""
        await self._run(self._prune, thread_ids, strategy)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints (and their writes) whose metadata `run_id` is one of `run_ids`; values
        the remaining checkpoints still need are kept."""
        await self._run(self._delete_for_runs, run_ids)

    async def alist_threads(self) -> AsyncIterator[str]:
        """Every thread id this store holds, oldest first: one keyset scan of our sessions, without
        reading any checkpoint (LangGraph's own savers can only list every checkpoint of every thread).

        Example:
            >>> async def ids(saver):
            ...     return [thread_id async for thread_id in saver.alist_threads()]
        """
        cursor: str | None = None
        while True:
            ids, cursor = await self._run(self._thread_page, cursor)
            for thread_id in ids:
                yield thread_id
            if cursor is None:
                return

    def list_threads(self) -> Iterator[str]:
        """Sync `alist_threads`."""
        cursor: str | None = None
        while True:
            ids, cursor = self._block(self._thread_page, cursor)
            yield from ids
            if cursor is None:
                return

    # -- BaseCheckpointSaver, sync -------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Sync `aget_tuple`."""
        result: CheckpointTuple | None = self._block(self._get_tuple, config)
        return result

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Sync `alist`."""
        return iter(self._block(self._list, config, filter, before, limit))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Sync `aput`."""
        result: RunnableConfig = self._block(self._put, config, checkpoint, metadata, new_versions)
        return result

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        """Sync `aput_writes`."""
        self._block(self._put_writes, config, writes, task_id, task_path)

    def delete_thread(self, thread_id: str) -> None:
        """Sync `adelete_thread`."""
        self._block(self._delete_thread, thread_id)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Sync `acopy_thread`."""
        self._block(self._copy_thread, source_thread_id, target_thread_id)

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Sync `aprune`."""
        self._block(self._prune, thread_ids, strategy)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Sync `adelete_for_runs`."""
        self._block(self._delete_for_runs, run_ids)

    def get_next_version(self, current: str | None, channel: None) -> str:
        """A version that sorts after `current`, with a random tail so two forks never share one (as
        LangGraph's own savers do)."""
        number = 0 if current is None else int(str(current).split(".")[0])
        return f"{number + 1:032}.{random.random():016}"


def _reset(session_id: str, values: list[list[Any]]) -> Event:
    return Event(type=BLOBS, session_id=session_id, data={"reset": True, "values": values})
