"""Sandbox: an isolated container to run commands in, read and write files in, and stop.

`Sandbox.create(...)` asks the control plane for one (gVisor by default); `sb.exec(...)` runs a
process in it with live stdout/stderr and a stdin writer; `sb.filesystem` moves files in chunks.
Any process can attach to a running sandbox with `Sandbox.from_id` or `Sandbox.from_name`.
"""

from __future__ import annotations

import asyncio
import codecs
import dataclasses
import ipaddress
import os
import re
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence

import grpc

from squall import config
from squall._proto.squall.v1 import sandbox_pb2 as sb_pb
from squall._proto.squall.v1 import sandbox_pb2_grpc
from squall.exception import InvalidError, SandboxTimeoutError
from squall.sdk._sync import live_function, live_method, run_aio, run_sync

RUNTIMES = ("gvisor", "runc")
FILE_CHUNK = 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
WAIT_POLL_S = 50.0


async def _stub():
    from squall.client.client import get_client

    client = await get_client()
    return client, sandbox_pb2_grpc.SandboxServiceStub(client.channel)


async def _call(method: str, request, timeout: float | None = 60.0):
    client, stub = await _stub()
    return await client._call(getattr(stub, method), request, timeout)


def _translate(exc: grpc.aio.AioRpcError):
    from squall.client.client import translate

    return translate(exc)


# -- validation --------------------------------------------------------------------------------
def _not_supported(what: str, value) -> None:
    if value:
        raise InvalidError(f"Sandbox.create({what}=...) is not supported yet in this squall build; leave it out")


def _str_map(what: str, value) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidError(f"{what} must be a dict of strings to strings, not {value!r}")
    return dict(value)


def _resources(what: str, value) -> tuple[float, float]:
    """(request, limit) from a number or a (request, limit) pair; 0 = the server's default."""
    if value is None:
        return 0, 0
    if isinstance(value, tuple) and len(value) == 2:
        req, limit = value
    else:
        req, limit = value, value
    for v in (req, limit):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise InvalidError(f"{what}={value!r}: give a positive number or a (request, limit) pair")
    if limit < req:
        raise InvalidError(f"{what}={value!r}: the limit must be at least the request")
    return req, limit


def _check_create(cmd, name, image, env, secrets, volumes, timeout, idle_timeout, workdir, cpu, memory, gpu, block_network,
                  outbound_cidr_allowlist, encrypted_ports, unencrypted_ports, runtime, tags) -> sb_pb.SandboxCreateRequest:
    from squall.sdk.image import Image
    from squall.sdk.secret import Secret
    from squall.sdk.volume import check_volumes

    check_volumes(volumes, "Sandbox.create")  # a bad mount fails here, before anything is created
    _not_supported("gpu", gpu)
    encrypted, unencrypted = _check_ports(encrypted_ports, unencrypted_ports)
    for arg in cmd:
        if not isinstance(arg, str):
            raise InvalidError(f"Sandbox.create(*cmd): every argument must be a string, got {arg!r}")
    if name is not None and (not isinstance(name, str) or not _NAME.match(name)):
        raise InvalidError(f"Sandbox.create(name={name!r}): use 1 to 64 letters, digits and _.- (starting with a letter or digit)")
    if image is not None and not isinstance(image, Image):
        raise InvalidError(f"Sandbox.create(image={image!r}): give a squall.Image, e.g. Image.debian_slim()")
    if image is not None and image._mounts:
        raise InvalidError(f"Sandbox.create(image={image!r}): add_local_* files with copy=False are not attached to sandboxes; pass copy=True "
                           "to build them into the image, or write them with sb.filesystem")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not config.MIN_TIMEOUT_S <= timeout <= config.MAX_TIMEOUT_S:
        raise InvalidError(f"Sandbox.create(timeout={timeout!r}): give between {config.MIN_TIMEOUT_S} and {config.MAX_TIMEOUT_S} seconds")
    if idle_timeout is not None and (isinstance(idle_timeout, bool) or not isinstance(idle_timeout, (int, float)) or idle_timeout <= 0):
        raise InvalidError(f"Sandbox.create(idle_timeout={idle_timeout!r}): give a positive number of seconds, or None")
    if workdir is not None and (not isinstance(workdir, str) or not workdir.startswith("/")):
        raise InvalidError(f"Sandbox.create(workdir={workdir!r}): give an absolute path inside the sandbox")
    _, cpu_limit = _resources("cpu", cpu)
    _, mem_limit = _resources("memory", memory)
    if memory is not None and mem_limit < config.MIN_MEMORY_MB:
        raise InvalidError(f"Sandbox.create(memory={memory!r}): give at least {config.MIN_MEMORY_MB} MiB")
    if runtime not in RUNTIMES:
        raise InvalidError(f"Sandbox.create(runtime={runtime!r}): choose one of {', '.join(RUNTIMES)}")
    if not isinstance(block_network, bool):
        raise InvalidError(f"Sandbox.create(block_network={block_network!r}): give True or False")
    cidrs = []
    for cidr in outbound_cidr_allowlist or ():
        try:
            cidrs.append(str(ipaddress.ip_network(cidr, strict=False)))
        except (ValueError, TypeError):
            raise InvalidError(f"Sandbox.create(outbound_cidr_allowlist=[... {cidr!r} ...]): not a CIDR such as '10.0.0.0/8'") from None
    if cidrs and block_network:
        raise InvalidError("Sandbox.create(): block_network=True blocks every destination; leave out outbound_cidr_allowlist, or block_network")
    if not isinstance(secrets, (list, tuple)) or not all(isinstance(s, Secret) for s in secrets):
        raise InvalidError(f"Sandbox.create(secrets={secrets!r}): give a list of squall.Secret")
    return sb_pb.SandboxCreateRequest(
        name=name or "", command=list(cmd), env=_str_map("Sandbox.create(env=...)", env), timeout_s=float(timeout), idle_timeout_s=float(idle_timeout or 0),
        workdir=workdir or "", cpu=float(cpu_limit), memory_mb=int(mem_limit), block_network=block_network, outbound_cidr_allowlist=cidrs,
        runtime=runtime, tags=_str_map("Sandbox.create(tags=...)", tags), encrypted_ports=encrypted, unencrypted_ports=unencrypted,
    )


def _check_ports(encrypted_ports, unencrypted_ports) -> tuple[list[int], list[int]]:
    """Each a list of TCP ports; no port twice, in one list or both."""
    seen: dict[int, str] = {}
    out = []
    for what, ports in (("encrypted_ports", encrypted_ports), ("unencrypted_ports", unencrypted_ports)):
        if ports is None:
            ports = ()
        if isinstance(ports, (str, bytes, int)) or not isinstance(ports, (list, tuple, set, frozenset)):
            raise InvalidError(f"Sandbox.create({what}={ports!r}): give a list of ports, e.g. [8000]")
        checked = []
        for port in ports:
            if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                raise InvalidError(f"Sandbox.create({what}=[... {port!r} ...]): a port is an integer from 1 to 65535")
            if port in seen:
                also = "" if seen[port] == what else " and encrypted_ports: a port is either encrypted or unencrypted"
                raise InvalidError(f"Sandbox.create({what}=[... {port} ...]): port {port} is listed twice (in {seen[port]}{also})")
            seen[port] = what
            checked.append(port)
        out.append(checked)
    return out[0], out[1]


# -- output streams ----------------------------------------------------------------------------
class StreamReader:
    """A process's stdout or stderr: `read()` for everything until it ends, or iterate for lines
    as they arrive. Text (str) unless the process was started with text=False."""

    def __init__(self, text: bool, start=None):
        self._text = text
        self._buf = bytearray()
        self._eof = False
        self._error: BaseException | None = None
        self._changed: asyncio.Event | None = None
        self._start = start  # a coroutine function that feeds this stream, started on first read
        self._feeder: asyncio.Task | None = None

    # fed on the SDK's loop
    def _event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _feed(self, data: bytes) -> None:
        self._buf += data
        self._notify()

    def _close(self, error: BaseException | None = None) -> None:
        self._eof = True
        self._error = error
        self._notify()

    def _notify(self) -> None:
        ev = self._event()
        self._changed = asyncio.Event()
        ev.set()

    def _ensure_started(self) -> None:
        if self._start is not None and self._feeder is None:
            self._feeder = asyncio.ensure_future(self._start(self))

    def _decode(self, data: bytes):
        return data.decode("utf-8", errors="replace") if self._text else bytes(data)

    @live_method
    async def read(self):
        """Everything the process writes here, once it has closed the stream."""
        self._ensure_started()
        while not self._eof:
            await self._event().wait()
        if self._error is not None:
            raise self._error
        data, self._buf = bytes(self._buf), bytearray()
        return self._decode(data)

    async def _readline(self) -> bytes | None:
        self._ensure_started()
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                line = bytes(self._buf[: i + 1])
                del self._buf[: i + 1]
                return line
            if self._eof:
                if self._error is not None:
                    raise self._error
                if self._buf:
                    line, self._buf = bytes(self._buf), bytearray()
                    return line
                return None
            await self._event().wait()

    async def _read_some(self) -> bytes | None:
        """Whatever has arrived (waiting for something), or None at the end."""
        self._ensure_started()
        while not self._buf and not self._eof:
            await self._event().wait()
        if self._buf:
            data, self._buf = bytes(self._buf), bytearray()
            return data
        if self._error is not None:
            raise self._error
        return None

    def __iter__(self) -> Iterator:
        while (line := run_sync(self._readline())) is not None:
            yield self._decode(line)

    async def __aiter__(self) -> AsyncIterator:
        while (line := await run_aio(self._readline())) is not None:
            yield self._decode(line)


class StreamWriter:
    """A process's stdin: `write()` buffers, `drain()` sends what is buffered and waits until it
    reached the process; `write_eof()` closes the stream once drained."""

    def __init__(self, proc: ContainerProcess):
        self._proc = proc
        self._pending: list[bytes] = []
        self._eof = False

    def write(self, data) -> None:
        if self._eof:
            raise InvalidError("stdin was closed with write_eof(); nothing more can be written")
        if isinstance(data, str):
            data = data.encode()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidError(f"stdin.write() takes str or bytes, not {type(data).__name__}")
        self._pending.append(bytes(data))

    def write_eof(self) -> None:
        self._eof = True

    @live_method
    async def drain(self) -> None:
        data, self._pending = b"".join(self._pending), []
        messages = [sb_pb.ExecClientMessage(stdin=data[i : i + FILE_CHUNK]) for i in range(0, len(data), FILE_CHUNK)]
        if self._eof and not self._proc._eof_sent:
            self._proc._eof_sent = True
            messages.append(sb_pb.ExecClientMessage(stdin_eof=True))
        await self._proc._send(messages)


# -- processes ---------------------------------------------------------------------------------
class ContainerProcess:
    """A process started by `sb.exec(...)`."""

    def __init__(self, sandbox_id: str, argv: list[str], text: bool):
        self.sandbox_id = sandbox_id
        self.argv = argv
        self.exec_id = ""
        self.stdout = StreamReader(text)
        self.stderr = StreamReader(text)
        self.stdin = StreamWriter(self)
        self._returncode: int | None = None
        self.exit_reason = ""  # set when squall ended the process: a timeout, the pids limit, the sandbox stopping
        self._call = None
        self._done: asyncio.Event | None = None
        self._sent = 0
        self._acked = 0
        self._acks: asyncio.Event | None = None
        self._eof_sent = False
        self._reader: asyncio.Task | None = None

    def __repr__(self) -> str:
        return f"ContainerProcess({self.exec_id or '?'}, {self.argv!r}, returncode={self._returncode})"

    async def _start(self, start: sb_pb.ExecStart) -> None:
        client, stub = await _stub()
        self._done = asyncio.Event()
        self._acks = asyncio.Event()
        self._call = stub.SandboxExec(metadata=client.metadata)
        try:
            await self._call.write(sb_pb.ExecClientMessage(start=start))
            first = await self._call.read()
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from None
        if first is grpc.aio.EOF or first.WhichOneof("message") != "exec_id":
            raise InvalidError(f"the server did not start {self.argv!r}")
        self.exec_id = first.exec_id
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        error = None
        try:
            while True:
                msg = await self._call.read()
                if msg is grpc.aio.EOF:
                    break
                kind = msg.WhichOneof("message")
                if kind == "stdout":
                    self.stdout._feed(msg.stdout)
                elif kind == "stderr":
                    self.stderr._feed(msg.stderr)
                elif kind == "stdin_drained":
                    self._acked += 1
                    self._acks.set()
                elif kind == "exit":
                    # All output came before it: the caller hears now, not after the stream's end.
                    self._returncode = msg.exit.returncode
                    self.exit_reason = msg.exit.reason
                    self._finish()
        except grpc.aio.AioRpcError as exc:
            error = _translate(exc)
        if self._returncode is None:
            self._returncode = -1
            self.exit_reason = self.exit_reason or f"lost the connection to the sandbox: {error}"
        self._finish()

    def _finish(self) -> None:
        if not self._done.is_set():
            self.stdout._close()
            self.stderr._close()
            self._done.set()
            self._acks.set()

    async def _send(self, messages: list) -> None:
        for m in messages:
            if self._done.is_set():
                return
            try:
                await self._call.write(m)
            except (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError):
                return  # the process ended; nothing reads its stdin any more
            if m.WhichOneof("message") in ("stdin", "stdin_eof"):
                self._sent += 1  # each is answered by stdin_drained
        while self._acked < self._sent and not self._done.is_set():
            self._acks.clear()
            await self._acks.wait()

    @property
    def returncode(self) -> int | None:
        """The exit code once the process ended (negative: killed by that signal), else None."""
        return self._returncode

    def poll(self) -> int | None:
        return self._returncode

    @live_method
    async def wait(self) -> int:
        """Wait for the process to end; its exit code."""
        await self._done.wait()
        return self._returncode

    @live_method
    async def kill(self) -> None:
        if not self._done.is_set():
            await self._send([sb_pb.ExecClientMessage(kill=True)])

    async def _resize(self, rows: int, cols: int) -> None:
        """A process on a pseudo-terminal (`squall shell`): the terminal's new size."""
        await self._send([sb_pb.ExecClientMessage(resize=sb_pb.TerminalSize(rows=rows, cols=cols))])


# -- files -------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class FileInfo:
    path: str
    is_dir: bool
    size: int
    mtime: float
    mode: int

    @property
    def name(self) -> str:
        return os.path.basename(self.path.rstrip("/")) or "/"


def _file_info(e: sb_pb.FileEntry) -> FileInfo:
    return FileInfo(e.path, e.is_dir, e.size, e.mtime, e.mode)


class SandboxFilesystem:
    """Files inside a sandbox, moved in chunks of 1 MiB."""

    def __init__(self, sandbox: Sandbox):
        self._sb = sandbox

    async def _chunks(self, path: str) -> AsyncIterator[bytes]:
        client, stub = await _stub()
        call = stub.SandboxFileRead(sb_pb.FileReadRequest(sandbox_id=self._sb.object_id, path=_check_path(path)), metadata=client.metadata)
        try:
            async for chunk in call:
                yield chunk.data
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from None

    async def _write(self, path: str, chunks) -> int:
        client, stub = await _stub()
        sandbox_id = self._sb.object_id
        path = _check_path(path)

        async def messages():
            yield sb_pb.FileWriteMessage(sandbox_id=sandbox_id, path=path)
            async for data in chunks:
                yield sb_pb.FileWriteMessage(data=data)

        try:
            return (await stub.SandboxFileWrite(messages(), metadata=client.metadata)).bytes_written
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from None

    async def _op(self, op: str, path: str, recursive: bool = False) -> sb_pb.FileOpResponse:
        return await _call("SandboxFileOp", sb_pb.FileOpRequest(sandbox_id=self._sb.object_id, op=op, path=_check_path(path), recursive=recursive))

    @live_method
    async def read_bytes(self, path: str) -> bytes:
        return b"".join([c async for c in self._chunks(path)])

    @live_method
    async def read_text(self, path: str, encoding: str = "utf-8") -> str:
        decoder = codecs.getincrementaldecoder(encoding)()
        parts = [decoder.decode(c) async for c in self._chunks(path)]
        return "".join(parts) + decoder.decode(b"", final=True)

    @live_method
    async def write_bytes(self, path: str, data: bytes) -> int:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidError(f"write_bytes() takes bytes, not {type(data).__name__}; use write_text() for str")
        view = memoryview(data)

        async def chunks():
            for i in range(0, len(view), FILE_CHUNK):
                yield bytes(view[i : i + FILE_CHUNK])

        return await self._write(path, chunks())

    @live_method
    async def write_text(self, path: str, text: str, encoding: str = "utf-8") -> int:
        if not isinstance(text, str):
            raise InvalidError(f"write_text() takes str, not {type(text).__name__}; use write_bytes() for bytes")
        return await self.write_bytes.aio(path, text.encode(encoding))

    @live_method
    async def copy_from_local(self, local_path, remote_path: str) -> int:
        """Upload a local file, a chunk at a time."""
        local_path = os.fspath(local_path)

        async def chunks():
            with open(local_path, "rb") as f:  # noqa: ASYNC230 - 1 MiB reads from local disk
                while data := f.read(FILE_CHUNK):
                    yield data

        if not os.path.isfile(local_path):
            raise InvalidError(f"copy_from_local({local_path!r}): not a file on this machine")
        return await self._write(remote_path, chunks())

    @live_method
    async def copy_to_local(self, remote_path: str, local_path) -> int:
        """Download a file from the sandbox, a chunk at a time."""
        n = 0
        tmp = f"{os.fspath(local_path)}.part"
        with open(tmp, "wb") as f:  # noqa: ASYNC230 - 1 MiB writes to local disk
            try:
                async for data in self._chunks(remote_path):
                    f.write(data)
                    n += len(data)
            except BaseException:
                f.close()
                os.unlink(tmp)
                raise
        os.replace(tmp, local_path)
        return n

    @live_method
    async def list_files(self, path: str = "/") -> list[FileInfo]:
        return [_file_info(e) for e in (await self._op("list", path)).entries]

    @live_method
    async def make_directory(self, path: str, parents: bool = False) -> None:
        await self._op("mkdir", path, parents)

    @live_method
    async def remove(self, path: str, recursive: bool = False) -> None:
        await self._op("remove", path, recursive)

    @live_method
    async def stat(self, path: str) -> FileInfo:
        return _file_info((await self._op("stat", path)).stat)


def _check_path(path) -> str:
    if not isinstance(path, str) or not path:
        raise InvalidError(f"a path inside the sandbox must be a non-empty string, not {path!r}")
    return path


# -- the sandbox -------------------------------------------------------------------------------
class Sandbox:
    """A running (or finished) sandbox. Create one with `Sandbox.create(...)`."""

    def __init__(self, sandbox_id: str, info: sb_pb.SandboxInfo | None = None):
        self.object_id = sandbox_id
        self._info = info
        self._returncode: int | None = None
        self.exit_reason = ""
        self.stdout = StreamReader(True, lambda s: self._follow_output(s, 1))
        self.stderr = StreamReader(True, lambda s: self._follow_output(s, 2))
        self.filesystem = SandboxFilesystem(self)
        if info is not None and info.done:
            self._set_done(info)

    def __repr__(self) -> str:
        return f"Sandbox({self.object_id})"

    def _set_done(self, info: sb_pb.SandboxInfo) -> None:
        self._info = info
        self._returncode = info.returncode
        self.exit_reason = info.reason

    @staticmethod
    @live_function
    async def create(
        *cmd: str,
        app=None,
        name: str | None = None,
        image=None,
        env: dict[str, str] | None = None,
        secrets: Sequence = (),
        volumes=None,
        timeout: float = 300,
        idle_timeout: float | None = None,
        workdir: str | None = None,
        cpu=None,
        memory=None,
        gpu=None,
        block_network: bool = False,
        outbound_cidr_allowlist: Sequence[str] | None = None,
        encrypted_ports: Sequence[int] = (),
        unencrypted_ports: Sequence[int] = (),
        runtime: str = "gvisor",
        tags: dict[str, str] | None = None,
    ) -> Sandbox:
        """Start a sandbox running `cmd` (none: it stays up until terminate(), timeout or idle_timeout).

        Networking: its own namespace; egress through NAT (only to `outbound_cidr_allowlist`
        when given), never to the host or other containers; `block_network=True`: loopback only.
        `encrypted_ports` / `unencrypted_ports`: TCP ports reachable from outside through
        `sb.tunnels()` (also with block_network=True: inbound only).
        """
        from squall.sdk.app import App

        request = _check_create(cmd, name, image, env, secrets, volumes, timeout, idle_timeout, workdir, cpu, memory, gpu, block_network,
                                outbound_cidr_allowlist, encrypted_ports, unencrypted_ports, runtime, tags)
        if app is not None:
            if not isinstance(app, App):
                raise InvalidError(f"Sandbox.create(app={app!r}): give a squall.App, or leave it out")
            if app._running is not None:
                request.app_id = app._running.app_id
            elif app.name:
                request.app_name = app.name
            else:
                raise InvalidError("Sandbox.create(app=...): the App has no name and is not running; name it (App('name')) or run it")
        if image is not None and (image._base.get("kind") != "debian_slim" or image._steps):
            from squall.client.client import get_client
            from squall.sdk.function import progress

            request.image_id = (await image._build(await get_client(), on_log=lambda line: progress.image_log("sandbox image", line)))[0]
        from squall.sdk.volume import bucket_secrets, check_volumes, mount_spec

        volumes = check_volumes(volumes, "Sandbox.create")
        for path, vol in volumes.items():
            request.volumes.append(await mount_spec(path, vol))
        secrets = [*secrets, *bucket_secrets(volumes)]  # a CloudBucketMount's credentials: the sandbox gets them too, as a function does
        ephemeral = [s for s in secrets if s._ephemeral]
        try:
            for s in secrets:
                request.secret_ids.append(await s._resolve())
            resp = await _call("SandboxCreate", request)
        finally:
            for s in ephemeral:  # the server decrypted them for the sandbox already
                await s._release()
        return Sandbox(resp.sandbox_id)

    @staticmethod
    @live_function
    async def from_id(sandbox_id: str) -> Sandbox:
        """Attach to a sandbox by id (from any process)."""
        if not isinstance(sandbox_id, str) or not sandbox_id:
            raise InvalidError(f"Sandbox.from_id({sandbox_id!r}): give a sandbox id such as 'sb-...'")
        return Sandbox(sandbox_id, await _call("SandboxGet", sb_pb.SandboxGetRequest(sandbox_id=sandbox_id)))

    @staticmethod
    @live_function
    async def from_name(app_name: str, name: str) -> Sandbox:
        """Attach to the running sandbox called `name` in app `app_name`."""
        for what, value in (("app name", app_name), ("name", name)):
            if not isinstance(value, str) or not value:
                raise InvalidError(f"Sandbox.from_name(): the {what} must be a non-empty string, not {value!r}")
        info = await _call("SandboxGet", sb_pb.SandboxGetRequest(app_name=app_name, name=name))
        return Sandbox(info.sandbox_id, info)

    @staticmethod
    @live_function
    async def list(app_id: str | None = None, tags: dict[str, str] | None = None) -> AsyncIterator[Sandbox]:
        """The running sandboxes, of one app and/or carrying all of `tags`."""
        resp = await _call("SandboxList", sb_pb.SandboxListRequest(app_id=app_id or "", tags=_str_map("Sandbox.list(tags=...)", tags)))
        for info in resp.sandboxes:
            yield Sandbox(info.sandbox_id, info)

    # -- lifetime ------------------------------------------------------------------------------
    @live_method
    async def wait(self, raise_on_termination: bool = True) -> None:
        """Wait for the sandbox to finish. A sandbox that timed out raises SandboxTimeoutError
        (unless raise_on_termination=False)."""
        while True:
            info = await _call("SandboxWait", sb_pb.SandboxWaitRequest(sandbox_id=self.object_id, timeout_s=WAIT_POLL_S), timeout=WAIT_POLL_S + 30)
            if info.done:
                self._set_done(info)
                break
        if info.timed_out and raise_on_termination:
            raise SandboxTimeoutError(f"sandbox {self.object_id} {info.reason}")

    @live_method
    async def poll(self) -> int | None:
        """The exit code if the sandbox has finished, else None."""
        info = await _call("SandboxGet", sb_pb.SandboxGetRequest(sandbox_id=self.object_id))
        if info.done:
            self._set_done(info)
        return self._returncode

    @property
    def returncode(self) -> int | None:
        """The exit code once finished (as of the last wait() or poll()), else None."""
        return self._returncode

    @live_method
    async def terminate(self) -> None:
        await _call("SandboxTerminate", sb_pb.SandboxRef(sandbox_id=self.object_id))

    @live_method
    async def set_tags(self, tags: dict[str, str]) -> None:
        await _call("SandboxSetTags", sb_pb.SandboxSetTagsRequest(sandbox_id=self.object_id, tags=_str_map("set_tags(tags)", tags)))

    @live_method
    async def get_tags(self) -> dict[str, str]:
        return dict((await _call("SandboxGet", sb_pb.SandboxGetRequest(sandbox_id=self.object_id))).tags)

    async def _follow_output(self, stream: StreamReader, fd: int) -> None:
        client, stub = await _stub()
        error = None
        try:
            async for chunk in stub.SandboxOutput(sb_pb.SandboxOutputRequest(sandbox_id=self.object_id, fd=fd), metadata=client.metadata):
                stream._feed(chunk.data)
        except grpc.aio.AioRpcError as exc:
            error = _translate(exc)
        stream._close(error)

    # -- processes -----------------------------------------------------------------------------
    @live_method
    async def exec(self, *args: str, workdir: str | None = None, env: dict[str, str] | None = None, timeout: float | None = None,
                   text: bool = True, _pty_size: tuple[int, int] | None = None) -> ContainerProcess:
        """Run a command in the sandbox; its stdout and stderr stream while it runs."""
        if not args:
            raise InvalidError("sb.exec() needs a command, e.g. sb.exec('ls', '-l')")
        for a in args:
            if not isinstance(a, str):
                raise InvalidError(f"sb.exec(*args): every argument must be a string, got {a!r}")
        if workdir is not None and (not isinstance(workdir, str) or not workdir.startswith("/")):
            raise InvalidError(f"sb.exec(workdir={workdir!r}): give an absolute path inside the sandbox")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
            raise InvalidError(f"sb.exec(timeout={timeout!r}): give a positive number of seconds, or None")
        proc = ContainerProcess(self.object_id, list(args), text)
        start = sb_pb.ExecStart(sandbox_id=self.object_id, argv=list(args), workdir=workdir or "", env=_str_map("sb.exec(env=...)", env),
                                timeout_s=float(timeout or 0))
        if _pty_size is not None:  # `squall shell`: stdout and stderr both come from the terminal
            start.pty.rows, start.pty.cols = _pty_size
        await proc._start(start)
        return proc

    @live_method
    async def history(self) -> list[sb_pb.ExecRecord]:
        """Every exec run in this sandbox: command, start, end, exit code."""
        return list((await _call("SandboxHistory", sb_pb.SandboxRef(sandbox_id=self.object_id))).execs)

    # -- snapshots -----------------------------------------------------------------------------
    @live_method
    async def snapshot_filesystem(self, timeout: float = 55.0):
        """An Image of this sandbox's filesystem as it is now: its image plus everything written
        since it started. Functions and new sandboxes can use it; it stays until `squall image gc`
        finds nothing using it."""
        from squall.sdk.image import Image

        resp = await _call("SandboxSnapshotFilesystem", sb_pb.SandboxRef(sandbox_id=self.object_id), timeout=max(timeout, 1.0) + 5)
        return Image.from_id(resp.image_id)

    @live_method
    async def snapshot_memory(self, timeout: float = 300.0):
        """A SandboxSnapshot of this sandbox's processes, memory and files as they are now; the sandbox
        runs on (paused for the moment of the checkpoint; TCP connections open then are aborted). gVisor
        sandboxes without Volumes only. Kept until deleted; `Sandbox.from_snapshot` starts new sandboxes from it."""
        from squall.sdk.sandbox_snapshot import SandboxSnapshot

        info = await _call("SandboxSnapshotMemory", sb_pb.SandboxRef(sandbox_id=self.object_id), timeout=max(timeout, 1.0) + 5)
        return SandboxSnapshot(info.snapshot_id, info)

    @staticmethod
    @live_function
    async def from_snapshot(snapshot) -> Sandbox:
        """A new sandbox (new id) whose processes, memory and files are the snapshot's. Refused, with the
        reason, when no worker has the runsc build and CPU features the snapshot was taken with."""
        from squall.sdk.sandbox_snapshot import SandboxSnapshot

        if isinstance(snapshot, str):
            snapshot = SandboxSnapshot.from_id(snapshot)
        if not isinstance(snapshot, SandboxSnapshot):
            raise InvalidError(f"Sandbox.from_snapshot({snapshot!r}): give a SandboxSnapshot (from sb.snapshot_memory() or SandboxSnapshot.from_id)")
        resp = await _call("SandboxRestore", sb_pb.SandboxRestoreRequest(snapshot_id=snapshot.object_id))
        return Sandbox(resp.sandbox_id)

    # Modal's names for the same two calls
    _experimental_snapshot = snapshot_memory
    _experimental_from_snapshot = from_snapshot

    # -- ports -------------------------------------------------------------------------------
    @live_method
    async def tunnels(self, timeout: float = 50) -> dict:
        """The sandbox's exposed ports: {container port: Tunnel}, once its worker opened them
        (waiting up to `timeout` seconds, then SandboxTimeoutError). Empty without ports."""
        from squall.sdk.tunnel import Tunnel

        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
            raise InvalidError(f"sb.tunnels(timeout={timeout!r}): give a number of seconds")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = max(0.0, deadline - loop.time())
            poll = min(left, WAIT_POLL_S)
            resp = await _call("SandboxTunnels", sb_pb.SandboxTunnelsRequest(sandbox_id=self.object_id, timeout_s=poll), timeout=poll + 30)
            if resp.ready:
                return {t.container_port: Tunnel(t.host, t.port, t.unencrypted_host, t.unencrypted_port, ca_cert_pem=resp.ca_cert_pem)
                        for t in resp.tunnels}
            if loop.time() >= deadline:
                raise SandboxTimeoutError(f"sandbox {self.object_id}: its tunnels were not open within {timeout:g} s (sb.tunnels(timeout=...))")
