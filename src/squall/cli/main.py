"""The `squall` command."""

from __future__ import annotations

import sys

import click

from squall import __version__


@click.group()
@click.version_option(__version__, prog_name="squall")
def cli() -> None:
    """Squall: serverless Python on machines you own."""


def _register() -> None:
    from squall.cli.app import app
    from squall.cli.container import container
    from squall.cli.daemons import server, token, worker
    from squall.cli.deploy import deploy
    from squall.cli.dict import dict_
    from squall.cli.image import image
    from squall.cli.queue import queue
    from squall.cli.run import run
    from squall.cli.sandbox import sandbox, shell
    from squall.cli.schedule import schedule
    from squall.cli.secret import secret
    from squall.cli.volume import volume
    from squall.cli.serve import serve
    from squall.cli.tunnel import tunnel
    from squall.cli.web import add_proxy_token_commands

    for command in (run, deploy, app, container, image, dict_, queue, secret, volume, sandbox, shell, tunnel, server, worker, token):
        cli.add_command(command)
    for command in (serve, schedule):
        cli.add_command(command)
    add_proxy_token_commands(token)


_register()


def main() -> None:
    from squall.exception import Error

    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except Error as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
