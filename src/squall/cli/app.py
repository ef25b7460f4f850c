"""`squall app list|logs|stop|history|rollback`."""

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
    table = Table("App ID", "Name", "State", "Version", "Containers", "Created", "Stopped")
    for a in resp.apps:
        state = a.state + (" (ephemeral)" if a.ephemeral else " (deployed)")
        table.add_row(a.app_id, a.name, state, f"v{a.version}" if a.version else "-", str(a.num_containers), when(a.created_at), when(a.stopped_at))
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


@app.command()
@click.argument("name")
@friendly_errors
def history(name: str) -> None:
    """List a deployed app's versions (NAME is a name or an app id)."""
    resp = api_call("AppHistory", api_pb2.AppHistoryRequest(app_id=name))
    table = Table("Version", "Deployed", "Functions", "Note")
    for v in resp.versions:
        note = ("current" if v.version == resp.current else "") + (f"{', ' if v.version == resp.current else ''}rollback to v{v.rollback_of}" if v.rollback_of else "")
        table.add_row(f"v{v.version}", when(v.created_at), ", ".join(v.functions), note)
    out.print(table)


@app.command()
@click.argument("name")
@click.argument("version", required=False, type=int)
@friendly_errors
def rollback(name: str, version: int | None) -> None:
    """Deploy an older VERSION of NAME again (default: the one before the current), as a new version."""
    resp = api_call("AppRollback", api_pb2.AppRollbackRequest(app_id=name, version=version or 0))
    out.print(f"Rolled back {name} to {'v' + str(version) if version else 'the previous version'}; now at v{resp.version}.")
