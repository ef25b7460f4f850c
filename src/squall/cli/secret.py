"""`squall secret create NAME KEY=VALUE ...|list|delete`. Nothing here ever prints a value."""

from __future__ import annotations

import click
from rich.table import Table

from squall.cli._common import friendly_errors, when
from squall.cli.dict import confirm, storage_call
from squall.cli.output import out


@click.group("secret")
def secret() -> None:
    """Manage Secrets (stored encrypted; injected as environment variables)."""


@secret.command("list")
@friendly_errors
def list_secrets() -> None:
    """List named secrets and their key names (never their values)."""
    from squall._proto.squall.v1 import storage_pb2 as spb

    table = Table("Name", "Keys", "Created", "Secret ID")
    for s in storage_call("SecretList", spb.StorageEmpty()).secrets:
        table.add_row(s.name, ", ".join(s.keys), when(s.created_at), s.object_id)
    out.print(table)


@secret.command()
@click.argument("name")
@click.argument("pairs", nargs=-1, required=True, metavar="KEY=VALUE...")
@click.option("--force", is_flag=True, help="replace the secret if it already exists")
@friendly_errors
def create(name: str, pairs: tuple[str, ...], force: bool) -> None:
    """Create a secret from KEY=VALUE pairs (KEY=- reads the value from stdin)."""
    import sys

    from squall import _limits as lim
    from squall._proto.squall.v1 import storage_pb2 as spb

    lim.check_name("secret", name)
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.UsageError(f"{key!r} is not KEY=VALUE")  # no '=', so no value to show
        lim.check_env_key(key)
        env[key] = sys.stdin.read().rstrip("\n") if value == "-" else value
    storage_call("SecretGetOrCreate", spb.SecretGetOrCreateRequest(name=name, env_dict=env, overwrite=force))
    out.print(f"Created secret {name} with keys {', '.join(sorted(env))}.", markup=False)


@secret.command()
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@friendly_errors
def delete(name: str, yes: bool) -> None:
    """Delete a secret."""
    from squall._proto.squall.v1 import storage_pb2 as spb

    confirm(f"Delete secret {name}", yes)
    storage_call("SecretDelete", spb.ObjectDeleteRequest(name=name))
    out.print(f"Deleted secret {name}.", markup=False)
