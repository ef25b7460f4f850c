"""The sandbox's processes, for its supervisor (supervisor.py): starting them (through squall-spawn,
spawn.c, or with `_posixsubprocess` where it is missing), and finding, measuring and killing them.

Like the supervisor it runs inside the sandbox as a top-level module under `python3 -I -S`, and
imports only modules built into the interpreter.
"""

from __future__ import annotations

import _signal
import _socket
import errno
import os
import sys

try:
    import _posixsubprocess
except ImportError:  # an interpreter without it: subprocess (below) is used instead
    _posixsubprocess = None

SPAWN_MAX_REQUEST = 64 * 1024  # larger argv + environment: started by the supervisor itself
MEMORY_USAGE = "/sys/fs/cgroup/memory/memory.usage_in_bytes"
MEMORY_STAT = "/sys/fs/cgroup/memory/memory.stat"
TIOCSCTTY = 0x540E
TIOCSWINSZ = 0x5414
SIGKILL = _signal.SIGKILL


def set_size(fd: int, size: dict) -> None:
    import fcntl

    try:
        rows, cols = size.get("rows") or 24, size.get("cols") or 80
        fcntl.ioctl(fd, TIOCSWINSZ, rows.to_bytes(2, sys.byteorder) + cols.to_bytes(2, sys.byteorder) + bytes(4))
    except OSError:
        pass


class SpawnerLost(RuntimeError):
    pass


class Spawner:
    """squall-spawn (spawn.c): starts processes for the supervisor and reports how they ended.
    A start is a request and its answer (the pid) over a SOCK_SEQPACKET socketpair; what comes in
    between or later (a process that could not exec, one that exited) waits in `events` until the
    loop takes it, in order."""

    STARTED, EXITED, FAILED = 0, 1, 2  # spawn.c's REPLY_*
    STAGE_CWD, STAGE_EXEC, STAGE_CLONE = 5, 6, 7  # the stages that failed, for the errors Popen would raise

    def __init__(self, sock, pid: int) -> None:
        self.sock = sock
        self.pid = pid
        self.events: list[tuple[int, int, tuple | None]] = []  # (pid, wait status, None) or (pid, 0, (program, cwd, error))
        self.starting: dict[int, tuple[str, str]] = {}  # pid -> (program, cwd), until it exits

    @classmethod
    def from_argv(cls, argv: list[str]) -> Spawner | None:
        """squall-spawn, if it started the supervisor (`squall-spawn --init` adds its fd and pid
        to the supervisor's arguments, see spawn.c)."""
        if len(argv) != 3:
            return None
        return cls(_socket.socket(fileno=int(argv[1])), int(argv[2]))

    def limit_processes(self, limit: int) -> None:
        """RLIMIT_NPROC for the processes it forks (it started before the supervisor set its own)."""
        import resource

        try:
            resource.prlimit(self.pid, resource.RLIMIT_NPROC, (limit, limit))
        except (ValueError, OSError):
            pass

    def spawn(self, argv: list[str], cwd: str, env: dict[str, str], stdio: tuple[int, int, int], terminal: bool = False) -> int:
        """Like _spawn(), but a failed exec comes later, as an event. Raises SpawnerLost if
        squall-spawn is gone, OverflowError for a request too large for it (the caller then starts
        the process itself)."""
        strings = [cwd, *argv]
        for k, v in env.items():
            if "=" in k:
                raise ValueError(f"illegal environment variable name {k!r}")
            strings.append(f"{k}={v}")
        encoded = [os.fsencode(x) for x in strings]
        if any(b"\0" in x for x in encoded):
            raise ValueError("embedded null byte")
        body = b"".join(n.to_bytes(4, sys.byteorder) for n in (int(terminal), len(argv), len(env))) + b"\0".join(encoded) + b"\0"
        if len(body) > SPAWN_MAX_REQUEST:
            raise OverflowError
        fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in stdio)
        try:
            self.sock.sendmsg([body], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
            while True:
                kind, pid, err, stage = self._reply(0)
                if kind == self.STARTED:
                    break
                self._event(kind, pid, err, stage)
        except OSError as exc:
            raise SpawnerLost(f"cannot start {argv[0]!r}: the sandbox's process starter is gone ({exc.strerror or exc})") from None
        if pid < 0:
            if stage == self.STAGE_CLONE:
                raise OSError(err, os.strerror(err))
            raise RuntimeError(f"squall-spawn refused the request ({os.strerror(err)})")
        self.starting[pid] = (argv[0], cwd)
        return pid

    def receive(self) -> None:
        """Take what waits on the socket (the loop calls this when it is readable)."""
        while True:
            try:
                kind, pid, value, stage = self._reply(_socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError as exc:
                raise SpawnerLost(str(exc)) from None
            self._event(kind, pid, value, stage)

    def _event(self, kind: int, pid: int, value: int, stage: int) -> None:
        if kind == self.EXITED:
            self.starting.pop(pid, None)
            self.events.append((pid, value, None))
        elif kind == self.FAILED:
            program, cwd = self.starting.get(pid, ("", ""))
            filename = {self.STAGE_CWD: cwd, self.STAGE_EXEC: program}.get(stage)
            exc = _os_error(value, filename) if filename is not None else OSError(value, os.strerror(value))
            self.events.append((pid, 0, (program, cwd, exc)))

    def _reply(self, flags: int) -> tuple[int, int, int, int]:
        data = self.sock.recv(16, flags)
        if len(data) != 16:
            raise OSError(errno.EPIPE, "squall-spawn closed its socket")
        return tuple(int.from_bytes(data[i : i + 4], sys.byteorder, signed=True) for i in range(0, 16, 4))


def start_error(program: str, cwd: str, exc: Exception) -> tuple[int, str]:
    """The exit code and message of a process that could not be started (the shell's codes)."""
    why = f"cannot start {program!r}: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}"
    if isinstance(exc, OSError) and exc.filename and exc.filename == cwd:
        why = f"workdir {cwd!r} does not exist in the sandbox"
    return 127 if isinstance(exc, FileNotFoundError) else 126, why


def _os_error(err: int, filename: str) -> OSError:
    return (FileNotFoundError if err == errno.ENOENT else OSError)(err, os.strerror(err), filename)


def _start(spawner: Spawner | None, argv: list[str], cwd: str, env: dict[str, str], stdio: tuple[int, int, int], terminal: bool = False) -> int:
    """Start a user's process: by squall-spawn where it runs, else by the supervisor itself."""
    if not argv:
        raise ValueError("no command given")
    if spawner is not None:
        try:
            return spawner.spawn(argv, cwd, env, stdio, terminal)
        except OverflowError:
            pass
    return _spawn(argv, cwd, env, stdio, preexec_fn=_take_terminal if terminal else None)


def _take_terminal() -> None:  # in the child, after setsid()
    import fcntl

    fcntl.ioctl(0, TIOCSCTTY, 0)


def _spawn(argv: list[str], cwd: str, env: dict[str, str], stdio: tuple[int, int, int], preexec_fn=None) -> int:
    """Start `argv` as the leader of a new session on the fds `stdio`; returns its pid. Raises OSError (filename: the program, or `cwd` when that is what
    failed) like subprocess.Popen."""
    if not argv:
        raise ValueError("no command given")
    if _posixsubprocess is None or sys.version_info[:2] not in ((3, 11), (3, 12), (3, 13)):
        import subprocess

        popen = subprocess.Popen(argv, stdin=stdio[0], stdout=stdio[1], stderr=stdio[2], cwd=cwd, env=env, start_new_session=True,
                                 preexec_fn=preexec_fn)
        popen.returncode = 0  # the supervisor's reaper waits for it, not subprocess's own clean-up
        return popen.pid
    program = os.fsencode(argv[0])
    if os.path.dirname(program):
        executables = (program,)
    else:  # the search os.execvpe() does, on the child's PATH
        executables = tuple(os.path.join(os.fsencode(d), program) for d in os.get_exec_path(env))
    env_list = []
    for k, v in env.items():
        if "=" in k:
            raise ValueError(f"illegal environment variable name {k!r}")
        env_list.append(os.fsencode(k) + b"=" + os.fsencode(v))
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    try:
        # The arguments Popen passes on 3.11 to 3.13: close_fds, restore_signals, a new session,
        # no process group, uid, gid or umask change, vfork where no preexec_fn is given.
        pid = _posixsubprocess.fork_exec(
            [os.fsencode(a) for a in argv], executables, True, (err_w,), cwd, env_list,
            stdio[0], -1, -1, stdio[1], -1, stdio[2], err_r, err_w,
            True, True, -1, None, None, None, -1, preexec_fn, True,
        )
    finally:
        os.close(err_w)
    try:
        failure = bytearray()
        while part := os.read(err_r, 50000):
            failure += part
    finally:
        os.close(err_r)
    if not failure:
        return pid
    try:  # the child could not exec: "OSError:<hex errno>:noexec" (the cwd failed) or ":" + detail
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    kind, _, rest = bytes(failure).partition(b":")
    hex_errno, _, message = rest.partition(b":")
    if kind != b"OSError" or not hex_errno:
        raise RuntimeError(message.decode(errors="replace") or "the process could not be started")
    raise _os_error(int(hex_errno, 16), cwd if message == b"noexec" else argv[0])


def spawn_on_pipes(spawner: Spawner | None, argv: list[str], cwd: str, env: dict[str, str]) -> tuple[int, int, dict[int, int]]:
    """Start `argv` on three pipes whose parent ends (raw, non-blocking fds) the supervisor owns:
    stdin's write end, and stdout's and stderr's read ends."""
    pipes = [os.pipe2(os.O_CLOEXEC) for _ in range(3)]
    try:
        pid = _start(spawner, argv, cwd, env, (pipes[0][0], pipes[1][1], pipes[2][1]))
    except BaseException:
        for r, w in pipes:
            os.close(r)
            os.close(w)
        raise
    os.close(pipes[0][0])
    os.close(pipes[1][1])
    os.close(pipes[2][1])
    for fd in (pipes[0][1], pipes[1][0], pipes[2][0]):
        os.set_blocking(fd, False)
    return pid, pipes[0][1], {pipes[1][0]: 1, pipes[2][0]: 2}


def spawn_on_pty(spawner: Spawner | None, argv: list[str], cwd: str, env: dict[str, str], size: dict) -> tuple[int, int]:
    """Start `argv` as a session leader whose controlling terminal is a new pseudo-terminal."""
    master, slave = os.openpty()
    os.set_blocking(master, False)
    set_size(master, size)
    try:
        pid = _start(spawner, argv, cwd, env, (slave, slave, slave), terminal=True)
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    return master, pid


def sessions() -> dict[int, list[int]]:
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
        if len(fields) <= 4 or fields[0] == "Z":
            continue
        out.setdefault(int(fields[3]), []).append(int(name))
    return out


def memory_usage() -> int | None:
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


def rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def count_processes() -> int:
    return sum(1 for name in os.listdir("/proc") if name.isdigit()) - 1


def signal_group(pgid: int) -> None:
    try:
        os.killpg(pgid, SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_session(sid: int) -> None:
    """SIGKILL every process of the session led by `sid`, including ones that left its group."""
    for _ in range(20):
        signal_group(sid)
        left = sessions().get(sid, [])
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
