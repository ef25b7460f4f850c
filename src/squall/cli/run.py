"""`squall run FILE[::name]`: import the app, make it live (embedded server if none), run the entrypoint."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import importlib.util
import inspect
import os
import pathlib
import sys

import click

from squall import config
from squall._compat import install_modal_alias
from squall.exception import InvalidError


def import_target(file_or_module: str, is_module: bool):
    """Import the user's file (or -m module) the way containers will, and return the module."""
    install_modal_alias()
    if is_module:
        sys.path.insert(0, os.getcwd())
        return importlib.import_module(file_or_module)
    path = pathlib.Path(file_or_module).resolve()
    if not path.exists():
        raise InvalidError(f"no such file: {file_or_module}")
    if path.suffix != ".py":
        raise InvalidError(f"{file_or_module} is not a .py file")
    top = path.parent
    while (top / "__init__.py").exists():
        top = top.parent
    sys.path.insert(0, str(top))
    module_name = ".".join(path.relative_to(top).with_suffix("").parts)
    return importlib.import_module(module_name)


def find_apps(module) -> list:
    from squall.sdk.app import App

    return [v for v in vars(module).values() if isinstance(v, App)]


def resolve_runnable(module, name: str | None):
    """(app, kind, object) for `::name`, or the one obvious thing to run."""
    apps = find_apps(module)
    if not apps:
        raise InvalidError(f"{module.__name__} defines no squall.App (or modal.App)")
    choices: dict[str, tuple] = {}
    for app in apps:
        for ep_name, ep in app.registered_entrypoints.items():
            choices[ep_name] = (app, "entrypoint", ep)
        for fn_name, fn in app.registered_functions.items():
            if fn_name not in app.registered_classes:
                choices.setdefault(fn_name, (app, "function", fn))
        for cls_name, cls in app.registered_classes.items():
            for method in cls._methods:
                choices.setdefault(f"{cls_name}.{method}", (app, "method", (cls, method)))
    if name:
        if name not in choices:
            raise InvalidError(f"{module.__name__} has no entrypoint, function or method named {name!r}; choose one of: {', '.join(sorted(choices))}")
        return choices[name]
    entrypoints = [k for k, v in choices.items() if v[1] == "entrypoint"]
    if len(entrypoints) == 1:
        return choices[entrypoints[0]]
    runnable = [k for k, v in choices.items() if v[1] != "method"]
    if len(runnable) == 1 and not entrypoints:
        return choices[runnable[0]]
    raise InvalidError(f"say what to run with FILE::name; choose one of: {', '.join(sorted(choices))}")


def parse_entrypoint_args(fn, argv: list[str]) -> dict:
    """Turn `--flag value` arguments into keyword arguments by the entrypoint's signature."""
    sig = inspect.signature(fn)
    params = {name.replace("_", "-"): p for name, p in sig.parameters.items()}
    kwargs: dict = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--"):
            raise InvalidError(f"unexpected argument {arg!r}; {fn.__name__} takes: {' '.join('--' + n for n in params) or 'no arguments'}")
        key = arg[2:]
        value: str | None = None
        if "=" in key:
            key, value = key.split("=", 1)
        negate = key.startswith("no-") and key[3:] in params and params[key[3:]].annotation in (bool, "bool")
        p = params.get(key[3:] if negate else key)
        if p is None:
            raise InvalidError(f"{fn.__name__} has no parameter --{key}; it takes: {' '.join('--' + n for n in params) or 'no arguments'}")
        kind = p.annotation if p.annotation is not inspect.Parameter.empty else (type(p.default) if p.default not in (inspect.Parameter.empty, None) else str)
        if kind in (bool, "bool"):
            kwargs[p.name] = not negate if value is None else value.lower() in ("1", "true", "yes")
        else:
            if value is None:
                i += 1
                if i >= len(argv):
                    raise InvalidError(f"--{key} needs a value")
                value = argv[i]
            converters = {int: int, float: float, str: str, "int": int, "float": float, "str": str}
            try:
                kwargs[p.name] = converters.get(kind, str)(value)
            except ValueError:
                raise InvalidError(f"--{key}={value!r} is not a valid {getattr(kind, '__name__', kind)}") from None
        i += 1
    missing = [n for n, p in sig.parameters.items() if p.default is inspect.Parameter.empty and n not in kwargs]
    if missing:
        raise InvalidError(f"{fn.__name__} needs --{' --'.join(m.replace('_', '-') for m in missing)}")
    return kwargs


async def follow_logs(app_id: str) -> None:
    from squall._proto.squall.v1 import api_pb2
    from squall.cli.output import log_line
    from squall.client.client import get_client

    client = await get_client()
    after = 0
    while True:
        try:
            async for batch in client.stream("AppLogs", api_pb2.AppLogsRequest(app_id=app_id, follow=True, after_seq=after)):
                for e in batch.entries:
                    after = e.seq
                    log_line(e.function_name, e.container_id, e.stream, e.text)
                if batch.app_stopped:
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            await asyncio.sleep(0.5)


def run_app(target: str, is_module: bool, detach: bool, extra: list[str]) -> None:
    from squall.cli import output
    from squall.client.client import resolve_server
    from squall.sdk import _sync, function

    file_or_module, _, name = target.partition("::")
    if detach and not resolve_server()[0]:
        raise InvalidError("--detach needs a long-lived server: start `squall server` and `squall worker`, and set SQUALL_SERVER_URL")
    with server_or_embedded() as url:
        module = import_target(file_or_module, is_module)
        app, kind, obj = resolve_runnable(module, name or None)
        function.progress = output.MapProgress()
        with app.run(detach=detach):
            output.console.print(f"[green]✓[/green] App [bold]{app.name or 'app'}[/bold] is running ({app.app_id}) on {url}")
            from squall.cli.web import print_urls

            print_urls(app)
            logs = asyncio.run_coroutine_threadsafe(follow_logs(app.app_id), _sync.loop())
            try:
                if kind == "entrypoint":
                    result = obj(**parse_entrypoint_args(obj, extra))
                    if inspect.iscoroutine(result):
                        asyncio.run(result)
                elif kind == "function":
                    result = obj.remote(**parse_entrypoint_args(obj._squall_raw, extra))
                    if result is not None:
                        output.out.print(result)
                else:
                    cls, method = obj
                    unbound = functools.partial(cls._methods[method], None)  # drops `self` from the signature
                    result = getattr(cls(), method).remote(**parse_entrypoint_args(unbound, extra))
                    if result is not None:
                        output.out.print(result)
            finally:
                _drain_logs(logs)
        output.console.print(f"[green]✓[/green] App {'detached' if detach else 'completed'}.")


@contextlib.contextmanager
def server_or_embedded():
    """The configured server's URL; with none configured, an embedded server and worker for
    the duration (their state persists under SQUALL_HOME/embedded)."""
    from squall.cli import output
    from squall.client.client import reset_client, resolve_server

    url, _token = resolve_server()
    if url:
        yield url
        return
    from squall.cli.embedded import EmbeddedCluster

    with output.console.status("Starting squall (embedded server and worker)...") as status:
        cluster = EmbeddedCluster(on_progress=lambda line: status.update(f"Preparing: {line[:100]}"))
        url, token = cluster.start()
    saved = {k: os.environ.get(k) for k in (config.ENV_SERVER_URL, config.ENV_TOKEN)}
    os.environ[config.ENV_SERVER_URL] = url
    os.environ[config.ENV_TOKEN] = token
    reset_client()
    try:
        yield url
    finally:
        cluster.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _drain_logs(logs) -> None:
    """Give the log stream a moment to deliver the last lines, then stop it."""
    import time

    time.sleep(0.3)
    logs.cancel()


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("target")
@click.option("-m", "is_module", is_flag=True, help="TARGET is a module path, not a file")
@click.option("-d", "--detach", is_flag=True, help="keep the app running after the entrypoint returns")
@click.pass_context
def run(ctx: click.Context, target: str, is_module: bool, detach: bool) -> None:
    """Run a function or local entrypoint: squall run app.py[::name] [--flags]."""
    run_app(target, is_module, detach, list(ctx.args))
