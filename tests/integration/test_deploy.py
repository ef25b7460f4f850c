"""Deployments end to end: `squall deploy` on a real server and runc worker, `from_name` from
this process and from inside a container, a rolling redeploy under load, history and rollback."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import threading
import time

import pytest

import squall
from squall._proto.squall.v1 import api_pb2
from squall.cli._common import api_call
from squall.exception import NotFoundError
from tests.conftest import ROOT, using

pytestmark = [pytest.mark.runtime, pytest.mark.integration, pytest.mark.timeout(600)]

APP = "deploy-itest"
SOURCE = (ROOT / "tests" / "apps" / "deployed.py").read_text()


def write_app(directory: pathlib.Path, greeting: str) -> pathlib.Path:
    assert 'GREETING = "hello"' in SOURCE
    path = directory / "deployed_app.py"
    path.write_text(SOURCE.replace('GREETING = "hello"', f"GREETING = {greeting!r}"))
    return path


@pytest.fixture(scope="module")
def app_dir(runc_cluster, tmp_path_factory) -> pathlib.Path:
    """The app, deployed once (version 1) for the whole module."""
    d = tmp_path_factory.mktemp("deployed-app")
    out = runc_cluster.squall("deploy", str(write_app(d, "hello")), "--name", APP)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"Deployed app {APP} version 1" in out.stdout
    return d


@pytest.fixture
def sdk(runc_cluster, app_dir, monkeypatch):
    yield from using(runc_cluster, monkeypatch)


def test_deploy_needs_a_long_lived_server(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQUALL_")}
    env["SQUALL_HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-m", "squall.cli.main", "deploy", str(write_app(tmp_path, "hello"))], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "squall server" in out.stderr and "squall worker" in out.stderr and "SQUALL_SERVER_URL" in out.stderr


def test_from_name_calls_a_deployed_function_and_class(sdk):
    assert squall.Function.from_name(APP, "greet").remote("ann") == "hello ann"
    counter = squall.Cls.from_name(APP, "Counter")
    assert counter(start=5).add.remote(2) == 7
    assert list(counter(start=3).upto.remote_gen(3)) == [3, 4, 5]
    with pytest.raises(NotFoundError, match="no method 'nope'.*add, upto"):
        counter().nope.remote()


def test_a_container_calls_another_deployed_function(sdk):
    assert squall.Function.from_name(APP, "relay").remote(APP, "greet", "bob") == "relayed: hello bob"


def test_from_name_of_what_is_not_deployed_says_which(sdk):
    with pytest.raises(NotFoundError, match=f"app 'no-such-app' is not deployed; deployed apps: {APP}"):
        squall.Function.from_name("no-such-app", "greet").remote("x")
    with pytest.raises(NotFoundError, match=f"deployed app '{APP}' has no function or class 'nope'; it has: Counter, greet, relay"):
        squall.Function.from_name(APP, "nope").remote("x")
    with pytest.raises(NotFoundError, match="no-such-app"):
        squall.Cls.from_name("no-such-app", "Counter")().add.remote(1)


def test_app_list_shows_the_deployed_version(sdk):
    out = sdk.squall("app", "list")
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if APP in line)
    assert "deployed" in line and "v1" in line


def test_a_redeploy_under_load_drops_nothing_and_rollback_restores(sdk, app_dir):
    greet = squall.Function.from_name(APP, "greet")
    assert greet.remote("warm") == "hello warm"  # a version-1 container is running
    results: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def load():
        i = 0
        while not stop.is_set():
            try:
                results.append(greet.remote(f"c{i}", 0.05))
            except BaseException as exc:  # noqa: BLE001 - every failure is reported below
                errors.append(exc)
            i += 1

    t = threading.Thread(target=load)
    t.start()
    try:
        time.sleep(1.0)
        out = sdk.squall("deploy", str(write_app(app_dir, "howdy")), "--name", APP)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "version 2" in out.stdout
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (results and results[-1].startswith("howdy")):
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        stop.set()
        t.join(120)
    assert not errors, errors[:3]
    assert results[0].startswith("hello ") and results[-1].startswith("howdy ")
    first_new = next(i for i, r in enumerate(results) if r.startswith("howdy"))
    assert all(r.startswith("howdy") for r in results[first_new:]), "calls went back to the old version after the switch"
    assert squall.Function.from_name(APP, "greet").remote("new") == "howdy new"  # a fresh lookup sees version 2 too

    # The old version's container drained and stopped, saying why.
    app_id = api_call("AppHistory", api_pb2.AppHistoryRequest(app_id=APP)).app_id
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        reasons = [c.exit_reason for c in api_call("ContainerList", api_pb2.ContainerListRequest(app_id=app_id)).containers]
        if any("newer version" in r for r in reasons):
            break
        time.sleep(0.5)
    assert any("newer version" in r for r in reasons), reasons

    out = sdk.squall("app", "history", APP)
    assert out.returncode == 0, out.stderr
    assert "v1" in out.stdout and "v2" in out.stdout and "v3" not in out.stdout

    out = sdk.squall("app", "rollback", APP)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "now at v3" in out.stdout
    assert greet.remote("again") == "hello again"
    history = api_call("AppHistory", api_pb2.AppHistoryRequest(app_id=APP))
    assert [v.version for v in history.versions] == [1, 2, 3] and history.versions[-1].rollback_of == 1

    out = sdk.squall("app", "rollback", APP, "7")
    assert out.returncode == 1 and "no version 7" in out.stderr and "1, 2, 3" in out.stderr


def test_stop_then_redeploy(sdk, app_dir):
    out = sdk.squall("app", "stop", APP)
    assert out.returncode == 0, out.stderr
    with pytest.raises(NotFoundError, match=f"app '{APP}' is stopped"):
        squall.Function.from_name(APP, "greet").remote("x")
    out = sdk.squall("deploy", str(write_app(app_dir, "back")), "--name", APP)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "version 4" in out.stdout
    assert squall.Function.from_name(APP, "greet").remote("again") == "back again"
