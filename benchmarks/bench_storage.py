"""Dict and Queue operations per second, Squall against Redis in the same run.

Starts a squall Cluster (server + runc worker; only the server is used) and a throwaway
`redis-server` on loopback (installed with apt when it is not on PATH), then times the same
operations from this process against both, one client call at a time:

- single ops: Dict.put / Dict.get / Queue.put / Queue.get against SET / GET / RPUSH / LPOP of
  pickled values;
- batches: Dict.update of 1,000 keys against MSET; Queue.put_many / get_many of 1,000 against
  one RPUSH of 1,000 values / one `LPOP key 1000`, sent through a redis-py pipeline.

Volumes (same cluster): a container writes a 1 GiB file into a mounted volume and commits it;
another container, whose copy predates the commit, reloads and reads it; the client uploads and
streams the same size. Beside them, the floor: `dd` and `cp` of a 1 GiB file on the same disk.
Blob backends: put and get of a 256 MiB blob in the local directory store and in the S3 store
against moto's S3 server on loopback (moto keeps objects in memory, in Python: a floor for the
client code, not a figure for a real S3).

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


# -- volumes and blob backends ----------------------------------------------------------------
def _mb_s(nbytes: int, seconds: float) -> float:
    return round(nbytes / (1024 * 1024) / seconds, 1)


def _write_file(path: pathlib.Path, mib: int) -> None:
    block = bytearray(os.urandom(4 * 1024 * 1024))
    with open(path, "wb") as f:
        for i in range(mib // 4):
            block[:8] = i.to_bytes(8, "little")
            f.write(block)


def _timed_cmd(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def volume_figures(workdir: pathlib.Path, mib: int = 1024) -> dict:
    """1 GiB through a Volume (in containers and from the client) beside dd / cp on the same disk."""
    import squall
    from benchmarks import bench_volume_app as vapp

    size = mib * 1024 * 1024
    src = workdir / "floor-src.bin"
    _write_file(src, mib)
    floor = {
        "dd_write_mb_s": _mb_s(size, _timed_cmd(["dd", "if=" + str(src), "of=" + str(workdir / "floor-dd.bin"), "bs=4M"])),
        "cp_mb_s": _mb_s(size, _timed_cmd(["cp", str(src), str(workdir / "floor-cp.bin")])),
        "dd_read_mb_s": _mb_s(size, _timed_cmd(["dd", "if=" + str(workdir / "floor-cp.bin"), "of=/dev/null", "bs=4M"])),
    }
    for name in ("floor-dd.bin", "floor-cp.bin"):
        (workdir / name).unlink()
    out: dict = {"mib": mib, "floor": floor}
    with vapp.app.run():
        vapp.reload_read.remote(None)  # its container starts now, with a copy that predates the write
        w = vapp.write_commit.remote("big.bin", mib)
        r = vapp.reload_read.remote("big.bin")
    assert r["bytes"] == size == r["size"], r
    out["container"] = {
        "write_mb_s": _mb_s(size, w["write_s"]), "commit_mb_s": _mb_s(size, w["commit_s"]),
        "write_commit_mb_s": _mb_s(size, w["write_s"] + w["commit_s"]),
        "reload_mb_s": _mb_s(size, r["reload_s"]), "read_mb_s": _mb_s(size, r["read_s"]),
        "reload_read_mb_s": _mb_s(size, r["reload_s"] + r["read_s"]),
    }
    vol = squall.Volume.from_name("bench-vol")
    t0 = time.perf_counter()
    with vol.batch_upload(force=True) as batch:
        batch.put_file(src, "uploaded.bin")
    t1 = time.perf_counter()
    n = 0
    for data in vol.read_file("uploaded.bin"):
        n += len(data)
    t2 = time.perf_counter()
    assert n == size
    out["client"] = {"upload_commit_mb_s": _mb_s(size, t1 - t0), "read_file_mb_s": _mb_s(size, t2 - t1)}
    src.unlink()
    return out


def blob_figures(workdir: pathlib.Path, mib: int = 256) -> dict:
    """put / get of one blob: the local directory store against the S3 store on moto's server."""
    import boto3
    from moto.server import ThreadedMotoServer

    from squall.storage.blobs import LocalBlobStore
    from squall.storage.s3 import S3BlobStore

    piece = 4 * 1024 * 1024
    data = bytearray(os.urandom(piece))

    def chunks(tag: int):
        for i in range(mib // 4):
            data[:16] = tag.to_bytes(8, "little") + i.to_bytes(8, "little")
            yield bytes(data)

    def measure(store, tag: int) -> dict:
        t0 = time.perf_counter()
        digest = store.put_chunks(chunks(tag))
        t1 = time.perf_counter()
        n = sum(len(c) for c in store.read_chunks(digest))
        t2 = time.perf_counter()
        assert n == mib * 1024 * 1024
        return {"put_mb_s": _mb_s(n, t1 - t0), "get_mb_s": _mb_s(n, t2 - t1)}

    out = {"mib": mib, "local": measure(LocalBlobStore(workdir / "bench-blobs"), 1)}
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    try:
        boto3.client("s3").create_bucket(Bucket="squall-bench")
        out["s3_moto"] = measure(S3BlobStore("squall-bench", "blobs", spool_dir=str(workdir)), 2)
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    import moto

    out["moto_version"], out["boto3_version"] = moto.__version__, boto3.__version__
    return out


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
        print("  volumes: 1 GiB in containers and from the client, beside dd / cp ...", flush=True)
        vols = volume_figures(home)
        print("  blob backends: local directory and S3 (moto) ...", flush=True)
        blobs = blob_figures(home)
        return {
            "volume": vols, "blobs": blobs,
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
    if s.get("volume"):
        v, fl = s["volume"], s["volume"]["floor"]
        c, cl = v["container"], v["client"]
        lines += [
            "", f"## Volumes: {v['mib']:,} MiB file (same run, same disk)", "",
            "In a runc container: write the file into the mounted volume, then `vol.commit()` (hash, upload to the server's blob "
            "store, new version); a second container whose copy predates the commit runs `vol.reload()` (fetch into the worker's "
            "cache, copy into its directory) and reads the file. From the client: `batch_upload` and `read_file`. "
            "The floor is `dd bs=4M` and `cp` of a file of the same size on the same disk (page cache warm, no fsync on either side).",
            "", "| operation | MB/s | floor | MB/s |", "| --- | --- | --- | --- |",
            f"| write in the container | {c['write_mb_s']:,} | `dd` write | {fl['dd_write_mb_s']:,} |",
            f"| `commit()` | {c['commit_mb_s']:,} | `cp` | {fl['cp_mb_s']:,} |",
            f"| write + `commit()` | {c['write_commit_mb_s']:,} | `cp` | {fl['cp_mb_s']:,} |",
            f"| `reload()` | {c['reload_mb_s']:,} | `cp` | {fl['cp_mb_s']:,} |",
            f"| read in the container | {c['read_mb_s']:,} | `dd` read | {fl['dd_read_mb_s']:,} |",
            f"| `reload()` + read | {c['reload_read_mb_s']:,} | `cp` | {fl['cp_mb_s']:,} |",
            f"| client `batch_upload` (upload + commit) | {cl['upload_commit_mb_s']:,} | `cp` | {fl['cp_mb_s']:,} |",
            f"| client `read_file` | {cl['read_file_mb_s']:,} | `dd` read | {fl['dd_read_mb_s']:,} |",
        ]
    if s.get("blobs"):
        b = s["blobs"]
        lines += [
            "", f"## Blob backends: one {b['mib']} MiB blob", "",
            f"`put_chunks` then `read_chunks` from this process. S3: boto3 {b['boto3_version']} against moto {b['moto_version']}'s "
            "server on loopback (in-memory, pure Python: it measures the client path, not an S3 service).",
            "", "| backend | put MB/s | get MB/s |", "| --- | --- | --- |",
            f"| local directory | {b['local']['put_mb_s']:,} | {b['local']['get_mb_s']:,} |",
            f"| S3 API (moto, loopback) | {b['s3_moto']['put_mb_s']:,} | {b['s3_moto']['get_mb_s']:,} |",
        ]
    return lines


if __name__ == "__main__":
    import json

    res = storage_figures()
    print(json.dumps(res, indent=2))
    print("\n".join(markdown(res)))
