"""The zero-configuration mode: a control plane and a worker in one child process, started by
`squall run` when no server is configured and stopped when the run ends."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import time

from squall import config

READY = "SQUALL-READY"


def default_runtimes() -> list[str]:
    """Every runtime this machine can run, the preferred first: runc, then gVisor; `process` without root."""
    wanted = os.environ.get(config.ENV_RUNTIME)
    if wanted:
        return [r.strip() for r in wanted.split(",") if r.strip()]
    if os.geteuid() != 0:
        return ["process"]
    found = [name for name, binary in (("runc", "runc"), ("gvisor", "runsc")) if shutil.which(binary)]
    return found or ["process"]


class EmbeddedCluster:
    def __init__(self, runtimes: list[str] | None = None, on_progress=None):
        self.runtimes = runtimes or default_runtimes()
        self.on_progress = on_progress or (lambda line: None)
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 900) -> tuple[str, str]:
        cmd = [sys.executable, "-m", "squall.cli.embedded", "--runtime", ",".join(self.runtimes)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True)
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        tail: list[str] = []
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line.startswith(READY):
                _, url, token = line.split(" ", 2)
                import threading

                threading.Thread(target=self._drain, daemon=True).start()
                return url, token
            tail = (tail + [line])[-20:]
            self.on_progress(line)
            if time.monotonic() > deadline:
                break
        self.stop()
        from squall.exception import Error

        raise Error("the embedded squall server did not start:\n" + "\n".join(tail))

    def _drain(self) -> None:
        """Keep reading the child's output (server/worker warnings) so it never blocks on a full pipe."""
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            if os.environ.get("SQUALL_DEBUG"):
                sys.stderr.write(f"[squall] {line}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def _serve(runtimes: list[str]) -> None:
    from squall.server.main import Server
    from squall.worker.worker import Worker

    home = config.squall_home() / "embedded"
    server = Server(home, "127.0.0.1", 0, http_port=0)  # a free port for the web gateway too
    await server.start()
    worker = Worker(home, server.url, server.token, runtimes)
    await asyncio.get_running_loop().run_in_executor(None, lambda: worker.prepare(progress=lambda line: print(line, flush=True)))
    task = asyncio.create_task(worker.run())
    while not server.cp.workers:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    print(f"{READY} {server.url} {server.token}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await worker.stop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await server.stop(0.5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runtime", default=",".join(default_runtimes()))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s", stream=sys.stdout)
    try:
        asyncio.run(_serve([r for r in args.runtime.split(",") if r]))
    except Exception as exc:
        print(f"error: {exc}", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
