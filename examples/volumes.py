"""Volumes: `squall run examples/volumes.py`.

A producer writes shards into a Volume and commits them; consumers, each with its own copy,
reload and read them; the client lists and downloads the results. `squall volume ls
example-vol` shows the same files afterwards.
"""

import squall

app = squall.App("volumes-example")
vol = squall.Volume.from_name("example-vol", create_if_missing=True)


@app.function(volumes={"/data": vol})
def produce(n: int) -> int:
    import pathlib

    out = pathlib.Path("/data/shards")
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (out / f"{i}.txt").write_text(" ".join(str(i * k) for k in range(1000)))
    vol.commit()  # publish now: the consumers' containers are already running
    return n


@app.function(volumes={"/data": vol})
def total(shard: int) -> int:
    vol.reload()  # a container started before produce's commit sees it after a reload
    with open(f"/data/shards/{shard}.txt") as f:
        return sum(int(x) for x in f.read().split())


@app.local_entrypoint()
def main(n: int = 8):
    produce.remote(n)
    print("totals:", list(total.map(range(n))))
    print("files:", [e.path for e in vol.listdir("/shards")])
    print("shard 1 starts with:", b"".join(vol.read_file("shards/1.txt"))[:20])
