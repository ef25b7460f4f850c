"""The supervisor inside a sandbox.

It connects to the control plane through the worker's unix socket with the sandbox's one-time
token (which it removes from its environment first, so no child ever sees it) and holds one
bidirectional stream: the server pushes exec, stdin, kill and file requests; the supervisor
streams outputs and exit codes back. The user's processes are its children, each in a session
of its own, so a timeout or a runaway process tree can be killed as a whole.

Containment it adds on top of the runtime's cgroups: gVisor's pids cgroup counts the sandbox's
host threads, not the processes inside it, so a watchdog counts the processes in the sandbox and
kills the session that pushes them past the limit (a fork bomb), telling the caller why.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import resource
import shutil
import signal
import stat as stat_mod
import subprocess
import sys
import time

import grpc

from squall import config
from squall._proto.squall.v1 import sandbox_pb2 as sb_pb
from squall._proto.squall.v1 import sandbox_pb2_grpc

MAIN = ""  # the exec id of the main command
READ_CHUNK = 64 * 1024
WATCHDOG_S = 0.01  # while user processes run
IDLE_WATCHDOG_S = 0.5
MEMORY_WATCH_S = 0.002  # while memory use is past half the limit
MEMORY_USAGE = "/sys/fs/cgroup/memory/memory.usage_in_bytes"
MEMORY_STAT = "/sys/fs/cgroup/memory/memory.stat"
NPROC_HEADROOM = 64  # the supervisor's threads (gRPC, file I/O) under RLIMIT_NPROC
PR_SET_DUMPABLE = 4
# Variables only the supervisor needs: never passed on to the user's processes.
INTERNAL_ENV = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", config.ENV_CONTAINER_SERVER, config.ENV_SANDBOX_TOKEN)


def _scrub_environ(name: str) -> None:
    """Zero `name=...` in the process's original environment block, which /proc/<pid>/environ
    shows to anyone who may read it (gVisor lets root read it despite PR_SET_DUMPABLE=0)."""
    try:
        libc = ctypes.CDLL(None)
        environ = ctypes.POINTER(ctypes.c_char_p).in_dll(libc, "environ")
    except (OSError, ValueError):
        return
    prefix = name.encode() + b"="
    i = 0
    while environ[i] is not None:
        if environ[i].startswith(prefix):
            address = ctypes.cast(environ, ctypes.POINTER(ctypes.c_void_p))[i]
            ctypes.memset(address, 0, len(environ[i]))
        i += 1


def _no_dumps() -> None:
    """Make the supervisor non-dumpable: without CAP_SYS_PTRACE (which sandboxes lack) no other
    process may read its memory or /proc/<pid>/environ, even as root."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class Proc:
    """One user process: its pipes are read by the event loop, its exit comes from the SIGCHLD reaper."""

    def __init__(self, exec_id: str, popen: subprocess.Popen, timeout_s: float, loop: asyncio.AbstractEventLoop):
        self.exec_id = exec_id
        self.pid = popen.pid
        self.popen = popen
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s if timeout_s > 0 else None
        self.kill_reason = ""
        self.exit: asyncio.Future = loop.create_future()
        self.pipes_closed: list[asyncio.Future] = [loop.create_future(), loop.create_future()]
        self.stdin: asyncio.StreamWriter | None = None
        self.reported: asyncio.Future = loop.create_future()  # its exit was sent
        self.master: int | None = None  # its pseudo-terminal, when it runs on one


class Supervisor:
    def __init__(self) -> None:
        self.target = os.environ[config.ENV_CONTAINER_SERVER]
        self.token = os.environ.pop(config.ENV_SANDBOX_TOKEN, "")
        self.base_env = {k: v for k, v in os.environ.items() if k not in INTERNAL_ENV}
        for k in INTERNAL_ENV:
            os.environ.pop(k, None)
        self.env: dict[str, str] = dict(self.base_env)
        self.workdir = "/"
        self.pids_limit = 0
        self.memory_limit = 0
        self.memory_high = False
        self.wake_watchdog = asyncio.Event()
        self.procs: dict[str, Proc] = {}
        self.by_pid: dict[int, Proc] = {}
        self.outbox: asyncio.Queue[sb_pb.AgentEvent] = asyncio.Queue()
        self.main_exit: asyncio.Future | None = None

    # -- the stream --------------------------------------------------------------------------
    async def run(self) -> int:
        self.loop = asyncio.get_running_loop()
        self.loop.add_signal_handler(signal.SIGCHLD, self._on_sigchld)
        options = [*config.grpc_options(), ("grpc.enable_http_proxy", 0)]
        async with grpc.aio.insecure_channel(self.target, options=options) as channel:
            stub = sandbox_pb2_grpc.SandboxAgentServiceStub(channel)
            call = stub.SandboxConnect(metadata=(("x-squall-sandbox-token", self.token),))
            self.token = ""
            self.outbox.put_nowait(sb_pb.AgentEvent(hello=sys.version.split()[0]))
            writer = asyncio.create_task(self._write(call))
            watchdog = asyncio.create_task(self._watchdog())
            code = 0
            try:
                async for cmd in call:
                    kind = cmd.WhichOneof("command")
                    if kind == "init":
                        await self._init(cmd.init)
                    elif kind == "exec":
                        await self._exec(cmd.exec)
                    elif kind == "stdin":
                        asyncio.create_task(self._stdin(cmd.stdin))
                    elif kind == "kill":
                        p = self.procs.get(cmd.kill.exec_id)
                        if p is not None:
                            self._kill(p, cmd.kill.reason or "killed on request")
                    elif kind == "file":
                        asyncio.create_task(self._file(cmd.file))
                    elif kind == "resize":
                        p = self.procs.get(cmd.resize.exec_id)
                        if p is not None and p.master is not None:
                            _set_size(p.master, cmd.resize.size)
                    if self.main_exit is not None and self.main_exit.done():
                        break
            except grpc.aio.AioRpcError as exc:
                print(f"squall sandbox supervisor: lost the control plane: {exc.code().name}", file=sys.stderr)
                code = 1
            if self.main_exit is not None and self.main_exit.done():
                code = self.main_exit.result()
            # Let the last events (the main command's exit) reach the server.
            await self.outbox.join() if not writer.done() else None
            watchdog.cancel()
            writer.cancel()
            call.cancel()
            for p in list(self.procs.values()):
                self._kill(p, "the sandbox stopped")
            return code

    async def _write(self, call) -> None:
        while True:
            ev = await self.outbox.get()
            try:
                await call.write(ev)
            finally:
                self.outbox.task_done()
            if ev.WhichOneof("event") == "exited" and ev.exited.exec_id == MAIN:
                await call.done_writing()
                return

    def _send(self, **kw) -> None:
        self.outbox.put_nowait(sb_pb.AgentEvent(**kw))

    # -- processes ---------------------------------------------------------------------------
    async def _init(self, init: sb_pb.AgentInit) -> None:
        self.env = {**self.base_env, **dict(init.env)}
        self.workdir = init.workdir or "/"
        self.pids_limit = init.pids_limit
        self.memory_limit = init.memory_limit_mb << 20
        if self.pids_limit:
            # gVisor counts every task of a uid against RLIMIT_NPROC, root's too (Linux exempts
            # root; there runc's pids cgroup holds the line): the supervisor's own threads, the
            # user's processes and zombies not yet reaped. The hard cap sits well above the
            # watchdog's limit, so a fork bomb grows past the limit (and is found, killed and
            # reported) instead of stalling just under it and dying out unnoticed.
            limit = max(2 * self.pids_limit, self.pids_limit + NPROC_HEADROOM)
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))
        if init.command:
            self.main_exit = self.loop.create_future()
            await self._exec(sb_pb.AgentExec(exec_id=MAIN, argv=list(init.command), workdir=self.workdir))

    async def _exec(self, req: sb_pb.AgentExec) -> None:
        env = {**self.env, **dict(req.env)}
        cwd = req.workdir or self.workdir
        master = None
        try:
            if req.HasField("pty"):
                master, popen = _spawn_on_pty(list(req.argv), cwd, {"TERM": "xterm-256color", **env}, req.pty)
            else:
                # Popen (vfork + exec) is the cheapest start under gVisor; exits come from the SIGCHLD reaper.
                popen = subprocess.Popen(list(req.argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env,
                                         start_new_session=True)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            why = f"cannot start {req.argv[0] if req.argv else '(no command)'!r}: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}"
            if isinstance(exc, OSError) and exc.filename and exc.filename == cwd:
                why = f"workdir {cwd!r} does not exist in the sandbox"
            self._send(output=sb_pb.AgentOutput(exec_id=req.exec_id, fd=2, data=(why + "\n").encode()))
            self._exited(req.exec_id, 127 if isinstance(exc, FileNotFoundError) else 126, why)
            return
        p = Proc(req.exec_id, popen, req.timeout_s, self.loop)
        self.procs[req.exec_id] = p
        self.by_pid[p.pid] = p
        self.wake_watchdog.set()
        self._send(started=req.exec_id)
        if master is not None:  # one terminal for stdin, stdout and stderr
            p.master = master
            os.set_blocking(master, False)
            self.loop.add_reader(master, self._readable, p, 1, _Fd(master))
            p.pipes_closed[1].set_result(None)
            asyncio.create_task(self._reap(p))
            return
        for fd_num, pipe in ((1, popen.stdout), (2, popen.stderr)):
            fd = pipe.fileno()
            os.set_blocking(fd, False)
            self.loop.add_reader(fd, self._readable, p, fd_num, pipe)
        transport, protocol = await self.loop.connect_write_pipe(lambda: _WriteProtocol(self.loop), popen.stdin)
        p.stdin = asyncio.StreamWriter(transport, protocol, None, self.loop)
        asyncio.create_task(self._reap(p))

    def _readable(self, p: Proc, fd_num: int, pipe) -> None:
        fd = pipe.fileno()
        try:
            data = os.read(fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._send(output=sb_pb.AgentOutput(exec_id=p.exec_id, fd=fd_num, data=data))
            return
        self.loop.remove_reader(fd)
        pipe.close()
        p.pipes_closed[fd_num - 1].set_result(None)

    def _on_sigchld(self) -> None:
        """Reap every ended child: ours, and orphans handed to the supervisor (the sandbox's init)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            p = self.by_pid.pop(pid, None)
            if p is not None and not p.exit.done():
                p.popen.returncode = code = os.waitstatus_to_exitcode(status)
                p.exit.set_result(code)

    async def _reap(self, p: Proc) -> None:
        code = await p.exit
        # Output still in the pipes comes before the exit; a background child that keeps a pipe
        # open does not hold the exit back for long.
        await asyncio.wait(p.pipes_closed, timeout=1.0)
        if p.stdin is not None:
            p.stdin.close()
        self.procs.pop(p.exec_id, None)
        if p.exec_id == MAIN and self.procs:
            # The sandbox ends with its main command: other processes are stopped, and report
            # how they ended before the main command's exit closes the stream.
            others = list(self.procs.values())
            for q in others:
                self._kill(q, "the sandbox's main command exited")
            await asyncio.wait([q.reported for q in others], timeout=2.0)
        self._exited(p.exec_id, code, p.kill_reason)
        p.reported.set_result(None)

    def _exited(self, exec_id: str, code: int, reason: str) -> None:
        self._send(exited=sb_pb.AgentExited(exec_id=exec_id, returncode=code, reason=reason))
        if exec_id == MAIN and self.main_exit is not None and not self.main_exit.done():
            self.main_exit.set_result(code if code >= 0 else 128 - code)

    def _kill(self, p: Proc, reason: str) -> None:
        if not p.kill_reason:
            p.kill_reason = reason
        _kill_session(p.pid)

    async def _stdin(self, req: sb_pb.AgentStdin) -> None:
        p = self.procs.get(req.exec_id)
        if p is not None and p.master is not None:
            with contextlib.suppress(OSError):
                view = memoryview(req.data)
                while view:
                    try:
                        view = view[os.write(p.master, view):]
                    except BlockingIOError:
                        await asyncio.sleep(0.005)
                if req.eof:
                    os.write(p.master, b"\x04")  # ^D: end of input on a terminal
        elif p is not None and p.stdin is not None:
            try:
                if req.data:
                    p.stdin.write(req.data)
                    await p.stdin.drain()
                if req.eof:
                    p.stdin.close()
            except (ConnectionError, BrokenPipeError, RuntimeError):
                pass  # the process closed its stdin or is gone
        if req.req:
            self._send(stdin_ack=sb_pb.AgentStdinAck(exec_id=req.exec_id, req=req.req))

    async def _watchdog(self) -> None:
        """Exec timeouts, and the process limit (see the module docstring)."""
        while True:
            self.wake_watchdog.clear()
            with contextlib.suppress(asyncio.TimeoutError):  # a new process wakes it at once
                await asyncio.wait_for(self.wake_watchdog.wait(), (MEMORY_WATCH_S if self.memory_high else WATCHDOG_S) if self.procs else IDLE_WATCHDOG_S)
            now = time.monotonic()
            for p in list(self.procs.values()):
                if p.deadline is not None and now >= p.deadline and not p.kill_reason:
                    self._kill(p, f"timed out: the exec ran past its timeout of {p.timeout_s:g} s and was killed")
            # Also with no exec left: a bomb's processes can outlive the exec that started them.
            if self.pids_limit and _count_processes() > self.pids_limit:
                await self._contain()
            if self.memory_limit and self.procs:
                self._check_memory()

    def _check_memory(self) -> None:
        """Near the memory limit, kill the exec using the most memory, and say why: otherwise the
        runtime's OOM kill would take the whole sandbox (gVisor) or end it without a reason."""
        usage = _memory_usage()
        self.memory_high = usage is not None and usage > self.memory_limit // 2
        if usage is None or usage < self.memory_limit:
            return
        rss = {p: sum(_rss(pid) for pid in _sessions().get(p.pid, [p.pid])) for p in self.procs.values() if not p.kill_reason}
        if rss:
            victim = max(rss, key=rss.get)
            self._kill(victim, f"out of memory (limit {self.memory_limit >> 20} MiB): it used {rss[victim] >> 20} MiB and was killed")

    async def _contain(self) -> None:
        """Too many processes: kill the session that has the most (a fork bomb), then check."""
        why = f"killed: its processes went past the sandbox's limit of {self.pids_limit} processes (a fork bomb?)"
        sessions = _sessions()
        if not sessions:
            return
        worst = max(sessions, key=lambda sid: len(sessions[sid]))
        by_leader = {p.pid: p for p in self.procs.values()}
        p = by_leader.get(worst)
        if p is not None and not p.kill_reason:
            p.kill_reason = why
        for _ in range(50):
            _signal_group(worst)
            if _count_processes() <= self.pids_limit // 2:
                return
            await asyncio.sleep(0.01)
        # Still too many (the bomb escaped its session): stop every user process.
        for q in self.procs.values():
            if not q.kill_reason:
                q.kill_reason = why
        with contextlib.suppress(OSError):
            os.kill(-1, signal.SIGKILL)  # every process but the supervisor itself

    # -- files -------------------------------------------------------------------------------
    async def _file(self, req: sb_pb.AgentFileRequest) -> None:
        try:
            reply = await asyncio.to_thread(self._file_op, req)
        except FileNotFoundError as exc:
            reply = sb_pb.AgentFileReply(error=f"{exc.filename or req.path}: no such file or directory", error_kind="not_found")
        except (IsADirectoryError, NotADirectoryError, FileExistsError, PermissionError, OSError, ValueError) as exc:
            text = f"{getattr(exc, 'filename', None) or req.path}: {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else str(exc)
            reply = sb_pb.AgentFileReply(error=text, error_kind="invalid")
        reply.req = req.req
        self._send(file=reply)

    def _path(self, path: str) -> str:
        if not path:
            raise ValueError("a path is needed")
        return path if path.startswith("/") else os.path.join(self.workdir, path)

    def _file_op(self, req: sb_pb.AgentFileRequest) -> sb_pb.AgentFileReply:
        path = self._path(req.path)
        op = req.op
        if op == "read":
            with open(path, "rb") as f:
                f.seek(req.offset)
                return sb_pb.AgentFileReply(data=f.read(req.length))
        if op == "write":
            if req.offset == 0:
                with open(path, "wb") as f:
                    f.write(req.data)
            else:
                with open(path, "r+b") as f:
                    f.seek(req.offset)
                    f.write(req.data)
            return sb_pb.AgentFileReply()
        if op == "list":
            entries = []
            with os.scandir(path) as it:
                for e in sorted(it, key=lambda e: e.name):
                    st = e.stat(follow_symlinks=False)
                    entries.append(_entry(os.path.join(path, e.name), st))
            return sb_pb.AgentFileReply(entries=entries)
        if op == "mkdir":
            if req.recursive:
                os.makedirs(path, exist_ok=True)
            else:
                os.mkdir(path)
            return sb_pb.AgentFileReply()
        if op == "remove":
            if os.path.isdir(path) and not os.path.islink(path):
                if req.recursive:
                    shutil.rmtree(path)
                else:
                    os.rmdir(path)
            else:
                os.unlink(path)
            return sb_pb.AgentFileReply()
        if op == "stat":
            return sb_pb.AgentFileReply(stat=_entry(path, os.stat(path)))
        raise ValueError(f"unknown file operation {op!r}")


class _Fd:
    """A raw fd with the two methods _readable() uses on a pipe."""

    def __init__(self, fd: int):
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def _set_size(fd: int, size) -> None:
    import fcntl
    import struct
    import termios

    with contextlib.suppress(OSError):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", size.rows or 24, size.cols or 80, 0, 0))


def _spawn_on_pty(argv: list[str], cwd: str, env: dict[str, str], size) -> tuple[int, subprocess.Popen]:
    """Start `argv` as a session leader whose controlling terminal is a new pseudo-terminal."""
    import fcntl
    import termios

    master, slave = os.openpty()
    _set_size(master, size)

    def take_terminal() -> None:  # in the child, after setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    try:
        popen = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, start_new_session=True, preexec_fn=take_terminal)
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    return master, popen


class _WriteProtocol(asyncio.streams.FlowControlMixin, asyncio.Protocol):
    """The stdin pipe's protocol: lets StreamWriter.drain() wait for a full pipe to empty."""


def _entry(path: str, st: os.stat_result) -> sb_pb.FileEntry:
    return sb_pb.FileEntry(path=path, is_dir=stat_mod.S_ISDIR(st.st_mode), size=st.st_size, mtime=st.st_mtime, mode=stat_mod.S_IMODE(st.st_mode))


def _sessions() -> dict[int, list[int]]:
    """Session id -> the live pids in it, for every process in the sandbox but the supervisor."""
    me = os.getpid()
    out: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) <= 4:
            continue
        if fields[0] == "Z":
            continue
        out.setdefault(int(fields[3]), []).append(int(name))
    return out


def _memory_usage() -> int | None:
    """The sandbox's memory use as its kernel counts it (gVisor's own cgroupfs); None where the
    file does not describe this sandbox alone (runc: the kernel's OOM killer acts there)."""
    try:
        with open(MEMORY_USAGE) as f:
            usage = int(f.read())
    except (OSError, ValueError):
        return None
    try:  # page cache is reclaimed before anything is killed: it does not count
        with open(MEMORY_STAT) as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key in ("total_cache", "cache"):
                    return usage - int(value)
    except (OSError, ValueError):
        pass
    return usage


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _count_processes() -> int:
    return sum(1 for name in os.listdir("/proc") if name.isdigit()) - 1


def _signal_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _kill_session(sid: int) -> None:
    """SIGKILL every process of the session led by `sid`, including ones that left its group."""
    for _ in range(20):
        _signal_group(sid)
        left = _sessions().get(sid, [])
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def main() -> None:
    _scrub_environ(config.ENV_SANDBOX_TOKEN)
    _no_dumps()
    # Reap orphans: the supervisor is the sandbox's init.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(143))
    code = asyncio.run(Supervisor().run())
    sys.stdout.flush()
    os._exit(code)
