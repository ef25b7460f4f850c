"""`squall serve FILE`: run an app's web endpoints live, and reload them when the code changes.

The app runs as an ephemeral app (URLs with the `-dev` label suffix; schedules do not fire).
Every POLL_S the source files are checked (modification time and size of the file, or of every
.py file of its package); on a change the module is imported afresh, the new code starts as a
new ephemeral app of the same name, and only then is the previous one stopped: the gateway
sends new requests to the newest app, so the URL keeps working across reloads. A change that
fails to import is reported and the running version stays. Ctrl-C (or SIGTERM) stops
everything, including the embedded server when one was started.
"""

from __future__ import annotations

import asyncio
import importlib
import pathlib
import signal
import sys
import time
import types

import click

from squall.cli._common import friendly_errors
from squall.exception import InvalidError

POLL_S = 0.5


def _sources(module) -> list[pathlib.Path]:
    path = pathlib.Path(module.__file__).resolve()
    if (path.parent / "__init__.py").exists():
        top = path.parent
        while (top.parent / "__init__.py").exists():
            top = top.parent
        return sorted(p for p in top.rglob("*.py") if "__pycache__" not in p.parts)
    return [path]


def _snapshot(paths: list[pathlib.Path]) -> dict:
    snap = {}
    for p in paths:
        try:
            st = p.stat()
            snap[p] = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            snap[p] = None
    return snap


def _reimport(module):
    """The module's current source as a fresh module object. A single file is compiled from its
    source (no bytecode cache: an edit within the same second and size must not be missed);
    a module in a package is imported again after dropping the package from sys.modules."""
    name, path = module.__name__, pathlib.Path(module.__file__)
    if (path.parent / "__init__.py").exists():
        top = name.split(".")[0]
        for mod in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
            del sys.modules[mod]
        sys.dont_write_bytecode = True
        importlib.invalidate_caches()
        return importlib.import_module(name)
    fresh = types.ModuleType(name)
    fresh.__file__ = str(path)
    code = compile(path.read_text(), str(path), "exec")
    saved = sys.modules.get(name)
    sys.modules[name] = fresh
    try:
        exec(code, fresh.__dict__)
    except BaseException:
        if saved is not None:
            sys.modules[name] = saved
        raise
    return fresh


def _the_app(module):
    from squall.cli.run import find_apps

    apps = find_apps(module)
    if len(apps) != 1:
        raise InvalidError(f"{module.__name__} must define exactly one squall.App (or modal.App) to serve; it defines {len(apps)}")
    return apps[0]


def serve_app(target: str, is_module: bool) -> None:
    from squall.cli import output
    from squall.cli.run import follow_logs, import_target, server_or_embedded
    from squall.cli.web import print_urls
    from squall.sdk import _sync

    def on_term(_sig, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    with server_or_embedded() as url:
        module = import_target(target, is_module)
        app = _the_app(module)
        _sync.run_sync(app._start(ephemeral=True))
        logs = asyncio.run_coroutine_threadsafe(follow_logs(app.app_id), _sync.loop())
        try:
            output.console.print(f"[green]✓[/green] Serving app [bold]{app.name or 'app'}[/bold] ({app.app_id}) on {url}")
            print_urls(app)
            paths = _sources(module)
            seen = _snapshot(paths)
            output.console.print(f"Watching {', '.join(str(p) for p in paths[:3])}{' ...' if len(paths) > 3 else ''} for changes; Ctrl-C stops.")
            sys.stdout.flush()
            while True:
                time.sleep(POLL_S)
                now = _snapshot(paths)
                if now == seen:
                    continue
                seen = now
                try:
                    module = _reimport(module)
                    new_app = _the_app(module)
                    _sync.run_sync(new_app._start(ephemeral=True))
                except Exception as exc:  # noqa: BLE001 - a broken edit keeps the running version
                    output.console.print(f"[red]✗[/red] reload failed, still serving the previous version: {type(exc).__name__}: {exc}")
                    sys.stdout.flush()
                    continue
                old, app = app, new_app
                logs.cancel()
                logs = asyncio.run_coroutine_threadsafe(follow_logs(app.app_id), _sync.loop())
                _sync.run_sync(old._stop())
                paths = _sources(module)
                seen = _snapshot(paths)
                output.console.print(f"[green]↻[/green] Reloaded app [bold]{app.name or 'app'}[/bold] ({app.app_id})")
                sys.stdout.flush()
        except KeyboardInterrupt:
            pass
        finally:
            logs.cancel()
            if app._running is not None:
                _sync.run_sync(app._stop())
            output.console.print("[green]✓[/green] Stopped serving.")


@click.command()
@click.argument("target")
@click.option("-m", "is_module", is_flag=True, help="TARGET is a module path, not a file")
@friendly_errors
def serve(target: str, is_module: bool) -> None:
    """Serve an app's web endpoints with hot reload: squall serve app.py."""
    serve_app(target, is_module)
