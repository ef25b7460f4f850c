"""The app the integration tests drive: one function per behaviour under test."""

import os
import time

import modal  # resolves to squall: the file is written as a Modal user would

import squall

app = modal.App("itest")


class MyError(Exception):
    pass


@app.function()
def square(x: int) -> int:
    return x * x


@app.function()
def add(a: int, b: int = 0) -> int:
    return a + b


@app.function()
def fail(message: str) -> None:
    raise MyError(message)


@app.function()
def whoami() -> dict:
    return {
        "hostname": os.uname().nodename,
        "pid1": open("/proc/1/cmdline", "rb").read().split(b"\0")[0].decode(errors="replace"),
        "uid": os.getuid(),
        "is_local": squall.is_local(),
        "input_id": squall.current_input_id(),
        "env": os.environ.get("GREETING"),
        "interfaces": interfaces(),
        "app_file_writable": os.access(__file__, os.W_OK),
    }


def interfaces() -> list[str]:
    import socket

    return sorted(name for _, name in socket.if_nameindex())


@app.function(block_network=True)
def offline_interfaces() -> list[str]:
    return interfaces()


@app.function(env={"GREETING": "hi"})
def with_env() -> str:
    return os.environ["GREETING"]


@app.function()
def countdown(n: int):
    for i in range(n, 0, -1):
        yield i


@app.function(timeout=2)
def sleepy(seconds: float) -> str:
    time.sleep(seconds)
    return "woke"


@app.function(memory=(64, 128))
def hog(megabytes: int) -> int:
    chunks = [bytearray(1024 * 1024) for _ in range(megabytes)]
    return len(chunks)


@app.function()
def printer(text: str) -> str:
    print(f"stdout says {text}")
    import sys

    print(f"stderr says {text}", file=sys.stderr)
    return text


@app.function()
@modal.concurrent(max_inputs=8)
def concurrent_sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.function()
@modal.batched(max_batch_size=4, wait_ms=200)
def batch_double(xs: list[int]) -> list[int]:
    return [x * 2 + 1000 * len(xs) for x in xs]


@app.function(max_containers=1)
def slow_square(x: int) -> int:
    time.sleep(0.05)
    return x * x


@app.function(retries=2)
def die_hard(code: int) -> None:
    os._exit(code)


@app.cls()
class Counter:
    start: int = modal.parameter(default=0)

    @modal.enter()
    def setup(self):
        self.count = self.start

    @modal.method()
    def incr(self, by: int = 1) -> int:
        self.count += by
        return self.count

    @modal.method()
    def pid(self) -> int:
        return os.getpid()


@app.function()
def count_then_fail(n: int):
    for i in range(n):
        yield i
    raise MyError("after the items")
