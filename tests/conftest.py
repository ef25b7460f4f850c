"""Shared fixtures: a real control plane and worker started as processes on loopback."""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest

from squall._compat import install_modal_alias

install_modal_alias()  # the test apps are written as Modal users write them

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Built images are shared by every test run on the machine: the first build takes a minute.
CACHE = pathlib.Path(os.environ.get("SQUALL_TEST_CACHE", "/tmp/squall-test-cache"))
IS_ROOT = os.geteuid() == 0


def needs_root() -> None:
    if not IS_ROOT:
        if os.environ.get("CI"):
            pytest.fail("CI runs as root: the runtime tests must run there")
        pytest.skip("needs root (runc / runsc)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """`squall server` and `squall worker` processes with their own SQUALL_HOME."""

    def __init__(self, home: pathlib.Path, runtime: str):
        self.home = home
        self.runtime = runtime
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "SQUALL_HOME": str(home), "SQUALL_CACHE_HOME": str(CACHE), "SQUALL_SERVER_URL": self.url, "PYTHONUNBUFFERED": "1"}
        self.env.pop("SQUALL_TOKEN", None)
        self.server: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self._logs: list = []

    def _spawn(self, *args: str, log_name: str) -> subprocess.Popen:
        log = open(self.home / f"{log_name}.log", "ab")
        self._logs.append(log)
        return subprocess.Popen([sys.executable, "-m", "squall.cli.main", *args], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def start_server(self) -> None:
        ready = self.home / "ready"
        ready.unlink(missing_ok=True)
        self.server = self._spawn("server", "--port", str(self.port), "--ready-file", str(ready), log_name="server")
        _wait_for(lambda: ready.exists(), 30, "server start", self.home / "server.log")
        self.env["SQUALL_TOKEN"] = (self.home / "server" / "token").read_text().strip()

    def start_worker(self, name: str = "w1") -> subprocess.Popen:
        proc = self._spawn("worker", "--runtime", self.runtime, "--worker-id", f"wk-{name}-{os.getpid()}", log_name=f"worker-{name}")
        self.workers.append(proc)
        _wait_for(lambda: self.connected_workers() >= 1, 600, "worker registration", self.home / f"worker-{name}.log")
        return proc

    def connected_workers(self) -> int:
        out = subprocess.run([sys.executable, "-c", "from squall.cli._common import api_call; from squall._proto.squall.v1 import api_pb2; "
                              "print(len(api_call('ServerInfo', api_pb2.Empty()).workers))"], env=self.env, capture_output=True, text=True)
        return int(out.stdout.strip() or 0)

    def use_in_this_process(self, monkeypatch) -> None:
        from squall.client import client

        for key in ("SQUALL_HOME", "SQUALL_CACHE_HOME", "SQUALL_SERVER_URL", "SQUALL_TOKEN"):
            monkeypatch.setenv(key, self.env[key])
        client.reset_client()

    def squall(self, *args: str, timeout: float = 300, cwd: pathlib.Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "squall.cli.main", *args], env=self.env, capture_output=True, text=True, timeout=timeout, cwd=cwd)

    def stop(self) -> None:
        for p in [*self.workers, self.server]:
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in [*self.workers, self.server]:
            if p is not None:
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for log in self._logs:
            log.close()


def _wait_for(cond, timeout: float, what: str, log: pathlib.Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout} s; log:\n{log.read_text()[-4000:] if log.exists() else '(none)'}")


def make_cluster(tmp_path_factory, runtime: str) -> Cluster:
    c = Cluster(tmp_path_factory.mktemp(f"cluster-{runtime}"), runtime)
    c.start_server()
    c.start_worker()
    return c


@pytest.fixture(scope="module", params=["runc", "gvisor"])
def cluster(request, tmp_path_factory):
    """A server and a worker for one isolating runtime, shared by a test module."""
    needs_root()
    c = make_cluster(tmp_path_factory, request.param)
    yield c
    c.stop()


@pytest.fixture(scope="module")
def runc_cluster(tmp_path_factory):
    """A server and a runc worker, shared by a test module."""
    needs_root()
    c = make_cluster(tmp_path_factory, "runc")
    yield c
    c.stop()


@pytest.fixture(scope="module")
def gvisor_cluster(tmp_path_factory):
    """A server and a gVisor worker, shared by a test module."""
    needs_root()
    c = make_cluster(tmp_path_factory, "gvisor")
    yield c
    c.stop()


def using(cluster: Cluster, monkeypatch):
    """For a module's `sdk` fixture: this test process talks to `cluster` through the public
    SDK for the duration of one test (`yield from using(runc_cluster, monkeypatch)`)."""
    from squall.client import client

    cluster.use_in_this_process(monkeypatch)
    yield cluster
    client.reset_client()


@pytest.fixture
def sdk(cluster, monkeypatch):
    """This test process talks to `cluster` through the public SDK."""
    yield from using(cluster, monkeypatch)
