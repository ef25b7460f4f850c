"""The worker's end of a sandbox supervisor's link.

The supervisor (squall/sandbox/supervisor.py) speaks a small framed protocol over a unix socket
the worker bind-mounts into its sandbox; the worker holds the sandbox's SandboxAgentService stream
to the control plane, opened with the sandbox's one-time token, and relays between the two. So the
token, gRPC and protobuf never enter the sandbox: the supervisor starts in a few milliseconds
under gVisor, and user code there has nothing to steal.

Frames: a 4-byte big-endian length, then the body. To the supervisor: `marshal` of a plain dict
{"kind": ..., fields...} (trusted: it comes from here). From the supervisor: a 4-byte header
length, a JSON header {kind: {fields}} and the payload of `output` and `file` events. That
direction is untrusted: frames are size-limited and parsed strictly; one bad frame ends the link,
and with it the sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import marshal
import os
import pathlib

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from squall._proto.squall.v1 import sandbox_pb2 as sb_pb
from squall._proto.squall.v1 import sandbox_pb2_grpc

log = logging.getLogger("squall.worker")

LINKS_DIR = pathlib.Path("/run/squall/sandbox-links")  # short: unix socket paths stop at 108 bytes
CONTAINER_LINK = "/opt/squall/run/link.sock"
MAX_FRAME = 8 << 20  # a 1 MiB file chunk or output read, and its header, fit with room to spare
TOKEN_HEADER = "x-squall-sandbox-token"


def plain(value):
    """A protobuf message as plain Python values (dicts, lists, str, bytes, numbers), leaving out
    fields at their defaults: what `marshal` can carry to the supervisor."""
    if isinstance(value, Message):
        return {f.name: plain(v) for f, v in value.ListFields()}
    if isinstance(value, (str, bytes, int, float, bool)):
        return value
    if hasattr(value, "items"):
        return {k: plain(v) for k, v in value.items()}
    return [plain(v) for v in value]


def encode_command(cmd: sb_pb.AgentCommand) -> bytes:
    kind = cmd.WhichOneof("command")
    body = marshal.dumps({"kind": kind, **plain(getattr(cmd, kind))}, 4)
    return len(body).to_bytes(4, "big") + body


def decode_event(body: bytes) -> sb_pb.AgentEvent:
    """One frame from the supervisor as an AgentEvent; ValueError when it is not a valid one."""
    if len(body) < 4:
        raise ValueError("short frame")
    n = int.from_bytes(body[:4], "big")
    if n > len(body) - 4:
        raise ValueError("header past the frame's end")
    header = json.loads(body[4 : 4 + n])
    if not isinstance(header, dict) or len(header) != 1:
        raise ValueError("the header must hold one event")
    ev = json_format.ParseDict(header, sb_pb.AgentEvent())
    payload = body[4 + n :]
    if payload:
        kind = ev.WhichOneof("event")
        if kind not in ("output", "file"):
            raise ValueError(f"a {kind} event carries no payload")
        getattr(ev, kind).data = payload
    return ev


class SupervisorLink:
    """Listens for one sandbox's supervisor, then relays it to and from the control plane."""

    def __init__(self, channel: grpc.aio.Channel, sandbox_id: str, token: str) -> None:
        self.stub = sandbox_pb2_grpc.SandboxAgentServiceStub(channel)
        self.sandbox_id = sandbox_id
        self.token = token
        self.path = LINKS_DIR / f"{sandbox_id}.sock"
        self._server: asyncio.AbstractServer | None = None
        self._task: asyncio.Task | None = None

    async def listen(self) -> None:
        LINKS_DIR.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._accept, path=str(self.path), limit=MAX_FRAME)
        os.chmod(self.path, 0o600)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The first connection is the supervisor's (nothing else runs in the sandbox before it
        # asks for its init over this link); any later one is refused.
        if self._task is not None or self._server is None:
            writer.close()
            return
        self._server.close()
        self._task = asyncio.current_task()
        try:
            await self._relay(reader, writer)
        except Exception:
            log.exception("sandbox %s: the supervisor's link failed", self.sandbox_id)
        finally:
            writer.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        call = self.stub.SandboxConnect(metadata=((TOKEN_HEADER, self.token),))
        self.token = ""

        async def down() -> None:  # control plane -> supervisor
            async for cmd in call:
                writer.write(encode_command(cmd))
                await writer.drain()

        async def up() -> None:  # supervisor -> control plane
            while True:
                try:
                    head = await reader.readexactly(4)
                except asyncio.IncompleteReadError:
                    break
                n = int.from_bytes(head, "big")
                if n > MAX_FRAME:
                    log.warning("sandbox %s: the supervisor sent a %d-byte frame; ending its link", self.sandbox_id, n)
                    return
                try:
                    ev = decode_event(await reader.readexactly(n))
                except (ValueError, json_format.ParseError, asyncio.IncompleteReadError) as exc:
                    log.warning("sandbox %s: bad frame from the supervisor (%s); ending its link", self.sandbox_id, exc)
                    return
                await call.write(ev)
            with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
                await call.done_writing()

        tasks = [asyncio.create_task(down()), asyncio.create_task(up())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if tasks[1] in done and not tasks[1].exception():
                # The supervisor finished writing (its main command ended): let the rest of the
                # control plane's commands drain until it ends the stream.
                await asyncio.wait([tasks[0]], timeout=5.0)
            for t in tasks:
                exc = t.exception() if t.done() and not t.cancelled() else None
                if isinstance(exc, grpc.aio.AioRpcError):
                    log.info("sandbox %s: the control plane ended the supervisor's stream: %s %s", self.sandbox_id, exc.code().name, exc.details())
                elif exc is not None and not isinstance(exc, (ConnectionError, asyncio.IncompleteReadError)):
                    log.error("sandbox %s: relaying the supervisor failed: %r", self.sandbox_id, exc)
        finally:
            for t in tasks:
                t.cancel()
            call.cancel()
            for t in tasks:
                with contextlib.suppress(BaseException):
                    await t

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        self.path.unlink(missing_ok=True)
