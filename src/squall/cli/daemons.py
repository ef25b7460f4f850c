"""`squall server` and `squall worker`: the long-lived daemons of a team or cluster."""

from __future__ import annotations

import asyncio
import logging
import pathlib
import signal

import click

from squall import config


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=config.DEFAULT_PORT, show_default=True, type=int)
@click.option("--db-url", default=None, help="SQLAlchemy URL (default: SQLite under SQUALL_HOME)")
@click.option("--ready-file", type=click.Path(path_type=pathlib.Path), default=None, help="write the URL here once listening")
@click.option("--http-port", default=None, type=int, help=f"the web endpoint gateway's port (default {config.DEFAULT_HTTP_PORT}, or any free one when taken; -1: none)")
@click.option("--web-domain", default=None, help="also route <app>-<label>.DOMAIN host names to web endpoints (wildcard DNS to this server)")
@click.option("--blob-url", envvar=config.ENV_BLOB_URL, default=None,
              help="blob store: s3://bucket/prefix (endpoint and keys from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or a directory; "
                   "default: a directory under SQUALL_HOME")
def server(host: str, port: int, db_url: str | None, ready_file: pathlib.Path | None, blob_url: str | None, http_port: int | None,
           web_domain: str | None) -> None:
    """Run the control plane."""
    from squall.server.main import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    asyncio.run(serve(config.squall_home(), host, port, db_url, ready_file, blob_url, http_port=http_port, web_domain=web_domain))


@click.command()
@click.option("--server", "server_url", envvar=config.ENV_SERVER_URL, required=True, help="the control plane's URL")
@click.option("--token", envvar=config.ENV_TOKEN, default=None, help="the server's token (default: the local server's)")
@click.option("--runtime", default=None, help="comma-separated runtimes, the default first: runc, gvisor, process")
@click.option("--worker-id", default=None)
@click.option("--public-host", envvar="SQUALL_WORKER_PUBLIC_HOST", default=None,
              help="the address clients reach sandbox tunnels on this machine at (default 127.0.0.1); listeners bind to it, "
                   "or to SQUALL_WORKER_TUNNEL_BIND")
def worker(server_url: str, token: str | None, runtime: str | None, worker_id: str | None, public_host: str | None) -> None:
    """Run a worker that takes containers from the control plane."""
    from squall.cli.embedded import default_runtimes
    from squall.client.client import resolve_server
    from squall.worker.worker import Worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    token = token or resolve_server()[1]
    if not token:
        raise click.ClickException("no token: pass --token or set SQUALL_TOKEN (the server prints where its token is)")
    runtimes = runtime.split(",") if runtime else default_runtimes()
    w = Worker(config.squall_home(), server_url, token, runtimes, worker_id, public_host=public_host)
    w.prepare(progress=lambda line: click.echo(line, err=True))

    async def go():
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(w.run())
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(w.stop()))
        await task

    asyncio.run(go())


@click.group(invoke_without_command=True)
@click.pass_context
def token(ctx: click.Context) -> None:
    """Print the local server's token (give it to workers and clients as SQUALL_TOKEN);
    `squall token create-proxy` makes a token for web endpoints with requires_proxy_auth."""
    if ctx.invoked_subcommand is not None:
        return
    from squall.server.auth import load_or_create_token

    click.echo(load_or_create_token(config.squall_home() / "server" / "token"))
