"""`squall deploy FILE`: create or update a named, persistent app on a long-lived server."""

from __future__ import annotations

import click

from squall.cli._common import friendly_errors
from squall.exception import InvalidError


def deploy_app(target: str, is_module: bool, name: str | None) -> tuple[object, int]:
    from squall.cli.run import find_apps, import_target
    from squall.client.client import resolve_server

    url, _token = resolve_server()
    if not url:
        # An embedded server would stop with this command, taking the deployment with it.
        raise InvalidError("`squall deploy` needs a long-lived server: start `squall server` and `squall worker`, and set SQUALL_SERVER_URL")
    module = import_target(target, is_module)
    apps = find_apps(module)
    if len(apps) != 1:
        found = ", ".join(repr(a.name) for a in apps) or "none"
        raise InvalidError(f"{module.__name__} must define exactly one squall.App (or modal.App) to deploy; it defines: {found}")
    app = apps[0]
    version = app.deploy(name=name)
    return app, version


@click.command()
@click.argument("target")
@click.option("-m", "is_module", is_flag=True, help="TARGET is a module path, not a file")
@click.option("--name", default=None, help="deploy under this name instead of the App's own")
@friendly_errors
def deploy(target: str, is_module: bool, name: str | None) -> None:
    """Deploy an app: squall deploy app.py [--name NAME]. Each deploy is a new version."""
    from squall.cli.output import out

    app, version = deploy_app(target, is_module, name)
    out.print(f"Deployed app [bold]{app.name}[/bold] version {version} ({app.app_id})")
    from squall.cli.web import print_urls

    print_urls(app)
    for fname in app.registered_functions:
        kind = "class" if fname in app.registered_classes else "function"
        out.print(f"  {kind} {fname}: {'Cls' if kind == 'class' else 'Function'}.from_name({app.name!r}, {fname!r})")
