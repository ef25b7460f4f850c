"""Image builds: cold build, no-op rebuild, start from cached layers, disk sharing; podman beside them.

Run by `benchmarks/run.py` (or `--only images`). Uses its own server, runc worker and layer
cache (the mmdebstrap base is shared through a symlink, as in the tests), so "cold" means
"nothing of this image built yet, the Debian base already there".
"""

from __future__ import annotations

import os
import pathlib
import shutil
import statistics
import subprocess
import tempfile
import textwrap
import time

import squall

LAYERED = squall.Image.debian_slim().pip_install("six").env({"BENCH": "1"}).run_commands("echo a > /a.txt", "echo b > /b.txt").apt_install("jq")
layered_app = squall.App("bench-layered", image=LAYERED)


@layered_app.function()
def layered_noop():
    return None


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _du(paths: list[pathlib.Path]) -> int:
    """Bytes on disk under `paths`, each inode once (hard links and shared dirs count once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root in paths:
        for dirpath, _dirs, files in os.walk(root):
            for name in [*files, "."]:
                try:
                    st = os.lstat(os.path.join(dirpath, name))
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
    return total


def images_figures(cluster, colds: int, noops: int) -> dict:
    """`cluster` is a started Cluster whose env points SQUALL_CACHE_HOME at a fresh cache."""
    from squall.client.client import get_client
    from squall.images import recipe
    from squall.images.base import ensure_debian_slim
    from squall.sdk._sync import run_sync

    async def build(image: squall.Image) -> float:
        client = await get_client()
        t0 = time.perf_counter()
        await image._build(client, on_log=lambda _line: None)
        return time.perf_counter() - t0

    def fresh(image: squall.Image) -> squall.Image:  # a new object: no client-side memo of the build
        return squall.Image(dict(image._base), tuple(image._steps))

    out: dict = {}
    six = squall.Image.debian_slim().pip_install("six")
    out["cold_build_pip_six_s"] = round(run_sync(build(fresh(six))), 2)
    three = squall.Image.debian_slim().pip_install("six").env({"A": "1"}).run_commands("echo x > /x.txt").apt_install("jq")
    out["cold_build_three_steps_s"] = round(run_sync(build(fresh(three))), 2)
    times = [run_sync(build(fresh(three))) for _ in range(noops)]
    out["noop_rebuild_three_steps_p50_ms"] = _ms(statistics.median(times))
    out["noop_rebuild_three_steps_max_ms"] = _ms(max(times))

    # Container start: a function on a 4-layer image, cold (new app each time), beside the same on debian_slim.
    from benchmarks.run import cold_starts

    with layered_app.run():
        layered_noop.remote()  # builds the image
    layered = []
    for _ in range(colds):
        with layered_app.run():
            t0 = time.perf_counter()
            layered_noop.remote()
            layered.append(time.perf_counter() - t0)
    out["cold_start_layered_p50_ms"] = _ms(statistics.median(layered))
    out["cold_start_debian_slim_p50_ms"] = cold_starts(colds)["total_p50_ms"]

    # Disk: two images that share the base and a pip layer.
    cache = pathlib.Path(cluster.env["SQUALL_CACHE_HOME"])
    one = squall.Image.debian_slim().pip_install("six").run_commands("echo one > /which.txt")
    two = squall.Image.debian_slim().pip_install("six").run_commands("echo two > /which.txt")
    run_sync(build(fresh(one)))
    run_sync(build(fresh(two)))
    ids = [recipe.plan({"base": im._base, "steps": list(im._steps)}).layer_ids for im in (one, two)]
    base = ensure_debian_slim(cache)
    layer_dirs = {lid: cache / "layers" / lid / "fs" for lid in ids[0][1:] + ids[1][1:]}
    base_b = _du([base])
    own = {lid: _du([p]) for lid, p in layer_dirs.items()}
    each = [base_b + sum(own[lid] for lid in layer_ids[1:]) for layer_ids in ids]
    out["disk"] = {
        "base_mib": round(base_b / 2**20, 1),
        "image_one_alone_mib": round(each[0] / 2**20, 1),
        "image_two_alone_mib": round(each[1] / 2**20, 1),
        "both_on_disk_mib": round(_du([base, *layer_dirs.values()]) / 2**20, 1),
        "both_unshared_mib": round(sum(each) / 2**20, 1),
    }
    return out


def podman_figures(base_rootfs: pathlib.Path) -> dict:
    """`podman build` of the equivalent Containerfile (FROM the same debian_slim rootfs,
    imported; RUN pip install six), cold and then cached."""
    if shutil.which("podman") is None:
        return {"error": "podman is not installed (apt-get install podman)"}
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-podman-"))
    storage = ["--root", str(work / "storage"), "--runroot", str(work / "run"), "--storage-driver", "overlay"]
    try:
        tar = work / "base.tar"
        subprocess.run(["tar", "-C", str(base_rootfs), "-cf", str(tar), "."], check=True)
        r = subprocess.run(["podman", *storage, "import", str(tar), "squall-bench-base"], capture_output=True, text=True)
        if r.returncode != 0:
            return {"error": f"podman import failed: {r.stderr.strip()[-300:]}"}
        (work / "Containerfile").write_text(textwrap.dedent("""\
            FROM localhost/squall-bench-base
            RUN PIP_CERT=/tmp/host-ca.crt python3 -m pip install --no-cache-dir --break-system-packages six
        """))
        # the same trust store squall's builds get (this network inspects TLS with its own CA)
        ca = ["-v", "/etc/ssl/certs/ca-certificates.crt:/tmp/host-ca.crt:ro"] if os.path.exists("/etc/ssl/certs/ca-certificates.crt") else []
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            r = subprocess.run(["podman", *storage, "build", *ca, "--network", "host", "-t", "bench-six", "-f", str(work / "Containerfile"), str(work)],
                               capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            if r.returncode != 0:
                return {"error": f"podman build failed: {(r.stderr or r.stdout).strip()[-400:]}"}
        return {"cold_build_pip_six_s": round(times[0], 2), "cached_rebuild_ms": _ms(times[1])}
    finally:
        subprocess.run(["podman", *storage, "system", "reset", "--force"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def markdown(r: dict) -> list[str]:
    p = r.get("podman", {})
    d = r["disk"]
    lines = [
        "## Images (Squall vs podman 4.3, same run)",
        "",
        f"Run {r['when']}. Squall builds in runc build containers on its worker; podman builds the same Containerfile from the same imported base.",
        "",
        "| | squall | podman |",
        "| --- | --- | --- |",
        f"| cold build of `debian_slim().pip_install(\"six\")` (base already present) | {r['cold_build_pip_six_s']} s | "
        + (f"{p['cold_build_pip_six_s']} s |" if "cold_build_pip_six_s" in p else f"n/a: {p.get('error', 'not run')} |"),
        f"| no-op rebuild, 3 build steps + env (p50, max) | {r['noop_rebuild_three_steps_p50_ms']} ms, {r['noop_rebuild_three_steps_max_ms']} ms | "
        + (f"{p['cached_rebuild_ms']} ms (1 step) |" if "cached_rebuild_ms" in p else "n/a |"),
        f"| cold build, 3 build steps (pip, run_commands, apt) | {r['cold_build_three_steps_s']} s | - |",
        "",
        "| container start to first result (cold, p50) | |",
        "| --- | --- |",
        f"| function on a 4-layer image (pip, env, run_commands, apt) | {r['cold_start_layered_p50_ms']} ms |",
        f"| function on debian_slim | {r['cold_start_debian_slim_p50_ms']} ms |",
        f"| bare `runc run python3 -c pass` (floor) | {r.get('floor_runc_ms', '-')} ms |",
        "",
        "| disk: two images sharing debian_slim + a pip layer | MiB |",
        "| --- | --- |",
        f"| debian_slim base | {d['base_mib']} |",
        f"| each image alone (base + its layers) | {d['image_one_alone_mib']} / {d['image_two_alone_mib']} |",
        f"| both, as stored (shared layers once) | {d['both_on_disk_mib']} |",
        f"| both, if nothing were shared | {d['both_unshared_mib']} |",
    ]
    return lines
