"""Web endpoints end to end: a deployed app answers real HTTP on loopback through the server's
gateway (runc containers), streams SSE, scales from zero, checks proxy auth, survives a
redeploy under load, and `squall serve` reloads on a file change."""

from __future__ import annotations

import json
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

import squall
from squall._proto.squall.v1 import api_pb2
from squall.cli._common import api_call
from tests.conftest import ROOT, using

pytestmark = [pytest.mark.runtime, pytest.mark.integration, pytest.mark.timeout(600)]

APP = "webtest"
SOURCE = (ROOT / "tests" / "apps" / "web.py").read_text()


def write_app(directory: pathlib.Path, greeting: str, name: str = "webtest_app.py") -> pathlib.Path:
    assert 'GREETING = "hello"' in SOURCE
    path = directory / name
    path.write_text(SOURCE.replace('GREETING = "hello"', f"GREETING = {greeting!r}"))
    return path


def http(url: str, data: bytes | None = None, headers: dict | None = None, timeout: float = 120) -> tuple[int, object, bytes]:
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def wait_until(cond, timeout: float, what: str, output: list[str] | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout} s" + ("; output:\n" + "".join(output) if output is not None else ""))


@pytest.fixture(scope="module")
def deployed(runc_cluster, tmp_path_factory) -> tuple[pathlib.Path, dict[str, str]]:
    """The app, deployed once for the module: its directory and the URLs `squall deploy` printed."""
    d = tmp_path_factory.mktemp("web-app")
    out = runc_cluster.squall("deploy", str(write_app(d, "hello")))
    assert out.returncode == 0, out.stdout + out.stderr
    urls = dict(re.findall(r"^\s+(\w+) => (\S+)$", out.stdout, re.M))
    assert set(urls) == {"api", "private", "wsgi", "files", "never_listens", "Greeter"}, out.stdout
    return d, urls


@pytest.fixture
def sdk(runc_cluster, deployed, monkeypatch):
    yield from using(runc_cluster, monkeypatch)


def test_asgi_wsgi_and_web_server_answer_over_http(sdk, deployed):
    _, urls = deployed
    assert urls["api"].endswith(f"/{APP}/api") and urls["never_listens"].endswith(f"/{APP}/never-listens")
    assert squall.Function.from_name(APP, "api").get_web_url() == urls["api"]
    assert squall.Function.from_name(APP, "plain").get_web_url() is None
    assert squall.Function.from_name(APP, "url_of").remote("wsgi") == urls["wsgi"]  # from inside a container too

    status, headers, body = http(urls["api"] + "/some/path?a=1&b=2", headers={"X-Token": "t1"})
    assert status == 200 and headers["x-served-by"] == "asgi" and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"greeting": "hello", "method": "GET", "path": "/some/path", "query": "a=1&b=2", "body": "", "headers": {"x-token": "t1"}}

    status, _, body = http(urls["api"], data=b"payload " * 1000)
    assert status == 201 and json.loads(body)["body"] == "payload " * 1000 and json.loads(body)["path"] == "/"

    assert urls["Greeter"].endswith(f"/{APP}/greeter")
    assert http(urls["Greeter"] + "/")[2] == b"hello from a class"  # a class's web method, after its @enter
    assert squall.Cls.from_name(APP, "Greeter")().ping.remote() == "pong"

    status, headers, body = http(urls["api"] + "/big?n=7000000", data=b"y" * 5_000_000)  # several MiB each way
    assert status == 200 and len(body) == 7_000_000 and set(body) == {ord("x")} and headers["x-request-bytes"] == "5000000"
    # A body over the gateway's inline limit (32 MiB) streams to the app in pieces, and so does a chunked one.
    status, headers, _ = http(urls["api"] + "/big?n=1", data=b"z" * 40_000_000)
    assert status == 200 and headers["x-request-bytes"] == "40000000"
    status, _, body = http(urls["wsgi"] + "/chunked", data=iter([b"ab"] * 1000), headers={"Transfer-Encoding": "chunked"})
    assert (status, body) == (200, b"hello from wsgi POST /chunked " + b"ab" * 1000)

    status, _, body = http(urls["wsgi"] + "/w?x=1", data=b"form")
    assert (status, body) == (200, b"hello from wsgi POST /w form")

    status, _, body = http(urls["files"] + "/webtest_app.py")  # python -m http.server inside the container serves the app's own code
    assert status == 200 and body.decode() == write_app(deployed[0], "hello").read_text()

    status, _, body = http(urls["api"].rsplit("/", 1)[0] + "/nothing-here/")
    assert status == 404 and b"no web endpoint" in body


def test_errors_say_what_went_wrong(sdk, deployed):
    _, urls = deployed
    status, _, body = http(urls["api"] + "/boom")
    assert status == 500 and b"RuntimeError: the app broke on purpose" in body
    status, _, body = http(urls["never_listens"] + "/")
    assert status == 502 and b"nothing listened on port 8001 within startup_timeout=1 s" in body


def test_sse_streams_chunk_by_chunk(sdk, deployed):
    _, urls = deployed
    with urllib.request.urlopen(urls["api"] + "/stream?n=4", timeout=120) as r:
        assert r.headers["Content-Type"] == "text/event-stream"
        start = time.monotonic()
        arrivals = []
        for line in r:
            if line.startswith(b"data:"):
                arrivals.append((time.monotonic() - start, line.strip()))
    assert [a[1] for a in arrivals] == [b"data: event 0", b"data: event 1", b"data: event 2", b"data: event 3"]
    # The app sleeps 0.3 s between events: they must arrive spread out, not all at the end.
    assert arrivals[-1][0] - arrivals[0][0] >= 0.6, arrivals


def test_a_client_that_leaves_a_stream_stops_it(sdk, deployed):
    _, urls = deployed
    with urllib.request.urlopen(urls["api"] + "/stream?n=1000&id=leaver", timeout=120) as r:
        assert r.readline() == b"data: event 0\n"
    # The app's stream would run for 300 s; the gateway cancels the call and the container stops it.
    events = squall.Dict.from_name("webtest-events", create_if_missing=True)
    assert wait_until(lambda: events.get("stream-cancelled"), 60, "the app seeing the cancellation") == "n=1000&id=leaver"


def test_websocket_echo(sdk, deployed):
    import asyncio

    import aiohttp

    _, urls = deployed

    async def talk():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(urls["api"].replace("http://", "ws://") + "/ws") as ws:
                replies = []
                for i in range(3):
                    await ws.send_str(f"hi {i}")
                    replies.append((await ws.receive(timeout=60)).data)
                await ws.send_bytes(b"abc")
                replies.append((await ws.receive(timeout=60)).data)
                await ws.send_str("close")
                closing = await ws.receive(timeout=60)
                return replies, closing.type, ws.close_code

    replies, closing, code = asyncio.run(talk())
    assert replies == ["hello: hi 0 (/ws)", "hello: hi 1 (/ws)", "hello: hi 2 (/ws)", b"cba"]
    assert closing == aiohttp.WSMsgType.CLOSE and code == 4000
    status, _, body = http(urls["wsgi"] + "/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade"})
    assert status == 501 and b"WebSockets need an @asgi_app" in body


def test_proxy_auth(sdk, deployed):
    _, urls = deployed
    status, _, body = http(urls["private"] + "/")
    assert status == 401 and b"Modal-Key" in body
    out = sdk.squall("token", "create-proxy", "--name", "ci")
    assert out.returncode == 0, out.stderr
    key = re.search(r"(wk-\w+)", out.stdout).group(1)
    secret = re.search(r"(ws-\S+)", out.stdout).group(1)
    assert http(urls["private"] + "/", headers={"Modal-Key": key, "Modal-Secret": "ws-wrong"})[0] == 401
    assert http(urls["private"] + "/", headers={"Modal-Key": key, "Modal-Secret": secret})[0] == 200
    assert http(urls["private"] + "/", headers={"Squall-Key": key, "Squall-Secret": secret})[0] == 200
    assert http(urls["api"] + "/", headers={"Modal-Key": key, "Modal-Secret": "whatever"})[0] == 200  # public endpoints ignore them
    out = sdk.squall("token", "delete-proxy", key)
    assert out.returncode == 0, out.stderr
    assert http(urls["private"] + "/", headers={"Modal-Key": key, "Modal-Secret": secret})[0] == 401


def _api_containers(state: str) -> list:
    app_id = api_call("AppHistory", api_pb2.AppHistoryRequest(app_id=APP)).app_id
    return [c for c in api_call("ContainerList", api_pb2.ContainerListRequest(app_id=app_id)).containers if c.function_name == "api" and c.state == state]


def test_scale_from_zero(sdk, deployed):
    _, urls = deployed
    assert http(urls["api"] + "/warm")[0] == 200
    # api has scaledown_window=2: its container goes away, then a request starts a new one.
    wait_until(lambda: not _api_containers("running"), 60, "the idle api container stopping")
    before = {c.container_id for c in _api_containers("stopped")}
    status, _, body = http(urls["api"] + "/cold")
    assert status == 200 and json.loads(body)["path"] == "/cold"
    started = [c for c in _api_containers("running") + _api_containers("stopped") if c.container_id not in before]
    assert started, "the request was answered without a new container"


def _api_container(container_id: str):
    return next((c for c in _api_containers("running") if c.container_id == container_id), None)


def test_a_ready_container_is_sent_requests_directly_and_they_count_as_its_load(sdk, deployed):
    _, urls = deployed
    wait_until(lambda: len(_api_containers("running")) <= 1, 60, "api down to one container")
    assert http(urls["api"] + "/warm")[0] == 200
    (warm,) = _api_containers("running")
    # The gateway reaches the container's own HTTP listener: requests skip the input queue.
    assert re.fullmatch(r"[\d.]+:\d+", warm.web_address), warm
    before = warm.web_requests
    for i in range(5):
        status, _, body = http(urls["api"] + f"/direct?i={i}", data=b"x" * 1000)
        assert status == 201 and json.loads(body)["query"] == f"i={i}" and len(json.loads(body)["body"]) == 1000
    assert _api_container(warm.container_id).web_requests == before + 5

    # api has one slot per container (no @concurrent) and scaledown_window=2. Two slow requests
    # at once: each holds a slot while it runs (a container never runs both at once, and does
    # not scale down under one), and both count in the function's stats.
    served: list = []
    threads = [threading.Thread(target=lambda: served.append(http(urls["api"] + "/sleep?s=3"))) for _ in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.3)
    stats = squall.Function.from_name(APP, "api").get_current_stats()
    assert stats.num_running_inputs + stats.backlog == 2, stats
    for t in threads:
        t.join(60)
    assert [r[0] for r in served] == [200, 200], served
    first, second = sorted((json.loads(r[2]) for r in served), key=lambda r: r["start"])
    assert first["container"] == warm.container_id
    assert first["container"] != second["container"] or second["start"] >= first["end"], (first, second)


def test_a_container_that_dies_mid_request_gives_502(sdk, deployed):
    _, urls = deployed
    wait_until(lambda: len(_api_containers("running")) <= 1, 60, "api down to one container")
    assert http(urls["api"] + "/warm")[0] == 200
    (container,) = _api_containers("running")
    assert container.web_address, container
    served: list = []
    t = threading.Thread(target=lambda: served.append(http(urls["api"] + "/sleep?s=60")))
    start = time.monotonic()
    t.start()
    wait_until(lambda: _api_container(container.container_id).web_requests > container.web_requests, 10, "the request reaching the container")
    assert sdk.squall("container", "stop", container.container_id).returncode == 0
    t.join(30)
    assert served and served[0][0] == 502 and b"could not answer" in served[0][2], served
    assert time.monotonic() - start < 30
    assert http(urls["api"] + "/after")[0] == 200  # and the next request gets a new container


def test_redeploy_under_load_drops_nothing_and_rollback_restores(sdk, deployed):
    d, urls = deployed
    results: list[str] = []
    errors: list = []
    stop = threading.Event()

    def load():
        while not stop.is_set():
            try:
                status, _, body = http(urls["api"] + "/load", timeout=120)
                if status != 200:
                    errors.append((status, body))
                else:
                    results.append(json.loads(body)["greeting"])
            except Exception as exc:  # noqa: BLE001 - every failure is reported below
                errors.append(exc)

    t = threading.Thread(target=load)
    t.start()
    try:
        wait_until(lambda: len(results) >= 5, 120, "the first requests")
        out = sdk.squall("deploy", str(write_app(d, "howdy")))
        assert out.returncode == 0, out.stdout + out.stderr
        wait_until(lambda: results and results[-1] == "howdy", 120, "requests reaching the new version")
        n = len(results)
        wait_until(lambda: len(results) >= n + 5, 60, "more requests on the new version")
    finally:
        stop.set()
        t.join(120)
    assert not errors, errors[:3]
    first_new = results.index("howdy")
    assert results[0] == "hello" and all(r == "howdy" for r in results[first_new:]), "requests went back to the old version"

    out = sdk.squall("app", "rollback", APP)
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(http(urls["api"] + "/after-rollback")[2])["greeting"] == "hello"


def _logs_tail(cluster, lines: int = 80) -> str:
    """The last lines of the cluster's server and worker logs: what a hung request leaves to read."""
    out = []
    for log in sorted(cluster.home.glob("*.log")):
        out.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:]))
    return "\n".join(out)


def test_serve_reloads_on_change_and_stops_on_exit(sdk, runc_cluster, tmp_path):
    path = write_app(tmp_path, "hello")
    proc = subprocess.Popen([sys.executable, "-m", "squall.cli.main", "serve", str(path)], env={**sdk.env, "COLUMNS": "200"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: [lines.append(line) for line in proc.stdout], daemon=True)
    reader.start()
    try:
        url = wait_until(lambda: next((m.group(1) for line in lines if (m := re.search(r"api => (\S+)", line))), None), 180, "the served URL", lines)
        assert url.endswith(f"/{APP}/api-dev"), url
        assert json.loads(http(url + "/x")[2])["greeting"] == "hello"
        write_app(tmp_path, "reloaded")
        def reloaded():
            try:
                status, _, body = http(url + "/x")
            except TimeoutError as exc:  # a request that hangs is a failure, not something to retry
                raise AssertionError(f"a request during the reload hung: {exc}\n{''.join(lines)}\n{_logs_tail(runc_cluster)}") from exc
            return status == 200 and json.loads(body)["greeting"] == "reloaded"

        wait_until(reloaded, 120, "the served app reloading", lines)
        assert any("Reloaded app" in line for line in lines)
        # A deployed app of the same name keeps its own URL and code.
        assert json.loads(http(url.removesuffix("-dev") + "/x")[2])["greeting"] in ("hello", "howdy")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        reader.join(10)
        proc.stdout.close()
    assert proc.returncode == 0, "".join(lines)
    served = [a for a in api_call("AppList", api_pb2.AppListRequest()).apps if a.name == APP and a.ephemeral]
    assert len(served) >= 2 and all(a.state == "stopped" for a in served), served
    assert http(url + "/x")[0] == 404


def test_squall_run_prints_the_dev_urls(sdk, deployed):
    out = sdk.squall("run", str(write_app(deployed[0], "hello", "run_app.py")) + "::plain", "--x", "41")
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(rf"api => http://127\.0\.0\.1:\d+/{APP}/api-dev", out.stdout), out.stdout
    assert "42" in out.stdout


def test_fastapi_endpoints(sdk, tmp_path):
    path = tmp_path / "fastapi_app.py"
    path.write_text((ROOT / "tests" / "apps" / "web_fastapi.py").read_text())
    out = sdk.squall("deploy", str(path))
    assert out.returncode == 0, out.stdout + out.stderr
    urls = dict(re.findall(r"^\s+(\w+) => (\S+)$", out.stdout, re.M))
    status, _, body = http(urls["add"] + "?scale=2", data=json.dumps({"a": 2, "b": 3}).encode(), headers={"Content-Type": "application/json"})
    assert (status, json.loads(body)) == (200, {"sum": 10})
    assert http(urls["add"])[0] == 405  # method="POST" only
    status, _, body = http(urls["add"] + "/docs")
    assert status == 200 and b"swagger" in body.lower()
    status, _, body = http(urls["hello"] + "?name=squall")
    assert (status, json.loads(body)) == (200, "hello squall")
    assert http(urls["hello"] + "/docs")[0] == 404  # docs=False
