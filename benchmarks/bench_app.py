"""The trivial functions the benchmarks call."""

import squall

app = squall.App("bench")
cold_app = squall.App("bench-cold")


@app.function(min_containers=1)
def noop() -> None:
    return None


@app.function()
def ident(x: int) -> int:
    return x


@cold_app.function()
def cold_noop() -> None:
    return None
