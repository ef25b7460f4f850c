"""Dict and Queue operations per second, Squall against Redis in the same run.

Starts a squall Cluster (server + runc worker; only the server is used) and a throwaway
`redis-server` on loopback (installed with apt when it is not on PATH), then times the same
operations from this process against both, one client call at a time:

- single ops: Dict.put / Dict.get / Queue.put / Queue.get against SET / GET / RPUSH / LPOP of
  pickled values;
- batches: Dict.update of 1,000 keys against MSET; Queue.put_many / get_many of 1,000 against
  one RPUSH of 1,000 values / one `LPOP key 1000`, sent through a redis-py pipeline.

Run alone with `python benchmarks/bench_storage.py` (prints JSON) or as a section of
`benchmarks/run.py` (`--only-storage` runs just this).
"""

from __future__ import annotations

import os
import pathlib
import pickle
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.conftest import Cluster, free_port  # noqa: E402

VALUE = {"step": 0, "status": "running", "payload": "x" * 100}  # a small progress-like record


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _timed(fn, n: int) -> dict:
    """Call fn(i) n times, one after another: ops/s over the whole loop and p50 of one call."""
    lat = []
    t_start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        lat.append(time.perf_counter() - t0)
    total = time.perf_counter() - t_start
    return {"ops_per_s": round(n / total), "p50_ms": _ms(statistics.median(lat)), "calls": n}


def _timed_batches(fn, batches: int, batch: int) -> dict:
    """fn(j) moves `batch` items; items/s over all batches and p50 of one batch call."""
    r = _timed(fn, batches)
    return {"ops_per_s": round(r["ops_per_s"] * batch), "p50_ms": r["p50_ms"], "calls": batches, "batch": batch}


def _value(i: int) -> dict:
    return {**VALUE, "step": i}


# -- squall ----------------------------------------------------------------------------------
def squall_storage(n: int, batch: int, batches: int) -> dict:
    import squall

    out: dict = {}
    with squall.Dict.ephemeral() as d, squall.Queue.ephemeral() as q:
        for i in range(50):  # warm the channel and the handles
            d.put(f"warm{i}", _value(i))
            d.get(f"warm{i}")
            q.put(_value(i))
            q.get()
        out["dict_put"] = _timed(lambda i: d.put(f"k{i}", _value(i)), n)
        out["dict_get"] = _timed(lambda i: d.get(f"k{i}"), n)
        assert d.get(f"k{n - 1}") == _value(n - 1)
        out["queue_put"] = _timed(lambda i: q.put(_value(i)), n)
        out["queue_get"] = _timed(lambda i: q.get(), n)
        assert q.len() == 0
        chunks = [{f"b{j}-{i}": _value(i) for i in range(batch)} for j in range(batches)]
        out["dict_update"] = _timed_batches(lambda j: d.update(chunks[j]), batches, batch)
        assert d.len() == 50 + n + batch * batches
        items = [_value(i) for i in range(batch)]
        out["queue_put_many"] = _timed_batches(lambda j: q.put_many(items), batches, batch)
        assert q.len() == batch * batches
        got: list[int] = []
        out["queue_get_many"] = _timed_batches(lambda j: got.append(len(q.get_many(batch))), batches, batch)
        assert got == [batch] * batches, got
    return out


def _use(cluster: Cluster) -> None:
    for key in ("SQUALL_HOME", "SQUALL_CACHE_HOME", "SQUALL_SERVER_URL", "SQUALL_TOKEN"):
        os.environ[key] = cluster.env[key]
    from squall.client import client

    client.reset_client()


# -- redis -----------------------------------------------------------------------------------
def ensure_redis_server() -> str:
    """The path of redis-server, installing Debian's package when it is missing."""
    path = shutil.which("redis-server")
    if path:
        return path
    print("redis-server not found: apt-get install -y redis-server ...", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", "redis-server"]
    if subprocess.run(cmd, env=env).returncode != 0:
        subprocess.run([*sudo, "apt-get", "update", "-q"], env=env, check=True)
        subprocess.run(cmd, env=env, check=True)
    path = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)
    if not path:
        raise RuntimeError("redis-server is still not on PATH after apt-get install redis-server")
    return path


class RedisServer:
    """A throwaway `redis-server` on 127.0.0.1 with persistence off."""

    def __init__(self, workdir: pathlib.Path):
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        import redis

        binary = ensure_redis_server()
        self.log = open(self.workdir / "redis.log", "ab")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                if redis.Redis(host="127.0.0.1", port=self.port).ping():
                    return
            except redis.ConnectionError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start; log:\n{(self.workdir / 'redis.log').read_text()[-2000:]}")
            time.sleep(0.05)

    def version(self) -> str:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port).info("server")["redis_version"]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()


def redis_storage(port: int, n: int, batch: int, batches: int) -> dict:
    import redis

    r = redis.Redis(host="127.0.0.1", port=port)
    dumps, loads = (lambda v: pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL)), pickle.loads
    out: dict = {}
    for i in range(50):
        r.set(f"warm{i}", dumps(_value(i)))
        r.get(f"warm{i}")
        r.rpush("q", dumps(_value(i)))
        r.lpop("q")
    out["dict_put"] = _timed(lambda i: r.set(f"k{i}", dumps(_value(i))), n)
    out["dict_get"] = _timed(lambda i: loads(r.get(f"k{i}")), n)
    assert loads(r.get(f"k{n - 1}")) == _value(n - 1)
    out["queue_put"] = _timed(lambda i: r.rpush("q", dumps(_value(i))), n)
    out["queue_get"] = _timed(lambda i: loads(r.lpop("q")), n)
    assert r.llen("q") == 0
    chunks = [{f"b{j}-{i}": _value(i) for i in range(batch)} for j in range(batches)]
    out["dict_update"] = _timed_batches(lambda j: r.mset({k: dumps(v) for k, v in chunks[j].items()}), batches, batch)
    assert r.dbsize() == 50 + n + batch * batches
    items = [_value(i) for i in range(batch)]

    def put_many(_j):
        p = r.pipeline(transaction=False)
        p.rpush("q", *[dumps(v) for v in items])
        p.execute()

    def get_many(_j):
        p = r.pipeline(transaction=False)
        p.lpop("q", batch)
        (values,) = p.execute()
        got.append(len([loads(v) for v in values]))

    out["queue_put_many"] = _timed_batches(put_many, batches, batch)
    assert r.llen("q") == batch * batches
    got: list[int] = []
    out["queue_get_many"] = _timed_batches(get_many, batches, batch)
    assert got == [batch] * batches, got
    r.flushall()
    r.close()
    return out


# -- both ------------------------------------------------------------------------------------
OPS = [  # key, squall label, redis label
    ("dict_put", "`Dict.put`", "`SET`"),
    ("dict_get", "`Dict.get`", "`GET`"),
    ("queue_put", "`Queue.put`", "`RPUSH`"),
    ("queue_get", "`Queue.get`", "`LPOP`"),
    ("dict_update", "`Dict.update` (1,000 keys)", "`MSET` (1,000 keys)"),
    ("queue_put_many", "`Queue.put_many` (1,000)", "`RPUSH` of 1,000 (pipeline)"),
    ("queue_get_many", "`Queue.get_many(1000)`", "`LPOP q 1000` (pipeline)"),
]


def storage_figures(n: int = 2000, batch: int = 1000, batches: int = 20, runtime: str = "runc") -> dict:
    import redis as redis_py

    home = pathlib.Path(tempfile.mkdtemp(prefix="squall-bench-storage-"))
    saved = {k: os.environ.get(k) for k in ("SQUALL_HOME", "SQUALL_CACHE_HOME", "SQUALL_SERVER_URL", "SQUALL_TOKEN")}
    cluster = Cluster(home, runtime)
    redis_server = RedisServer(home)
    try:
        redis_server.start()
        cluster.start_server()
        cluster.start_worker()
        _use(cluster)
        print(f"  squall ({n} single ops, {batches} batches of {batch}) ...", flush=True)
        sq = squall_storage(n, batch, batches)
        print(f"  redis {redis_server.version()} ...", flush=True)
        rd = redis_storage(redis_server.port, n, batch, batches)
        return {
            "ops": n, "batch": batch, "batches": batches, "runtime": runtime,
            "redis_version": redis_server.version(), "redis_py": redis_py.__version__,
            "squall": sq, "redis": rd,
            "ratio_ops_per_s": {k: round(sq[k]["ops_per_s"] / rd[k]["ops_per_s"], 3) for k in sq},
        }
    finally:
        redis_server.stop()
        cluster.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(home, ignore_errors=True)


def markdown(s: dict) -> list[str]:
    lines = [
        "## Dict and Queue (Squall vs Redis, same run)",
        "",
        (f"Run {s['when']} on {s['machine']}. " if s.get("when") else "") +
        f"One client in this process, one call at a time over loopback: {s['ops']:,} single operations each, and "
        f"{s['batches']} batches of {s['batch']:,} items. Squall: a server with its SQLite store (runtime {s['runtime']}). "
        f"Redis {s['redis_version']} (`redis-server --save '' --appendonly no`) through redis-py {s['redis_py']}; "
        "values are pickled on both sides. Batch rows count items per second; p50 is one call.",
        "",
        "| Squall | Redis | Squall ops/s | p50 | Redis ops/s | p50 | Squall / Redis ops/s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, sq_label, rd_label in OPS:
        a, b = s["squall"][key], s["redis"][key]
        lines.append(f"| {sq_label} | {rd_label} | {a['ops_per_s']:,} | {a['p50_ms']} ms | {b['ops_per_s']:,} | {b['p50_ms']} ms | {a['ops_per_s'] / b['ops_per_s']:.2f}x |")
    return lines


if __name__ == "__main__":
    import json

    res = storage_figures()
    print(json.dumps(res, indent=2))
    print("\n".join(markdown(res)))
