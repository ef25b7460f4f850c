"""Sandboxes in the control plane: placement, lifetime (timeout, idle timeout, terminate), the
supervisor's stream, and relaying execs, stdin and file requests to it.

Each sandbox's supervisor holds one SandboxAgentService stream. Its token is handed out once,
in the StartSandbox sent to the worker, and is spent when the stream opens: it is valid for
nothing else and never again. Commands for the supervisor go into the sandbox's queue; events
from it are routed to the exec, file request or output buffer they belong to.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import hmac
import itertools
import logging
import secrets
import time

from squall import config
from squall._proto.squall.v1 import sandbox_pb2 as sb_pb
from squall._proto.squall.v1 import worker_pb2
from squall.server import scheduler
from squall.server.records import new_id
from squall.server.state.sandbox_store import SandboxStore

log = logging.getLogger("squall.server")

DEFAULT_APP = "sandboxes"  # the app of sandboxes created without one
RUNTIMES = ("gvisor", "runc")
DEFAULT_RUNTIME = "gvisor"
DEFAULT_TIMEOUT_S = 300.0
MAX_TIMEOUT_S = 24 * 3600.0
DEFAULT_CPU = 0.125  # cores reserved when cpu= is not given (Modal's sandbox default)
DEFAULT_CPU_LIMIT = 1.0
DEFAULT_MEMORY_MB = 128  # MiB reserved when memory= is not given
DEFAULT_MEMORY_LIMIT_MB = 1024
PIDS_LIMIT = 256  # processes the user's commands may have at once in one sandbox
DISK_ENV = "SQUALL_SANDBOX_DISK_MB"  # the writable disk of each sandbox (its files, in MiB)
DEFAULT_DISK_MB = 8192
MAX_OUTPUT_BYTES = 64 * 1024 * 1024  # main command output kept per stream for readers
KEEP_FINISHED = 256  # stopped sandboxes whose output stays readable
START_TIMEOUT_S = 120.0
POOL_ENV = "SQUALL_SANDBOX_POOL"  # how many idle gVisor sandboxes of the default image to keep started
POOL_CHECK_S = 1.0


def disk_limit_mb() -> int:
    import os

    return int(os.environ.get(DISK_ENV) or DEFAULT_DISK_MB)


class SandboxGone(Exception):
    """The sandbox stopped while a request to it was in flight."""


@dataclasses.dataclass(eq=False)
class ExecRec:
    exec_id: str
    argv: list[str]
    started_at: float
    events: asyncio.Queue = dataclasses.field(default_factory=asyncio.Queue)  # ExecServerMessage for the client
    done: bool = False
    detached: bool = False  # its client went away: the process runs on, its output is dropped


@dataclasses.dataclass(eq=False)
class SandboxRec:
    sandbox_id: str
    app_id: str
    name: str
    request: sb_pb.SandboxCreateRequest
    runtime: str
    worker_id: str
    token: str
    cpu: float
    memory_mb: int
    memory_limit_mb: int
    pids_limit: int
    tags: dict[str, str]
    created_at: float = dataclasses.field(default_factory=time.time)
    state: str = "starting"  # starting | running | stopped
    commands: asyncio.Queue = dataclasses.field(default_factory=asyncio.Queue)  # AgentCommand for the supervisor
    connected: bool = False
    stop_requested: str = ""  # why squall is stopping it, once it is
    timed_out: bool = False
    main_exit: sb_pb.AgentExited | None = None
    returncode: int = 0
    reason: str = ""
    stopped_at: float = 0.0
    done: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    execs: dict[str, ExecRec] = dataclasses.field(default_factory=dict)
    waiting: dict[int, asyncio.Future] = dataclasses.field(default_factory=dict)  # file / stdin request id -> reply
    output: tuple[bytearray, bytearray] = dataclasses.field(default_factory=lambda: (bytearray(), bytearray()))
    output_closed: bool = False
    last_active: float = dataclasses.field(default_factory=time.time)
    started_at: float = dataclasses.field(default_factory=time.time)
    claimed_at: float = 0.0
    deadline: float = float("inf")
    timeout_s: float = 0.0
    timings: dict[str, float] = dataclasses.field(default_factory=dict)  # the worker's start phases
    pooled: bool = False  # idle in the warm pool, nobody's yet
    from_pool: bool = False  # it was handed out from the warm pool
    tunnels: list[sb_pb.TunnelInfo] | None = None  # its exposed ports, once its worker opened them
    tunnels_error: str = ""
    snapshotting: bool = False  # a memory snapshot of it is being taken (sandbox_snapshots.py)

    def notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    def info(self) -> sb_pb.SandboxInfo:
        return sb_pb.SandboxInfo(
            sandbox_id=self.sandbox_id, app_id=self.app_id, name=self.name, state=self.state, created_at=self.created_at, stopped_at=self.stopped_at,
            done=self.done.is_set(), returncode=self.returncode, reason=self.reason, timed_out=self.timed_out, tags=self.tags, runtime=self.runtime,
            worker_id=self.worker_id, memory_limit_mb=self.memory_limit_mb, pids_limit=self.pids_limit, from_warm_pool=self.from_pool,
        )


def check_ports(req: sb_pb.SandboxCreateRequest) -> None:
    """encrypted_ports / unencrypted_ports: TCP ports, each listed once."""
    seen: set[int] = set()
    for what, ports in (("encrypted_ports", req.encrypted_ports), ("unencrypted_ports", req.unencrypted_ports)):
        for port in ports:
            if not 1 <= port <= 65535:
                raise ValueError(f"{what}: {port} is not a TCP port (1 to 65535)")
            if port in seen:
                raise ValueError(f"{what}: port {port} is listed twice (a port is either encrypted or unencrypted)")
            seen.add(port)


def info_from_row(row) -> sb_pb.SandboxInfo:
    return sb_pb.SandboxInfo(
        sandbox_id=row.id, app_id=row.app_id, name=row.name or "", state=row.state, created_at=row.created_at, stopped_at=row.stopped_at or 0.0,
        done=row.state == "stopped", returncode=row.returncode or 0, reason=row.reason or "", timed_out=bool(row.timed_out), tags=row.tags or {},
        runtime=row.runtime, worker_id=row.worker_id or "", memory_limit_mb=row.memory_limit_mb, pids_limit=row.pids_limit,
    )


class SandboxManager:
    def __init__(self, cp):
        self.cp = cp
        self.db = SandboxStore(cp.store)
        self.sandboxes: dict[str, SandboxRec] = {}  # live ones (starting or running)
        self.finished: collections.OrderedDict[str, SandboxRec] = collections.OrderedDict()  # recent ones, for their output
        self._tokens: dict[str, str] = {}  # one-time supervisor token -> sandbox id
        self._req = itertools.count(1)
        self._tasks: set[asyncio.Task] = set()
        import os

        self.pool_size = int(os.environ.get(POOL_ENV) or 0)
        self._refill: asyncio.Event | None = None
        self.tunnel_ca = None  # a TunnelCA (server/tunnel_ca.py), set by the server
        from squall.server.sandbox_snapshots import SnapshotManager

        self.snapshots = SnapshotManager(self)

    def recover(self) -> None:
        self.db.stop_stale()

    # -- create --------------------------------------------------------------------------------
    def resolve_app(self, req: sb_pb.SandboxCreateRequest) -> str:
        if req.app_id:
            if req.app_id not in self.cp.running_apps:
                raise ValueError(f"app {req.app_id!r} is not running; sandboxes need a running app (or none: they then go to the {DEFAULT_APP!r} app)")
            return req.app_id
        return self.cp.create_app(req.app_name or DEFAULT_APP, ephemeral=False)

    def create(self, req: sb_pb.SandboxCreateRequest, app_id: str) -> SandboxRec:
        runtime = req.runtime or DEFAULT_RUNTIME
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime={runtime!r}: sandboxes run under one of {', '.join(RUNTIMES)}")
        timeout = req.timeout_s or DEFAULT_TIMEOUT_S
        if not 1 <= timeout <= MAX_TIMEOUT_S:
            raise ValueError(f"timeout={req.timeout_s:g}: give between 1 and {MAX_TIMEOUT_S:g} seconds")
        if req.idle_timeout_s < 0:
            raise ValueError(f"idle_timeout={req.idle_timeout_s:g}: give a positive number of seconds")
        check_ports(req)
        if req.name and any(s.app_id == app_id and s.name == req.name for s in self.sandboxes.values()):
            raise FileExistsError(f"app {app_id} already has a running sandbox named {req.name!r}; terminate it or pick another name")
        rec = self._from_pool(req) or self._start(req, runtime)
        self._claim(rec, req, app_id, timeout)
        return rec

    def _start(self, req: sb_pb.SandboxCreateRequest, runtime: str, pooled: bool = False, restore: sb_pb.RestoreFrom | None = None,
               worker_ok=None) -> SandboxRec:
        """Place a new sandbox on a worker and start it there (or restore a memory snapshot there);
        nobody's until _claim(). `worker_ok(worker_id)`: only such workers are considered."""
        cpu = req.cpu or DEFAULT_CPU
        memory_limit = req.memory_mb or DEFAULT_MEMORY_LIMIT_MB
        memory = min(req.memory_mb or DEFAULT_MEMORY_MB, memory_limit)
        caps = [c for c in self.cp._capacity() if worker_ok is None or worker_ok(c.worker_id)]
        choice = scheduler.pick_worker(caps, cpu, memory, runtime)
        if choice is None:
            have = ", ".join(f"{c.worker_id} ({c.free_cpu:.2f} cpu, {c.free_memory_mb} MiB free, runtimes {','.join(c.runtimes)})" for c in caps) or "no workers connected"
            raise LookupError(f"no worker can run a {runtime} sandbox with {cpu:g} cpu and {memory} MiB now: {have}")
        rec = SandboxRec(new_id("sandbox"), "", "", req, runtime, choice.worker_id, secrets.token_urlsafe(32), cpu, memory, memory_limit, PIDS_LIMIT, {})
        rec.pooled = pooled
        self.sandboxes[rec.sandbox_id] = rec
        self._tokens[rec.token] = rec.sandbox_id
        bucket_env = {}
        if any(v.bucket_name for v in req.volumes):  # the worker mounts them with the sandbox's Secrets' credentials
            from squall.server.secret_box import secret_env

            bucket_env = secret_env(self.cp.store, list(req.secret_ids))
        w = self.cp.workers[choice.worker_id]
        w.commands.put_nowait(worker_pb2.WorkerCommand(start_sandbox=sb_pb.StartSandbox(
            sandbox_id=rec.sandbox_id, token=rec.token, runtime=runtime, cpu_limit=max(DEFAULT_CPU_LIMIT, req.cpu), memory_limit_mb=memory_limit,
            pids_limit=PIDS_LIMIT, block_network=req.block_network, outbound_cidr_allowlist=list(req.outbound_cidr_allowlist),
            scheduled_at=time.time(), image_id=req.image_id, disk_limit_mb=disk_limit_mb(),
            image=self.cp.images.plan_for_container(req.image_id) if req.image_id and self.cp.images is not None else None,
            volumes=list(req.volumes), bucket_env=bucket_env, encrypted_ports=list(req.encrypted_ports), unencrypted_ports=list(req.unencrypted_ports),
            restore=restore,
        )))
        self._spawn(self._lifetime(rec))
        return rec

    def _claim(self, rec: SandboxRec, req: sb_pb.SandboxCreateRequest, app_id: str, timeout: float, init: bool = True) -> None:
        """Make a started (or pooled) sandbox this request's: its app, name, limits in time, and
        the init that starts its main command (not for a restored one: its supervisor has it)."""
        rec.pooled = False
        rec.app_id, rec.name, rec.request, rec.tags = app_id, req.name, req, dict(req.tags)
        rec.claimed_at = rec.last_active = time.time()
        rec.deadline = rec.claimed_at + timeout
        rec.timeout_s = timeout
        from squall.server.secret_box import secret_env  # decrypted here, kept in memory only, sent over the supervisor's authenticated stream

        if init:
            env = {**dict(req.env), **secret_env(self.cp.store, list(req.secret_ids))}
            # The first command on the supervisor's stream, ahead of any exec or file request.
            rec.commands.put_nowait(sb_pb.AgentCommand(init=sb_pb.AgentInit(
                command=list(req.command), env=env, workdir=req.workdir or "/", pids_limit=rec.pids_limit, memory_limit_mb=rec.memory_limit_mb,
            )))
        self.db.create(
            id=rec.sandbox_id, app_id=app_id, name=req.name or None, state="running" if rec.connected else "starting", runtime=rec.runtime,
            worker_id=rec.worker_id, command=list(req.command), tags=rec.tags, memory_limit_mb=rec.memory_limit_mb, pids_limit=PIDS_LIMIT,
            created_at=rec.claimed_at,
        )
        if rec.connected:
            rec.state = "running"
        rec.created_at = rec.claimed_at
        rec.notify()

    # -- the warm pool -------------------------------------------------------------------------
    def _poolable(self, req: sb_pb.SandboxCreateRequest) -> bool:
        """Pooled sandboxes are gVisor, default image, resources and network: only those match."""
        return ((req.runtime or DEFAULT_RUNTIME) == DEFAULT_RUNTIME and not req.cpu and not req.memory_mb and not req.block_network
                and not req.outbound_cidr_allowlist and not req.image_id and not req.volumes and not req.encrypted_ports and not req.unencrypted_ports)

    def _from_pool(self, req: sb_pb.SandboxCreateRequest) -> SandboxRec | None:
        if not self._poolable(req):
            return None
        for rec in self.sandboxes.values():
            if rec.pooled and rec.connected and not rec.stop_requested and rec.worker_id in self.cp.workers:
                rec.from_pool = True
                if self._refill is not None:
                    self._refill.set()
                return rec
        return None

    def start(self) -> None:
        self._refill = asyncio.Event()
        if self.pool_size:
            self._spawn(self._refill_loop())

    async def _refill_loop(self) -> None:
        """Keep `pool_size` idle gVisor sandboxes started, replacing each one taken."""
        while True:
            pooled = sum(1 for r in self.sandboxes.values() if r.pooled)
            for _ in range(self.pool_size - pooled):
                try:
                    self._start(sb_pb.SandboxCreateRequest(), DEFAULT_RUNTIME, pooled=True)
                except LookupError:
                    break  # no worker (yet) or no room: try again later
                except Exception:
                    log.exception("starting a pooled sandbox failed")
                    break
            self._refill.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._refill.wait(), POOL_CHECK_S)

    def usage(self, worker_id: str) -> tuple[float, int]:
        live = [s for s in self.sandboxes.values() if s.worker_id == worker_id]
        return sum(s.cpu for s in live), sum(s.memory_mb for s in live)

    def adjust_capacity(self, caps: list[scheduler.WorkerCapacity]) -> None:
        for c in caps:
            cpu, mem = self.usage(c.worker_id)
            c.free_cpu -= cpu
            c.free_memory_mb -= mem

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _lifetime(self, rec: SandboxRec) -> None:
        """Timeout, idle timeout, and a start that never finishes. (A pooled sandbox has no
        timeout until it is claimed: then `deadline` is set.)"""
        while not rec.done.is_set():
            now = time.time()
            idle = rec.request.idle_timeout_s if not rec.pooled else 0.0
            if now >= rec.deadline:
                self.terminate(rec, f"timed out after {rec.timeout_s:g} s (timeout={rec.timeout_s:g})", timed_out=True)
                return
            if idle and not rec.execs and not rec.snapshotting and now - rec.last_active >= idle:
                self.terminate(rec, f"idle for {idle:g} s (idle_timeout={idle:g})", timed_out=True)
                return
            if not rec.connected and now - rec.started_at > START_TIMEOUT_S:
                self.terminate(rec, f"did not start within {START_TIMEOUT_S:g} s")
                return
            wake = min(rec.deadline - now, 1.0)  # claiming a pooled sandbox sets its deadline
            if idle:
                wake = min(wake, max(0.05, idle - (now - rec.last_active)) if not rec.execs else 1.0)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(rec.done.wait(), wake)

    # -- lookups -------------------------------------------------------------------------------
    def get(self, sandbox_id: str) -> SandboxRec | None:
        """A live sandbox (not one idle in the warm pool: those are nobody's)."""
        rec = self.sandboxes.get(sandbox_id)
        return rec if rec is not None and not rec.pooled else None

    def get_any(self, sandbox_id: str) -> SandboxRec | None:
        """A live sandbox, or one that stopped recently (its output is still kept)."""
        return self.get(sandbox_id) or self.finished.get(sandbox_id)

    def info(self, sandbox_id: str) -> sb_pb.SandboxInfo | None:
        rec = self.get_any(sandbox_id)
        if rec is not None:
            return rec.info()
        row = self.db.get(sandbox_id)
        return info_from_row(row) if row is not None else None

    def find_by_name(self, app_id: str, name: str) -> SandboxRec | None:
        return next((s for s in self.sandboxes.values() if s.app_id == app_id and s.name == name), None)

    def list(self, app_id: str, tags: dict[str, str], include_stopped: bool) -> list[sb_pb.SandboxInfo]:
        out = []
        for row in self.db.list(app_id or None, include_stopped):
            live = self.sandboxes.get(row.id)
            info = live.info() if live is not None else info_from_row(row)
            if all(info.tags.get(k) == v for k, v in tags.items()):
                out.append(info)
        return out

    def set_tags(self, rec: SandboxRec, tags: dict[str, str]) -> None:
        rec.tags = dict(tags)
        self.db.update(rec.sandbox_id, tags=rec.tags)

    # -- stopping ------------------------------------------------------------------------------
    def terminate(self, rec: SandboxRec, reason: str, timed_out: bool = False) -> None:
        if rec.done.is_set() or rec.stop_requested:
            return
        rec.stop_requested = reason
        rec.timed_out = timed_out
        w = self.cp.workers.get(rec.worker_id)
        if w is None:
            self._finish(rec, -9, reason)
            return
        w.commands.put_nowait(worker_pb2.WorkerCommand(stop=worker_pb2.StopContainer(container_id=rec.sandbox_id, reason=reason)))

    def stop_app(self, app_id: str) -> None:
        for rec in [s for s in self.sandboxes.values() if s.app_id == app_id]:
            self.terminate(rec, "its app was stopped")

    def container_started(self, container_id: str, timings: dict[str, float]) -> bool:
        rec = self.sandboxes.get(container_id)
        if rec is None:
            return False
        rec.timings = dict(timings)
        if rec.stop_requested:  # terminated while the worker was still starting it
            w = self.cp.workers.get(rec.worker_id)
            if w is not None:
                w.commands.put_nowait(worker_pb2.WorkerCommand(stop=worker_pb2.StopContainer(container_id=rec.sandbox_id, reason=rec.stop_requested)))
        return True

    def container_exited(self, container_id: str, exit_code: int, oom_killed: bool, reason: str) -> bool:
        """The hook for the worker's ContainerExited: True when `container_id` was a sandbox."""
        rec = self.sandboxes.get(container_id)
        if rec is None:
            return container_id.startswith(config.ID_PREFIX["sandbox"])
        if oom_killed:
            why = f"out of memory (limit {rec.memory_limit_mb} MiB): the sandbox was killed; give it more with memory="
            code = -9
        elif rec.stop_requested:
            why, code = rec.stop_requested, -9
        elif rec.main_exit is not None:
            why, code = rec.main_exit.reason, rec.main_exit.returncode
        elif reason:
            why, code = reason, exit_code
        else:
            why, code = f"the sandbox's supervisor exited unexpectedly with code {exit_code}", exit_code
        self._finish(rec, code, why)
        return True

    def worker_lost(self, worker_id: str) -> None:
        for rec in [s for s in self.sandboxes.values() if s.worker_id == worker_id]:
            self._finish(rec, -9, f"its worker {worker_id} was lost")

    def _finish(self, rec: SandboxRec, returncode: int, reason: str) -> None:
        if rec.done.is_set():
            return
        self.sandboxes.pop(rec.sandbox_id, None)
        self._tokens.pop(rec.token, None)
        self.finished[rec.sandbox_id] = rec
        while len(self.finished) > KEEP_FINISHED:
            self.finished.popitem(last=False)
        rec.state = "stopped"
        rec.returncode, rec.reason, rec.stopped_at = returncode, reason, time.time()
        for ex in list(rec.execs.values()):
            self._exec_done(rec, ex, -9, f"the sandbox stopped: {reason}")
        for fut in rec.waiting.values():
            if not fut.done():
                fut.set_exception(SandboxGone(f"sandbox {rec.sandbox_id} stopped: {reason}"))
        rec.waiting.clear()
        rec.output_closed = True
        rec.commands.put_nowait(None)  # ends the supervisor stream's writer
        self.db.update(rec.sandbox_id, state="stopped", stopped_at=rec.stopped_at, returncode=returncode, reason=reason, timed_out=rec.timed_out)
        rec.done.set()
        rec.notify()
        log.info("sandbox %s stopped: %s", rec.sandbox_id, reason or f"exit code {returncode}")

    # -- the supervisor's stream ---------------------------------------------------------------
    def claim_token(self, token: str) -> SandboxRec | None:
        """The sandbox whose supervisor holds `token`; the token is spent by this call."""
        for known, sandbox_id in list(self._tokens.items()):
            if hmac.compare_digest(known.encode(), token.encode()):
                del self._tokens[known]
                rec = self.sandboxes.get(sandbox_id)
                if rec is None or rec.connected:
                    return None
                return rec
        return None

    def agent_connected(self, rec: SandboxRec) -> None:
        rec.connected = True
        if rec.timings.get("scheduled"):
            t0 = rec.timings["scheduled"]
            steps = ", ".join(f"{k} +{1000 * (v - t0):.0f} ms" for k, v in sorted(rec.timings.items(), key=lambda kv: kv[1]) if k != "scheduled")
            log.info("sandbox %s: %s, supervisor connected +%.0f ms", rec.sandbox_id, steps, 1000 * (time.time() - t0))
        if not rec.pooled:
            rec.state = "running"
            rec.last_active = time.time()
            self.db.update(rec.sandbox_id, state="running")
        rec.notify()

    def agent_event(self, rec: SandboxRec, ev: sb_pb.AgentEvent) -> None:
        kind = ev.WhichOneof("event")
        if kind == "output":
            o = ev.output
            if not o.exec_id:
                buf = rec.output[0 if o.fd == 1 else 1]
                if len(buf) < MAX_OUTPUT_BYTES:
                    buf += o.data[: MAX_OUTPUT_BYTES - len(buf)]
                rec.notify()
                return
            ex = rec.execs.get(o.exec_id)
            if ex is not None and not ex.detached:
                ex.events.put_nowait(sb_pb.ExecServerMessage(stdout=o.data) if o.fd == 1 else sb_pb.ExecServerMessage(stderr=o.data))
        elif kind == "exited":
            e = ev.exited
            if not e.exec_id:
                rec.main_exit = e
                rec.output_closed = True
                rec.notify()
                return
            ex = rec.execs.get(e.exec_id)
            if ex is not None:
                self._exec_done(rec, ex, e.returncode, e.reason)
        elif kind in ("file", "stdin_ack"):
            msg = ev.file if kind == "file" else ev.stdin_ack
            fut = rec.waiting.pop(msg.req, None)
            if fut is not None and not fut.done():
                fut.set_result(msg)

    def agent_lost(self, rec: SandboxRec) -> None:
        """The supervisor's stream ended: the sandbox cannot be driven any more; stop it. (After
        the main command's exit the supervisor ends the stream itself, then exits. A memory
        snapshot does not end it: the worker holds it while the supervisor is detached.)"""
        if not rec.done.is_set() and rec.main_exit is None:
            self.terminate(rec, rec.stop_requested or "its supervisor disconnected")

    # -- execs, stdin, files -------------------------------------------------------------------
    def exec_start(self, rec: SandboxRec, start: sb_pb.ExecStart) -> ExecRec:
        ex = ExecRec(new_id("exec"), list(start.argv), time.time())
        rec.execs[ex.exec_id] = ex
        rec.last_active = ex.started_at
        rec.commands.put_nowait(sb_pb.AgentCommand(exec=sb_pb.AgentExec(
            exec_id=ex.exec_id, argv=ex.argv, workdir=start.workdir, env=dict(start.env), timeout_s=start.timeout_s,
            pty=start.pty if start.HasField("pty") else None,
        )))
        # Recorded right after the stream's writer (woken above, so scheduled first) sends the
        # command on: the commit then overlaps its trip to the sandbox instead of delaying it.
        asyncio.get_running_loop().call_soon(self.db.exec_started, ex.exec_id, rec.sandbox_id, ex.argv, ex.started_at)
        return ex

    def resize(self, rec: SandboxRec, ex: ExecRec, size: sb_pb.TerminalSize) -> None:
        if not ex.done:
            rec.commands.put_nowait(sb_pb.AgentCommand(resize=sb_pb.AgentResize(exec_id=ex.exec_id, size=size)))

    def _exec_done(self, rec: SandboxRec, ex: ExecRec, returncode: int, reason: str) -> None:
        if ex.done:
            return
        ex.done = True
        rec.execs.pop(ex.exec_id, None)
        rec.last_active = time.time()
        if not reason and returncode < 0 and rec.stop_requested:
            reason = f"the sandbox stopped: {rec.stop_requested}"
        ex.events.put_nowait(sb_pb.ExecServerMessage(exit=sb_pb.ExecExit(returncode=returncode, reason=reason)))
        asyncio.get_running_loop().call_soon(self.db.exec_finished, ex.exec_id, returncode, reason)  # after the caller hears

    def kill_exec(self, rec: SandboxRec, ex: ExecRec) -> None:
        if not ex.done:
            rec.commands.put_nowait(sb_pb.AgentCommand(kill=sb_pb.AgentKill(exec_id=ex.exec_id, reason="killed by the caller")))

    async def _request(self, rec: SandboxRec, build) -> object:
        if rec.done.is_set():
            raise SandboxGone(f"sandbox {rec.sandbox_id} has stopped: {rec.reason}")
        req = next(self._req)
        fut = asyncio.get_running_loop().create_future()
        rec.waiting[req] = fut
        rec.commands.put_nowait(build(req))
        rec.last_active = time.time()
        try:
            return await fut
        finally:
            rec.waiting.pop(req, None)

    async def stdin(self, rec: SandboxRec, ex: ExecRec, data: bytes, eof: bool) -> None:
        await self._request(rec, lambda req: sb_pb.AgentCommand(stdin=sb_pb.AgentStdin(exec_id=ex.exec_id, data=data, eof=eof, req=req)))

    async def file(self, rec: SandboxRec, request: sb_pb.AgentFileRequest) -> sb_pb.AgentFileReply:
        def build(req):
            request.req = req
            return sb_pb.AgentCommand(file=request)

        return await self._request(rec, build)

    # -- tunnels -------------------------------------------------------------------------------
    def tunnel_certificate(self, reg: worker_pb2.WorkerRegister) -> worker_pb2.WorkerCommand:
        """A registering worker's TLS certificate for its tunnels' host, from the cluster CA."""
        cert = self.tunnel_ca.issue(reg.tunnel_public_key_pem, reg.tunnel_host or "127.0.0.1")
        return worker_pb2.WorkerCommand(tunnel_certificate=worker_pb2.TunnelCertificate(cert_pem=cert, ca_cert_pem=self.tunnel_ca.ca_pem().encode()))

    def tunnels_ready(self, ev: worker_pb2.TunnelsReady) -> None:
        rec = self.sandboxes.get(ev.container_id)
        if rec is None:
            return
        rec.tunnels, rec.tunnels_error = list(ev.tunnels), ev.error
        rec.notify()

    def history(self, sandbox_id: str) -> list[sb_pb.ExecRecord]:
        return [
            sb_pb.ExecRecord(exec_id=r.id, argv=r.argv, started_at=r.started_at, finished_at=r.finished_at or 0.0, finished=r.finished_at is not None,
                             returncode=r.returncode or 0, reason=r.reason or "")
            for r in self.db.execs(sandbox_id)
        ]
