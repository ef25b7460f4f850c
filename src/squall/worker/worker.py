"""The per-machine agent: registers with the control plane, starts the containers it is
assigned through a runtime, ships their output, and reports how each one ended."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import pathlib
import socket
import sys
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
from squall.worker import supervisor_dir
from squall.worker.proxy import SocketProxy
from squall.worker.tunnels import TunnelTLS
from squall.worker.volumes import VolumeMounts

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
    def __init__(self, home: pathlib.Path, server_url: str, token: str, runtimes: list[str], worker_id: str | None = None,
                 public_host: str | None = None):
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
        self._layers_in_use: dict[str, list[str]] = {}  # container id -> the image layers under its root
        self.upper_dirs: dict[str, pathlib.Path] = {}  # container id -> where its writes land (sandboxes)
        self.sandbox_links: dict = {}  # sandbox id -> its SupervisorLink (sandbox_link.py)
        self.volumes = VolumeMounts(self.home, self.worker_id, token)  # mounted Volumes and their VolumeAgent
        from squall.worker.sandbox import DiskPool

        self.disks = DiskPool(self.home / "run" / "sandbox-disks")  # sandboxes' writable disks, made ahead
        self.tunnel_tls = TunnelTLS(self.home / "run" / "tunnels", self.worker_id, public_host)  # sandboxes' exposed ports

    # -- setup ---------------------------------------------------------------------------------
    def prepare(self, progress=print) -> None:
        """Check runtimes and build what every container needs (base image, agent layer) up front."""
        _raise_pid_max()
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
            self.supervisor_dir = supervisor_dir.prepare(config.cache_home())
            helper = self.supervisor_dir / supervisor_dir.SPAWN_HELPER
            self.spawn_helper = helper if helper.exists() else None
            for rt in self.runtimes.values():
                if hasattr(rt, "netstack_helper"):
                    rt.netstack_helper = self.spawn_helper  # starts runsc in a container's network namespace
        else:
            self.rootfs = None
            self.agent_layer = None
            self.supervisor_dir = self.spawn_helper = None
        self.builder = self._image_builder()

    def _image_builder(self):
        from squall.images.agent_layer import ensure_agent_layer
        from squall.images.builder import ImageBuilder, host_build_settings

        # Build steps run under runc (fastest start) when this machine has it, even if containers
        # use only gVisor; else under another isolating runtime.
        build_rt = self.runtimes.get("runc")
        if build_rt is None and os.geteuid() == 0:
            with contextlib.suppress(Exception):
                candidate = get_runtime("runc", self.home / "run")
                candidate.check_available()
                build_rt = candidate
        build_rt = build_rt or next((rt for rt in self.runtimes.values() if rt.capabilities.isolation), None)
        mounts, env = host_build_settings() if build_rt is not None else ([], {})
        cache = config.cache_home()
        return ImageBuilder(cache, build_rt, _WorkerBlobs(self), pathlib.Path(squall.__file__).parent,
                            lambda version: ensure_agent_layer(cache, version, log=log.info), mounts, env)

    async def run(self) -> None:
        _pidfd_child_watcher()
        host, port = _split_url(self.server_url)
        for rt in {*self.runtimes.values(), *([self.builder.runtime] if getattr(self, "builder", None) and self.builder.runtime else [])}:
            await rt.cleanup_orphans()
        await self.disks.cleanup()
        for rt in self.runtimes.values():
            if hasattr(rt, "share_state_mounts"):
                rt.share_state_mounts()  # gVisor's netstack launcher: mount namespaces that follow the host's
        self.proxy = SocketProxy(self.home / "run" / f"{self.worker_id}.sock", host, port)
        await self.proxy.start()
        self.channel = grpc.aio.insecure_channel(f"{host}:{port}", options=config.grpc_options())
        self.stub = worker_pb2_grpc.WorkerServiceStub(self.channel)
        await self.volumes.start(self.channel)
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
            for rt in {*self.runtimes.values(), *([self.builder.runtime] if self.builder.runtime else [])}:
                with contextlib.suppress(Exception):
                    await rt.close()
            await self.volumes.close()
            await self.disks.close()
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
        gvisor = self.runtimes.get("gvisor")
        self.outbox.put_nowait(
            worker_pb2.WorkerEvent(
                register=worker_pb2.WorkerRegister(
                    worker_id=self.worker_id, hostname=socket.gethostname(), cpu=cpu, memory_mb=machine_memory_mb() - 512,
                    runtimes=list(self.runtimes), default_runtime=self.runtime_names[0],
                    tunnel_host=self.tunnel_tls.host, tunnel_public_key_pem=self.tunnel_tls.public_key_pem(),
                    gvisor_version=gvisor.version() if gvisor is not None else "", gvisor_platform=getattr(gvisor, "platform", ""),
                    cpu_features=_cpu_features(),
                )
            )
        )
        self._call = self.stub.WorkerConnect(self._events(), metadata=md)
        async for command in self._call:
            kind = command.WhichOneof("command")
            if kind == "start":
                self._spawn(self._run_container(command.start))
            elif kind == "build":
                self._spawn(self._build_image(command.build))
            elif kind == "gc_layers":
                in_use = {layer_id for ids in self._layers_in_use.values() for layer_id in ids}
                removed = self.builder.layers.gc(set(command.gc_layers.keep_layer_ids), in_use)
                log.info("removed %d unused image layers", len(removed))
            elif kind == "snapshot_filesystem":
                self._spawn(self._snapshot_filesystem(command.snapshot_filesystem))
            elif kind == "checkpoint_sandbox":
                from squall.worker.snapshots import checkpoint_sandbox

                self._spawn(checkpoint_sandbox(self, command.checkpoint_sandbox))
            elif kind == "forget_snapshot":
                from squall.worker.snapshots import forget

                forget(self, command.forget_snapshot)
            elif kind == "start_sandbox":
                from squall.worker.sandbox import run_sandbox

                self._spawn(run_sandbox(self, command.start_sandbox))
            elif kind == "tunnel_certificate":
                self.tunnel_tls.set_certificate(command.tunnel_certificate)
            elif kind == "stop":
                c = self.containers.get(command.stop.container_id)
                if c is not None:
                    self.volumes.stop_requested.add(command.stop.container_id)  # a stop squall asked for is a clean exit
                    self._spawn(c.kill())

    async def _events(self):
        heartbeat_at = time.monotonic() + HEARTBEAT_S
        while True:
            timeout = max(0.0, min(heartbeat_at - time.monotonic(), LOG_FLUSH_S if self.pending_logs else HEARTBEAT_S))
            try:
                event = await asyncio.wait_for(self.outbox.get(), timeout)
                yield event
            except TimeoutError:
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
            code_dir = await self._unpacked_blob(start.definition.mount_digest)
            spec = self._spec(start, runtime, code_dir)
            if runtime.capabilities.isolation:
                await self._add_image(start, spec)
            await self.volumes.attach(start, spec, runtime)
            container = await runtime.start(spec)
        except Exception as exc:
            log.exception("container %s failed to start", cid)
            await self.volumes.detach(cid, None)
            self._log(cid, start.definition.function_name, "system", f"container failed to start: {exc}")
            self.outbox.put_nowait(worker_pb2.WorkerEvent(exited=worker_pb2.ContainerExited(container_id=cid, exit_code=-1, reason=f"container failed to start: {exc}")))
            return
        self.containers[cid] = container
        timings = {"scheduled": start.scheduled_at, **container.timings}
        address = ""
        if start.definition.HasField("web") and config.ENV_WEB_LISTEN in spec.env:  # the gateway's direct path into it
            try:
                address = await container.allow_inbound(config.CONTAINER_WEB_PORT) or ""
            except Exception:  # noqa: BLE001 - requests then go as inputs
                log.exception("container %s: cannot let the gateway in; its web requests go as inputs", cid)
        self.outbox.put_nowait(worker_pb2.WorkerEvent(started=worker_pb2.ContainerStarted(container_id=cid, timings=timings, address=address)))
        name = start.definition.function_name
        pumps = [asyncio.create_task(self._pump(cid, name, "stdout", container.stdout)), asyncio.create_task(self._pump(cid, name, "stderr", container.stderr))]
        status = await container.wait()
        await asyncio.gather(*pumps, return_exceptions=True)
        await self.volumes.detach(cid, status.exit_code, lambda line: self._log(cid, name, "system", line))
        self.containers.pop(cid, None)
        self._secret_values.pop(cid, None)
        self._layers_in_use.pop(cid, None)
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
            # /root last: add_local_python_source puts modules there, as Modal does
            env["PYTHONPATH"] = os.pathsep.join([config.CONTAINER_LIB_DIR, config.CONTAINER_AGENT_DIR, config.CONTAINER_APP_DIR, "/root"])
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
        network = runtime.capabilities.isolation and not o.block_network  # own namespace with NAT'd egress, as Modal functions have
        if d.HasField("web") and (network or not runtime.capabilities.isolation):
            # The gateway's direct path: the agent serves HTTP on the container's own address (its
            # namespace's; the host's loopback without isolation), reachable from this host only.
            env[config.ENV_WEB_LISTEN] = f"0.0.0.0:{config.CONTAINER_WEB_PORT}" if network else "127.0.0.1:0"
        return ContainerSpec(
            container_id=start.container_id, rootfs=rootfs, argv=argv, env=env, mounts=mounts, workdir="/root" if runtime.capabilities.isolation else str(code_dir),
            cpu_limit=o.cpu_limit or max(DEFAULT_CPU_LIMIT, o.cpu), memory_limit_mb=o.memory_limit_mb or DEFAULT_MEMORY_LIMIT_MB,
            network=network,
        )

    async def _add_image(self, start: worker_pb2.StartContainer, spec: ContainerSpec) -> None:
        """Root the container in its image's layers and apply the image's settings; attach the
        image's local files (add_local_* with copy=False)."""
        if not start.image.layers:  # a definition from before images were planned: the default image
            return
        name = start.definition.function_name
        await self.apply_image(start.image, spec, lambda line: self._log(spec.container_id, name, "system", line))
        for fm in start.definition.file_mounts:
            files = await self._unpacked_blob(fm.digest)
            spec.mounts.append(Mount(next(files.iterdir()) if fm.is_file else files, fm.path))

    async def apply_image(self, plan: common_pb2.ImagePlan, spec: ContainerSpec, log_line) -> None:
        """Root a container (function or sandbox) in the image's layers, with the image's env,
        workdir and the agent layer for its Python version."""
        spec.rootfs = await self.builder.rootfs(list(plan.layers), log_line)
        self._layers_in_use[spec.container_id] = [layer.layer_id for layer in plan.layers]
        image_config = json.loads(plan.config_json or "{}")
        base_config = self.builder.base_config(plan.layers[0])
        base_env = dict(e.split("=", 1) for e in base_config.get("env") or [] if "=" in e)
        spec.env = {**base_env, **image_config.get("env", {}), **spec.env}
        if base_env.get("PATH") and "PATH" not in image_config.get("env", {}):
            spec.env["PATH"] = base_env["PATH"]
        python = image_config.get("python_version") or "3.11"
        if python != "3.11" and any(m.target == config.CONTAINER_AGENT_DIR for m in spec.mounts):
            from squall.images.agent_layer import ensure_agent_layer

            agent = await asyncio.to_thread(ensure_agent_layer, config.cache_home(), python, log.info)
            spec.mounts = [Mount(agent, m.target) if m.target == config.CONTAINER_AGENT_DIR else m for m in spec.mounts]
        if image_config.get("workdir") or base_config.get("working_dir"):
            spec.workdir = image_config.get("workdir") or base_config["working_dir"]

    async def _snapshot_filesystem(self, req: worker_pb2.SnapshotFilesystem) -> None:
        """Pack what a running container wrote (its overlay upper dir) as a layer in the blob store."""
        reply = worker_pb2.FilesystemSnapshot(request_id=req.request_id)
        upper = self.upper_dirs.get(req.container_id)
        try:
            if upper is None or req.container_id not in self.containers:
                raise RuntimeError(f"container {req.container_id} is not running on worker {self.worker_id}")
            reply.blob_digest = await self.builder.pack_layer(upper)
            reply.size_bytes = self.builder.layers.size_of(upper)
        except Exception as exc:
            log.exception("snapshot of %s failed", req.container_id)
            reply.error = str(exc) or type(exc).__name__
        self.outbox.put_nowait(worker_pb2.WorkerEvent(filesystem_snapshot=reply))

    async def _build_image(self, build: worker_pb2.BuildImage) -> None:
        lines: list[str] = []

        def emit(line: str) -> None:
            lines.append(redact(line, list(build.registry_auth.values())))

        async def flush() -> None:
            while True:
                await asyncio.sleep(LOG_FLUSH_S)
                if lines:
                    batch = lines[:]
                    del lines[:]
                    self.outbox.put_nowait(worker_pb2.WorkerEvent(build_log=worker_pb2.BuildLog(build_id=build.build_id, lines=batch)))

        flusher = asyncio.create_task(flush())
        done = worker_pb2.BuildDone(build_id=build.build_id)
        try:
            built, python = await self.builder.build(list(build.image.layers), dict(build.registry_auth), emit)
            digests = dict(built)
            for layer in build.image.layers:
                done.layers.append(common_pb2.LayerSpec(layer_id=layer.layer_id, step_json=layer.step_json, blob_digest=digests.get(layer.layer_id, "")))
            done.python_version = python
        except Exception as exc:
            from squall.images.base import ImageBuildError

            if not isinstance(exc, ImageBuildError):
                log.exception("image build %s failed", build.build_id)
            done.error = redact(str(exc), list(build.registry_auth.values())) or type(exc).__name__
        finally:
            flusher.cancel()
        if lines:
            self.outbox.put_nowait(worker_pb2.WorkerEvent(build_log=worker_pb2.BuildLog(build_id=build.build_id, lines=lines)))
        self.outbox.put_nowait(worker_pb2.WorkerEvent(build_done=done))

    async def _unpacked_blob(self, digest: str) -> pathlib.Path:
        """Download and unpack a tar blob (the app's code, local files) once per digest; it is mounted read-only."""
        dest = self.home / "mounts" / digest
        if dest.exists():
            return dest
        buf = io.BytesIO()
        async for chunk in self.stub.BlobGet(api_pb2.BlobRef(digest=digest), metadata=(("authorization", f"Bearer {self.token}"),)):
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


class _WorkerBlobs:
    """The blob store through the control plane, with the worker's credential."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def _md(self):
        return (("authorization", f"Bearer {self.worker.token}"),)

    async def get(self, digest: str):
        async for chunk in self.worker.stub.BlobGet(api_pb2.BlobRef(digest=digest), metadata=self._md()):
            yield chunk.data

    async def put(self, chunks) -> str:
        async def requests():
            async for data in chunks:
                yield api_pb2.BlobChunk(data=data)

        ref = await self.worker.stub.BlobPut(requests(), metadata=self._md())
        return ref.digest


def _cpu_features() -> tuple[str, ...]:
    from squall.worker.snapshots import cpu_features

    return cpu_features()


def _host_python() -> str:
    import sys

    return sys.executable


def _split_url(url: str) -> tuple[str, int]:
    hostport = url.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    return host or "127.0.0.1", int(port)


PID_MAX = 4194304  # the kernel's ceiling on 64-bit machines


def _pidfd_child_watcher() -> None:
    """On Python 3.11 asyncio waits for each subprocess in a thread of its own (its default
    ThreadedChildWatcher): a thread started for every `ip`, `mount`, `runsc run`... of every
    container, about a third of this process's CPU when 100 sandboxes start at once. A pidfd
    watcher waits in the event loop instead, as 3.12 does by default."""
    if sys.version_info >= (3, 12) or not hasattr(asyncio, "PidfdChildWatcher"):
        return
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:  # a kernel before 5.3
        return
    watcher = asyncio.PidfdChildWatcher()
    asyncio.get_event_loop_policy().set_child_watcher(watcher)
    watcher.attach_loop(asyncio.get_running_loop())


def _raise_pid_max() -> None:
    """Each gVisor sandbox may use thousands of host pids (sandbox.GVISOR_THREAD_HEADROOM): with the
    kernel's old default of 32768 a few fork bombs in different sandboxes would leave the machine
    unable to start any process. Raise it, as container hosts do, when we are root and it is low."""
    path = pathlib.Path("/proc/sys/kernel/pid_max")
    try:
        current = int(path.read_text())
        if current < PID_MAX and os.geteuid() == 0:
            path.write_text(str(PID_MAX))
            log.warning("raised kernel.pid_max from %d to %d: sandboxes may each use thousands of host pids", current, PID_MAX)
    except (OSError, ValueError) as exc:
        log.warning("could not raise kernel.pid_max (%s); a few fork bombs in sandboxes could use up the host's pids", exc)
