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

Memory snapshots (worker/snapshots.py): runsc cannot checkpoint a sandbox that holds a connected
host socket, so the worker detaches the supervisor first. `quiesce()` sends it {"kind": "quiesce",
"secret": ...}; it flushes what it has queued, answers `quiesced` and closes its end, then polls its
resume file (config.CONTAINER_RESUME_DIR). The sandbox's stream to the control plane stays open
meanwhile: commands from it are held here, not dropped. After the checkpoint, `expect_resume()`
makes a nonce for the resume file; the supervisor reconnects and its first frame must be
{"resume": {"proof": HMAC-SHA256(secret, nonce)}}, or the connection is turned away (user
processes run throughout and could race it to the socket). The link answers a proven
reconnection with {"kind": "resumed"}: only then does the supervisor send what it queued, and a
reconnection closed before that answer is tried again (RESUME_TRIES times at most), so one
turned away for whatever reason does not end the sandbox. A sandbox restored from a snapshot
starts the same way: its link expects the proof from the first, and opens the stream only then.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import marshal
import os
import pathlib
import secrets

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
PROOF_TIMEOUT_S = 30.0  # for a connection to the link to prove itself (reconnections only; a restored sandbox under load can be slow)
MAX_PROOF_FRAME = 512
# The supervisor's last frame before it detaches for a snapshot (its _json of {"quiesced": True}).
QUIESCED = len(b'{"quiesced":true}').to_bytes(4, "big") + b'{"quiesced":true}'
# The answer to a reconnection that proved itself: the supervisor sends what it queued only then,
# and retries a reconnection closed before it (supervisor.py, _refused).
_resumed = marshal.dumps({"kind": "resumed"}, 4)
RESUMED = len(_resumed).to_bytes(4, "big") + _resumed


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
    """Listens for one sandbox's supervisor, then relays it to and from the control plane; holds
    the control plane's commands while the supervisor is detached for a memory snapshot."""

    def __init__(self, channel: grpc.aio.Channel, sandbox_id: str, token: str, resume_secret: bytes = b"") -> None:
        self.stub = sandbox_pb2_grpc.SandboxAgentServiceStub(channel)
        self.sandbox_id = sandbox_id
        self.token = token
        self.path = LINKS_DIR / f"{sandbox_id}.sock"
        self.attached = asyncio.Event()  # a supervisor is connected (and, when it had to, proved itself)
        self._server: asyncio.AbstractServer | None = None
        self._call = None  # the sandbox's stream, opened when its supervisor first attaches
        self._down: asyncio.Task | None = None  # control plane -> supervisor, for the stream's life
        self._conn: asyncio.StreamWriter | None = None  # the supervisor's connection while attached
        self._conn_task: asyncio.Task | None = None
        self._held: list[bytes] = []  # commands not yet written to the supervisor
        self._holding = False  # quiescing or detached: commands wait in _held
        self._first_taken = False
        self._secret = resume_secret  # a restored sandbox's supervisor proves itself from the start
        self._proof: str | None = None  # what admits the next connection, once expect_resume() made a nonce
        self._quiesced: asyncio.Future | None = None
        self._closed = False

    async def listen(self) -> None:
        LINKS_DIR.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        # It listens for the sandbox's whole life: the socket file is bind-mounted into the
        # sandbox, so a supervisor that detached for a snapshot can only come back through it.
        self._server = await asyncio.start_unix_server(self._accept, path=str(self.path), limit=MAX_FRAME)
        os.chmod(self.path, 0o600)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A fresh sandbox's first connection is its supervisor's (nothing else runs in the sandbox
        # before it asks for its init over this link). After that, and in a restored sandbox, only
        # a connection that proves itself with HMAC(secret, nonce) is taken; any other is refused.
        if self._closed or self._conn is not None:
            writer.close()
            return
        resumed = self._proof is not None
        if not resumed:
            if self._first_taken or self._secret:
                writer.close()
                return
        else:
            refusal = await self._refusal(reader)
            if refusal is None and (self._conn is not None or self._closed):
                refusal = "the supervisor is attached already" if self._conn is not None else "the sandbox is closing"
            if refusal is not None:
                log.warning("sandbox %s: a connection to its link was refused: %s", self.sandbox_id, refusal)
                writer.close()
                return
        self._first_taken, self._proof = True, None
        self._conn, self._conn_task = writer, asyncio.current_task()
        if resumed:
            writer.write(RESUMED)
        self._holding = False
        self.attached.set()
        detached = False
        try:
            if self._call is None:
                self._call = self.stub.SandboxConnect(metadata=((TOKEN_HEADER, self.token),))
                self.token = ""
                self._down = asyncio.create_task(self._relay_down())
            await self._deliver()
            detached = await self._relay_up(reader)
        except Exception:
            log.exception("sandbox %s: the supervisor's link failed", self.sandbox_id)
        finally:
            self._conn = self._conn_task = None
            self.attached.clear()
            writer.close()
        if not detached:
            await self._end_stream()

    async def _refusal(self, reader: asyncio.StreamReader) -> str | None:
        """None if the connection's first frame is {"resume": {"proof": HMAC(secret, nonce)}}, else why not."""
        try:
            head = await asyncio.wait_for(reader.readexactly(4), PROOF_TIMEOUT_S)
            n = int.from_bytes(head, "big")
            if not 4 <= n <= MAX_PROOF_FRAME:
                return f"its first frame ({n} bytes) is no proof"
            body = await asyncio.wait_for(reader.readexactly(n), PROOF_TIMEOUT_S)
            size = int.from_bytes(body[:4], "big")
            if size != n - 4:
                return "its first frame is no proof"
            header = json.loads(body[4:])
            proof = header.get("resume", {}).get("proof") if isinstance(header, dict) and list(header) == ["resume"] else None
        except asyncio.TimeoutError:
            return f"no proof within {PROOF_TIMEOUT_S:g} s"
        except (asyncio.IncompleteReadError, ConnectionError):
            return "it closed before its proof"
        except (ValueError, AttributeError):
            return "its first frame is no proof"
        expected = self._proof
        if not isinstance(proof, str) or expected is None or not hmac.compare_digest(proof.encode(), expected.encode()):
            return "the proof is wrong"
        return None

    async def _deliver(self) -> None:
        w = self._conn
        if w is None or self._holding or not self._held:
            return
        held, self._held = self._held, []
        for frame in held:
            w.write(frame)
        with contextlib.suppress(ConnectionError):
            await w.drain()

    async def _relay_down(self) -> None:  # control plane -> supervisor
        try:
            async for cmd in self._call:
                self._held.append(encode_command(cmd))
                await self._deliver()
        except grpc.aio.AioRpcError as exc:
            log.info("sandbox %s: the control plane ended the supervisor's stream: %s %s", self.sandbox_id, exc.code().name, exc.details())
        except Exception as exc:
            log.error("sandbox %s: relaying to the supervisor failed: %r", self.sandbox_id, exc)
        # The stream is over: so is the link (the supervisor stops when it loses it).
        self._closed = True
        if self._conn is not None:
            self._conn.close()

    async def _relay_up(self, reader: asyncio.StreamReader) -> bool:
        """Supervisor -> control plane until the supervisor closes its end; True: it detached for a snapshot."""
        while True:
            try:
                head = await reader.readexactly(4)
            except (asyncio.IncompleteReadError, ConnectionError):
                return False
            n = int.from_bytes(head, "big")
            if n > MAX_FRAME:
                log.warning("sandbox %s: the supervisor sent a %d-byte frame; ending its link", self.sandbox_id, n)
                return False
            try:
                body = await reader.readexactly(n)
                if body == QUIESCED and self._quiesced is not None:
                    if not self._quiesced.done():
                        self._quiesced.set_result(None)
                    return True
                ev = decode_event(body)
            except (ValueError, json_format.ParseError, asyncio.IncompleteReadError) as exc:
                log.warning("sandbox %s: bad frame from the supervisor (%s); ending its link", self.sandbox_id, exc)
                return False
            await self._call.write(ev)

    async def _end_stream(self) -> None:
        """The supervisor is gone for good (its main command ended, or it died): finish the stream."""
        self._closed = True
        if self._call is None:
            return
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
            await self._call.done_writing()
        # Let the rest of the control plane's commands drain until it ends the stream.
        if self._down is not None:
            await asyncio.wait([self._down], timeout=5.0)
            self._down.cancel()
        self._call.cancel()

    # -- memory snapshots ----------------------------------------------------------------------
    async def quiesce(self, secret: bytes, timeout: float) -> None:
        """Detach the supervisor: it flushes what it queued and closes its end of the link, keeping
        `secret` in its memory. Commands from the control plane are held until it reattaches."""
        if self._conn is None or self._closed:
            raise RuntimeError(f"the supervisor of {self.sandbox_id} is not connected")
        loop = asyncio.get_running_loop()
        self._quiesced = loop.create_future()
        self._holding = True
        body = marshal.dumps({"kind": "quiesce", "secret": secret}, 4)
        self._conn.write(len(body).to_bytes(4, "big") + body)
        conn_task = self._conn_task
        try:
            await asyncio.wait_for(asyncio.shield(self._quiesced), timeout)
            if conn_task is not None:  # the connection is closed on both ends
                await asyncio.wait_for(asyncio.shield(conn_task), timeout)
        except asyncio.TimeoutError:
            if self._conn is not None:  # still attached: carry on as if nothing was asked
                self._holding = False
                await self._deliver()
            raise RuntimeError(f"the supervisor of {self.sandbox_id} did not detach within {timeout:g} s") from None
        finally:
            self._quiesced = None
        self._secret = secret

    def expect_resume(self) -> str:
        """A fresh nonce for the sandbox's resume file: the next connection is taken only with
        HMAC-SHA256(secret, nonce) as its first frame."""
        if not self._secret:
            raise RuntimeError(f"sandbox {self.sandbox_id}: no resume secret (it was never quiesced)")
        nonce = secrets.token_hex(16)
        self._proof = hmac.new(self._secret, nonce.encode(), hashlib.sha256).hexdigest()
        return nonce

    async def close(self) -> None:
        self._closed = True
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in (self._conn_task, self._down):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if self._call is not None:
            self._call.cancel()
        self.path.unlink(missing_ok=True)
