"""The WorkerService: one bidirectional stream per worker, plus blob downloads."""

from __future__ import annotations

import asyncio
import logging

import grpc

from squall._proto.squall.v1 import api_pb2, worker_pb2_grpc
from squall.server.api.sdk import receive_blob
from squall.server.control import ControlPlane
from squall.storage.blobs import LocalBlobStore

log = logging.getLogger("squall.server")


class WorkerServicer(worker_pb2_grpc.WorkerServiceServicer):
    def __init__(self, cp: ControlPlane, blobs: LocalBlobStore):
        self.cp = cp
        self.blobs = blobs

    async def WorkerConnect(self, request_iterator, context):
        first = await context.read()
        if first is grpc.aio.EOF or not first.HasField("register"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a worker's first message must register it")
        worker = self.cp.register_worker(first.register)
        if first.register.tunnel_public_key_pem and self.cp.sandboxes is not None:
            worker.commands.put_nowait(self.cp.sandboxes.tunnel_certificate(first.register))
        reader = asyncio.create_task(self._read_events(context))
        try:
            while True:
                get = asyncio.create_task(worker.commands.get())
                done, _ = await asyncio.wait({get, reader}, return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    break
                await context.write(get.result())
        finally:
            reader.cancel()
            self.cp.worker_lost(worker)

    async def _read_events(self, context) -> None:
        while True:
            event = await context.read()
            if event is grpc.aio.EOF:
                return
            kind = event.WhichOneof("event")
            if kind == "heartbeat":
                continue
            if kind == "started":
                self.cp.container_started(event.started.container_id, dict(event.started.timings), event.started.address)
            elif kind == "exited":
                e = event.exited
                self.cp.container_exited(e.container_id, e.exit_code, e.oom_killed, e.reason)
            elif kind == "logs":
                self.cp.add_logs(event.logs.entries)
            elif kind == "build_log":
                self.cp.images.on_log(event.build_log)
            elif kind == "build_done":
                self.cp.images.on_done(event.build_done)
            elif kind == "filesystem_snapshot":
                self.cp.images.on_snapshot(event.filesystem_snapshot)
            elif kind == "tunnels_ready" and self.cp.sandboxes is not None:
                self.cp.sandboxes.tunnels_ready(event.tunnels_ready)
            elif kind == "sandbox_checkpointed":
                self.cp.sandboxes.snapshots.on_checkpointed(event.sandbox_checkpointed)

    async def BlobGet(self, request, context):
        if not self.blobs.has(request.digest):
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no blob {request.digest}")
        for chunk in self.blobs.read_chunks(request.digest):
            yield api_pb2.BlobChunk(digest=request.digest, data=chunk)

    async def BlobPut(self, request_iterator, context):
        return await receive_blob(self.blobs, request_iterator, context)
