"""The runtimes against the real thing: runc and runsc running the real debian_slim rootfs.

Needs root. The base image is built once per machine (~20 s) into a directory shared by
test runs: $SQUALL_TEST_HOME, else $SQUALL_TEST_CACHE, else /tmp/squall-test-cache.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from squall.runtime import ContainerSpec, ExitStatus, Mount, Runtime, cgroups, get_runtime
from squall.runtime.process import MOUNTS_ENV
from squall.runtime.rootfs import mounts_under

TEST_HOME = Path(os.environ.get("SQUALL_TEST_HOME") or os.environ.get("SQUALL_TEST_CACHE") or "/tmp/squall-test-cache")
ISOLATING = ["runc", "gvisor"]


def require_root() -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("CI runs as root: the runtime tests must run there")
        pytest.skip("needs root (runc / runsc)")


def run(coro, timeout: float = 60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture(scope="session")
def debian_rootfs() -> Path:
    require_root()
    from squall.images.base import ensure_debian_slim

    return ensure_debian_slim(TEST_HOME, log=lambda line: print(line, file=sys.stderr))


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("worker-run")


@pytest.fixture(params=ISOLATING)
def runtime(request, state_dir, debian_rootfs) -> Runtime:
    rt = get_runtime(request.param, state_dir)
    rt.check_available()
    return rt


_counter = iter(range(1_000_000))


def new_id(rt: Runtime) -> str:
    return f"t-{rt.name}-{os.getpid()}-{next(_counter)}"


def python_spec(rt: Runtime, rootfs: Path, code: str, **kw) -> ContainerSpec:
    return ContainerSpec(container_id=new_id(rt), rootfs=rootfs, argv=["python3", "-c", textwrap.dedent(code)], env={}, **kw)


async def run_to_end(rt: Runtime, spec: ContainerSpec) -> tuple[ExitStatus, str, str]:
    c = await rt.start(spec)
    out, err, status = await asyncio.gather(c.stdout.read(), c.stderr.read(), c.wait())
    return status, out.decode(), err.decode()


def assert_cleaned_up(rt: Runtime, container_id: str) -> None:
    state_dir: Path = rt.state_dir  # type: ignore[attr-defined]
    assert not (state_dir / "bundles" / rt.name / container_id).exists()
    assert mounts_under(state_dir) == []
    leftovers = [root / "squall" / container_id for root in cgroups.hierarchy().all_roots()]
    assert [p for p in leftovers if p.exists()] == []
    assert not [p for p in (state_dir / rt.binary).iterdir() if container_id in p.name]  # type: ignore[attr-defined]


@pytest.mark.runtime
def test_runs_python_and_reports_output_and_exit_code(runtime, debian_rootfs):
    spec = python_spec(
        runtime,
        debian_rootfs,
        """
        import os, sys
        print("hello from", os.environ["GREETING"], os.getcwd())
        open("/written-by-container", "w").write("x")
        sys.stderr.write("to stderr\\n")
        sys.exit(3)
        """,
        workdir="/root",
    )
    spec.env["GREETING"] = "squall"

    async def scenario():
        started = time.time()
        c = await runtime.start(spec)
        assert started <= c.timings["rootfs_ready"] <= c.timings["process_started"] <= time.time()
        return await asyncio.gather(c.stdout.read(), c.stderr.read(), c.wait())

    out, err, status = run(scenario())
    assert out.decode() == "hello from squall /root\n"
    assert "to stderr" in err.decode()
    assert status == ExitStatus(exit_code=3, oom_killed=False)
    assert not (debian_rootfs / "written-by-container").exists()  # the image is never written
    assert_cleaned_up(runtime, spec.container_id)


@pytest.mark.runtime
def test_bind_mounts_visible_and_read_only(runtime, debian_rootfs, tmp_path):
    (tmp_path / "data.txt").write_text("file contents")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "inner.txt").write_text("inner")
    (tmp_path / "rw").mkdir()
    spec = python_spec(
        runtime,
        debian_rootfs,
        """
        import errno, json, os
        result = {"file": open("/opt/squall/data.txt").read(), "dir": os.listdir("/mnt/dir")}
        for path in ("/opt/squall/data.txt", "/mnt/dir/new.txt"):
            try:
                open(path, "w").write("overwrite")
                result[path] = "writable"
            except OSError as e:
                result[path] = errno.errorcode[e.errno]
        open("/mnt/rw/out.txt", "w").write("from container")
        print(json.dumps(result))
        """,
        mounts=[
            Mount(tmp_path / "data.txt", "/opt/squall/data.txt"),
            Mount(tmp_path / "dir", "/mnt/dir"),
            Mount(tmp_path / "rw", "/mnt/rw", read_only=False),
        ],
    )
    status, out, err = run(run_to_end(runtime, spec))
    assert status.exit_code == 0, err
    result = json.loads(out)
    assert result["file"] == "file contents"
    assert result["dir"] == ["inner.txt"]
    assert result["/opt/squall/data.txt"] == "EROFS"
    assert result["/mnt/dir/new.txt"] == "EROFS"
    assert (tmp_path / "data.txt").read_text() == "file contents"
    assert (tmp_path / "rw" / "out.txt").read_text() == "from container"
    assert_cleaned_up(runtime, spec.container_id)


@pytest.mark.runtime
def test_host_unix_socket_reachable_from_inside(runtime, debian_rootfs, tmp_path):
    sock_path = tmp_path / "echo.sock"
    spec = python_spec(
        runtime,
        debian_rootfs,
        """
        import socket
        s = socket.socket(socket.AF_UNIX)
        s.connect("/opt/squall/run/api.sock")
        s.sendall(b"ping\\n")
        print(s.makefile("rb").readline().decode().strip())
        """,
        mounts=[Mount(sock_path, "/opt/squall/run/api.sock", read_only=False)],
    )

    async def scenario():
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            line = await reader.readline()
            writer.write(b"echo " + line)
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_unix_server(echo, path=str(sock_path))
        async with server:
            return await run_to_end(runtime, spec)

    status, out, err = run(scenario())
    assert status.exit_code == 0, err
    assert out.strip() == "echo ping"


@pytest.mark.runtime
def test_agent_layer_imports_in_the_container(runtime, debian_rootfs):
    """The agent's dependencies, built on the host, load in Debian's python3 inside."""
    from squall.images.agent_layer import AGENT_PACKAGES, agent_requirements, ensure_agent_layer

    layer = ensure_agent_layer(TEST_HOME, log=lambda line: print(line, file=sys.stderr))
    spec = python_spec(
        runtime,
        debian_rootfs,
        """
        import importlib.metadata, grpc, google.protobuf, cloudpickle, croniter
        print(" ".join(f"{n}=={importlib.metadata.version(n)}" for n in %r))
        """ % (AGENT_PACKAGES,),
        mounts=[Mount(layer, "/opt/squall/agent")],
    )
    spec.env["PYTHONPATH"] = "/opt/squall/agent"
    status, out, err = run(run_to_end(runtime, spec))
    assert status.exit_code == 0, err
    assert out.split() == agent_requirements()


@pytest.mark.runtime
def test_memory_bomb_is_reported_as_oom_kill(runtime, debian_rootfs):
    # Bounded, so a broken limit cannot take the host down: at most 1 GiB.
    spec = python_spec(
        runtime,
        debian_rootfs,
        """
        chunks = []
        for _ in range(64):
            chunks.append(b"x" * (16 << 20))
        print("survived")
        """,
        memory_limit_mb=128,
    )
    status, out, err = run(run_to_end(runtime, spec))
    assert "survived" not in out
    assert status == ExitStatus(exit_code=-9, oom_killed=True), err
    assert_cleaned_up(runtime, spec.container_id)


@pytest.mark.runtime
def test_under_the_limit_is_not_an_oom(runtime, debian_rootfs):
    spec = python_spec(runtime, debian_rootfs, "data = b'x' * (32 << 20); print(len(data))", memory_limit_mb=256)
    status, _, err = run(run_to_end(runtime, spec))
    assert status == ExitStatus(exit_code=0, oom_killed=False), err


@pytest.mark.runtime
def test_no_network_means_loopback_only(runtime, debian_rootfs):
    spec = python_spec(
        runtime,
        debian_rootfs,
        """
        import socket
        print(",".join(name for _, name in socket.if_nameindex()))
        try:
            socket.create_connection(("1.1.1.1", 53), timeout=2)
            print("connected")
        except OSError:
            print("unreachable")
        """,
        network=False,
    )
    status, out, err = run(run_to_end(runtime, spec))
    assert status.exit_code == 0, err
    assert out.split() == ["lo", "unreachable"]


@pytest.mark.runtime
def test_limits_are_applied_to_our_cgroup(runtime, debian_rootfs):
    spec = python_spec(runtime, debian_rootfs, "import sys; sys.stdin.read()", cpu_limit=0.5, memory_limit_mb=200, pids_limit=64)

    async def scenario():
        c = await runtime.start(spec)
        h = cgroups.hierarchy()
        rel = Path("squall") / spec.container_id
        if h.mode("memory") == "v1":
            limits = (
                (h.v1["memory"] / rel / "memory.limit_in_bytes").read_text().strip(),
                (h.v1["cpu"] / rel / "cpu.cfs_quota_us").read_text().strip(),
                (h.v1["pids"] / rel / "pids.max").read_text().strip(),
            )
        else:
            assert h.v2 is not None
            limits = (
                (h.v2 / rel / "memory.max").read_text().strip(),
                (h.v2 / rel / "cpu.max").read_text().split()[0],
                (h.v2 / rel / "pids.max").read_text().strip(),
            )
        await c.kill()
        await asyncio.gather(c.stdout.read(), c.stderr.read(), c.wait())
        return limits

    assert run(scenario()) == (str(200 << 20), "50000", "64")
    assert_cleaned_up(runtime, spec.container_id)


@pytest.mark.runtime
def test_kill_stops_the_container(runtime, debian_rootfs):
    spec = python_spec(runtime, debian_rootfs, "import time; print('ready', flush=True); time.sleep(600)")

    async def scenario():
        c = await runtime.start(spec)
        assert await asyncio.wait_for(c.stdout.readline(), 30) == b"ready\n"
        killed_at = time.monotonic()
        await c.kill()
        _, _, status = await asyncio.gather(c.stdout.read(), c.stderr.read(), asyncio.wait_for(c.wait(), 10))
        await c.kill()  # killing an ended container is harmless
        return status, time.monotonic() - killed_at

    status, took = run(scenario())
    assert status == ExitStatus(exit_code=-9, oom_killed=False)
    assert took < 5
    assert_cleaned_up(runtime, spec.container_id)


@pytest.mark.runtime
def test_kill_right_after_start(runtime, debian_rootfs):
    spec = python_spec(runtime, debian_rootfs, "import time; time.sleep(600)")

    async def scenario():
        c = await runtime.start(spec)
        await c.kill()
        _, _, status = await asyncio.gather(c.stdout.read(), c.stderr.read(), asyncio.wait_for(c.wait(), 15))
        return status

    status = run(scenario())
    assert status.exit_code != 0
    assert_cleaned_up(runtime, spec.container_id)


@pytest.mark.runtime
def test_cleanup_orphans_after_worker_crash(request, debian_rootfs, tmp_path):
    """A worker killed with SIGKILL leaves a running container; the next one removes it."""
    require_root()
    results = {}
    for name in ISOLATING:
        state = tmp_path / name
        cid = f"orphan-{name}-{os.getpid()}"
        # A throwaway "worker" starts a container and is killed, leaving everything behind.
        crashing_worker = textwrap.dedent(
            f"""
            import asyncio, os, signal
            from pathlib import Path
            from squall.runtime import ContainerSpec, get_runtime
            async def main():
                rt = get_runtime({name!r}, Path({str(state)!r}))
                c = await rt.start(ContainerSpec(container_id={cid!r}, rootfs=Path({str(debian_rootfs)!r}),
                    argv=["python3", "-c", "import time; print('up', flush=True); time.sleep(600)"], env={{}}))
                print(await c.stdout.readline(), flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
            asyncio.run(main())
            """
        )
        src = Path(__file__).resolve().parents[2] / "src"
        env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        proc = subprocess.run([sys.executable, "-c", crashing_worker], capture_output=True, text=True, timeout=60, env=env, check=False)
        assert "up" in proc.stdout, proc.stderr
        rt = get_runtime(name, state)
        assert (state / "bundles" / name / cid).is_dir()
        assert mounts_under(state) != []
        run(rt.cleanup_orphans())
        results[name] = (rt, cid)
    for rt, cid in results.values():
        assert_cleaned_up(rt, cid)
        assert not list((rt.state_dir / "bundles" / rt.name).iterdir())  # type: ignore[attr-defined]


def test_process_runtime_runs_on_the_host(tmp_path):
    rt = get_runtime("process", tmp_path / "state")
    rt.check_available()
    sock = tmp_path / "api.sock"
    spec = ContainerSpec(
        container_id="proc-1",
        rootfs=Path("/"),
        argv=[sys.executable, "-c", f"import json, os, sys; print(os.getcwd()); print(os.environ[{MOUNTS_ENV!r}]); sys.exit(4)"],
        env={"PATH": os.environ["PATH"]},
        mounts=[Mount(sock, "/opt/squall/run/api.sock", read_only=False)],
        workdir="/nonexistent/dir",
    )
    status, out, err = run(run_to_end(rt, spec))
    assert status == ExitStatus(exit_code=4), err
    cwd, mounts = out.splitlines()
    assert cwd == str(tmp_path / "state" / "process" / "proc-1")  # workdir absent on the host
    assert json.loads(mounts) == {"/opt/squall/run/api.sock": str(sock)}
    assert not Path(cwd).exists()  # the scratch dir goes with the process


def test_process_runtime_kill(tmp_path):
    rt = get_runtime("process", tmp_path)
    spec = ContainerSpec(
        container_id="proc-2",
        rootfs=Path("/"),
        argv=[sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(600)"],
        env={},
        workdir=str(tmp_path),
    )

    async def scenario():
        c = await rt.start(spec)
        assert await c.stdout.readline() == b"ready\n"
        await c.kill()
        _, _, status = await asyncio.gather(c.stdout.read(), c.stderr.read(), asyncio.wait_for(c.wait(), 10))
        return status

    assert run(scenario()) == ExitStatus(exit_code=-9)


def test_a_kept_upper_dir_receives_the_containers_writes(runtime, debian_rootfs, tmp_path):
    """How image layers are built: what the container writes lands in the upper dir on the host
    (runsc would otherwise keep root filesystem writes in an overlay of its own)."""
    upper = tmp_path / "layer" / "fs"
    upper.mkdir(parents=True)
    spec = python_spec(runtime, debian_rootfs, "open('/written.txt', 'w').write('kept')", upper_dir=upper)
    status, _out, err = run(run_to_end(runtime, spec))
    assert status.exit_code == 0, err
    assert (upper / "written.txt").read_text() == "kept"
    assert not (debian_rootfs / "written.txt").exists()
