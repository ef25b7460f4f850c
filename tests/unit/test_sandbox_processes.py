"""How the sandbox supervisor starts processes (squall/sandbox/processes.py), here on the host: by
squall-spawn (spawn.c, built as the worker builds it) and by itself (where no C compiler was
found). Both must behave the same:
exit codes, output on the given fds, the environment and working dir, the errors Popen raises, a
session of its own, a controlling terminal. (The sandbox tests run the same paths under gVisor.)"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from squall.sandbox import processes
from squall.worker import supervisor_dir

ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "GREETING": "hi there"}


@pytest.fixture(scope="module")
def helper(tmp_path_factory) -> pathlib.Path:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.fail("no C compiler: `make install` installs gcc and libc6-dev (scripts/install-system-deps.sh)")
    target = tmp_path_factory.mktemp("spawn") / supervisor_dir.SPAWN_HELPER
    assert supervisor_dir.build_spawn_helper(supervisor_dir.SOURCES / "spawn.c", target)
    return target


@pytest.fixture(params=["squall-spawn", "python"])
def spawner(request, helper):
    if request.param == "python":
        yield None
        return
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    proc = subprocess.Popen([str(helper), str(theirs.fileno())], pass_fds=(theirs.fileno(),))
    theirs.close()
    yield processes.Spawner(ours, proc.pid)
    ours.close()
    assert proc.wait(timeout=10) == 0  # it ends with the supervisor's end of the socket


def wait(spawner, pid: int) -> int:
    """The exit code: by reaping the child ourselves (started here), or from squall-spawn's
    reports; raises the error of a process that could not exec, as the supervisor reports it."""
    try:
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    except ChildProcessError:  # squall-spawn's child
        assert spawner is not None
    failure = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for i, (p, status, failed) in enumerate(spawner.events):
            if p != pid:
                continue
            del spawner.events[i]
            if failed is not None:
                failure = failed[2]
                break
            if failure is not None:
                raise failure
            return os.waitstatus_to_exitcode(status)
        else:
            spawner.sock.settimeout(1)
            try:
                spawner._event(*spawner._reply(0))
            finally:
                spawner.sock.setblocking(True)
    raise AssertionError(f"no exit reported for {pid}")


def run(spawner, argv, cwd="/", env=ENV, stdin=b""):
    pid, stdin_fd, outputs = processes.spawn_on_pipes(spawner, argv, cwd, env)
    os.set_blocking(stdin_fd, True)
    try:
        os.write(stdin_fd, stdin)
    except BrokenPipeError:  # it could not exec
        pass
    os.close(stdin_fd)
    got = {1: b"", 2: b""}
    for fd, which in outputs.items():
        os.set_blocking(fd, True)
        while chunk := os.read(fd, 65536):
            got[which] += chunk
        os.close(fd)
    return wait(spawner, pid), got[1].decode(), got[2].decode()


def test_output_exit_codes_env_and_cwd(spawner, tmp_path):
    assert run(spawner, ["sh", "-c", "echo out; echo err >&2; exit 3"]) == (3, "out\n", "err\n")
    assert run(spawner, ["sh", "-c", 'echo "$GREETING"']) == (0, "hi there\n", "")
    assert run(spawner, ["pwd"], cwd=str(tmp_path)) == (0, f"{tmp_path}\n", "")
    assert run(spawner, ["cat"], stdin=b"fed in") == (0, "fed in", "")
    assert run(spawner, ["/bin/echo", "by path"]) == (0, "by path\n", "")
    assert run(spawner, ["sh", "-c", "kill -TERM $$"])[0] == -15


def test_each_process_leads_a_session_with_no_signal_blocked(spawner):
    code, out, _ = run(spawner, ["cat", "/proc/self/stat", "/proc/self/status"])  # cat's own, as it was started
    fields = out.split(")")[1].split()
    pid = int(out.split()[0])
    assert code == 0 and int(fields[3]) == pid and int(fields[2]) == pid  # its own session and group
    assert "SigBlk:\t0000000000000000" in out  # squall-spawn blocks SIGCHLD; its children must not
    ignored = int(re.search(r"SigIgn:\t([0-9a-f]+)", out).group(1), 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1))  # which Python (this test, the supervisor) ignores


def test_errors_are_the_ones_popen_raises(spawner, tmp_path):
    with pytest.raises(FileNotFoundError) as missing:
        run(spawner, ["no-such-program-here"])
    assert missing.value.filename == "no-such-program-here"
    with pytest.raises(FileNotFoundError) as no_dir:
        run(spawner, ["true"], cwd=str(tmp_path / "gone"))
    assert no_dir.value.filename == str(tmp_path / "gone")
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(PermissionError):
        run(spawner, [str(script)])
    with pytest.raises(ValueError, match="illegal environment variable name"):
        run(spawner, ["true"], env={"A=B": "1"})
    with pytest.raises(ValueError):
        run(spawner, ["true"], env={"A": "nul\0byte"})


def test_a_terminal_becomes_the_controlling_one(spawner):
    master, pid = processes.spawn_on_pty(spawner, ["sh", "-c", "tty; test -t 0 && echo is-a-tty"], "/", ENV, {"rows": 30, "cols": 100})
    out = b""
    os.set_blocking(master, True)
    try:
        while chunk := os.read(master, 4096):
            out += chunk
    except OSError:  # EIO once the terminal's last user is gone
        pass
    os.close(master)
    assert wait(spawner, pid) == 0
    assert b"/dev/pts/" in out and b"is-a-tty" in out


def test_a_request_too_large_for_the_spawner_is_started_anyway(spawner):
    big = "x" * (processes.SPAWN_MAX_REQUEST + 1)
    code, out, _ = run(spawner, ["sh", "-c", 'echo "${#BIG}"'], env={**ENV, "BIG": big})
    assert (code, out) == (0, f"{len(big)}\n")


def test_init_mode_forks_a_server_and_becomes_the_supervisor(helper):
    """`squall-spawn --init CMD` becomes CMD (same pid), which finds a squall-spawn serving fd 3
    (its last two arguments: the fd and the server's pid) and starts processes through it; that
    server ends when CMD does."""
    script = (
        "import os, sys, time\n"
        "from squall.sandbox import processes\n"
        "s = processes.Spawner.from_argv(sys.argv)\n"
        "assert s is not None and sys.argv[1] == '3'\n"
        "assert os.waitpid(s.pid, os.WNOHANG) == (0, 0)  # our child\n"
        "pid, stdin, outs = processes.spawn_on_pipes(s, ['sh', '-c', 'exit 5'], '/', dict(os.environ))\n"
        "while not s.events: s.receive() or time.sleep(0.01)\n"
        "assert s.events[0][:2] == (pid, 5 << 8), s.events\n"
        "print(os.getpid(), s.pid, flush=True)\n"
        "sys.exit(7)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(pathlib.Path(processes.__file__).parents[2])}
    with subprocess.Popen([str(helper), "--init", sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True) as proc:
        me, server = map(int, proc.stdout.read().split())
        assert proc.wait(timeout=30) == 7
    assert me == proc.pid
    deadline = time.monotonic() + 10
    while pathlib.Path(f"/proc/{server}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # reparented to init, which reaps it
    assert not pathlib.Path(f"/proc/{server}").exists() or "Z" in pathlib.Path(f"/proc/{server}/stat").read_text().split(")")[1][:3]
