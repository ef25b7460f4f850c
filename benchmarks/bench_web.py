"""Web endpoints: requests/s and latency through the gateway beside the same FastAPI app under
uvicorn on loopback (wrk, same run), and the first response from zero containers beside a
plain function's cold start (same runtime, same image).

The gateway path, once the container is ready: HTTP -> aiohttp in the server -> a pooled
keep-alive connection into the container's network namespace -> the agent's own HTTP listener
-> the ASGI app (docs/web.md, the direct path). The first request from zero goes the input path
(the function's input queue, gRPC through the worker's socket). uvicorn is the floor: the app
alone, one process, no isolation.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRK_SECONDS = 8
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    return round(float(m.group(1)) * UNITS[m.group(2)], 3)


def wrk(url: str, connections: int, seconds: int = WRK_SECONDS) -> dict:
    """wrk's requests/s and latency percentiles (it must be installed: Debian package `wrk`)."""
    threads = min(2, connections)
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url], capture_output=True, text=True, check=True).stdout
    pcts = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)$", out, re.M)
    return {
        "connections": connections, "requests_per_s": round(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))),
        "p50_ms": _ms(pcts["50"]), "p99_ms": _ms(pcts["99"]), "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as r:
        return r.read()


def uvicorn_figures(connections: list[int]) -> dict:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "benchmarks.bench_web_app:direct_app", "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "warning", "--no-access-log"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 30
        while True:
            try:
                assert _get(url) == b'{"ok":true}'
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        wrk(url, 1, 2)  # warm up
        return {str(c): wrk(url, c) for c in connections}
    finally:
        proc.terminate()
        proc.wait(10)


def gateway_figures(connections: list[int]) -> dict:
    from benchmarks import bench_web_app

    with bench_web_app.app.run():
        url = bench_web_app.hello.get_web_url() + "/"
        assert _get(url) == b'{"ok":true}'
        wrk(url, 1, 2)  # warm up
        return {"url_form": url.split("/", 3)[-1], **{str(c): wrk(url, c) for c in connections}}


def from_zero(colds: int) -> dict:
    """First response of a web endpoint with no container (a new app each time), beside the
    first result of a plain function the same way."""
    from benchmarks import bench_web_app

    web, plain = [], []
    for _ in range(colds):
        with bench_web_app.cold_app.run():
            url = bench_web_app.cold_web.get_web_url() + "/"
            t0 = time.perf_counter()
            assert _get(url) == b"ok"
            web.append(time.perf_counter() - t0)
        with bench_web_app.cold_app.run():
            t0 = time.perf_counter()
            bench_web_app.cold_noop.remote()
            plain.append(time.perf_counter() - t0)
    return {"first_response_p50_ms": round(statistics.median(web) * 1000, 1), "cold_remote_p50_ms": round(statistics.median(plain) * 1000, 1), "runs": colds}


def web_figures(runtime: str = "runc", connections: tuple[int, ...] = (1, 16), colds: int = 5) -> dict:
    from benchmarks.run import use
    from tests.conftest import Cluster

    if not shutil.which("wrk"):
        raise SystemExit("the web benchmark needs wrk: apt-get install wrk (scripts/install-system-deps.sh installs it)")
    home = Path(tempfile.mkdtemp(prefix="squall-bench-web-"))
    cluster = Cluster(home, runtime)
    cluster.start_server()
    cluster.start_worker()
    use(cluster)
    try:
        out = {"runtime": runtime, "wrk_seconds": WRK_SECONDS}
        out["uvicorn"] = uvicorn_figures(list(connections))
        out["gateway"] = gateway_figures(list(connections))
        out["from_zero"] = from_zero(colds)
        return out
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)


def markdown(w: dict) -> list[str]:
    lines = [
        f"## Web endpoints (gateway vs uvicorn, {w['runtime']}, wrk {w['wrk_seconds']} s per row, same run)", "",
        "A trivial FastAPI endpoint through the squall gateway, and the same FastAPI app under uvicorn on loopback (one process, no isolation).", "",
        "| | connections | requests/s | p50 | p99 | vs uvicorn throughput | p50 overhead |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c, direct in w["uvicorn"].items():
        g = w["gateway"][c]
        lines.append(f"| uvicorn | {c} | {direct['requests_per_s']:,} | {direct['p50_ms']} ms | {direct['p99_ms']} ms | 1x | - |")
        lines.append(f"| squall gateway | {c} | {g['requests_per_s']:,} | {g['p50_ms']} ms | {g['p99_ms']} ms "
                     f"| {g['requests_per_s'] / max(1, direct['requests_per_s']):.2f}x | +{g['p50_ms'] - direct['p50_ms']:.2f} ms |")
    z = w["from_zero"]
    lines += ["", "| scale from zero (plain ASGI endpoint, new app each time) | p50 |", "| --- | --- |",
              f"| first HTTP response through the gateway | {z['first_response_p50_ms']} ms |",
              f"| cold `.remote()` of a plain function (same image and runtime) | {z['cold_remote_p50_ms']} ms |",
              f"| difference | {z['first_response_p50_ms'] - z['cold_remote_p50_ms']:+.1f} ms |"]
    one, many = w["gateway"].get("1"), w["gateway"].get("16")
    d1, d16 = w["uvicorn"].get("1"), w["uvicorn"].get("16")
    if one and many and d1 and d16:
        overhead = one["p50_ms"] - d1["p50_ms"]
        ratio = many["requests_per_s"] / max(1, d16["requests_per_s"])
        gap = z["first_response_p50_ms"] - z["cold_remote_p50_ms"]
        lines += [
            "", "Against the issue's targets:",
            f"- gateway overhead at most 2 ms at p50: {'met' if overhead <= 2 else 'missed'} (+{overhead:.2f} ms at one connection).",
            f"- at least half of uvicorn's throughput: {'met' if ratio >= 0.5 else 'missed'} ({ratio:.2f}x at 16 connections).",
            f"- first response from zero within 20 ms of the cold start: {'met' if abs(gap) <= 20 else 'missed'} ({gap:+.1f} ms).",
            "- How: a ready container's agent serves HTTP itself in its network namespace and the gateway proxies to it over",
            "  pooled keep-alive connections (docs/web.md): no Store write and no gRPC hop per request. What remains is aiohttp",
            "  in the server plus a second HTTP parse in the container, on the same two cores as wrk.",
        ]
    return lines
