"""`squall container list|logs|stop`."""

from __future__ import annotations

import click
from rich.table import Table

from squall._proto.squall.v1 import api_pb2
from squall.cli._common import api_call, friendly_errors, when
from squall.cli.output import out


@click.group()
def container() -> None:
    """Inspect and stop containers."""


@container.command("list")
@click.argument("app_id", required=False, default="")
@click.option("--all", "show_all", is_flag=True, help="include stopped containers")
@friendly_errors
def list_containers(app_id: str, show_all: bool) -> None:
    """List containers (running ones, or --all)."""
    resp = api_call("ContainerList", api_pb2.ContainerListRequest(app_id=app_id))
    table = Table("Container ID", "App ID", "Function", "Runtime", "State", "Started", "Stopped", "Exit reason")
    for c in resp.containers:
        if show_all or c.state != "stopped":
            table.add_row(c.container_id, c.app_id, c.function_name, c.runtime, c.state, when(c.created_at), when(c.stopped_at), c.exit_reason)
    out.print(table)


@container.command()
@click.argument("container_id")
@click.option("-f", "--follow", is_flag=True)
@friendly_errors
def logs(container_id: str, follow: bool) -> None:
    """Print one container's logs."""
    from squall.cli.app import _print_logs

    resp = api_call("ContainerList", api_pb2.ContainerListRequest())
    match = [c for c in resp.containers if c.container_id == container_id]
    if not match:
        raise click.ClickException(f"no container {container_id!r}; `squall container list --all` shows them")
    _print_logs(api_pb2.AppLogsRequest(app_id=match[0].app_id, container_id=container_id, follow=follow))


@container.command()
@click.argument("container_id")
@friendly_errors
def stop(container_id: str) -> None:
    """Stop a running container; inputs it was running are retried or failed."""
    api_call("ContainerStop", api_pb2.ContainerStopRequest(container_id=container_id))
    out.print(f"Stopping {container_id}.")
