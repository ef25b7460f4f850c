"""Squall and its peers, side by side in one run: `make bench`.

Measures, for runc and gVisor: warm `.remote()` round trip, `.map` throughput, and cold start
to first result split into phases; Ray 2.60 doing the same calls; and the bare runtime floor
(`runc run` / `runsc run` of `python3 -c pass`); and Dict/Queue operations per second against
Redis (benchmarks/bench_storage.py; `--only-storage` runs just that and merges it into the
existing results). Writes benchmarks/results/latest.json and
docs/benchmarks.md. Quote medians and ratios: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import bench_app, bench_images, bench_storage  # noqa: E402
from tests.conftest import CACHE, Cluster  # noqa: E402


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


# -- squall ----------------------------------------------------------------------------------
def use(cluster: Cluster) -> None:
    for key in ("SQUALL_HOME", "SQUALL_CACHE_HOME", "SQUALL_SERVER_URL", "SQUALL_TOKEN"):
        os.environ[key] = cluster.env[key]
    from squall.client import client

    client.reset_client()


def squall_figures(runtime: str, calls: int, map_n: int, colds: int) -> dict:
    home = pathlib.Path(tempfile.mkdtemp(prefix=f"squall-bench-{runtime}-"))
    cluster = Cluster(home, runtime)
    cluster.start_server()
    cluster.start_worker()
    use(cluster)
    try:
        out: dict = {"runtime": runtime}
        with bench_app.app.run():
            bench_app.noop.remote()
            lat = []
            for _ in range(calls):
                t0 = time.perf_counter()
                bench_app.noop.remote()
                lat.append(time.perf_counter() - t0)
            out["remote_p50_ms"], out["remote_p90_ms"] = ms(statistics.median(lat)), ms(pct(lat, 0.9))
            list(bench_app.ident.map(range(500)))  # warm the pool
            t0 = time.perf_counter()
            n = sum(1 for _ in bench_app.ident.map(range(map_n)))
            dt = time.perf_counter() - t0
            assert n == map_n
            out["map_inputs"] = map_n
            out["map_per_s"] = round(map_n / dt)
        out["cold"] = cold_starts(colds)
        return out
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)


def cold_starts(n: int) -> dict:
    """First result of a function with no warm container (a new app each time), with phases."""
    from squall._proto.squall.v1 import api_pb2
    from squall.cli._common import api_call

    totals, phases = [], []
    for _ in range(n):
        with bench_app.cold_app.run():
            t0 = time.time()
            bench_app.cold_noop.remote()
            t1 = time.time()
            app_id = bench_app.cold_app.app_id
        totals.append(t1 - t0)
        c = [c for c in api_call("ContainerList", api_pb2.ContainerListRequest(app_id=app_id)).containers][0]
        t = dict(c.timings)
        order = ["scheduled", "rootfs_ready", "process_started", "imports_done", "enter_done", "first_input"]
        marks = [t0] + [t.get(k, float("nan")) for k in order] + [t1]
        phases.append({name: ms(b - a) for name, a, b in zip(order + ["result"], marks, marks[1:])})
    return {
        "total_p50_ms": ms(statistics.median(totals)),
        "phases_p50_ms": {k: round(statistics.median(p[k] for p in phases), 2) for k in phases[0]},
    }


# -- peers -----------------------------------------------------------------------------------
def ray_figures(calls: int, map_n: int) -> dict:
    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")

    @ray.remote
    def noop():
        return None

    ray.get(noop.remote())
    init_s = time.perf_counter() - t0
    for _ in range(20):
        ray.get(noop.remote())
    lat = []
    for _ in range(calls):
        t = time.perf_counter()
        ray.get(noop.remote())
        lat.append(time.perf_counter() - t)

    @ray.remote
    def ident(x):
        return x

    t = time.perf_counter()
    ray.get([ident.remote(i) for i in range(map_n)])
    dt = time.perf_counter() - t
    ray.shutdown()
    return {"remote_p50_ms": ms(statistics.median(lat)), "remote_p90_ms": ms(pct(lat, 0.9)), "map_per_s": round(map_n / dt), "init_to_first_result_ms": ms(init_s)}


def runtime_floor(rootfs: pathlib.Path, runs: int) -> dict:
    """`runc run` / `runsc run` of python3 -c pass on the same rootfs: what no platform can beat."""
    results = {}
    with tempfile.TemporaryDirectory() as bundle:
        subprocess.run(["runc", "spec", "--bundle", bundle], check=True)
        spec = json.loads(pathlib.Path(bundle, "config.json").read_text())
        spec["root"] = {"path": str(rootfs), "readonly": True}
        spec["process"]["terminal"] = False
        spec["process"]["args"] = ["python3", "-c", "pass"]
        pathlib.Path(bundle, "config.json").write_text(json.dumps(spec))
        for name, cmd in (("runc", ["runc", "--root", f"{bundle}/.runc"]), ("runsc", ["runsc", "--root", f"{bundle}/.runsc", "--network=none"])):
            times = []
            for i in range(runs):
                t = time.perf_counter()
                subprocess.run([*cmd, "run", "--bundle", bundle, f"floor-{os.getpid()}-{i}"], check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
                times.append(time.perf_counter() - t)
            results[f"{name}_python_pass_p50_ms"] = ms(statistics.median(times))
    return results


# -- report ----------------------------------------------------------------------------------
def markdown(r: dict) -> str:
    ray = r.get("ray", {})
    lines = [
        "# Benchmarks",
        "",
        f"Run {r['when']} on {r['machine']}; `make bench` reproduces it. Medians of one run; the machine is shared and noisy.",
        "",
        "## Calls and maps (Squall vs Ray 2.60, same run)",
        "",
        "| | warm `.remote()` p50 | p90 | `.map` throughput | vs Ray p50 | vs Ray throughput |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for s in r["squall"]:
        lines.append(
            f"| squall ({s['runtime']}) | {s['remote_p50_ms']} ms | {s['remote_p90_ms']} ms | {s['map_per_s']:,}/s ({s['map_inputs']:,} inputs) "
            f"| {s['remote_p50_ms'] / ray['remote_p50_ms']:.2f}x | {s['map_per_s'] / ray['map_per_s']:.2f}x |" if ray else
            f"| squall ({s['runtime']}) | {s['remote_p50_ms']} ms | {s['remote_p90_ms']} ms | {s['map_per_s']:,}/s | - | - |"
        )
    if ray:
        lines.append(f"| Ray (`ray.init(num_cpus=2)`) | {ray['remote_p50_ms']} ms | {ray['remote_p90_ms']} ms | {ray['map_per_s']:,}/s | 1x | 1x |")
    lines += ["", "## Cold start to first result (cached image, no warm container)", "",
              "| runtime | end to end p50 | scheduled | rootfs ready | process started | imports done | @enter done | first input | result |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s in r["squall"]:
        p = s["cold"]["phases_p50_ms"]
        lines.append(f"| {s['runtime']} | {s['cold']['total_p50_ms']} ms | " + " | ".join(f"{p[k]} ms" for k in p) + " |")
    f = r.get("floor", {})
    lines += ["", "Each phase column is the time since the previous mark (client call → scheduled → ...).", "",
              "## Bare runtime floor (same rootfs)", "", "| | p50 |", "| --- | --- |"]
    lines += [f"| `{k.split('_')[0]} run` python3 -c pass | {v} ms |" for k, v in f.items()]
    if r.get("storage"):
        lines += ["", *bench_storage.markdown(r["storage"])]
    if r.get("images"):
        lines += ["", *bench_images.markdown(r["images"])]
    if r.get("notes"):
        lines += ["", "## Where the time goes", "", *r["notes"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtimes", default="runc,gvisor")
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--map-n", type=int, default=20_000)
    ap.add_argument("--colds", type=int, default=5)
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--only", choices=["storage", "images"], help="run only that section; keep the other sections of latest.json")
    ap.add_argument("--only-storage", action="store_const", const="storage", dest="only", help="same as --only storage")
    ap.add_argument("--storage-ops", type=int, default=2000)
    args = ap.parse_args()
    out_dir = ROOT / "benchmarks" / "results"
    if args.only:
        latest = out_dir / "latest.json"
        results = json.loads(latest.read_text()) if latest.exists() else {"when": "-", "machine": "-", "squall": []}
        print(f"{args.only} ...", flush=True)
        results[args.only] = storage_section(args.storage_ops) if args.only == "storage" else images_section(args.colds)
        write(results, out_dir)
        return
    results: dict = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": f"{platform.node()} ({os.cpu_count()} cpu)", "squall": []}
    for rt in args.runtimes.split(","):
        print(f"squall on {rt} ...", flush=True)
        results["squall"].append(squall_figures(rt, args.calls, args.map_n, args.colds))
    if not args.no_ray:
        print("ray ...", flush=True)
        results["ray"] = ray_figures(args.calls, args.map_n)
    from squall.images.base import ensure_debian_slim

    results["floor"] = runtime_floor(ensure_debian_slim(CACHE, log=lambda _l: None), 10)
    print("dict and queue vs redis ...", flush=True)
    results["storage"] = storage_section(args.storage_ops)
    print("images ...", flush=True)
    results["images"] = images_section(args.colds)
    notes_file = ROOT / "benchmarks" / "NOTES.md"
    results["notes"] = notes_file.read_text().splitlines() if notes_file.exists() else []
    write(results, out_dir)


def storage_section(ops: int) -> dict:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return {"when": when, "machine": f"{platform.node()} ({os.cpu_count()} cpu)", **bench_storage.storage_figures(n=ops)}


def images_section(colds: int) -> dict:
    """Image builds on a runc cluster with a layer cache of its own (the base shared), plus podman."""
    from squall.images.base import ensure_debian_slim

    base = ensure_debian_slim(CACHE, log=lambda _l: None)
    home = pathlib.Path(tempfile.mkdtemp(prefix="squall-bench-images-"))
    (home / "cache").mkdir()
    (home / "cache" / "images").symlink_to(CACHE / "images")
    cluster = Cluster(home, "runc")
    cluster.env["SQUALL_CACHE_HOME"] = str(home / "cache")
    cluster.start_server()
    cluster.start_worker()
    use(cluster)
    try:
        figures = bench_images.images_figures(cluster, colds=colds, noops=20)
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)
    figures["floor_runc_ms"] = runtime_floor(base, 10)["runc_python_pass_p50_ms"]
    figures["podman"] = bench_images.podman_figures(base)
    figures["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return figures


def write(results: dict, out_dir: pathlib.Path) -> None:
    out_dir.mkdir(exist_ok=True)
    (out_dir / "latest.json").write_text(json.dumps(results, indent=2))
    (ROOT / "docs" / "benchmarks.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
