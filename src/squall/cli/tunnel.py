"""`squall tunnel ca|list`: the cluster CA that encrypted tunnels are signed by, and a sandbox's tunnels."""

from __future__ import annotations

import click
from rich.table import Table

from squall.cli._common import friendly_errors
from squall.cli.output import out


@click.group()
def tunnel() -> None:
    """Sandbox ports: the CA clients trust them with, and where they are reached."""


@tunnel.command("ca")
@click.option("--path", "show_path", is_flag=True, help="print where the server keeps it instead (on the server's machine)")
@friendly_errors
def ca(show_path: bool) -> None:
    """Print the cluster CA certificate (PEM) that signs encrypted tunnels, e.g.
    `squall tunnel ca > squall-ca.pem; curl --cacert squall-ca.pem https://HOST:PORT/`."""
    from squall._proto.squall.v1 import sandbox_pb2 as sb_pb
    from squall.sdk._sync import run_sync
    from squall.sdk.sandbox import _call

    resp = run_sync(_call("TunnelCA", sb_pb.SandboxEmpty()))
    click.echo(resp.path if show_path else resp.ca_cert_pem, nl=show_path)


@tunnel.command("list")
@click.argument("sandbox_id")
@click.option("--timeout", default=50.0, show_default=True, type=float, help="seconds to wait for the ports to open")
@friendly_errors
def list_tunnels(sandbox_id: str, timeout: float) -> None:
    """The ports SANDBOX_ID exposes and where each is reached."""
    from squall.sdk.sandbox import Sandbox

    table = Table("Container port", "TLS (url)", "TCP")
    for port, t in sorted(Sandbox.from_id(sandbox_id).tunnels(timeout=timeout).items()):
        table.add_row(str(port), t.url, f"{t.unencrypted_host}:{t.unencrypted_port}" if t.unencrypted_host else "-")
    out.print(table)
