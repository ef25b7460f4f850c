"""An app whose functions share state with the test process through a Dict and a Queue."""

import modal  # resolves to squall: the file is written as a Modal user would

app = modal.App("storage-itest")


@app.function()
def produce(dict_name: str, queue_name: str, n: int) -> int:
    d = modal.Dict.from_name(dict_name)
    q = modal.Queue.from_name(queue_name)
    d["from-container"] = {"n": n}
    d.update({f"k{i}": i for i in range(n)})
    q.put_many([{"item": i} for i in range(n)])
    q.put("done", partition="status")
    return d.len()


@app.function()
def fill(d, key, value) -> bool:
    """Takes an (ephemeral) Dict handle as an argument."""
    d[key] = value
    return key in d


@app.function()
def consume(queue_name: str, timeout: float):
    """A blocking get inside a container, woken by a put from the test process."""
    return modal.Queue.from_name(queue_name).get(timeout=timeout)
