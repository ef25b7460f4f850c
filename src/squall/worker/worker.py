"""The per-machine agent: registers with the control plane, starts the containers it is
assigned through a runtime, ships their output, and reports how each one ended."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import pathlib
import socket
import tarfile
import time
import uuid

import grpc

import squall
from squall import config
from squall._proto.squall.v1 import api_pb2, common_pb2, worker_pb2, worker_pb2_grpc
from squall._redact import redact
from squall.runtime import get_runtime
from squall.runtime.base import Container, ContainerSpec, Mount, Runtime
from squall.worker.proxy import SocketProxy

log = logging.getLogger("squall.worker")

HEARTBEAT_S = 2.0
LOG_FLUSH_S = 0.05
DEFAULT_CPU_LIMIT = 1.0
DEFAULT_MEMORY_LIMIT_MB = 1024


def machine_memory_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 4096


class Worker:
    def __init__(self, home: pathlib.Path, server_url: str, token: str, runtimes: list[str], worker_id: str | None = None):
        self.home = home / "worker"
        self.server_url = server_url
        self.token = token
        self.worker_id = worker_id or config.ID_PREFIX["worker"] + uuid.uuid4().hex[:12]
        self.runtime_names = runtimes
        self.runtimes: dict[str, Runtime] = {}
        self.containers: dict[str, Container] = {}
        self.outbox: asyncio.Queue[worker_pb2.WorkerEvent] = asyncio.Queue()
        self.pending_logs: list[common_pb2.LogEntry] = []
        self._tasks: set[asyncio.Task] = set()
        self._stopping = False
        self._secret_values: dict[str, list[str]] = {}  # container id -> its Secret values, never shipped in a log line

    # -- setup ---------------------------------------------------------------------------------
    def prepare(self, progress=print) -> None:
        """Check runtimes and build what every container needs (base image, agent layer) up front."""
        for name in self.runtime_names:
            rt = get_runtime(name, self.home / "run")
            rt.check_available()
            self.runtimes[name] = rt
            if not rt.capabilities.isolation:
                log.warning("runtime 'process' gives NO isolation: user code runs as this worker's user on the host")
        if any(rt.capabilities.isolation for rt in self.runtimes.values()):
            from squall.images.agent_layer import ensure_agent_layer
            from squall.images.base import ensure_debian_slim

            self.rootfs = ensure_debian_slim(config.cache_home(), log=progress)
            self.agent_layer = ensure_agent_layer(config.cache_home(), log=progress)
        else:
            self.rootfs = None
            self.agent_layer = None

    async def run(self) -> None:
        host, port = _split_url(self.server_url)
        for rt in self.runtimes.values():
            await rt.cleanup_orphans()
        self.proxy = SocketProxy(self.home / "run" / f"{self.worker_id}.sock", host, port)
        await self.proxy.start()
        self.channel = grpc.aio.insecure_channel(f"{host}:{port}", options=config.grpc_options())
        self.stub = worker_pb2_grpc.WorkerServiceStub(self.channel)
        try:
            while not self._stopping:
                try:
                    await self._session()
                except grpc.aio.AioRpcError as exc:
                    if self._stopping:
                        break
                    log.warning("lost the control plane (%s); reconnecting", exc.code().name)
                    await self._kill_all("the worker lost the control plane")
                    await asyncio.sleep(1.0)
        finally:
            await self._kill_all("the worker stopped")
            await self.proxy.close()
            await self.channel.close()

    async def stop(self) -> None:
        self._stopping = True
        await self._kill_all("the worker stopped")
        if hasattr(self, "_call"):
            self._call.cancel()

    # -- the stream with the control plane -----------------------------------------------------
    async def _session(self) -> None:
        md = (("authorization", f"Bearer {self.token}"),)
        self.outbox = asyncio.Queue()
        cpu = float(os.cpu_count() or 1)
        self.outbox.put_nowait(
            worker_pb2.WorkerEvent(
                register=worker_pb2.WorkerRegister(
                    worker_id=self.worker_id, hostname=socket.gethostname(), cpu=cpu, memory_mb=machine_memory_mb() - 512,
                    runtimes=list(self.runtimes), default_runtime=self.runtime_names[0],
                )
            )
        )
        self._call = self.stub.WorkerConnect(self._events(), metadata=md)
        async for command in self._call:
            kind = command.WhichOneof("command")
            if kind == "start":
                self._spawn(self._run_container(command.start))
            elif kind == "start_sandbox":
                from squall.worker.sandbox import run_sandbox

                self._spawn(run_sandbox(self, command.start_sandbox))
            elif kind == "stop":
                c = self.containers.get(command.stop.container_id)
                if c is not None:
                    self._spawn(c.kill())

    async def _events(self):
        heartbeat_at = time.monotonic() + HEARTBEAT_S
        while True:
            timeout = max(0.0, min(heartbeat_at - time.monotonic(), LOG_FLUSH_S if self.pending_logs else HEARTBEAT_S))
            try:
                event = await asyncio.wait_for(self.outbox.get(), timeout)
                yield event
            except asyncio.TimeoutError:
                pass
            if self.pending_logs:
                entries, self.pending_logs = self.pending_logs, []
                yield worker_pb2.WorkerEvent(logs=worker_pb2.ContainerLogs(entries=entries))
            if time.monotonic() >= heartbeat_at:
                heartbeat_at = time.monotonic() + HEARTBEAT_S
                yield worker_pb2.WorkerEvent(heartbeat=worker_pb2.WorkerHeartbeat(running_containers=list(self.containers)))

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _kill_all(self, reason: str) -> None:
        for c in list(self.containers.values()):
            with contextlib.suppress(Exception):
                await c.kill()
        for _ in range(100):
            if not self.containers:
                break
            await asyncio.sleep(0.05)

    # -- one container -------------------------------------------------------------------------
    async def _run_container(self, start: worker_pb2.StartContainer) -> None:
        cid = start.container_id
        try:
            runtime = self.runtimes.get(start.runtime)
            if runtime is None:
                raise RuntimeError(f"runtime {start.runtime!r} is not enabled on worker {self.worker_id} (enabled: {', '.join(self.runtimes)})")
            code_dir = await self._code_mount(start.definition)
            spec = self._spec(start, runtime, code_dir)
            container = await runtime.start(spec)
        except Exception as exc:
            log.exception("container %s failed to start", cid)
            self._log(cid, start.definition.function_name, "system", f"container failed to start: {exc}")
            self.outbox.put_nowait(worker_pb2.WorkerEvent(exited=worker_pb2.ContainerExited(container_id=cid, exit_code=-1, reason=f"container failed to start: {exc}")))
            return
        self.containers[cid] = container
        timings = {"scheduled": start.scheduled_at, **container.timings}
        self.outbox.put_nowait(worker_pb2.WorkerEvent(started=worker_pb2.ContainerStarted(container_id=cid, timings=timings)))
        name = start.definition.function_name
        pumps = [asyncio.create_task(self._pump(cid, name, "stdout", container.stdout)), asyncio.create_task(self._pump(cid, name, "stderr", container.stderr))]
        status = await container.wait()
        await asyncio.gather(*pumps, return_exceptions=True)
        self.containers.pop(cid, None)
        self._secret_values.pop(cid, None)
        self.outbox.put_nowait(
            worker_pb2.WorkerEvent(exited=worker_pb2.ContainerExited(container_id=cid, exit_code=status.exit_code, oom_killed=status.oom_killed))
        )

    def _spec(self, start: worker_pb2.StartContainer, runtime: Runtime, code_dir: pathlib.Path) -> ContainerSpec:
        d = start.definition
        o = d.options
        squall_pkg = pathlib.Path(squall.__file__).parent
        env = {
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            config.ENV_CONTAINER_ID: start.container_id,
            config.ENV_CONTAINER_TOKEN: start.token,
            config.ENV_IS_REMOTE: "1",
            "SQUALL_TIMING_SCHEDULED": repr(start.scheduled_at),
            **dict(o.env),
            **dict(start.secret_env),
        }
        self._secret_values[start.container_id] = [v for v in start.secret_env.values() if v]  # redacted from its log lines
        if runtime.capabilities.isolation:
            env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            env["HOME"] = "/root"
            env["PYTHONPATH"] = os.pathsep.join([config.CONTAINER_LIB_DIR, config.CONTAINER_AGENT_DIR, config.CONTAINER_APP_DIR])
            env[config.ENV_CONTAINER_SERVER] = f"unix://{config.CONTAINER_SOCKET}"
            mounts = [
                Mount(squall_pkg, f"{config.CONTAINER_LIB_DIR}/squall"),
                Mount(self.agent_layer, config.CONTAINER_AGENT_DIR),
                Mount(code_dir, config.CONTAINER_APP_DIR),
                Mount(self.proxy.socket_path, config.CONTAINER_SOCKET, read_only=False),
            ]
            argv = ["python3", "-m", "squall.container"]
            rootfs = self.rootfs
        else:
            env["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
            env["PYTHONPATH"] = os.pathsep.join([str(squall_pkg.parent), str(code_dir)])
            env[config.ENV_CONTAINER_SERVER] = f"unix://{self.proxy.socket_path}"
            mounts = []
            argv = [_host_python(), "-m", "squall.container"]
            rootfs = pathlib.Path("/")
        return ContainerSpec(
            container_id=start.container_id, rootfs=rootfs, argv=argv, env=env, mounts=mounts, workdir="/root" if runtime.capabilities.isolation else str(code_dir),
            cpu_limit=o.cpu_limit or max(DEFAULT_CPU_LIMIT, o.cpu), memory_limit_mb=o.memory_limit_mb or DEFAULT_MEMORY_LIMIT_MB,
            network=False,  # every container gets only loopback for now; egress (veth + NAT) comes with sandbox networking
        )

    async def _code_mount(self, d: common_pb2.FunctionDefinition) -> pathlib.Path:
        """Download and unpack the app's code once per digest; it is mounted read-only."""
        dest = self.home / "mounts" / d.mount_digest
        if dest.exists():
            return dest
        buf = io.BytesIO()
        async for chunk in self.stub.BlobGet(api_pb2.BlobRef(digest=d.mount_digest), metadata=(("authorization", f"Bearer {self.token}"),)):
            buf.write(chunk.data)
        tmp = dest.with_name(dest.name + f".tmp-{uuid.uuid4().hex[:8]}")
        tmp.mkdir(parents=True)
        buf.seek(0)
        with tarfile.open(fileobj=buf, mode="r") as tar:
            tar.extractall(tmp, filter="data")
        try:
            tmp.rename(dest)
        except OSError:  # another container unpacked it first
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        return dest

    async def _pump(self, cid: str, function_name: str, stream: str, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            self._log(cid, function_name, stream, line.decode(errors="replace").rstrip("\n"))

    def _log(self, cid: str, function_name: str, stream: str, text: str) -> None:
        if self._secret_values.get(cid):
            text = redact(text, self._secret_values[cid])
        self.pending_logs.append(common_pb2.LogEntry(container_id=cid, stream=stream, text=text, ts=time.time(), function_name=function_name))


def _host_python() -> str:
    import sys

    return sys.executable


def _split_url(url: str) -> tuple[str, int]:
    hostport = url.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    return host or "127.0.0.1", int(port)
