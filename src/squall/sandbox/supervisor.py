"""The supervisor inside a sandbox: its init (PID 1).

It holds one link to the worker, a unix socket bind-mounted into the sandbox at LINK. The worker
relays between the link and the control plane (squall/worker/sandbox_link.py), so the sandbox
holds no credential and cannot reach the control plane at all. The worker sends commands (init,
exec, stdin, kill, resize, file requests); the supervisor sends events (outputs, exits, file
replies). The user's processes each run in a session of their own, so a timeout or a runaway
process tree can be killed as a whole (processes.py: starting, finding and killing them).

It is started with `python3 -I -S` and imports only modules built into the interpreter: under
gVisor every module costs milliseconds, and this process is on the path of every sandbox's start.
So: an epoll loop instead of asyncio, its own framing instead of gRPC, and processes started by
`squall-spawn` (spawn.c, a static C program the worker builds: under gVisor's ptrace platform each
system call costs tens of microseconds, and CPython's own start of a process makes ~80 of them).
`squall-spawn --init` is the sandbox's main process: it starts its server, then execs this.

Frames on the link: a 4-byte big-endian length, then the body.
- worker -> supervisor: `marshal` of a dict {"kind": ..., fields...} (the worker is trusted);
- supervisor -> worker: a 4-byte length, a JSON header {kind: {fields}}, then a binary payload
  (output or file data). The worker treats this direction as untrusted input.

Memory snapshots (gVisor): runsc cannot checkpoint a sandbox that holds a connected host socket,
so on the worker's `quiesce` (which brings a secret) the supervisor flushes what it queued, sends
`quiesced`, closes the link and, while its processes run on and their output queues here, polls its
resume file (a read-only bind mount whose host file differs per container) for a new nonce. The
worker writes one after the checkpoint, and into every sandbox restored from it: the supervisor
reconnects and proves itself with HMAC-SHA256(secret, nonce) as its first frame, and sends what
queued once the worker answers `resumed` (a reconnection turned away is retried). The secret lives
only in its memory (and so in the snapshot), never in a file or environment user processes see;
hmac is imported only then, so a sandbox's start imports nothing more.

Containment it adds on top of the runtime's cgroups: gVisor's pids cgroup counts the sandbox's
host threads, not the processes inside it, so a watchdog counts the processes in the sandbox and
kills the session that pushes them past the limit (a fork bomb), telling the caller why.
"""

from __future__ import annotations

import _signal
import _socket
import _thread
import errno
import marshal
import os
import select
import sys
import time

try:
    from . import processes  # as squall.sandbox.supervisor (the host's tests)
except ImportError:  # in the sandbox: a top-level module, beside this one
    import processes

LINK = "/opt/squall/run/link.sock"
RESUME_NONCE = "/opt/squall/resume/nonce"  # config.CONTAINER_RESUME_DIR
RESUME_POLL_S = 0.002  # while detached for a snapshot
RESUME_TRIES = 20  # reconnections the worker may turn away before the supervisor gives up
RESUME_RETRY_S = 0.05
MAIN = ""  # the exec id of the main command
READ_CHUNK = 64 * 1024
RECV_START, RECV_MAX = 64 * 1024, 1 << 20  # an idle sandbox keeps the small buffer: ~1 MiB less memory each
MAX_FRAME = 8 << 20
WATCHDOG_S = 0.01  # while user processes run
IDLE_WATCHDOG_S = 0.5  # no exec, but processes that outlived theirs
EMPTY_WATCHDOG_S = 10.0  # no user process at all: an idle sandbox costs (almost) no CPU
MEMORY_WATCH_S = 0.002  # while memory use is past half the limit
NPROC_HEADROOM = 64  # the supervisor's threads (file I/O) under RLIMIT_NPROC
PR_SET_DUMPABLE = 4
EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP = select.EPOLLIN, select.EPOLLOUT, select.EPOLLERR, select.EPOLLHUP


def _no_dumps() -> None:
    """Make the supervisor non-dumpable: without CAP_SYS_PTRACE (which sandboxes lack) no other
    process may read its memory, its /proc/<pid>/fd or /proc/<pid>/environ, even as root; so
    user code cannot take over the link.

    Changing its effective group and back does it: Linux resets a process's dumpability to
    /proc/sys/fs/suid_dumpable (0 unless an administrator changed it) whenever its credentials
    change, and gVisor (which has no such file) to not dumpable. Importing ctypes for prctl()
    instead costs ~20 ms of CPU under gVisor on every sandbox's start: it is the fallback."""
    try:
        gid = os.getegid()
        os.setegid(gid ^ 1)
        os.setegid(gid)
        with open("/proc/sys/fs/suid_dumpable") as f:
            if f.read().strip() != "1":
                return
    except FileNotFoundError:  # gVisor
        return
    except OSError:  # no CAP_SETGID (a supervisor run on the host by its tests)
        pass
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (ImportError, OSError, AttributeError):
        pass


# -- the link's encoding ------------------------------------------------------------------------
_ESCAPES = {i: f"\\u{i:04x}" for i in range(32)}
_ESCAPES[ord('"')] = '\\"'
_ESCAPES[ord("\\")] = "\\\\"


def _json(v) -> str:
    """JSON for the plain values events carry (the json module costs a C extension's load)."""
    if isinstance(v, str):
        return '"' + v.translate(_ESCAPES) + '"'
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, dict):
        return "{" + ",".join(_json(k) + ":" + _json(x) for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_json(x) for x in v) + "]"
    raise TypeError(f"cannot encode {type(v).__name__}")


def _text(s: str) -> str:
    """A name that may hold undecodable bytes (surrogate escapes), made valid UTF-8."""
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class Proc:
    """One user process: its output fds are read by the loop, its exit comes from the reaper."""

    def __init__(self, exec_id: str, pid: int, started: float, timeout_s: float, outputs: dict[int, int], stdin_fd: int | None,
                 master: int | None):
        self.exec_id = exec_id
        self.pid = pid
        self.started = started
        self.timeout_s = timeout_s
        self.deadline = started + timeout_s if timeout_s else None
        self.kill_reason = ""
        self.outputs = outputs  # fd -> 1 (stdout) or 2 (stderr); a terminal's master is 1
        self.stdin_fd = stdin_fd
        self.master = master
        self.pending: list[list] = []  # stdin not yet written: [memoryview, req, eof]
        self.code: int | None = None
        self.report_by = 0.0  # report the exit by then even if a background child holds a pipe
        self.start_error: tuple[int, str] | None = None  # it could not exec: the exit code and why
        self.reported = False


class Supervisor:
    def __init__(self, link, spawner: processes.Spawner | None = None) -> None:
        self.link = link
        self.base_env = dict(os.environ)
        self.env: dict[str, str] = dict(self.base_env)
        self.workdir = "/"
        self.pids_limit = 0
        self.memory_limit = 0
        self.memory_high = False
        self.procs: dict[str, Proc] = {}
        self.by_pid: dict[int, Proc] = {}
        self.by_fd: dict[int, tuple] = {}  # fd -> (handler, arg)
        self.ep = select.epoll()
        self.now = time.monotonic()  # read once a turn of the loop: under gVisor it is a system call
        self.inbuf = bytearray()
        self.recv_buf = bytearray(RECV_START)  # grown to RECV_MAX by the first read that fills it
        self.outbuf = bytearray()
        self.link_mask = EPOLLIN
        self.closing = False  # the main command's exit is sent: flush, then stop
        self.lost = False
        self.detached = False  # for a memory snapshot: the link is closed, events queue in outbuf
        self.resume_secret = b""
        self.resume_nonce = ""  # the last nonce the worker took (or the file's at quiesce)
        self.resuming = ""  # the nonce of a reconnection the worker has not yet taken
        self.resume_refusals = 0
        self.resume_after = 0.0
        self._hmac = None
        self.main_code: int | None = None
        self.waiting_main: Proc | None = None  # the main exit, held until the others report
        self.next_watchdog = 0.0
        self.done_files: list[tuple[int, dict, bytes]] = []
        self.lock = _thread.allocate_lock()
        self.spawner = spawner
        self.sig_r, sig_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.file_r, self.file_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        _signal.set_wakeup_fd(sig_w)
        _signal.signal(_signal.SIGCHLD, lambda *_: None)
        self._watch(link.fileno(), EPOLLIN, self._on_link, None)
        self._watch(self.sig_r, EPOLLIN, self._on_signal, None)
        self._watch(self.file_r, EPOLLIN, self._on_files, None)
        if spawner is not None:
            self._watch(spawner.sock.fileno(), EPOLLIN, self._on_spawner, None)

    # -- the loop ------------------------------------------------------------------------------
    def _watch(self, fd: int, mask: int, handler, arg) -> None:
        self.by_fd[fd] = (handler, arg)
        self.ep.register(fd, mask)

    def _unwatch(self, fd: int) -> None:
        if self.by_fd.pop(fd, None) is not None:
            self.ep.unregister(fd)

    def run(self) -> int:
        self._send("hello", sys.version.split()[0])
        while not self.lost and not (self.closing and not self.outbuf):
            timeout = max(0.0, self.next_watchdog - self.now) if self.next_watchdog else (WATCHDOG_S if self.procs else IDLE_WATCHDOG_S)
            if self.detached:
                timeout = min(timeout, RESUME_POLL_S)
            try:
                events = self.ep.poll(timeout)
            except InterruptedError:
                continue
            self.now = time.monotonic()
            for fd, mask in events:
                entry = self.by_fd.get(fd)
                if entry is not None:
                    entry[0](fd, mask, entry[1])
            if self.now >= self.next_watchdog:
                self._watchdog()
            if self.detached:
                self._resume()
        for p in list(self.procs.values()):
            self._kill(p, "the sandbox stopped")
        if self.lost and self.main_code is None:
            print("squall sandbox supervisor: lost the link to the worker", file=sys.stderr)
            return 1
        return self.main_code or 0

    # -- the link --------------------------------------------------------------------------------
    def _send(self, kind: str, fields, payload: bytes = b"") -> None:
        header = _json({kind: fields}).encode()
        self.outbuf += (4 + len(header) + len(payload)).to_bytes(4, "big") + len(header).to_bytes(4, "big") + header
        self.outbuf += payload
        self._flush()

    def _flush(self) -> None:
        if self.link is None or self.resuming:  # detached: sent once the worker takes it back
            return
        try:
            while self.outbuf:
                n = self.link.send(self.outbuf)
                del self.outbuf[:n]
        except BlockingIOError:
            pass
        except OSError:
            self.lost = True
            return
        mask = EPOLLIN | (EPOLLOUT if self.outbuf else 0)
        if mask != self.link_mask:
            self.ep.modify(self.link.fileno(), mask)
            self.link_mask = mask

    def _on_link(self, fd: int, mask: int, _) -> None:
        if mask & EPOLLOUT:
            self._flush()
        if not mask & (EPOLLIN | EPOLLHUP | EPOLLERR):
            return
        try:
            n = self.link.recv_into(self.recv_buf)
        except BlockingIOError:
            return
        except OSError:
            n = 0
        if not n:
            if self.resuming:
                self._refused()
            else:
                self.lost = True
            return
        self.inbuf += memoryview(self.recv_buf)[:n]
        if n == len(self.recv_buf) < RECV_MAX:  # a large transfer (file chunks): fewer, larger reads
            self.recv_buf = bytearray(RECV_MAX)
        while len(self.inbuf) >= 4:
            n = int.from_bytes(self.inbuf[:4], "big")
            if n > MAX_FRAME:
                self.lost = True
                return
            if len(self.inbuf) < 4 + n:
                break
            cmd = marshal.loads(bytes(self.inbuf[4 : 4 + n]))
            del self.inbuf[: 4 + n]
            self._command(cmd)

    def _command(self, cmd: dict) -> None:
        kind = cmd.pop("kind")
        if kind == "init":
            self._init(cmd)
        elif kind == "exec":
            self._exec(cmd)
        elif kind == "stdin":
            self._stdin(cmd)
        elif kind == "kill":
            p = self.procs.get(cmd.get("exec_id", ""))
            if p is not None:
                self._kill(p, cmd.get("reason") or "killed on request")
        elif kind == "file":
            _thread.start_new_thread(self._file, (cmd,))
        elif kind == "resize":
            p = self.procs.get(cmd.get("exec_id", ""))
            if p is not None and p.master is not None:
                processes.set_size(p.master, cmd.get("size", {}))
        elif kind == "quiesce":
            self._quiesce(cmd)
        elif kind == "resumed":  # the worker took the reconnection: what queued goes now
            self.resume_nonce, self.resuming, self.resume_refusals = self.resuming, "", 0
            self.detached = False
            self._flush()

    # -- memory snapshots ------------------------------------------------------------------------
    def _quiesce(self, cmd: dict) -> None:
        """Flush, say `quiesced` last, close the link: the sandbox then holds no host socket."""
        import hmac  # not at startup: only sandboxes that are snapshotted pay for it

        self._hmac = hmac
        self.resume_secret = cmd.get("secret", b"")
        self.resume_nonce = _read_nonce()
        self._send("quiesced", True)
        try:
            self.link.setblocking(True)
            while self.outbuf:
                del self.outbuf[: self.link.send(self.outbuf)]
        except OSError:
            self.lost = True
            return
        self._unwatch(self.link.fileno())
        self.link.close()
        self.link = None
        self.inbuf.clear()
        self.detached = True

    def _resume(self) -> None:
        """Reconnect once the resume file holds a new nonce, with the proof as the only frame; what
        queued meanwhile goes once the worker answers `resumed`."""
        if self.resuming or self.now < self.resume_after:
            return
        nonce = _read_nonce()
        if not nonce or nonce == self.resume_nonce:
            return
        proof = self._hmac.new(self.resume_secret, nonce.encode(), "sha256").hexdigest()  # ready before the worker waits for it
        header = _json({"resume": {"proof": proof}}).encode()
        frame = (4 + len(header)).to_bytes(4, "big") + len(header).to_bytes(4, "big") + header
        try:
            link = _connect(LINK, attempts=5)
        except OSError:
            return  # tried again on the next turn of the loop
        try:
            sent = link.send(frame)  # a fresh socket's buffer takes these few bytes whole
        except OSError:
            sent = 0
        if sent != len(frame):
            link.close()
            return
        self.resuming = nonce
        self.link = link
        self.link_mask = EPOLLIN
        self._watch(link.fileno(), EPOLLIN, self._on_link, None)

    def _refused(self) -> None:
        """The worker closed a reconnection without taking it: read the nonce again and retry,
        RESUME_TRIES times at most (a supervisor that cannot prove itself ends its sandbox)."""
        self._unwatch(self.link.fileno())
        self.link.close()
        self.link = None
        self.inbuf.clear()
        self.resume_refusals += 1
        print(f"squall sandbox supervisor: the worker turned away reconnection {self.resume_refusals} of {RESUME_TRIES}", file=sys.stderr, flush=True)
        self.resuming = ""
        self.resume_after = self.now + RESUME_RETRY_S
        if self.resume_refusals >= RESUME_TRIES:
            self.lost = True

    # -- processes ---------------------------------------------------------------------------
    def _init(self, init: dict) -> None:
        self.env = {**self.base_env, **init.get("env", {})}
        self.workdir = init.get("workdir") or "/"
        self.pids_limit = init.get("pids_limit", 0)
        self.memory_limit = init.get("memory_limit_mb", 0) << 20
        if self.pids_limit:
            # gVisor counts every task of a uid against RLIMIT_NPROC, root's too (Linux exempts
            # root; there runc's pids cgroup holds the line): the supervisor's own threads, the
            # user's processes and zombies not yet reaped. The hard cap sits well above the
            # watchdog's limit, so a fork bomb grows past the limit (and is found, killed and
            # reported) instead of stalling just under it and dying out unnoticed.
            import resource

            limit = max(2 * self.pids_limit, self.pids_limit + NPROC_HEADROOM)
            try:
                resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))
            except (ValueError, OSError):
                pass
            if self.spawner is not None:  # started before the limit: it forks the user's processes
                self.spawner.limit_processes(limit)
        if init.get("command"):
            self._exec({"exec_id": MAIN, "argv": init["command"], "workdir": self.workdir})

    def _exec(self, req: dict) -> None:
        exec_id = req.get("exec_id", "")
        argv = list(req.get("argv", []))
        env = {**self.env, **req.get("env", {})}
        cwd = req.get("workdir") or self.workdir
        try:
            if "pty" in req:
                master, pid = processes.spawn_on_pty(self.spawner, argv, cwd, {"TERM": "xterm-256color", **env}, req["pty"])
                outputs, stdin_fd = {master: 1}, None
            else:
                master = None
                pid, stdin_fd, outputs = processes.spawn_on_pipes(self.spawner, argv, cwd, env)
        except processes.SpawnerLost as exc:
            self._spawner_lost()
            self._send("output", {"exec_id": exec_id, "fd": 2}, f"{exc}\n".encode())
            self._exited(exec_id, 126, str(exc))
            return
        except (OSError, ValueError, RuntimeError) as exc:
            code, why = processes.start_error(argv[0] if argv else "(no command)", cwd, exc)
            self._send("output", {"exec_id": exec_id, "fd": 2}, (why + "\n").encode())
            self._exited(exec_id, code, why)
            return
        p = Proc(exec_id, pid, self.now, req.get("timeout_s", 0.0), outputs, stdin_fd, master)
        self.procs[exec_id] = p
        self.by_pid[p.pid] = p
        for fd in outputs:
            self._watch(fd, EPOLLIN, self._readable, p)
        # The watchdog's fast cadence starts now: it first looks WATCHDOG_S from now (an exec that
        # ends sooner never pays for its scan of /proc, which costs a millisecond under gVisor).
        self.next_watchdog = min(self.next_watchdog or float("inf"), self.now + WATCHDOG_S)
        if self.spawner is not None and self.spawner.events:
            self._take_events()  # ones that came in while this start was answered

    def _readable(self, fd: int, mask: int, p: Proc) -> None:
        if mask & EPOLLOUT:  # a terminal's master: room for pending stdin
            self._write_stdin(fd, mask, p)
        if not mask & (EPOLLIN | EPOLLHUP | EPOLLERR):
            return
        try:
            data = os.read(fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:  # EIO: a terminal whose last user is gone
            data = b""
        if data:
            self._send("output", {"exec_id": p.exec_id, "fd": p.outputs[fd]}, data)
            return
        del p.outputs[fd]
        if fd != p.master:
            self._close_watched(fd)
        else:
            self._unwatch(fd)
        self._maybe_report(p)

    def _on_signal(self, fd: int, mask: int, _) -> None:
        try:
            while os.read(fd, 512):
                pass
        except BlockingIOError:
            pass
        self._reap()

    def _reap(self) -> None:
        """Reap every ended child: squall-spawn, the processes the supervisor started itself, and
        orphans handed to the supervisor (the sandbox's init)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.spawner is not None and pid == self.spawner.pid:
                self._spawner_lost()
            self._ended(pid, status)

    def _ended(self, pid: int, status: int) -> None:
        p = self.by_pid.pop(pid, None)
        if p is not None and p.code is None:
            p.code = os.waitstatus_to_exitcode(status)
            if p.start_error is not None:
                p.code, p.kill_reason = p.start_error
            # Output still in the pipes comes before the exit; a background child that keeps
            # a pipe open does not hold the exit back for long.
            p.report_by = self.now + 1.0
            self._maybe_report(p)

    # -- the spawner (spawn.c) -------------------------------------------------------------------
    def _on_spawner(self, fd: int, mask: int, _) -> None:
        try:
            self.spawner.receive()
        except processes.SpawnerLost:
            self._spawner_lost()
        self._take_events()

    def _take_events(self) -> None:
        spawner = self.spawner
        while spawner is not None and spawner.events:
            self._spawner_event(*spawner.events.pop(0))

    def _spawner_event(self, pid: int, status: int, failure: tuple | None) -> None:
        if failure is None:
            self._ended(pid, status)
            return
        p = self.by_pid.get(pid)  # it could not exec: it exits with 127, reported as this
        if p is not None and p.start_error is None:
            p.start_error = processes.start_error(*failure)
            self._send("output", {"exec_id": p.exec_id, "fd": 2}, (p.start_error[1] + "\n").encode())

    def _spawner_lost(self) -> None:
        """It died (user code killed it: `kill -9 -1`): what it reported is taken, its children are
        now the supervisor's (reaped as orphans), and from now on the supervisor starts processes itself."""
        spawner, self.spawner = self.spawner, None
        if spawner is not None:
            try:
                spawner.receive()  # the exits it reported before it died
            except processes.SpawnerLost:
                pass
            events = spawner.events
            self._unwatch(spawner.sock.fileno())
            spawner.sock.close()
            for event in events:
                self._spawner_event(*event)

    def _maybe_report(self, p: Proc, force: bool = False) -> None:
        if p.code is None or p.reported or (p.outputs and not force):
            return
        for fd in list(p.outputs):
            if fd != p.master:
                self._close_watched(fd)
            else:
                self._unwatch(fd)
        p.outputs.clear()
        self._close_stdin(p)
        if p.master is not None:
            os.close(p.master)
            p.master = None
        p.reported = True
        self.procs.pop(p.exec_id, None)
        if p.exec_id == MAIN and self.procs:
            # The sandbox ends with its main command: other processes are stopped, and report
            # how they ended before the main command's exit closes the link.
            for q in self.procs.values():
                self._kill(q, "the sandbox's main command exited")
            self.waiting_main = p
            p.report_by = self.now + 2.0
            return
        self._exited(p.exec_id, p.code, p.kill_reason)
        if self.waiting_main is not None and not self.procs:
            main, self.waiting_main = self.waiting_main, None
            self._exited(main.exec_id, main.code, main.kill_reason)

    def _close_watched(self, fd: int) -> None:
        """Close a watched fd that is the only one open on its file: closing takes it out of epoll."""
        self.by_fd.pop(fd, None)
        os.close(fd)

    def _exited(self, exec_id: str, code: int, reason: str) -> None:
        self._send("exited", {"exec_id": exec_id, "returncode": code, "reason": reason})
        if exec_id == MAIN:
            self.main_code = code if code >= 0 else 128 - code
            self.closing = True

    def _kill(self, p: Proc, reason: str) -> None:
        if not p.kill_reason:
            p.kill_reason = reason
        processes.kill_session(p.pid)

    def _stdin(self, req: dict) -> None:
        p = self.procs.get(req.get("exec_id", ""))
        if p is None or (p.stdin_fd is None and p.master is None):
            if req.get("req"):
                self._send("stdin_ack", {"exec_id": req.get("exec_id", ""), "req": req["req"]})
            return
        p.pending.append([memoryview(req.get("data", b"")), req.get("req", 0), req.get("eof", False)])
        self._write_stdin(p.master if p.master is not None else p.stdin_fd, 0, p)

    def _write_stdin(self, fd: int, mask: int, p: Proc) -> None:
        while p.pending:
            chunk = p.pending[0]
            try:
                while chunk[0]:
                    chunk[0] = chunk[0][os.write(fd, chunk[0]) :]
            except BlockingIOError:
                if p.master is None and fd not in self.by_fd:
                    self._watch(fd, EPOLLOUT, self._write_stdin, p)
                elif p.master is not None and fd in self.by_fd:
                    self.ep.modify(fd, EPOLLIN | EPOLLOUT)
                else:  # the terminal is closing: nobody reads any more
                    p.pending.clear()
                return
            except OSError:  # the process closed its stdin or is gone
                chunk[0] = memoryview(b"")
            p.pending.pop(0)
            if chunk[2]:
                if p.master is not None:
                    try:
                        os.write(p.master, b"\x04")  # ^D: end of input on a terminal
                    except OSError:
                        pass
                else:
                    self._close_stdin(p)
            if chunk[1]:
                self._send("stdin_ack", {"exec_id": p.exec_id, "req": chunk[1]})
        if p.master is not None and p.master in self.by_fd:
            self.ep.modify(p.master, EPOLLIN)
        elif p.stdin_fd is not None and p.stdin_fd in self.by_fd:
            self._unwatch(p.stdin_fd)

    def _close_stdin(self, p: Proc) -> None:
        if p.stdin_fd is not None:
            if p.stdin_fd in self.by_fd:
                self._unwatch(p.stdin_fd)
            os.close(p.stdin_fd)
            p.stdin_fd = None
        for _, req, _ in p.pending:
            if req:
                self._send("stdin_ack", {"exec_id": p.exec_id, "req": req})
        p.pending.clear()

    # -- the watchdog --------------------------------------------------------------------------
    def _watchdog(self) -> None:
        """Exec timeouts, late exit reports, the process limit and the memory limit."""
        now = self.now
        for p in list(self.procs.values()):
            if p.deadline is not None and now >= p.deadline and not p.kill_reason:
                self._kill(p, f"timed out: the exec ran past its timeout of {p.timeout_s:g} s and was killed")
            if p.code is not None and not p.reported and now >= p.report_by:
                self._maybe_report(p, force=True)
        if self.waiting_main is not None and now >= self.waiting_main.report_by:
            main, self.waiting_main = self.waiting_main, None
            self.procs.clear()
            self._exited(main.exec_id, main.code, main.kill_reason)
        pause = (MEMORY_WATCH_S if self.memory_high else WATCHDOG_S) if self.procs else IDLE_WATCHDOG_S
        youngest_only = self.procs and not self.memory_high and all(now - p.started < WATCHDOG_S for p in self.procs.values())
        if youngest_only:
            # Execs started less than WATCHDOG_S ago are not looked at yet: a stream of short execs
            # never pays for the scans of /proc (~15 system calls under gVisor).
            self.next_watchdog = min(p.started for p in self.procs.values()) + WATCHDOG_S
            return
        # gVisor does not always signal SIGCHLD for a zombie handed to the supervisor (the spawner's
        # children when it was killed): look for ended children here too.
        self._reap()
        # Also with no exec left: a bomb's processes can outlive the exec that started them.
        others = processes.count_processes() - (self.spawner is not None)
        if self.pids_limit and others > self.pids_limit:
            self._contain()
        if self.memory_limit and self.procs:
            self._check_memory()
        if not self.procs and others == 0:
            pause = EMPTY_WATCHDOG_S  # nothing runs: the next exec brings the fast cadence back
        self.next_watchdog = now + pause

    def _check_memory(self) -> None:
        """Near the memory limit, kill the exec using the most memory, and say why: otherwise the
        runtime's OOM kill would take the whole sandbox (gVisor) or end it without a reason."""
        usage = processes.memory_usage()
        self.memory_high = usage is not None and usage > self.memory_limit // 2
        if usage is None or usage < self.memory_limit:
            return
        sessions = processes.sessions()
        rss = {p: sum(processes.rss(pid) for pid in sessions.get(p.pid, [p.pid])) for p in self.procs.values() if not p.kill_reason and p.code is None}
        if rss:
            victim = max(rss, key=rss.get)
            self._kill(victim, f"out of memory (limit {self.memory_limit >> 20} MiB): it used {rss[victim] >> 20} MiB and was killed")

    def _contain(self) -> None:
        """Too many processes: kill the session that has the most (a fork bomb), then check."""
        why = f"killed: its processes went past the sandbox's limit of {self.pids_limit} processes (a fork bomb?)"
        sessions = processes.sessions()
        if not sessions:
            return
        worst = max(sessions, key=lambda sid: len(sessions[sid]))
        by_leader = {p.pid: p for p in self.procs.values()}
        p = by_leader.get(worst)
        if p is not None and not p.kill_reason:
            p.kill_reason = why
        for _ in range(50):
            processes.signal_group(worst)
            if processes.count_processes() <= self.pids_limit // 2:
                return
            time.sleep(0.01)
        # Still too many (the bomb escaped its session): stop every user process.
        for q in self.procs.values():
            if not q.kill_reason:
                q.kill_reason = why
        try:
            os.kill(-1, _signal.SIGKILL)  # every process but the supervisor itself
        except OSError:
            pass

    # -- files (in threads: a FIFO or a slow disk must not stall the loop) ----------------------
    def _file(self, req: dict) -> None:
        path = req.get("path", "")
        try:
            reply, data = self._file_op(req)
        except FileNotFoundError as exc:
            reply, data = {"error": f"{exc.filename or path}: no such file or directory", "error_kind": "not_found"}, b""
        except (OSError, ValueError) as exc:
            text = f"{getattr(exc, 'filename', None) or path}: {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else str(exc)
            reply, data = {"error": _text(text), "error_kind": "invalid"}, b""
        reply["req"] = req.get("req", 0)
        with self.lock:
            self.done_files.append((reply, data))
        try:
            os.write(self.file_w, b"f")
        except BlockingIOError:
            pass  # the loop is already woken

    def _on_files(self, fd: int, mask: int, _) -> None:
        try:
            while os.read(fd, 512):
                pass
        except BlockingIOError:
            pass
        with self.lock:
            done, self.done_files = self.done_files, []
        for reply, data in done:
            self._send("file", reply, data)

    def _path(self, path: str) -> str:
        if not path:
            raise ValueError("a path is needed")
        return path if path.startswith("/") else os.path.join(self.workdir, path)

    def _file_op(self, req: dict) -> tuple[dict, bytes]:
        path = self._path(req.get("path", ""))
        op = req.get("op", "")
        offset = req.get("offset", 0)
        if op == "read":
            with open(path, "rb") as f:
                f.seek(offset)
                return {}, f.read(req.get("length", 0))
        if op == "write":
            with open(path, "wb" if offset == 0 else "r+b") as f:
                f.seek(offset)
                f.write(req.get("data", b""))
            return {}, b""
        if op == "list":
            with os.scandir(path) as it:
                names = sorted(it, key=lambda e: e.name)
                return {"entries": [_entry(os.path.join(path, e.name), e.stat(follow_symlinks=False)) for e in names]}, b""
        if op == "mkdir":
            if req.get("recursive"):
                os.makedirs(path, exist_ok=True)
            else:
                os.mkdir(path)
            return {}, b""
        if op == "remove":
            if os.path.isdir(path) and not os.path.islink(path):
                if req.get("recursive"):
                    import shutil

                    shutil.rmtree(path)
                else:
                    os.rmdir(path)
            else:
                os.unlink(path)
            return {}, b""
        if op == "stat":
            return {"stat": _entry(path, os.stat(path))}, b""
        raise ValueError(f"unknown file operation {op!r}")


def _entry(path: str, st: os.stat_result) -> dict:
    return {"path": _text(path), "is_dir": (st.st_mode & 0o170000) == 0o040000, "size": st.st_size, "mtime": st.st_mtime, "mode": st.st_mode & 0o7777}


def _read_nonce() -> str:
    """The resume file's nonce; "" until it is whole (the worker ends it with a newline)."""
    try:
        with open(RESUME_NONCE) as f:
            text = f.read()
    except OSError:
        return ""
    return text.strip() if text.endswith("\n") else ""


def _connect(path: str, attempts: int = 50):
    link = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    for _ in range(attempts):
        try:
            link.connect(path)
            break
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ECONNREFUSED):
                raise
            time.sleep(0.01)
    else:
        link.connect(path)
    link.setblocking(False)
    return link


def main() -> None:
    _no_dumps()
    _signal.signal(_signal.SIGTERM, lambda *_: os._exit(143))
    spawner = processes.Spawner.from_argv(sys.argv)
    code = Supervisor(_connect(LINK), spawner).run()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
