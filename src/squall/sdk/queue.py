"""`Queue`: a named, persistent FIFO queue shared by every client and container, with
optional partitions (independent FIFOs under one name; None is the default partition).

A blocking `get` is a long-poll: the server answers as soon as an item arrives, and the SDK
asks again until the caller's timeout. Semantics follow Modal's: `get(block=False)` returns
None when empty; a blocking `get` with a timeout raises `queue.Empty` when it runs out; a
`put` that finds the partition full waits for room (raising `queue.Full` when it runs out,
or at once with block=False). Limits are in `squall._limits` (item 1 MiB, 100,000 items per
partition, partition key 64 characters, name 64 characters).
"""

from __future__ import annotations

import queue as _queue
import time
from collections.abc import AsyncIterator, Iterable

from squall import _limits as lim
from squall import _serialization as ser
from squall._proto.squall.v1 import storage_pb2 as spb
from squall.exception import InvalidError, ResourceExhaustedError
from squall.sdk._storage import _StorageObject, storage_call
from squall.sdk._sync import live_function, live_method

POLL_S = 50.0  # the longest one long-poll request waits on the server


def _item(value) -> bytes:
    return lim.check_size(f"queue item {ser._short(value)}", ser.serialize(value), lim.MAX_QUEUE_ITEM_BYTES)


def _check_timeout(timeout) -> None:
    if timeout is not None and timeout < 0:
        raise InvalidError(f"timeout must be None or >= 0 seconds, got {timeout!r}")


class Queue(_StorageObject):
    """A distributed queue: `Queue.from_name("jobs", create_if_missing=True)`.

    Every method that talks to the server blocks; each also has an awaitable `.aio` form.
    """

    _kind = "queue"

    @staticmethod
    @live_function
    async def delete(name: str) -> None:
        """Delete the named queue and every item in it."""
        await Queue._delete(lim.check_name("queue", name))

    async def _put(self, values: list[bytes], block: bool, timeout: float | None, partition: str) -> None:
        queue_id = await self._id()
        deadline = None if timeout is None else time.monotonic() + timeout
        for i in range(0, len(values), lim.MAX_ITEMS_PER_REQUEST):
            chunk = values[i : i + lim.MAX_ITEMS_PER_REQUEST]
            while True:
                wait = 0.0 if not block else POLL_S if deadline is None else min(POLL_S, max(0.0, deadline - time.monotonic()))
                try:
                    await storage_call("QueuePut", spb.QueuePutRequest(queue_id=queue_id, partition=partition, values=chunk, wait_s=wait), timeout=wait + 30)
                    break
                except ResourceExhaustedError as exc:
                    if not block or (deadline is not None and time.monotonic() >= deadline):
                        raise _queue.Full(str(exc)) from None

    @live_method
    async def put(self, v, block: bool = True, timeout: float | None = None, *, partition: str | None = None) -> None:
        """Add `v` at the end. When the partition is full, wait for room (at most `timeout`
        seconds) if `block`, else raise `queue.Full`."""
        _check_timeout(timeout)
        await self._put([_item(v)], block, timeout, lim.check_partition(partition))

    @live_method
    async def put_many(self, vs: Iterable, block: bool = True, timeout: float | None = None, *, partition: str | None = None) -> None:
        """Add every item of `vs`, in order (sent 1,000 at a time)."""
        _check_timeout(timeout)
        values = [_item(v) for v in vs]
        if values:
            await self._put(values, block, timeout, lim.check_partition(partition))

    async def _get(self, n: int, block: bool, timeout: float | None, partition: str | None) -> list:
        _check_timeout(timeout)
        partition_key = lim.check_partition(partition)
        queue_id = await self._id()
        n = max(1, min(n, lim.MAX_ITEMS_PER_REQUEST))
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = 0.0 if not block else POLL_S if deadline is None else min(POLL_S, max(0.0, deadline - time.monotonic()))
            resp = await storage_call("QueueGet", spb.QueueGetRequest(queue_id=queue_id, partition=partition_key, n_values=n, wait_s=wait), timeout=wait + 30)
            if resp.values:
                return [ser.deserialize(v) for v in resp.values]
            if not block:
                return []
            if deadline is not None and time.monotonic() >= deadline:
                raise _queue.Empty(f"no item arrived in the queue within {timeout} s")

    @live_method
    async def get(self, block: bool = True, timeout: float | None = None, *, partition: str | None = None):
        """Remove and return the oldest item. Blocking: wait for one (raising `queue.Empty`
        after `timeout` seconds if given). Non-blocking: None when the queue is empty."""
        values = await self._get(1, block, timeout, partition)
        return values[0] if values else None

    @live_method
    async def get_many(self, n_values: int, block: bool = True, timeout: float | None = None, *, partition: str | None = None) -> list:
        """Remove and return up to `n_values` items (at most 1,000 per call) as soon as at least
        one is there; non-blocking: [] when the queue is empty."""
        if not isinstance(n_values, int) or n_values < 1:
            raise InvalidError(f"n_values must be a positive integer, got {n_values!r}")
        return await self._get(n_values, block, timeout, partition)

    @live_method
    async def iterate(self, *, partition: str | None = None, item_poll_timeout: float = 0.0) -> AsyncIterator:
        """Yield items as they are removed, until none arrives within `item_poll_timeout` seconds."""
        while True:
            try:
                values = await self._get(lim.MAX_ITEMS_PER_REQUEST, item_poll_timeout > 0, item_poll_timeout, partition)
            except _queue.Empty:
                return
            if not values:
                return
            for v in values:
                yield v

    @live_method
    async def len(self, *, partition: str | None = None, total: bool = False) -> int:
        """Items in the partition (the default one if None), or in all partitions with total=True."""
        if partition is not None and total:
            raise InvalidError("pass either partition= or total=True to Queue.len, not both")
        request = spb.QueueLenRequest(partition=lim.check_partition(partition), total=total)
        request.queue_id = await self._id()
        return (await storage_call("QueueLen", request)).len

    @live_method
    async def clear(self, *, partition: str | None = None, all: bool = False) -> None:  # noqa: A002 - Modal's name
        """Remove every item of the partition, or of every partition with all=True."""
        if partition is not None and all:
            raise InvalidError("pass either partition= or all=True to Queue.clear, not both")
        request = spb.QueueClearRequest(partition=lim.check_partition(partition), all=all)
        request.queue_id = await self._id()
        await storage_call("QueueClear", request)

    async def _peek(self, n: int, partition: str | None = None) -> list:
        resp = await storage_call("QueuePeek", spb.QueuePeekRequest(queue_id=await self._id(), partition=lim.check_partition(partition), n_values=n))
        return [ser.deserialize(v) for v in resp.values]

    def __len__(self) -> int:
        return self.len()
