"""A first squall app: `squall run examples/hello.py` (or `make demo`).

It is written against Modal's API; `import modal` works the same under `squall run`.
"""

import squall

app = squall.App("hello")


@app.function(cpu=0.25, memory=256, timeout=60)
def square(x: int) -> int:
    return x * x


@app.function(retries=squall.Retries(max_retries=2, initial_delay=0.1))
def where_am_i() -> str:
    import platform

    print(f"running in {platform.node()} with Python {platform.python_version()}")
    return platform.platform()


@app.cls(cpu=0.25)
class Greeter:
    greeting: str = squall.parameter(default="Hello")

    @squall.enter()
    def load(self):
        self.calls = 0

    @squall.method()
    def greet(self, name: str) -> str:
        self.calls += 1
        return f"{self.greeting}, {name}! (call {self.calls} in this container)"


@app.local_entrypoint()
def main(n: int = 100):
    print("square(7) =", square.remote(7))
    print("platform:", where_am_i.remote())
    print(f"sum of squares below {n} =", sum(square.map(range(n))))
    greeter = Greeter(greeting="Hi")
    for name in ("Ada", "Grace"):
        print(greeter.greet.remote(name))
