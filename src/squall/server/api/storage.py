"""The StorageService: Dicts and Queues, kept in the state store and shared by every client
and container.

Every write is committed to the store before it is acknowledged. The limits are those in
`squall._limits` (checked here again, whatever the client sent). A blocking Queue get is a
long-poll: the handler waits on an asyncio.Event for its partition, which every put to that
partition sets, so a waiting get returns as soon as an item arrives; a put that finds the
partition full waits the same way for a get or clear to make room.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import grpc
import sqlalchemy as sa

from squall import _limits as lim
from squall._proto.squall.v1 import storage_pb2 as spb
from squall._proto.squall.v1 import storage_pb2_grpc
from squall.exception import InvalidError
from squall.server.state import models as m
from squall.server.state.store import Store

MAX_WAIT_S = 55.0  # long-polls end before a client's deadline
DICT_PAGE = 1000
_KINDS = {"dict": (m.dicts, "di-"), "queue": (m.queues, "qu-")}


class StorageServicer(storage_pb2_grpc.StorageServiceServicer):
    def __init__(self, store: Store):
        self.store = store
        # (queue id, partition) -> event set (and replaced) at the next change to that partition
        self._changed: dict[tuple[str, str], asyncio.Event] = {}

    # -- shared --------------------------------------------------------------------------------
    async def _invalid(self, context, exc: InvalidError):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))

    async def _get_or_create(self, kind: str, request, context) -> spb.ObjectGetOrCreateResponse:
        table, prefix = _KINDS[kind]
        if request.ephemeral:
            object_id = prefix + uuid.uuid4().hex[:20]
            self.store.create_storage_object(table, object_id, None, True)
            return spb.ObjectGetOrCreateResponse(object_id=object_id)
        try:
            lim.check_name(kind, request.name)
        except InvalidError as exc:
            await self._invalid(context, exc)
        row = self.store.find_storage_object(table, request.name)
        if row is None:
            if not request.create_if_missing:
                await context.abort(
                    grpc.StatusCode.NOT_FOUND,
                    f"no {kind} named {request.name!r}: pass create_if_missing=True to {kind.capitalize()}.from_name, or run `squall {kind} create {request.name}`",
                )
            object_id = prefix + uuid.uuid4().hex[:20]
            try:
                self.store.create_storage_object(table, object_id, request.name, False)
            except sa.exc.IntegrityError:  # created meanwhile by another server on the same database
                row = self.store.find_storage_object(table, request.name)
                object_id = row.id
            return spb.ObjectGetOrCreateResponse(object_id=object_id)
        return spb.ObjectGetOrCreateResponse(object_id=row.id)

    async def _object(self, kind: str, object_id: str, context) -> sa.Row:
        row = self.store.find_storage_object(_KINDS[kind][0], object_id)
        if row is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"{kind} {object_id!r} does not exist (it was deleted, or it was ephemeral and its owner exited)")
        return row

    # -- dicts ---------------------------------------------------------------------------------
    async def DictGetOrCreate(self, request, context):
        return await self._get_or_create("dict", request, context)

    async def DictDelete(self, request, context):
        row = self.store.find_storage_object(m.dicts, request.name)
        if row is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no dict named {request.name!r}; `squall dict list` shows them")
        self.store.delete_dict(row.id)
        return spb.StorageEmpty()

    async def DictList(self, request, context):
        return spb.ObjectListResponse(
            objects=[spb.ObjectInfo(object_id=r.id, name=r.name, created_at=r.created_at, num_items=self.store.dict_len(r.id)) for r in self.store.list_storage_objects(m.dicts)]
        )

    async def _key(self, request, context) -> bytes:
        await self._object("dict", request.dict_id, context)
        try:
            return lim.check_size("a dict key", request.key, lim.MAX_DICT_KEY_BYTES)
        except InvalidError as exc:
            await self._invalid(context, exc)

    async def DictGet(self, request, context):
        value = self.store.dict_get(request.dict_id, await self._key(request, context))
        return spb.DictGetResponse(found=value is not None, value=value or b"")

    async def DictPop(self, request, context):
        value = self.store.dict_pop(request.dict_id, await self._key(request, context))
        return spb.DictGetResponse(found=value is not None, value=value or b"")

    async def DictContains(self, request, context):
        return spb.DictContainsResponse(found=self.store.dict_get(request.dict_id, await self._key(request, context)) is not None)

    async def DictPut(self, request, context):
        await self._object("dict", request.dict_id, context)
        try:
            for e in request.entries:
                lim.check_size("a dict key", e.key, lim.MAX_DICT_KEY_BYTES)
                lim.check_size("a dict value", e.value, lim.MAX_DICT_VALUE_BYTES)
        except InvalidError as exc:
            await self._invalid(context, exc)
        created = self.store.dict_put(request.dict_id, [(e.key, e.value) for e in request.entries], request.skip_if_exists, lim.MAX_DICT_KEYS)
        if created is None:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"dict {request.dict_id} would have more than {lim.MAX_DICT_KEYS:,} keys, the limit per dict")
        return spb.DictPutResponse(created=created)

    async def DictLen(self, request, context):
        await self._object("dict", request.dict_id, context)
        return spb.LenResponse(len=self.store.dict_len(request.dict_id))

    async def DictClear(self, request, context):
        await self._object("dict", request.dict_id, context)
        self.store.dict_clear(request.dict_id)
        return spb.StorageEmpty()

    async def DictContents(self, request, context):
        await self._object("dict", request.dict_id, context)
        limit = min(request.limit or DICT_PAGE, DICT_PAGE)
        rows = self.store.dict_contents(request.dict_id, request.after_seq, limit)
        return spb.DictContentsResponse(
            entries=[spb.DictEntry(key=r.key if request.keys else b"", value=r.value if request.values else b"") for r in rows],
            last_seq=rows[-1].seq if rows else request.after_seq,
            done=len(rows) < limit,
        )

    # -- queues --------------------------------------------------------------------------------
    def _notify(self, queue_id: str, partition: str) -> None:
        event = self._changed.pop((queue_id, partition), None)
        if event is not None:
            event.set()

    def _notify_all(self, queue_id: str) -> None:
        for key in [k for k in self._changed if k[0] == queue_id]:
            self._notify(*key)

    async def _wait_change(self, queue_id: str, partition: str, deadline: float) -> bool:
        """Wait for the next put/get/clear on the partition; False once the deadline passes."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        event = self._changed.setdefault((queue_id, partition), asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), remaining)
            return True
        except asyncio.TimeoutError:
            return False

    async def _partition(self, request, context) -> str:
        await self._object("queue", request.queue_id, context)
        try:
            return lim.check_partition(request.partition or None)
        except InvalidError as exc:
            await self._invalid(context, exc)

    async def QueueGetOrCreate(self, request, context):
        return await self._get_or_create("queue", request, context)

    async def QueueDelete(self, request, context):
        row = self.store.find_storage_object(m.queues, request.name)
        if row is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no queue named {request.name!r}; `squall queue list` shows them")
        self.store.delete_queue(row.id)
        self._notify_all(row.id)
        return spb.StorageEmpty()

    async def QueueList(self, request, context):
        return spb.ObjectListResponse(
            objects=[
                spb.ObjectInfo(object_id=r.id, name=r.name, created_at=r.created_at, num_items=self.store.queue_len(r.id, None),
                               num_partitions=self.store.queue_num_partitions(r.id))
                for r in self.store.list_storage_objects(m.queues)
            ]
        )

    async def QueuePut(self, request, context):
        partition = await self._partition(request, context)
        n = len(request.values)
        try:
            if n > lim.MAX_ITEMS_PER_REQUEST:
                raise InvalidError(f"{n} items in one put; the limit per request is {lim.MAX_ITEMS_PER_REQUEST}")
            for v in request.values:
                lim.check_size("a queue item", v, lim.MAX_QUEUE_ITEM_BYTES)
        except InvalidError as exc:
            await self._invalid(context, exc)
        deadline = time.monotonic() + min(request.wait_s, MAX_WAIT_S)
        while self.store.queue_len(request.queue_id, partition) + n > lim.MAX_QUEUE_PARTITION_ITEMS:
            if not await self._wait_change(request.queue_id, partition, deadline):
                await context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"queue {request.queue_id} partition {partition or '(default)'!s} is full: at most {lim.MAX_QUEUE_PARTITION_ITEMS:,} items per partition",
                )
            await self._object("queue", request.queue_id, context)
        self.store.queue_put(request.queue_id, partition, list(request.values))
        self._notify(request.queue_id, partition)
        return spb.StorageEmpty()

    async def QueueGet(self, request, context):
        partition = await self._partition(request, context)
        n = max(1, min(request.n_values or 1, lim.MAX_ITEMS_PER_REQUEST))
        deadline = time.monotonic() + min(request.wait_s, MAX_WAIT_S)
        while True:
            values = self.store.queue_pop(request.queue_id, partition, n)
            if values:
                self._notify(request.queue_id, partition)  # a waiting put may now have room
                return spb.QueueGetResponse(values=values)
            if not await self._wait_change(request.queue_id, partition, deadline):
                return spb.QueueGetResponse()
            await self._object("queue", request.queue_id, context)  # deleted while we waited?

    async def QueuePeek(self, request, context):
        partition = await self._partition(request, context)
        n = max(1, min(request.n_values or 1, lim.MAX_ITEMS_PER_REQUEST))
        return spb.QueueGetResponse(values=self.store.queue_peek(request.queue_id, partition, n))

    async def QueueLen(self, request, context):
        partition = await self._partition(request, context)
        return spb.LenResponse(len=self.store.queue_len(request.queue_id, None if request.total else partition))

    async def QueueClear(self, request, context):
        partition = await self._partition(request, context)
        if request.all:
            self.store.queue_clear(request.queue_id, None)
            self._notify_all(request.queue_id)
        else:
            self.store.queue_clear(request.queue_id, partition)
            self._notify(request.queue_id, partition)
        return spb.StorageEmpty()

    # -- secrets -------------------------------------------------------------------------------
    async def SecretGetOrCreate(self, request, context):
        from squall.server.secret_box import default_box

        env = dict(request.env_dict)
        try:
            for key in env:
                lim.check_env_key(key)
            if not request.ephemeral:
                lim.check_name("secret", request.name)
        except InvalidError as exc:
            await self._invalid(context, exc)
        if request.ephemeral:
            object_id = "st-" + uuid.uuid4().hex[:20]
            self.store.create_secret(object_id, None, True, default_box().encrypt(env))
            return spb.ObjectGetOrCreateResponse(object_id=object_id)
        row = self.store.find_secret(request.name)
        if row is None and not env:
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"no secret named {request.name!r}: create it with `squall secret create {request.name} KEY=VALUE ...`"
            )
        if row is not None and env:
            if not request.overwrite:
                await context.abort(grpc.StatusCode.ALREADY_EXISTS, f"a secret named {request.name!r} already exists; pass --force to replace it")
            self.store.replace_secret(row.id, default_box().encrypt(env))
            return spb.ObjectGetOrCreateResponse(object_id=row.id)
        if row is None:
            object_id = "st-" + uuid.uuid4().hex[:20]
            try:
                self.store.create_secret(object_id, request.name, False, default_box().encrypt(env))
            except sa.exc.IntegrityError:
                await context.abort(grpc.StatusCode.ALREADY_EXISTS, f"a secret named {request.name!r} already exists")
            return spb.ObjectGetOrCreateResponse(object_id=object_id)
        missing = sorted(set(request.required_keys) - set(default_box().decrypt(row.data)))
        if missing:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"secret {request.name!r} is missing the required keys {', '.join(missing)}",
            )
        return spb.ObjectGetOrCreateResponse(object_id=row.id)

    async def SecretDelete(self, request, context):
        row = self.store.find_secret(request.name)
        if row is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no secret named {request.name!r}; `squall secret list` shows them")
        self.store.delete_secret(row.id)
        return spb.StorageEmpty()

    async def SecretList(self, request, context):
        from squall.server.secret_box import default_box

        return spb.SecretListResponse(
            secrets=[spb.SecretInfo(object_id=r.id, name=r.name, created_at=r.created_at, keys=sorted(default_box().decrypt(r.data)))
                     for r in self.store.list_secrets()]
        )
