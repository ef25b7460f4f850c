"""Sandboxes, each figure beside the raw runtime floor of the same command in the same run:
`python benchmarks/bench_sandbox.py` (root; runc and runsc installed).

- create to first exec output (`echo hi`), p50/p90, from the warm pool and cold, beside
  `runsc run` of `echo hi` on the same rootfs;
- exec round trip (`true`), p50, gVisor and runc, beside `runsc exec` / `runc exec` of `true`
  in a running container;
- what starting a process costs inside gVisor: `true` started with posix_spawn (glibc) and
  reaped by a process already in the sandbox (squall's execs start theirs with squall-spawn,
  spawn.c, which makes far fewer system calls);
- 100 sandboxes created at once: seconds until every one has answered an exec, with network
  (the default) and with block_network=True, beside 100 raw `runsc run --detach` + `runsc exec`
  at once (no network); the median of 3 rounds each (`--rounds`), every round shown;
- idle sandboxes per GiB: the memory cgroups of N idle sandboxes, summed;
- memory snapshots of a process that imported torch (`--only-snapshot` runs just this row and
  merges it into the last results): create to the process's first answer (cold), snapshot_memory(),
  and from_snapshot() to the restored process's first answer; beside raw `runsc run` /
  `runsc checkpoint` / `runsc restore` of the same process on the same image layers.

Writes benchmarks/results/sandbox.json and docs/benchmarks-sandbox.md. The machine is shared
and noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import concurrent.futures
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

from tests.conftest import CACHE, Cluster  # noqa: E402


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def cluster(runtime: str, pool: int = 0) -> Cluster:
    c = Cluster(pathlib.Path(tempfile.mkdtemp(prefix=f"squall-sbbench-{runtime}-")), runtime)
    c.env["SQUALL_SANDBOX_POOL"] = str(pool)
    c.start_server()
    c.start_worker()
    for key in ("SQUALL_HOME", "SQUALL_CACHE_HOME", "SQUALL_SERVER_URL", "SQUALL_TOKEN"):
        os.environ[key] = c.env[key]
    from squall.client import client

    client.reset_client()
    return c


def stop(c: Cluster) -> None:
    c.stop()
    shutil.rmtree(c.home, ignore_errors=True)


def first_output(**kwargs) -> tuple[float, bool]:
    import squall

    t0 = time.perf_counter()
    sb = squall.Sandbox.create(**kwargs)
    out = sb.exec("echo", "hi").stdout.read()
    dt = time.perf_counter() - t0
    assert out == "hi\n", out
    warm = squall.Sandbox.from_id(sb.object_id)._info.from_warm_pool
    sb.terminate()
    return dt, warm


def create_figures(n: int) -> dict:
    out = {}
    c = cluster("gvisor")
    try:
        first_output()  # the first sandbox also warms the page cache for the rootfs
        cold = [first_output()[0] for _ in range(n)]
        out["cold_p50_ms"], out["cold_p90_ms"] = ms(statistics.median(cold)), ms(pct(cold, 0.9))
    finally:
        stop(c)
    c = cluster("gvisor", pool=4)
    try:
        warm: list[float] = []
        deadline = time.monotonic() + 300
        while len(warm) < n and time.monotonic() < deadline:
            dt, from_pool = first_output()
            if from_pool:
                warm.append(dt)
            time.sleep(1.0)  # let the pool refill: the figure is a create that finds one waiting
        out["warm_p50_ms"], out["warm_p90_ms"] = ms(statistics.median(warm)), ms(pct(warm, 0.9))
    finally:
        stop(c)
    return out


def exec_figures(runtime: str, n: int) -> dict:
    import squall

    c = cluster(runtime)
    try:
        sb = squall.Sandbox.create(runtime=runtime)
        sb.exec("true").wait()
        lat = []
        for _ in range(n):
            t0 = time.perf_counter()
            assert sb.exec("true").wait() == 0
            lat.append(time.perf_counter() - t0)
        sb.terminate()
        return {f"exec_{runtime}_p50_ms": ms(statistics.median(lat)), f"exec_{runtime}_p90_ms": ms(pct(lat, 0.9))}
    finally:
        stop(c)


def concurrent_figures(count: int, rounds: int, block_network: bool = False) -> dict:
    """`count` Sandbox.create() at once, each then answering `exec echo ready`; timed until all
    answered. `rounds` times on one cluster (each after the last one's sandboxes are gone): the
    median, and every round (one round on this 2-CPU VM moves by seconds with the host's load)."""
    import squall

    c = cluster("gvisor")
    try:
        def one(_):
            sb = squall.Sandbox.create(cpu=0.01, timeout=600, block_network=block_network)  # 100 x the default 0.125 cpu would not fit this machine's 2 cores
            p = sb.exec("echo", "ready")
            out = p.stdout.read()
            return sb, out == "ready\n", p.exit_reason

        times, failed = [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(count) as pool:
                results = list(pool.map(one, range(count)))
            times.append(round(time.perf_counter() - t0, 2))
            failed += [reason for _, ok, reason in results if not ok]
            for sb, _, _ in results:
                sb.terminate()
            for sb, _, _ in results:
                sb.wait(raise_on_termination=False)
            time.sleep(3)  # their networks and disks go in the background
        if failed:
            print(f"{len(failed)} of {count * rounds} sandboxes failed: {sorted(set(failed))[:5]}", file=sys.stderr)
        key = "concurrent_blocked" if block_network else "concurrent"
        return {"concurrent_creates": count, f"{key}_all_ready_s": round(statistics.median(times), 2), f"{key}_rounds_s": times, f"{key}_failed": len(failed)}
    finally:
        stop(c)


def density_figures(count: int) -> dict:
    import squall

    c = cluster("gvisor")
    try:
        boxes = [squall.Sandbox.create(cpu=0.01, timeout=600) for _ in range(count)]
        for sb in boxes:
            sb.exec("true").wait()  # every one is up and idle
        time.sleep(2.0)
        used = 0
        for sb in boxes:
            path = pathlib.Path("/sys/fs/cgroup/memory/squall") / sb.object_id / "memory.usage_in_bytes"
            used += int(path.read_text())
        for sb in boxes:
            sb.terminate()
        per_mib = used / count / (1 << 20)
        return {"idle_sandboxes_measured": count, "idle_sandbox_mib": round(per_mib, 1), "idle_sandboxes_per_gib": round(1024 / per_mib, 1)}
    finally:
        stop(c)


# -- memory snapshots --------------------------------------------------------------------------
TORCH_IMAGE_PIP = "torch==2.13.0"
# A process that imported torch and holds a tensor; each line written to the FIFO /tmp/req gets an
# answer on /tmp/resp computed with it. Asked with `sh` only, so the figure is the process's, not a
# new interpreter's.
TORCH_SERVER = """
import os, torch
x = torch.randn(512, 512)
for p in ("/tmp/req", "/tmp/resp"):
    os.mkfifo(p)
print("ready", torch.__version__, flush=True)
n = 0
while True:
    with open("/tmp/req") as f:
        f.read()
    n += 1
    with open("/tmp/resp", "w") as f:
        f.write(f"{n} {float((x @ x).sum()):.1f}\\n")
"""
ASK = "while [ ! -p /tmp/resp ]; do sleep 0.005; done; echo go > /tmp/req; cat /tmp/resp"


def torch_answer(sb) -> str:
    p = sb.exec("sh", "-c", ASK, timeout=300)
    out = p.stdout.read()
    assert p.wait() == 0 and out.strip(), (out, p.stderr.read())
    return out


def snapshot_figures(cold_n: int, restore_n: int) -> dict:
    import squall

    c = cluster("gvisor")
    try:
        image = squall.Image.debian_slim().pip_install(TORCH_IMAGE_PIP)
        t = time.perf_counter()
        warm = squall.Sandbox.create("python3", "-u", "-c", TORCH_SERVER, image=image, block_network=True, timeout=900)
        torch_answer(warm)  # builds the image (offline: the wheel is in the pip find-links) and warms the page cache
        print(f"image built and first torch process answered in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        warm.terminate()
        cold = []
        for _ in range(cold_n):
            t = time.perf_counter()
            sb = squall.Sandbox.create("python3", "-u", "-c", TORCH_SERVER, image=image, block_network=True, timeout=900)
            first = torch_answer(sb)
            cold.append(time.perf_counter() - t)
            sb.terminate()
        sb = squall.Sandbox.create("python3", "-u", "-c", TORCH_SERVER, image=image, block_network=True, timeout=900)
        assert torch_answer(sb).startswith("1 ")
        snap_s, paused, snaps = [], [], []
        for _ in range(3):
            t = time.perf_counter()
            snap = sb.snapshot_memory()
            snap_s.append(time.perf_counter() - t)
            paused.append(snap._info.checkpoint_s)
            snaps.append(snap)
        size = snaps[0]._info.size_bytes
        restore, counts = [], set()
        for _ in range(restore_n):
            t = time.perf_counter()
            sb2 = squall.Sandbox.from_snapshot(snaps[0])
            out = torch_answer(sb2)
            restore.append(time.perf_counter() - t)
            counts.add(out.split()[0])
            sb2.terminate()
        assert counts == {"2"}, counts  # the restored process goes on from the snapshot's memory
        sb.terminate()
        for snap in snaps:
            snap.delete()
        return {"torch_cold_p50_s": round(statistics.median(cold), 3), "torch_snapshot_p50_s": round(statistics.median(snap_s), 3),
                "torch_snapshot_paused_p50_s": round(statistics.median(paused), 3), "torch_snapshot_mib": round(size / (1 << 20), 1),
                "torch_restore_p50_s": round(statistics.median(restore), 3), "torch_restore_p90_s": round(pct(restore, 0.9), 3),
                "torch_cold_samples": cold_n, "torch_restore_samples": restore_n, "torch_answer": first.strip(),
                "torch_image_layers": _image_layers(image)}
    finally:
        stop(c)


def _image_layers(image) -> list[str]:
    from squall._proto.squall.v1 import api_pb2
    from squall.cli._common import api_call

    return list(api_call("ImageGet", api_pb2.ImageGetRequest(image_id=image.object_id)).layer_ids)


def snapshot_floor_figures(layer_ids: list[str], cold_n: int, restore_n: int) -> dict:
    """The same torch process under raw runsc on the same layers: `run` to its first answer,
    `checkpoint --leave-running --compression=none`, `restore` to its first answer."""
    from squall.images.base import debian_slim_path
    from squall.runtime import rootfs

    lower = [CACHE / "layers" / lid / "fs" for lid in reversed(layer_ids[1:])] + [debian_slim_path(CACHE)]
    work = pathlib.Path(tempfile.mkdtemp(prefix="squall-snapfloor-"))
    runsc = ["runsc", "--root", str(work / "root"), f"--platform={os.environ.get('SQUALL_GVISOR_PLATFORM') or 'ptrace'}", "--network=none", "--overlay2=none"]
    made: list[tuple[str, pathlib.Path]] = []

    def bundle(name: str, upper_from: pathlib.Path | None = None) -> pathlib.Path:
        b = work / name
        b.mkdir()
        if upper_from is not None:
            subprocess.run(["cp", "-a", str(upper_from), str(b / "upper")], check=True)
        rootfs.mount_overlay(lower, b, (b / "upper") if upper_from is not None else None)
        subprocess.run(["runc", "spec", "--bundle", str(b)], check=True)
        spec = json.loads((b / "config.json").read_text())
        spec["root"] = {"path": str(b / "rootfs"), "readonly": False}
        spec["process"].update(terminal=False, args=["python3", "-u", "-c", TORCH_SERVER])
        spec["process"]["env"] = ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/root"]
        (b / "config.json").write_text(json.dumps(spec))
        return b

    def ask(cid: str) -> None:
        subprocess.run([*runsc, "exec", cid, "sh", "-c", ASK], check=True, stdout=subprocess.DEVNULL, timeout=300)

    try:
        cold = []
        for i in range(cold_n + 1):
            cid = f"snapfloor-{os.getpid()}-c{i}"
            b = bundle(cid)
            t = time.perf_counter()
            subprocess.run([*runsc, "run", "--detach", "--bundle", str(b), cid], check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            made.append((cid, b))
            ask(cid)
            if i:  # the first one warms the page cache
                cold.append(time.perf_counter() - t)
        src_cid, src_b = made[-1]
        image_dir = work / "image"
        image_dir.mkdir()
        t = time.perf_counter()
        subprocess.run([*runsc, "checkpoint", "--leave-running", "--compression=none", f"--image-path={image_dir}", src_cid], check=True)
        checkpoint = time.perf_counter() - t
        restore = []
        for i in range(restore_n):
            cid = f"snapfloor-{os.getpid()}-r{i}"
            b = bundle(cid, upper_from=src_b / "upper")
            t = time.perf_counter()
            subprocess.run([*runsc, "restore", "--detach", f"--image-path={image_dir}", "--bundle", str(b), cid], check=True,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            made.append((cid, b))
            ask(cid)
            restore.append(time.perf_counter() - t)
        return {"runsc_torch_cold_p50_s": round(statistics.median(cold), 3), "runsc_torch_checkpoint_s": round(checkpoint, 3),
                "runsc_torch_restore_p50_s": round(statistics.median(restore), 3)}
    finally:
        for cid, b in made:
            subprocess.run([*runsc, "kill", cid, "KILL"], capture_output=True)
        for cid, b in made:
            for _ in range(50):
                if subprocess.run([*runsc, "delete", "--force", cid], capture_output=True).returncode == 0:
                    break
                time.sleep(0.1)
            rootfs.unmount(b / "rootfs")
        shutil.rmtree(work, ignore_errors=True)


# -- the runtime floor -------------------------------------------------------------------------
def _raw_bundle(bundle: str, args: list[str]) -> tuple[dict, list[str]]:
    """A bundle of runc's default spec on the debian_slim rootfs (read-only) running `args`; the
    spec and the runsc command line for it, on the platform squall's gVisor runtime uses (the
    floor is the same runsc)."""
    from squall.images.base import ensure_debian_slim
    from squall.runtime.gvisor import configured_platform

    subprocess.run(["runc", "spec", "--bundle", bundle], check=True)
    spec = json.loads(pathlib.Path(bundle, "config.json").read_text())
    spec["root"] = {"path": str(ensure_debian_slim(CACHE, log=lambda _l: None)), "readonly": True}
    spec["process"]["terminal"] = False
    spec["process"]["args"] = args
    pathlib.Path(bundle, "config.json").write_text(json.dumps(spec))
    return spec, ["runsc", "--root", f"{bundle}/.runsc", f"--platform={configured_platform()}", "--network=none"]


def floor_figures(n: int) -> dict:
    """Raw `runsc run` of `echo hi`, and `runsc exec` / `runc exec` of `true` in a running
    container, on the same debian_slim rootfs: what the runtimes cost with nothing of squall's."""
    out = {}
    with tempfile.TemporaryDirectory() as bundle:
        spec, runsc = _raw_bundle(bundle, ["echo", "hi"])
        runc = ["runc", "--root", f"{bundle}/.runc"]
        times = []
        for i in range(n):
            t = time.perf_counter()
            subprocess.run([*runsc, "run", "--bundle", bundle, f"fl-{os.getpid()}-{i}"], check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - t)
        out["runsc_run_echo_p50_ms"], out["runsc_run_echo_p90_ms"] = ms(statistics.median(times)), ms(pct(times, 0.9))
        spec["process"]["args"] = ["sleep", "600"]
        pathlib.Path(bundle, "config.json").write_text(json.dumps(spec))
        for name, cmd in (("runsc", runsc), ("runc", runc)):
            cid = f"fl-exec-{name}-{os.getpid()}"
            subprocess.run([*cmd, "run", "--detach", "--bundle", bundle, cid], check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            try:
                times = []
                for _ in range(n):
                    t = time.perf_counter()
                    subprocess.run([*cmd, "exec", cid, "true"], check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
                    times.append(time.perf_counter() - t)
                out[f"{name}_exec_true_p50_ms"] = ms(statistics.median(times))
                if name == "runsc":  # the same, from inside: what spawning a process costs in gVisor
                    probe = ("import os, time\nts = []\nfor _ in range(%d):\n    t = time.perf_counter(); os.waitpid(os.posix_spawn('/bin/true', ['true'], {}), 0)"
                             "\n    ts.append(time.perf_counter() - t)\nprint(sorted(ts)[len(ts) // 2])") % n
                    inside = subprocess.run([*cmd, "exec", cid, "python3", "-c", probe], check=True, capture_output=True, text=True).stdout
                    out["runsc_inside_spawn_true_p50_ms"] = ms(float(inside))
            finally:
                _remove_container(cmd, cid)
    return out


def _remove_container(runtime: list[str], cid: str) -> None:
    subprocess.run([*runtime, "kill", cid, "KILL"], capture_output=True)
    for _ in range(50):
        if subprocess.run([*runtime, "delete", "--force", cid], capture_output=True).returncode == 0:
            break
        time.sleep(0.1)


def concurrent_floor_figures(count: int, rounds: int) -> dict:
    """The floor of the 100-at-once row: `count` raw `runsc run --detach` of an idle container on
    the same rootfs, started at once, each then answering `runsc exec ... echo ready`; timed until
    all answered, `rounds` times (the median, and each). No network (`--network=none`), no cgroup
    setup, no supervisor: gVisor alone."""
    times, failed = [], 0
    with tempfile.TemporaryDirectory() as bundle:
        _, runsc = _raw_bundle(bundle, ["sleep", "600"])

        def one(cid: str) -> bool:
            # Not a pipe: the detached sandbox would hold it open, and the read would wait for it to end.
            started = subprocess.run([*runsc, "run", "--detach", "--bundle", bundle, cid], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
            if started.returncode != 0:
                return False
            out = subprocess.run([*runsc, "exec", cid, "echo", "ready"], stdin=subprocess.DEVNULL, capture_output=True, text=True).stdout
            return out == "ready\n"

        for r in range(rounds):
            ids = [f"flc-{os.getpid()}-{r}-{i:04d}" for i in range(count)]  # one width: runsc takes an id's unique prefix as the id
            try:
                t0 = time.perf_counter()
                with concurrent.futures.ThreadPoolExecutor(count) as pool:
                    ok = list(pool.map(one, ids))
                times.append(round(time.perf_counter() - t0, 2))
                failed += ok.count(False)
            finally:
                with concurrent.futures.ThreadPoolExecutor(16) as pool:
                    list(pool.map(lambda cid: _remove_container(runsc, cid), ids))
            time.sleep(3)
    return {"runsc_concurrent_all_ready_s": round(statistics.median(times), 2), "runsc_concurrent_rounds_s": times, "runsc_concurrent_failed": failed}


def _rounds(values) -> str:
    return f" (rounds: {', '.join(f'{v:g}' for v in values)})" if values else ""


def _floor_concurrent(f: dict) -> str:
    if "runsc_concurrent_all_ready_s" not in f:
        return ""
    return (f"`runsc run --detach` + `runsc exec echo ready`, no network: {f['runsc_concurrent_all_ready_s']} s{_rounds(f.get('runsc_concurrent_rounds_s'))}, "
            f"{f['runsc_concurrent_failed']} failed")


def markdown(r: dict) -> str:
    f, s = r["floor"], r["squall"]
    rows = [
        ("create → first exec output, cold, p50 / p90", f"{s['cold_p50_ms']} / {s['cold_p90_ms']} ms",
         f"`runsc run echo hi`: {f['runsc_run_echo_p50_ms']} / {f['runsc_run_echo_p90_ms']} ms", "≤ 300 ms"),
        ("create → first exec output, warm pool, p50 / p90", f"{s['warm_p50_ms']} / {s['warm_p90_ms']} ms", "", "≤ 50 ms"),
        ("exec round trip (`true`), gVisor, p50", f"{s['exec_gvisor_p50_ms']} ms",
         f"`runsc exec true`: {f['runsc_exec_true_p50_ms']} ms" + (f"; `true` by posix_spawn from a process inside the sandbox: {f['runsc_inside_spawn_true_p50_ms']} ms"
                                                           if "runsc_inside_spawn_true_p50_ms" in f else ""), "≤ 10 ms"),
        ("exec round trip (`true`), runc, p50", f"{s['exec_runc_p50_ms']} ms", f"`runc exec true`: {f['runc_exec_true_p50_ms']} ms", "≤ 10 ms"),
        (f"{s['concurrent_creates']} sandboxes created at once, all answered an exec, median", f"{s['concurrent_all_ready_s']} s"
         f"{_rounds(s.get('concurrent_rounds_s'))}, {s['concurrent_failed']} failed", _floor_concurrent(f), "≤ 10 s"),
        ("the same, `block_network=True`", f"{s.get('concurrent_blocked_all_ready_s', '-')} s{_rounds(s.get('concurrent_blocked_rounds_s'))}, "
         f"{s.get('concurrent_blocked_failed', '-')} failed", _floor_concurrent(f), ""),
        ("idle sandboxes per GiB (memory cgroups)", f"{s['idle_sandboxes_per_gib']} ({s['idle_sandbox_mib']} MiB each)", "", ""),
    ]
    if "torch_restore_p50_s" in s:
        speedup = s["torch_cold_p50_s"] / s["torch_restore_p50_s"]
        rows += [
            ("torch process: create → first answer, cold, p50", f"{s['torch_cold_p50_s']} s",
             f"`runsc run` → first answer: {f.get('runsc_torch_cold_p50_s', '-')} s", ""),
            ("torch process: `snapshot_memory()` (paused for) / image, p50", f"{s['torch_snapshot_p50_s']} s ({s['torch_snapshot_paused_p50_s']} s) / "
             f"{s['torch_snapshot_mib']} MiB", f"`runsc checkpoint`: {f.get('runsc_torch_checkpoint_s', '-')} s", ""),
            ("torch process: `from_snapshot()` → first answer, p50 / p90", f"{s['torch_restore_p50_s']} / {s['torch_restore_p90_s']} s "
             f"({speedup:.1f}× faster than cold)", f"`runsc restore` → first answer: {f.get('runsc_torch_restore_p50_s', '-')} s", "≥ 10× faster than cold"),
        ]
    when = r["when"] + (f"; memory snapshot rows {r['snapshot_when']}" if r.get("snapshot_when") else "")
    lines = [f"# Sandbox benchmarks ({when}, {r['machine']})", "", "| figure | squall | raw runtime, same run | target |", "| --- | --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the at-once rows (their median is the figure)")
    parser.add_argument("--idle", type=int, default=20)
    parser.add_argument("--only-concurrent", action="store_true")
    parser.add_argument("--only-snapshot", action="store_true", help="run the memory snapshot row only, merged into the last results")
    parser.add_argument("--snapshot-samples", type=int, default=5, help="cold starts of the torch process (restores: twice as many)")
    args = parser.parse_args()
    results = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": f"{platform.node()} ({os.cpu_count()} cpu)", "squall": {}}
    out_dir = ROOT / "benchmarks" / "results"
    if args.only_concurrent:
        print(concurrent_floor_figures(args.concurrent, args.rounds))
        print(concurrent_figures(args.concurrent, args.rounds))
        print(concurrent_figures(args.concurrent, args.rounds, block_network=True))
        return
    if args.only_snapshot:
        last = json.loads((out_dir / "sandbox.json").read_text())
        figures = snapshot_figures(args.snapshot_samples, 2 * args.snapshot_samples)
        last["squall"].update(figures)
        last["floor"].update(snapshot_floor_figures(figures["torch_image_layers"], args.snapshot_samples, 2 * args.snapshot_samples))
        last["snapshot_when"] = results["when"]
        (out_dir / "sandbox.json").write_text(json.dumps(last, indent=2))
        (ROOT / "docs" / "benchmarks-sandbox.md").write_text(markdown(last))
        print(markdown(last))
        return
    results["floor"] = floor_figures(args.samples)
    results["squall"].update(create_figures(args.samples))
    for rt in ("gvisor", "runc"):
        results["squall"].update(exec_figures(rt, args.samples * 5))
    results["floor"].update(concurrent_floor_figures(args.concurrent, args.rounds))
    results["squall"].update(concurrent_figures(args.concurrent, args.rounds))
    results["squall"].update(concurrent_figures(args.concurrent, args.rounds, block_network=True))
    results["squall"].update(density_figures(args.idle))
    figures = snapshot_figures(args.snapshot_samples, 2 * args.snapshot_samples)
    results["squall"].update(figures)
    results["floor"].update(snapshot_floor_figures(figures["torch_image_layers"], args.snapshot_samples, 2 * args.snapshot_samples))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "sandbox.json").write_text(json.dumps(results, indent=2))
    (ROOT / "docs" / "benchmarks-sandbox.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
