"""`squall app list|logs|stop`."""

from __future__ import annotations

import click
from rich.table import Table

from squall._proto.squall.v1 import api_pb2
from squall.cli._common import api_call, friendly_errors, when
from squall.cli.output import log_line, out


@click.group()
def app() -> None:
    """Manage apps."""


@app.command("list")
@friendly_errors
def list_apps() -> None:
    """List apps, newest last."""
    resp = api_call("AppList", api_pb2.AppListRequest())
    table = Table("App ID", "Name", "State", "Containers", "Created", "Stopped")
    for a in resp.apps:
        table.add_row(a.app_id, a.name, a.state + (" (ephemeral)" if a.ephemeral else ""), str(a.num_containers), when(a.created_at), when(a.stopped_at))
    out.print(table)


@app.command()
@click.argument("app_id")
@click.option("-f", "--follow", is_flag=True, help="keep printing new lines until the app stops")
@friendly_errors
def logs(app_id: str, follow: bool) -> None:
    """Print an app's logs (APP_ID is an id or a name)."""
    _print_logs(api_pb2.AppLogsRequest(app_id=app_id, follow=follow))


def _print_logs(request) -> None:
    from squall.client.client import get_client, translate
    from squall.sdk._sync import run_sync

    async def go():
        import grpc

        client = await get_client()
        try:
            async for batch in client.stream("AppLogs", request):
                for e in batch.entries:
                    log_line(e.function_name, e.container_id, e.stream, e.text)
        except grpc.aio.AioRpcError as exc:
            raise translate(exc, client.server_url) from None

    run_sync(go())


@app.command()
@click.argument("app_id")
@friendly_errors
def stop(app_id: str) -> None:
    """Stop an app and its containers."""
    api_call("AppStop", api_pb2.AppStopRequest(app_id=app_id))
    out.print(f"Stopped {app_id}.")
