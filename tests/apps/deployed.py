"""An app the deployment tests deploy with `squall deploy`. The tests rewrite GREETING in a copy
of this file to deploy a changed version."""

import time

import modal  # resolves to squall: the file is written as a Modal user would

app = modal.App("deployed")

GREETING = "hello"


@app.function(scaledown_window=30)
def greet(name: str, seconds: float = 0.0) -> str:
    time.sleep(seconds)
    return f"{GREETING} {name}"


@app.function()
def relay(app_name: str, function_name: str, arg: str) -> str:
    """Calls another deployed function from inside a container."""
    return "relayed: " + modal.Function.from_name(app_name, function_name).remote(arg)


@app.cls()
class Counter:
    start: int = modal.parameter(default=0)

    @modal.method()
    def add(self, n: int) -> int:
        return self.start + n

    @modal.method()
    def upto(self, n: int):
        yield from range(self.start, self.start + n)
