"""The functions the Volume benchmark runs in containers (benchmarks/bench_storage.py)."""

import squall

app = squall.App("bench-volumes")
vol = squall.Volume.from_name("bench-vol", create_if_missing=True)
BLOCK = 4 * 1024 * 1024


@app.function(volumes={"/data": vol}, memory=2048, timeout=1800)
def write_commit(path: str, mib: int) -> dict:
    """Write `mib` MiB of distinct 4 MiB blocks into the volume, then commit."""
    import os
    import time

    block = bytearray(os.urandom(BLOCK))
    t0 = time.perf_counter()
    with open(f"/data/{path}", "wb") as f:
        for i in range(mib * 1024 * 1024 // BLOCK):
            block[:8] = i.to_bytes(8, "little")  # every block differs: nothing dedupes
            f.write(block)
    t1 = time.perf_counter()
    vol.commit()
    t2 = time.perf_counter()
    return {"write_s": t1 - t0, "commit_s": t2 - t1}


@app.function(volumes={"/data": vol}, memory=2048, timeout=1800)
def reload_read(path: str | None) -> dict:
    """Reload the volume (this container's copy predates the write), then read the file."""
    import os
    import time

    if path is None:
        return {}
    t0 = time.perf_counter()
    vol.reload()
    t1 = time.perf_counter()
    n = 0
    with open(f"/data/{path}", "rb", buffering=0) as f:
        while data := f.read(16 * 1024 * 1024):
            n += len(data)
    t2 = time.perf_counter()
    return {"reload_s": t1 - t0, "read_s": t2 - t1, "bytes": n, "size": os.path.getsize(f"/data/{path}")}
