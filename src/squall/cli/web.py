"""Web endpoints from the CLI: proxy-auth tokens (`squall token create-proxy|list-proxy|delete-proxy`)
and printing an app's URLs (used by `squall run`, `squall serve` and `squall deploy`)."""

from __future__ import annotations

import click
from rich.table import Table

from squall._proto.squall.v1 import web_pb2
from squall.cli._common import friendly_errors, when
from squall.cli.output import out


def web_call(method: str, request, timeout: float = 30.0):
    from squall.client.client import get_client
    from squall.sdk._sync import run_sync
    from squall.sdk.web import web_call as call

    async def go():
        return await call(await get_client(), method, request, timeout)

    return run_sync(go())


def print_urls(app) -> None:
    """One line per web endpoint of a running app: its function name and URL."""
    from squall.sdk._sync import run_sync
    from squall.sdk.web import app_urls

    for name, url in run_sync(app_urls(app)).items():
        out.print(f"  [bold]{name}[/bold] => {url}")


@click.command("create-proxy")
@click.option("--name", default="proxy", help="a name to recognise the token by")
@friendly_errors
def create_proxy(name: str) -> None:
    """Make a proxy-auth token for web endpoints with requires_proxy_auth=True."""
    resp = web_call("ProxyTokenCreate", web_pb2.ProxyTokenCreateRequest(name=name))
    out.print(f"Token id (header Modal-Key):        {resp.token_id}")
    out.print(f"Token secret (header Modal-Secret): {resp.token_secret}")
    out.print("The secret is shown once; keep it.")


@click.command("list-proxy")
@friendly_errors
def list_proxy() -> None:
    """List proxy-auth tokens."""
    table = Table("Token id", "Name", "Created")
    for t in web_call("ProxyTokenList", web_pb2.WebEmpty()).tokens:
        table.add_row(t.token_id, t.name, when(t.created_at))
    out.print(table)


@click.command("delete-proxy")
@click.argument("token_id")
@friendly_errors
def delete_proxy(token_id: str) -> None:
    """Delete a proxy-auth token: requests carrying it get 401 from now on."""
    web_call("ProxyTokenDelete", web_pb2.ProxyTokenDeleteRequest(token_id=token_id))
    out.print(f"Deleted proxy token {token_id}")


def add_proxy_token_commands(group: click.Group) -> None:
    for command in (create_proxy, list_proxy, delete_proxy):
        group.add_command(command)
