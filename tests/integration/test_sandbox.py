"""Sandboxes end to end: a real server and worker, gVisor (and runc for the core path), driven
through the public SDK and the `squall sandbox` CLI."""

from __future__ import annotations

import io
import os
import pathlib
import subprocess
import sys
import time

import pytest

import squall
from squall.exception import InvalidError, NotFoundError, SandboxTimeoutError
from tests.conftest import Cluster, needs_root, using

pytestmark = [pytest.mark.runtime, pytest.mark.integration]


# -- core: both runtimes ---------------------------------------------------------------------------
def test_exec_output_exit_code_and_terminate(any_runtime):
    sb = squall.Sandbox.create(runtime=any_runtime, timeout=120)
    try:
        p = sb.exec("sh", "-c", "echo hello; echo oops >&2; exit 7")
        assert p.wait() == 7
        assert p.returncode == 7
        assert p.stdout.read() == "hello\n"
        assert p.stderr.read() == "oops\n"
        assert sb.poll() is None  # no main command: it stays up
        assert sb.exec("cat", "/etc/debian_version").stdout.read().strip()
    finally:
        sb.terminate()
    sb.wait(raise_on_termination=False)
    assert sb.returncode == -9
    assert "terminated" in sb.exit_reason


READ_THE_SUPERVISOR = """
for what in ("mem", "environ"):
    try:
        open(f"/proc/1/{what}", "rb").read(1)
        print(what, "read")
    except OSError as e:
        print(what, type(e).__name__)
"""


def test_user_code_cannot_read_the_supervisor(any_runtime):
    """The supervisor (PID 1) holds the link and, after a memory snapshot, its resume secret. It is
    not dumpable, so root in the sandbox (without CAP_SYS_PTRACE) cannot read its memory, nor under
    Linux anything of it in /proc (gVisor lets /proc/1/environ be read whatever the dumpability:
    there it holds only the image's variables)."""
    sb = squall.Sandbox.create(runtime=any_runtime, timeout=60)
    try:
        p = sb.exec("python3", "-c", READ_THE_SUPERVISOR)
        lines = p.stdout.read().splitlines()
        assert p.wait() == 0, p.stderr.read()
        assert lines[0] == "mem PermissionError"
        if any_runtime == "runc":
            assert lines[1] == "environ PermissionError"
    finally:
        sb.terminate()


def test_a_sandbox_runs_in_a_built_image(any_runtime):
    image = squall.Image.debian_slim().pip_install("six").run_commands("echo from-the-image > /marker.txt").env({"IMAGE_ENV": "yes"}).workdir("/srv")
    sb = squall.Sandbox.create(image=image, runtime=any_runtime, timeout=120)
    try:
        p = sb.exec("sh", "-c", "cat /marker.txt; echo $IMAGE_ENV; python3 -c 'import six; print(six.__name__)'")
        assert p.wait() == 0, p.stderr.read()
        assert p.stdout.read().split() == ["from-the-image", "yes", "six"]
    finally:
        sb.terminate()


def test_snapshot_filesystem_makes_an_image_for_sandboxes_and_functions(any_runtime, tmp_path):
    sb = squall.Sandbox.create(runtime=any_runtime, timeout=120)
    try:
        assert sb.exec("sh", "-c", "mkdir -p /work && echo agent-wrote-this > /work/state.txt && rm /etc/debian_version").wait() == 0
        image = sb.snapshot_filesystem()
    finally:
        sb.terminate()
    assert image.object_id.startswith("im-")
    again = squall.Sandbox.create(image=image, runtime=any_runtime, timeout=120)
    try:
        p = again.exec("sh", "-c", "cat /work/state.txt; test -e /etc/debian_version && echo still-there || echo removed")
        assert p.wait() == 0, p.stderr.read()
        assert p.stdout.read().split() == ["agent-wrote-this", "removed"]  # a file deleted in the sandbox stays deleted
    finally:
        again.terminate()
    app_file = tmp_path / "snap_app.py"
    app_file.write_text(
        "import squall\n"
        f"app = squall.App('snap', image=squall.Image.from_id({image.image_id!r}))\n"
        "@app.function()\n"
        "def read():\n"
        "    return open('/work/state.txt').read().strip()\n"
    )
    env = {**os.environ}
    result = subprocess.run([sys.executable, "-m", "squall.cli.main", "run", f"{app_file}::read"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "agent-wrote-this" in result.stdout


def test_a_volume_mounted_in_a_sandbox_is_committed_when_it_ends(gvisor):
    with squall.Volume.ephemeral() as vol:  # lives for the `with` block
        with vol.batch_upload() as batch:
            batch.put_file(io.BytesIO(b"from-the-client"), "/in.txt")
        sb = squall.Sandbox.create(volumes={"/data": vol}, timeout=120)
        p = sb.exec("sh", "-c", "cat /data/in.txt && echo from-the-sandbox > /data/out.txt")
        assert p.wait() == 0, p.stderr.read()
        assert p.stdout.read() == "from-the-client"
        sb.terminate()
        sb.wait(raise_on_termination=False)
        assert b"".join(vol.read_file("/out.txt")) == b"from-the-sandbox\n"


def test_main_command_output_and_returncode(any_runtime):
    sb = squall.Sandbox.create("sh", "-c", "echo out; echo err >&2; exit 3", runtime=any_runtime)
    sb.wait()
    assert sb.returncode == 3
    assert sb.stdout.read() == "out\n"
    assert sb.stderr.read() == "err\n"
    assert sb.poll() == 3


# -- gVisor ----------------------------------------------------------------------------------------
def test_main_command_output_is_live(gvisor):
    sb = squall.Sandbox.create("sh", "-c", "mkfifo /tmp/fifo; echo first; read x < /tmp/fifo; echo second", timeout=60)
    lines = iter(sb.stdout)
    assert next(lines) == "first\n"
    assert sb.poll() is None
    assert sb.exec("sh", "-c", "echo go > /tmp/fifo").wait() == 0
    assert next(lines) == "second\n"
    sb.wait()
    assert sb.returncode == 0


def test_exec_output_is_live_and_stdin_streams(gvisor):
    sb = squall.Sandbox.create(timeout=60)
    p = sb.exec("sh", "-c", 'while read line; do echo "got $line"; done; echo done')
    lines = iter(p.stdout)
    for word in ("one", "two"):
        p.stdin.write(f"{word}\n")
        p.stdin.drain()
        assert next(lines) == f"got {word}\n"  # answered while the process still runs
        assert p.poll() is None
    p.stdin.write_eof()
    p.stdin.drain()
    assert next(lines) == "done\n"
    assert p.wait() == 0
    binary = sb.exec("cat", text=False)
    binary.stdin.write(b"\x00\xff" * 1000)
    binary.stdin.write_eof()
    binary.stdin.drain()
    assert binary.stdout.read() == b"\x00\xff" * 1000
    sb.terminate()


def test_many_execs_at_once(gvisor):
    sb = squall.Sandbox.create(timeout=120)
    # Every process blocks until the last one has started: they can only all finish if they run at once.
    procs = [sb.exec("sh", "-c", f"while [ ! -e /tmp/go ]; do sleep 0.05; done; echo {i}") for i in range(12)]
    assert all(p.poll() is None for p in procs)
    assert sb.exec("touch", "/tmp/go").wait() == 0
    assert [p.stdout.read() for p in procs] == [f"{i}\n" for i in range(12)]
    assert [p.wait() for p in procs] == [0] * 12
    sb.terminate()


def test_execs_go_on_after_user_code_kills_every_process(any_runtime):
    """`kill -9 -1` as root in the sandbox takes everything but the supervisor, the process starter
    too: the execs it killed say so, its own exit is heard, and the next exec starts as usual."""
    sb = squall.Sandbox.create(runtime=any_runtime, timeout=120)
    try:
        sleeper = sb.exec("sleep", "60")
        killer = sb.exec("sh", "-c", "kill -9 -1; echo survived")
        assert killer.wait() == 0
        assert killer.stdout.read() == "survived\n"
        assert sleeper.wait() == -9
        for _ in range(3):
            assert sb.exec("echo", "alive").stdout.read() == "alive\n"
        assert sb.poll() is None
    finally:
        sb.terminate()


def test_exec_timeout_kills_and_says_so(gvisor):
    sb = squall.Sandbox.create(timeout=60)
    p = sb.exec("sh", "-c", "echo started; sleep 60", timeout=1)
    assert p.stdout.read() == "started\n"
    assert p.wait() == -9
    assert "timed out" in p.exit_reason and "1 s" in p.exit_reason
    assert sb.exec("echo", "still", "up").stdout.read() == "still up\n"
    sb.terminate()


def test_env_workdir_secrets_and_no_token_in_user_env(gvisor):
    secret = squall.Secret.from_dict({"API_KEY": "s3cr3t-value"})
    sb = squall.Sandbox.create(env={"GREETING": "hi"}, secrets=[secret], workdir="/tmp", timeout=60)
    env = sb.exec("env").stdout.read()
    assert "GREETING=hi" in env and "API_KEY=s3cr3t-value" in env
    assert "SQUALL_SANDBOX_TOKEN" not in env and "PYTHONPATH" not in env and "SQUALL_CONTAINER_SERVER" not in env
    assert sb.exec("pwd").stdout.read() == "/tmp\n"
    assert sb.exec("pwd", workdir="/etc").stdout.read() == "/etc\n"
    assert sb.exec("sh", "-c", "echo $X", env={"X": "per-exec"}).stdout.read() == "per-exec\n"
    missing = sb.exec("no-such-program")
    assert missing.wait() == 127
    assert "no-such-program" in missing.stderr.read()
    nowhere = sb.exec("pwd", workdir="/no/such/dir")
    assert nowhere.wait() == 127
    assert "workdir '/no/such/dir' does not exist" in nowhere.stderr.read()
    sb.terminate()


def test_timeout_and_idle_timeout(gvisor):
    sb = squall.Sandbox.create(timeout=2)
    with pytest.raises(SandboxTimeoutError, match="timed out after 2 s"):
        sb.wait()
    assert sb.returncode == -9
    idle = squall.Sandbox.create(timeout=120, idle_timeout=1)
    started = time.monotonic()
    assert idle.exec("sleep", "2").wait() == 0  # a running exec keeps it alive past idle_timeout
    idle.wait(raise_on_termination=False)
    assert time.monotonic() - started >= 2
    assert "idle for 1 s" in idle.exit_reason


def test_filesystem(gvisor, tmp_path):
    sb = squall.Sandbox.create(timeout=120)
    fs = sb.filesystem
    fs.make_directory("/work/sub", parents=True)
    fs.write_text("/work/sub/a.txt", "héllo")
    assert fs.read_text("/work/sub/a.txt") == "héllo"
    assert sb.exec("cat", "/work/sub/a.txt").stdout.read() == "héllo"
    blob = os.urandom(3 * 1024 * 1024 + 17)  # several chunks, not a multiple of the chunk size
    fs.write_bytes("/work/blob", blob)
    assert fs.read_bytes("/work/blob") == blob
    assert fs.stat("/work/blob").size == len(blob)
    assert not fs.stat("/work/blob").is_dir
    assert sorted(f.name for f in fs.list_files("/work")) == ["blob", "sub"]
    assert [f.is_dir for f in fs.list_files("/work")] == [False, True]
    fs.write_bytes("/work/empty", b"")
    assert fs.read_bytes("/work/empty") == b""
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(24):
            f.write(os.urandom(1024 * 1024))
    assert fs.copy_from_local(big, "/work/big.bin") == 24 * 1024 * 1024
    assert sb.exec("sha256sum", "/work/big.bin").stdout.read().split()[0] == _sha256(big)
    back = tmp_path / "back.bin"
    assert fs.copy_to_local("/work/big.bin", back) == 24 * 1024 * 1024
    assert _sha256(back) == _sha256(big)
    fs.remove("/work/blob")
    with pytest.raises(NotFoundError, match="/work/blob"):
        fs.read_bytes("/work/blob")
    with pytest.raises(InvalidError):
        fs.remove("/work/sub")  # not empty, and not recursive
    fs.remove("/work/sub", recursive=True)
    assert [f.name for f in fs.list_files("/work")] == ["big.bin", "empty"]
    sb.terminate()


def _sha256(path: pathlib.Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while data := f.read(1 << 20):
            h.update(data)
    return h.hexdigest()


def test_lookup_tags_and_a_second_process_attaches(gvisor):
    app = squall.App("sandbox-lookup-test")
    sb = squall.Sandbox.create(app=app, name="worker-1", tags={"team": "a"}, timeout=120)
    other = squall.Sandbox.create(app=app, tags={"team": "b"}, timeout=120)
    sb.filesystem.write_text("/tmp/marker", "from the first process")
    assert squall.Sandbox.from_name("sandbox-lookup-test", "worker-1").object_id == sb.object_id
    with pytest.raises(NotFoundError):
        squall.Sandbox.from_name("sandbox-lookup-test", "nobody")
    with pytest.raises(squall.exception.AlreadyExistsError):
        squall.Sandbox.create(app=app, name="worker-1")
    assert [s.object_id for s in squall.Sandbox.list(tags={"team": "a"})] == [sb.object_id]
    sb.set_tags({"team": "c", "x": "1"})
    assert sb.get_tags() == {"team": "c", "x": "1"}
    assert {s.object_id for s in squall.Sandbox.list(tags={"team": "c"})} == {sb.object_id}
    app_id = squall.Sandbox.from_id(sb.object_id)._info.app_id
    assert {s.object_id for s in squall.Sandbox.list(app_id=app_id)} == {sb.object_id, other.object_id}
    code = (
        "import sys, squall; sb = squall.Sandbox.from_id(sys.argv[1]); p = sb.exec('cat', '/tmp/marker'); "
        "print(p.stdout.read()); print(p.wait()); print(squall.Sandbox.from_name('sandbox-lookup-test', 'worker-1').object_id)"
    )
    out = subprocess.run([sys.executable, "-c", code, sb.object_id], env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["from the first process", "0", sb.object_id]
    sb.terminate()
    other.terminate()


def test_cli_create_exec_history_list_stop(gvisor):
    created = gvisor.squall("sandbox", "create", "--name", "cli-box", "--tag", "who=cli", "--timeout", "120")
    assert created.returncode == 0, created.stderr
    sandbox_id = created.stdout.strip()
    assert sandbox_id.startswith("sb-")
    ok = gvisor.squall("sandbox", "exec", sandbox_id, "sh", "-c", "echo to-out; echo to-err >&2")
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "to-out\n", "to-err\n")
    failed = gvisor.squall("sandbox", "exec", sandbox_id, "sh", "-c", "exit 5")
    assert failed.returncode == 5
    piped = subprocess.run([sys.executable, "-m", "squall.cli.main", "sandbox", "exec", sandbox_id, "wc", "-c"], input="12345", env=gvisor.env,
                           capture_output=True, text=True, timeout=120)
    assert piped.stdout.strip() == "5"
    listed = gvisor.squall("sandbox", "list", "--tag", "who=cli")
    assert sandbox_id in listed.stdout and "cli-box" in listed.stdout
    history = gvisor.squall("sandbox", "history", sandbox_id)
    assert history.returncode == 0, history.stderr
    lines = [line for line in history.stdout.splitlines() if "ex-" in line]
    assert len(lines) == 3
    assert "echo to-out" in lines[0] and " 0 " in lines[0]
    assert "exit 5" in lines[1] and " 5 " in lines[1]
    assert "wc -c" in lines[2]
    records = squall.Sandbox.from_id(sandbox_id).history()
    assert [r.returncode for r in records] == [0, 5, 0]
    assert all(r.finished and r.finished_at >= r.started_at for r in records)
    stopped = gvisor.squall("sandbox", "stop", sandbox_id)
    assert stopped.returncode == 0
    squall.Sandbox.from_id(sandbox_id).wait(raise_on_termination=False)
    assert sandbox_id not in gvisor.squall("sandbox", "list").stdout
    assert sandbox_id in gvisor.squall("sandbox", "list", "--all").stdout
    gone = gvisor.squall("sandbox", "exec", sandbox_id, "true")
    assert gone.returncode == 1 and "has stopped" in gone.stderr


def test_a_sandbox_does_not_keep_another_ones_mounts_alive(gvisor):
    """gVisor sandboxes with network start runsc in a mount namespace of its own (to hide
    /proc/sys/net/core from its root-namespace check): a sandbox that ends must not leave its
    rootfs or disk mounted in the namespace of one still running (its disk's space never freed)."""
    a = squall.Sandbox.create(timeout=120)
    b = squall.Sandbox.create(timeout=120)
    assert a.exec("true").wait() == 0 and b.exec("true").wait() == 0
    out = subprocess.run(["pgrep", "-f", f"^runsc .* run .*{a.object_id}$"], capture_output=True, text=True).stdout.split()
    assert out, "a's runsc process"
    mounts = pathlib.Path(f"/proc/{out[0]}/mountinfo")
    assert a.object_id in mounts.read_text() and b.object_id in mounts.read_text()  # b started after a: its mounts reached a's copy
    b.terminate()
    b.wait(raise_on_termination=False)
    deadline = time.monotonic() + 30
    while b.object_id in mounts.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert b.object_id not in mounts.read_text()
    assert a.exec("echo", "still here").stdout.read() == "still here\n"
    a.terminate()


# -- the warm pool ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pooled_cluster(tmp_path_factory):
    needs_root()
    c = Cluster(tmp_path_factory.mktemp("sb-pool"), "gvisor")
    c.env["SQUALL_SANDBOX_POOL"] = "2"
    c.start_server()
    c.start_worker()
    yield c
    c.stop()


def _create_from_pool(*cmd, **kwargs) -> squall.Sandbox:
    """Create sandboxes until one comes from the warm pool (it fills in the background)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        sb = squall.Sandbox.create(*cmd, **kwargs)
        if squall.Sandbox.from_id(sb.object_id)._info.from_warm_pool:
            return sb
        sb.terminate()
        sb.wait(raise_on_termination=False)
    raise AssertionError("the warm pool never handed out a sandbox")


def test_warm_pool_sandboxes_behave_like_fresh_ones(pooled_cluster, monkeypatch):
    for _ in using(pooled_cluster, monkeypatch):
        secret = squall.Secret.from_dict({"TOKEN_FOR_POOL": "pooled-secret"})
        sb = _create_from_pool(name="from-pool", env={"WHO": "pool"}, secrets=[secret], workdir="/tmp", tags={"k": "v"}, timeout=60)
        assert sb.exec("sh", "-c", "echo $WHO $TOKEN_FOR_POOL; pwd").stdout.read() == "pool pooled-secret\n/tmp\n"
        info = squall.Sandbox.from_id(sb.object_id)._info
        assert (info.name, dict(info.tags), info.state) == ("from-pool", {"k": "v"}, "running")
        assert sb.object_id in {s.object_id for s in squall.Sandbox.list(tags={"k": "v"})}
        main = _create_from_pool("sh", "-c", "echo main ran; exit 4", timeout=60)
        main.wait()
        assert (main.returncode, main.stdout.read()) == (4, "main ran\n")
        # Sandboxes that ask for something the pool does not hold start fresh.
        custom = squall.Sandbox.create(memory=512, timeout=60)
        assert not squall.Sandbox.from_id(custom.object_id)._info.from_warm_pool
        assert custom.exec("echo", "fresh").stdout.read() == "fresh\n"
        # The pool's idle sandboxes are nobody's: not listed, not counted as the user's.
        listed = {s.object_id for s in squall.Sandbox.list()}
        assert listed == {sb.object_id, custom.object_id}
        for s in (sb, custom):
            s.terminate()


# -- squall shell ----------------------------------------------------------------------------------
def test_squall_shell_in_tmux(gvisor, tmp_path):
    """`squall shell` on a real terminal (tmux): keystrokes in, output back, the terminal's size,
    and the sandbox stops when the shell exits."""
    import shlex
    import shutil

    if shutil.which("tmux") is None:
        pytest.skip("needs tmux")
    session = f"sqshell-{os.getpid()}"
    rc_file = tmp_path / "rc"
    script = tmp_path / "shell.sh"
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in gvisor.env.items() if k.startswith(("SQUALL_", "PYTHON", "PATH")))
    script.write_text(f"{exports}{shlex.quote(sys.executable)} -m squall.cli.main shell; echo $? > {rc_file}\n")

    def screen() -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout

    def wait_for(predicate, what: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError(f"{what}; the screen:\n{screen()}")

    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "100", "-y", "30", f"bash {script}"], check=True)
    try:
        wait_for(lambda: "root@" in screen(), "no shell prompt")
        before = {s.object_id for s in squall.Sandbox.list()}
        assert len(before) == 1
        subprocess.run(["tmux", "send-keys", "-t", session, "echo $((6 * 7)); tty", "Enter"], check=True)
        wait_for(lambda: "/dev/pts/" in screen(), "no answer to the typed command")
        assert "42" in screen().splitlines()
        # The terminal's size follows the local one (SIGWINCH -> resize -> TIOCSWINSZ).
        subprocess.run(["tmux", "resize-window", "-t", session, "-x", "120", "-y", "40"], check=True)

        def resized() -> bool:
            subprocess.run(["tmux", "send-keys", "-t", session, "clear; stty size", "Enter"], check=True)
            time.sleep(0.5)  # the answer's round trip; a late one is asked for again
            return "40 120" in screen().splitlines()

        wait_for(resized, "the sandbox's terminal did not take the new size")
        subprocess.run(["tmux", "send-keys", "-t", session, "exit 3", "Enter"], check=True)
        wait_for(lambda: rc_file.exists() and rc_file.read_text().strip(), "the shell did not exit")
        assert rc_file.read_text().strip() == "3"
        sandbox_id = before.pop()
        squall.Sandbox.from_id(sandbox_id).wait(raise_on_termination=False)
        assert sandbox_id not in {s.object_id for s in squall.Sandbox.list()}
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
