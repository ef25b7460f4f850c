"""The SandboxService (clients, with the server's token) and the SandboxAgentService (each
sandbox's supervisor, with its one-time token). Requests are relayed through SandboxManager."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import grpc

from squall._proto.squall.v1 import sandbox_pb2 as sb_pb
from squall._proto.squall.v1 import sandbox_pb2_grpc
from squall.server.sandbox_snapshots import SnapshotRefused
from squall.server.sandboxes import SandboxGone, SandboxManager, SandboxRec

log = logging.getLogger("squall.server")

MAX_WAIT_S = 55.0  # long-polls end before a client's default deadline
FILE_CHUNK = 1024 * 1024
SANDBOX_TOKEN_HEADER = "x-squall-sandbox-token"
FILE_ERROR_CODES = {"not_found": grpc.StatusCode.NOT_FOUND, "invalid": grpc.StatusCode.INVALID_ARGUMENT}


class SandboxServicer(sandbox_pb2_grpc.SandboxServiceServicer):
    def __init__(self, mgr: SandboxManager):
        self.mgr = mgr

    async def _live(self, sandbox_id: str, context) -> SandboxRec:
        rec = self.mgr.get(sandbox_id)
        if rec is None:
            info = self.mgr.info(sandbox_id)
            if info is None:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"no sandbox {sandbox_id!r}; `squall sandbox list` shows them")
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"sandbox {sandbox_id} has stopped ({info.reason or f'exit code {info.returncode}'})")
        return rec

    async def SandboxCreate(self, request, context):
        try:
            app_id = self.mgr.resolve_app(request)
            rec = self.mgr.create(request, app_id)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except FileExistsError as exc:
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, str(exc))
        except LookupError as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        return sb_pb.SandboxCreateResponse(sandbox_id=rec.sandbox_id, app_id=app_id)

    async def SandboxGet(self, request, context):
        if request.sandbox_id:
            info = self.mgr.info(request.sandbox_id)
            if info is None:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"no sandbox {request.sandbox_id!r}; `squall sandbox list` shows them")
            return info
        row = self.mgr.cp.store.find_deployed_app(request.app_name) or self.mgr.cp.store.find_app(request.app_name)
        rec = self.mgr.find_by_name(row.id, request.name) if row is not None else None
        if rec is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no running sandbox named {request.name!r} in app {request.app_name!r}")
        return rec.info()

    async def SandboxList(self, request, context):
        return sb_pb.SandboxListResponse(sandboxes=self.mgr.list(request.app_id, dict(request.tags), request.include_stopped))

    async def SandboxSetTags(self, request, context):
        self.mgr.set_tags(await self._live(request.sandbox_id, context), dict(request.tags))
        return sb_pb.SandboxEmpty()

    async def SandboxWait(self, request, context):
        rec = self.mgr.get(request.sandbox_id)
        if rec is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(rec.done.wait(), min(request.timeout_s or MAX_WAIT_S, MAX_WAIT_S))
            return rec.info()
        info = self.mgr.info(request.sandbox_id)
        if info is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no sandbox {request.sandbox_id!r}")
        return info

    async def SandboxTerminate(self, request, context):
        rec = self.mgr.get(request.sandbox_id)
        if rec is None:
            if self.mgr.info(request.sandbox_id) is None:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"no sandbox {request.sandbox_id!r}")
            return sb_pb.SandboxEmpty()  # already stopped
        self.mgr.terminate(rec, "terminated by the caller")
        return sb_pb.SandboxEmpty()

    async def SandboxSnapshotFilesystem(self, request, context):
        rec = self.mgr.get(request.sandbox_id)
        if rec is None:
            await context.abort(grpc.StatusCode.NOT_FOUND if self.mgr.info(request.sandbox_id) is None else grpc.StatusCode.FAILED_PRECONDITION,
                                f"sandbox {request.sandbox_id!r} is not running: only a running sandbox can be snapshotted")
        try:
            image_id = await self.mgr.cp.images.snapshot_container(rec.worker_id, rec.sandbox_id, rec.request.image_id)
        except (LookupError, RuntimeError, ValueError, asyncio.TimeoutError) as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"snapshot of sandbox {request.sandbox_id}: {exc or 'timed out'}")
        return sb_pb.SandboxSnapshotFilesystemResponse(image_id=image_id)

    # -- memory snapshots ------------------------------------------------------------------------
    async def SandboxSnapshotMemory(self, request, context):
        rec = self.mgr.get(request.sandbox_id)
        if rec is None:
            await context.abort(grpc.StatusCode.NOT_FOUND if self.mgr.info(request.sandbox_id) is None else grpc.StatusCode.FAILED_PRECONDITION,
                                f"sandbox {request.sandbox_id!r} is not running: only a running sandbox can be snapshotted")
        try:
            return await self.mgr.snapshots.snapshot(rec)
        except SnapshotRefused as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except (LookupError, RuntimeError, asyncio.TimeoutError) as exc:
            await context.abort(grpc.StatusCode.INTERNAL, f"memory snapshot of sandbox {request.sandbox_id}: {exc or 'timed out'}")

    async def SandboxRestore(self, request, context):
        try:
            rec = self.mgr.snapshots.restore(request.snapshot_id)
        except SnapshotRefused as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except LookupError as exc:
            code = grpc.StatusCode.NOT_FOUND if self.mgr.snapshots.get(request.snapshot_id) is None else grpc.StatusCode.RESOURCE_EXHAUSTED
            await context.abort(code, str(exc))
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            await self.mgr.snapshots.wait_restored(rec)
        except SnapshotRefused as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"restoring snapshot {request.snapshot_id}: {exc}")
        return sb_pb.SandboxCreateResponse(sandbox_id=rec.sandbox_id, app_id=rec.app_id)

    async def SandboxSnapshotGet(self, request, context):
        info = self.mgr.snapshots.get(request.snapshot_id)
        if info is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no memory snapshot {request.snapshot_id!r}; `squall sandbox snapshots list` shows them")
        return info

    async def SandboxSnapshotList(self, request, context):
        return sb_pb.SandboxSnapshotListResponse(snapshots=self.mgr.snapshots.list())

    async def SandboxSnapshotDelete(self, request, context):
        if not self.mgr.snapshots.delete(request.snapshot_id):
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no memory snapshot {request.snapshot_id!r}; `squall sandbox snapshots list` shows them")
        return sb_pb.SandboxEmpty()

    async def SandboxOutput(self, request, context):
        rec = self.mgr.get_any(request.sandbox_id)
        if rec is None:
            if self.mgr.info(request.sandbox_id) is None:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"no sandbox {request.sandbox_id!r}")
            return  # stopped long before this reader came: its output is no longer kept
        buf = rec.output[0 if request.fd != 2 else 1]
        sent = 0
        while True:
            changed = rec.changed
            if len(buf) > sent:
                end = min(len(buf), sent + FILE_CHUNK)
                yield sb_pb.SandboxOutputChunk(data=bytes(buf[sent:end]))
                sent = end
                continue
            if rec.output_closed:
                return
            await changed.wait()

    async def SandboxExec(self, request_iterator, context):
        first = await context.read()
        if first is grpc.aio.EOF or first.WhichOneof("message") != "start":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "an exec's first message must start it")
        start = first.start
        if not start.argv:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "exec needs a command: sb.exec('ls', '-l')")
        rec = await self._live(start.sandbox_id, context)
        ex = self.mgr.exec_start(rec, start)
        await context.write(sb_pb.ExecServerMessage(exec_id=ex.exec_id))
        reader = asyncio.create_task(self._exec_input(context, rec, ex))
        try:
            while True:
                msg = await ex.events.get()
                await context.write(msg)
                if msg.WhichOneof("message") == "exit":
                    return
        finally:
            reader.cancel()
            ex.detached = True

    async def _exec_input(self, context, rec: SandboxRec, ex) -> None:
        while True:
            msg = await context.read()
            if msg is grpc.aio.EOF:
                return
            kind = msg.WhichOneof("message")
            if kind == "kill":
                self.mgr.kill_exec(rec, ex)
                continue
            if kind == "resize":
                self.mgr.resize(rec, ex, msg.resize)
                continue
            if kind in ("stdin", "stdin_eof"):
                with contextlib.suppress(SandboxGone):
                    await self.mgr.stdin(rec, ex, msg.stdin if kind == "stdin" else b"", kind == "stdin_eof")
                ex.events.put_nowait(sb_pb.ExecServerMessage(stdin_drained=True))

    async def SandboxHistory(self, request, context):
        if self.mgr.info(request.sandbox_id) is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no sandbox {request.sandbox_id!r}")
        return sb_pb.SandboxHistoryResponse(execs=self.mgr.history(request.sandbox_id))

    async def _file(self, rec: SandboxRec, req: sb_pb.AgentFileRequest, context) -> sb_pb.AgentFileReply:
        try:
            reply = await self.mgr.file(rec, req)
        except SandboxGone as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        if reply.error:
            await context.abort(FILE_ERROR_CODES.get(reply.error_kind, grpc.StatusCode.INVALID_ARGUMENT), f"sandbox {rec.sandbox_id}: {reply.error}")
        return reply

    async def SandboxFileRead(self, request, context):
        rec = await self._live(request.sandbox_id, context)
        offset = 0
        while True:
            reply = await self._file(rec, sb_pb.AgentFileRequest(op="read", path=request.path, offset=offset, length=FILE_CHUNK), context)
            if reply.data:
                yield sb_pb.FileChunk(data=reply.data)
                offset += len(reply.data)
            if len(reply.data) < FILE_CHUNK:
                return

    async def SandboxFileWrite(self, request_iterator, context):
        first = await context.read()
        if first is grpc.aio.EOF or not first.sandbox_id or not first.path:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a file write's first message names the sandbox and the path")
        rec = await self._live(first.sandbox_id, context)
        offset = 0
        msg = first
        while msg is not grpc.aio.EOF:
            data = msg.data
            for i in range(0, len(data), FILE_CHUNK):
                await self._file(rec, sb_pb.AgentFileRequest(op="write", path=first.path, offset=offset, data=data[i : i + FILE_CHUNK]), context)
                offset += len(data[i : i + FILE_CHUNK])
            if offset == 0:  # an empty file still gets created (or truncated)
                await self._file(rec, sb_pb.AgentFileRequest(op="write", path=first.path, offset=0), context)
            msg = await context.read()
        return sb_pb.FileOpResponse(bytes_written=offset)

    async def SandboxFileOp(self, request, context):
        if request.op not in ("list", "mkdir", "remove", "stat"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unknown file operation {request.op!r}: use list, mkdir, remove or stat")
        rec = await self._live(request.sandbox_id, context)
        reply = await self._file(rec, sb_pb.AgentFileRequest(op=request.op, path=request.path, recursive=request.recursive), context)
        return sb_pb.FileOpResponse(entries=reply.entries, stat=reply.stat)


    async def SandboxTunnels(self, request, context):
        rec = self.mgr.get(request.sandbox_id)
        if rec is None:
            await self._live(request.sandbox_id, context)  # aborts: unknown or stopped
        ports = len(rec.request.encrypted_ports) + len(rec.request.unencrypted_ports)
        ca = self.mgr.tunnel_ca.ca_pem() if ports and self.mgr.tunnel_ca is not None else ""
        deadline = asyncio.get_running_loop().time() + min(max(request.timeout_s, 0.0), MAX_WAIT_S)
        while ports and rec.tunnels is None and not rec.done.is_set():
            changed = rec.changed
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return sb_pb.SandboxTunnelsResponse(ready=False, ca_cert_pem=ca)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), left)
        if rec.done.is_set():
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"sandbox {rec.sandbox_id} has stopped ({rec.reason}); its ports are closed")
        if rec.tunnels_error:
            await context.abort(grpc.StatusCode.INTERNAL, f"sandbox {rec.sandbox_id}: {rec.tunnels_error}")
        return sb_pb.SandboxTunnelsResponse(tunnels=rec.tunnels or [], ready=True, ca_cert_pem=ca)

    async def TunnelCA(self, request, context):
        if self.mgr.tunnel_ca is None:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "this server has no tunnel CA")
        return sb_pb.TunnelCAResponse(ca_cert_pem=self.mgr.tunnel_ca.ca_pem(), path=str(self.mgr.tunnel_ca.cert_path))


class SandboxAgentServicer(sandbox_pb2_grpc.SandboxAgentServiceServicer):
    """The supervisor's stream. The interceptor lets this service through; its token is checked here."""

    def __init__(self, mgr: SandboxManager):
        self.mgr = mgr

    async def SandboxConnect(self, request_iterator, context):
        token = dict(context.invocation_metadata()).get(SANDBOX_TOKEN_HEADER, "")
        rec = self.mgr.claim_token(token) if token else None
        if rec is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "unknown, expired or already used sandbox token")
        self.mgr.agent_connected(rec)
        reader = asyncio.create_task(self._read(context, rec))
        try:
            while True:
                get = asyncio.create_task(rec.commands.get())
                done, _ = await asyncio.wait({get, reader}, return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    break
                cmd = get.result()
                if cmd is None:
                    break
                await context.write(cmd)
        finally:
            reader.cancel()
            self.mgr.agent_lost(rec)

    async def _read(self, context, rec: SandboxRec) -> None:
        while True:
            ev = await context.read()
            if ev is grpc.aio.EOF:
                return
            self.mgr.agent_event(rec, ev)
