"""`squall sandbox create|list|exec|stop|history|snapshots`."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from squall.cli._common import friendly_errors, when
from squall.cli.output import out


def _tags(pairs: tuple[str, ...]) -> dict[str, str]:
    tags = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r}: give tags as KEY=VALUE", param_hint="--tag")
        tags[key] = value
    return tags


@click.group()
def sandbox() -> None:
    """Create sandboxes, run commands in them, stop them."""


@sandbox.command("create", context_settings={"ignore_unknown_options": True})
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("--name", default=None, help="a name to find it by (Sandbox.from_name)")
@click.option("--app", "app_name", default=None, help="the app it belongs to (default: 'sandboxes')")
@click.option("--timeout", default=300.0, show_default=True, type=float, help="seconds before it is stopped")
@click.option("--idle-timeout", default=None, type=float, help="seconds without an exec before it is stopped")
@click.option("--runtime", default="gvisor", show_default=True, type=click.Choice(["gvisor", "runc"]))
@click.option("--cpu", default=None, type=float)
@click.option("--memory", default=None, type=int, help="MiB")
@click.option("--workdir", default=None)
@click.option("--block-network", is_flag=True)
@click.option("--tag", "tags", multiple=True, help="KEY=VALUE (repeatable)")
@friendly_errors
def create(command, name, app_name, timeout, idle_timeout, runtime, cpu, memory, workdir, block_network, tags) -> None:
    """Start a sandbox (running COMMAND, or idle until stopped) and print its id."""
    from squall.sdk.app import App
    from squall.sdk.sandbox import Sandbox

    sb = Sandbox.create(*command, app=App(app_name) if app_name else None, name=name, timeout=timeout, idle_timeout=idle_timeout, runtime=runtime,
                        cpu=cpu, memory=memory, workdir=workdir, block_network=block_network, tags=_tags(tags))
    out.print(sb.object_id)


@sandbox.command("list")
@click.option("--app-id", default=None)
@click.option("--tag", "tags", multiple=True, help="KEY=VALUE: only sandboxes with this tag (repeatable)")
@click.option("--all", "show_all", is_flag=True, help="include stopped sandboxes")
@friendly_errors
def list_sandboxes(app_id, tags, show_all) -> None:
    """List running sandboxes (or --all)."""
    from squall._proto.squall.v1 import sandbox_pb2 as sb_pb
    from squall.sdk._sync import run_sync
    from squall.sdk.sandbox import _call

    resp = run_sync(_call("SandboxList", sb_pb.SandboxListRequest(app_id=app_id or "", tags=_tags(tags), include_stopped=show_all)))
    table = Table("Sandbox ID", "Name", "App ID", "Runtime", "State", "Created", "Stopped", "Exit", "Tags")
    for s in resp.sandboxes:
        exit_text = (f"{s.returncode}: {s.reason}" if s.reason else str(s.returncode)) if s.done else ""
        table.add_row(s.sandbox_id, s.name, s.app_id, s.runtime, s.state, when(s.created_at), when(s.stopped_at), exit_text,
                      ",".join(f"{k}={v}" for k, v in sorted(s.tags.items())))
    out.print(table)


@sandbox.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("sandbox_id")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--workdir", default=None)
@click.option("--timeout", default=None, type=float, help="seconds before the command is killed")
@friendly_errors
def exec_(sandbox_id, command, workdir, timeout) -> None:
    """Run COMMAND in a sandbox; its output streams here and its exit code is ours.
    Standard input is passed on when it is not a terminal."""
    from squall.sdk._sync import run_sync
    from squall.sdk.sandbox import Sandbox

    sb = Sandbox.from_id(sandbox_id)
    proc = sb.exec(*command, workdir=workdir, timeout=timeout, text=False)
    code = run_sync(_relay(proc, None if sys.stdin.isatty() else sys.stdin.buffer))
    if proc.exit_reason:
        click.echo(f"squall: {proc.exit_reason}", err=True)
    sys.exit(128 - code if code < 0 else min(code, 255))


async def _relay(proc, stdin) -> int:
    import asyncio

    async def copy(stream, dest):
        while (data := await stream._read_some()) is not None:
            dest.write(data)
            dest.flush()

    async def feed():
        import threading

        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue = asyncio.Queue(maxsize=4)

        def read_stdin():  # a daemon thread: a stdin that never closes must not keep the CLI alive
            while True:
                data = stdin.read1(1024 * 1024)
                asyncio.run_coroutine_threadsafe(chunks.put(data), loop).result()
                if not data:
                    return

        threading.Thread(target=read_stdin, daemon=True).start()
        while data := await chunks.get():
            proc.stdin.write(data)
            await proc.stdin.drain.aio()
        proc.stdin.write_eof()
        await proc.stdin.drain.aio()

    tasks = [asyncio.ensure_future(copy(proc.stdout, sys.stdout.buffer)), asyncio.ensure_future(copy(proc.stderr, sys.stderr.buffer))]
    feeder = asyncio.ensure_future(feed()) if stdin is not None else None
    await asyncio.gather(*tasks)
    code = await proc.wait.aio()
    if feeder is not None:
        feeder.cancel()
    return code


@sandbox.command("stop")
@click.argument("sandbox_id")
@friendly_errors
def stop(sandbox_id) -> None:
    """Terminate a sandbox."""
    from squall.sdk.sandbox import Sandbox

    Sandbox.from_id(sandbox_id).terminate()
    out.print(f"Stopping {sandbox_id}.")


@sandbox.command("history")
@click.argument("sandbox_id")
@friendly_errors
def history(sandbox_id) -> None:
    """Every command run in a sandbox: when it started and ended, and its exit code."""
    import shlex

    from squall.sdk.sandbox import Sandbox

    table = Table("Exec ID", "Command", "Started", "Finished", "Exit code", "Reason")
    for e in Sandbox(sandbox_id).history():
        table.add_row(e.exec_id, shlex.join(e.argv), when(e.started_at), when(e.finished_at) if e.finished else "running",
                      str(e.returncode) if e.finished else "", e.reason)
    out.print(table)


@sandbox.group("snapshots")
def snapshots() -> None:
    """Memory snapshots (sb.snapshot_memory()): kept until removed."""


@snapshots.command("list")
@friendly_errors
def list_snapshots() -> None:
    """List memory snapshots, oldest first."""
    from squall.cli.image import _size
    from squall.sdk.sandbox_snapshot import SandboxSnapshot

    table = Table("Snapshot ID", "Sandbox ID", "Created", "Size", "Paused", "Runtime", "Platform")
    for snap in SandboxSnapshot.list():
        i = snap._info
        table.add_row(i.snapshot_id, i.sandbox_id, when(i.created_at), _size(i.size_bytes), f"{i.checkpoint_s:.2f} s", i.runtime_version, i.platform)
    out.print(table)


@snapshots.command("rm")
@click.argument("snapshot_ids", nargs=-1, required=True)
@friendly_errors
def remove_snapshots(snapshot_ids) -> None:
    """Delete memory snapshots (sandboxes restored from them keep running)."""
    from squall.sdk.sandbox_snapshot import SandboxSnapshot

    for snapshot_id in snapshot_ids:
        SandboxSnapshot.from_id(snapshot_id).delete()
        out.print(f"Deleted {snapshot_id}.")


@click.command()
@click.option("--runtime", default="gvisor", show_default=True, type=click.Choice(["gvisor", "runc"]))
@click.option("--cmd", "command", default="/bin/bash", show_default=True, help="the shell (or any program) to run")
@click.option("--timeout", default=3600.0, show_default=True, type=float, help="seconds before the sandbox is stopped")
@click.option("--memory", default=None, type=int, help="MiB")
@friendly_errors
def shell(runtime, command, timeout, memory) -> None:
    """An interactive shell in a new sandbox, on a pseudo-terminal; the sandbox stops when it exits."""
    import shlex

    from squall.sdk._sync import run_sync
    from squall.sdk.sandbox import Sandbox

    sb = Sandbox.create(runtime=runtime, timeout=timeout, memory=memory)
    try:
        size = _terminal_size()
        proc = sb.exec(*shlex.split(command), text=False, _pty_size=(size.lines, size.columns))
        code = _with_raw_terminal(lambda: run_sync(_interactive(proc)), proc)
    finally:
        sb.terminate()
    sys.exit(128 - code if code < 0 else min(code, 255))


def _terminal_size():
    """The real terminal's size (not $COLUMNS/$LINES, which a parent may have frozen)."""
    import os
    import shutil

    for fd in (1, 0, 2):
        try:
            return os.get_terminal_size(fd)
        except OSError:
            continue
    return shutil.get_terminal_size()


def _with_raw_terminal(run, proc):
    """Local keystrokes go to the sandbox as they are typed; the terminal's size follows along."""
    import asyncio
    import signal

    from squall.sdk._sync import loop

    if not sys.stdin.isatty():
        return run()
    import termios
    import tty

    saved = termios.tcgetattr(sys.stdin.fileno())

    def resized(*_):
        size = _terminal_size()
        asyncio.run_coroutine_threadsafe(proc._resize(size.lines, size.columns), loop())

    previous = signal.signal(signal.SIGWINCH, resized)
    tty.setraw(sys.stdin.fileno())
    try:
        return run()
    finally:
        termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
        signal.signal(signal.SIGWINCH, previous)


async def _interactive(proc) -> int:
    import asyncio
    import os
    import threading

    loop = asyncio.get_running_loop()
    keys: asyncio.Queue = asyncio.Queue()

    def read_keys():  # a daemon thread: it may block on the terminal after the shell has gone
        while True:
            try:
                data = os.read(sys.stdin.fileno(), 4096)
            except OSError:
                data = b""
            loop.call_soon_threadsafe(keys.put_nowait, data)
            if not data:
                return

    async def forward():
        while data := await keys.get():
            proc.stdin.write(data)
            await proc.stdin.drain.aio()

    async def show():
        while (data := await proc.stdout._read_some()) is not None:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()

    threading.Thread(target=read_keys, daemon=True).start()
    forwarder = asyncio.ensure_future(forward())
    await show()
    code = await proc.wait.aio()
    forwarder.cancel()
    return code
