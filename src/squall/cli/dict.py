"""`squall dict list|create|get|items|clear|delete`."""

from __future__ import annotations

import click
from rich.table import Table

from squall.cli._common import friendly_errors, when
from squall.cli.output import out


def storage_call(method: str, request, timeout: float = 30.0):
    from squall.sdk._storage import storage_call as call
    from squall.sdk._sync import run_sync

    return run_sync(call(method, request, timeout))


def show(data: bytes) -> str:
    """A pickled value as text, even when its classes are not importable here."""
    import pickle

    try:
        value = pickle.loads(data)
    except Exception as exc:
        return f"<{len(data)} bytes that cannot be unpickled here: {type(exc).__name__}>"
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def create_object(kind: str, name: str) -> None:
    from squall import _limits as lim
    from squall._proto.squall.v1 import storage_pb2 as spb
    from squall.exception import AlreadyExistsError, NotFoundError

    lim.check_name(kind, name)
    method = f"{kind.capitalize()}GetOrCreate"
    try:
        storage_call(method, spb.ObjectGetOrCreateRequest(name=name))
    except NotFoundError:
        storage_call(method, spb.ObjectGetOrCreateRequest(name=name, create_if_missing=True))
        out.print(f"Created {kind} {name}.", markup=False)
        return
    raise AlreadyExistsError(f"a {kind} named {name!r} already exists")


def confirm(what: str, yes: bool) -> None:
    if not yes:
        click.confirm(f"{what}? This cannot be undone", abort=True)


@click.group("dict")
def dict_() -> None:
    """Manage Dicts."""


@dict_.command("list")
@friendly_errors
def list_dicts() -> None:
    """List named dicts."""
    from squall._proto.squall.v1 import storage_pb2 as spb

    table = Table("Name", "Items", "Created", "Dict ID")
    for d in storage_call("DictList", spb.StorageEmpty()).objects:
        table.add_row(d.name, str(d.num_items), when(d.created_at), d.object_id)
    out.print(table)


@dict_.command()
@click.argument("name")
@friendly_errors
def create(name: str) -> None:
    """Create an empty dict."""
    create_object("dict", name)


@dict_.command()
@click.argument("name")
@click.argument("key")
@friendly_errors
def get(name: str, key: str) -> None:
    """Print the value of a (string) KEY."""
    from squall import _serialization as ser
    from squall._proto.squall.v1 import storage_pb2 as spb
    from squall.sdk._sync import run_sync
    from squall.sdk.dict import Dict

    dict_id = run_sync(Dict.from_name(name)._id())
    resp = storage_call("DictGet", spb.DictKeyRequest(dict_id=dict_id, key=ser.serialize(key)))
    if not resp.found:
        raise click.ClickException(f"dict {name!r} has no key {key!r}")
    out.print(show(resp.value), markup=False)


@dict_.command()
@click.argument("name")
@click.argument("n", type=int, default=20)
@click.option("--all", "show_all", is_flag=True, help="show every item, not just the first N")
@friendly_errors
def items(name: str, n: int, show_all: bool) -> None:
    """Show the first N items (20 by default), oldest first."""
    from squall._proto.squall.v1 import storage_pb2 as spb
    from squall.sdk._sync import run_sync
    from squall.sdk.dict import Dict

    dict_id = run_sync(Dict.from_name(name)._id())
    table = Table("Key", "Value")
    after, shown = 0, 0
    while show_all or shown < n:
        resp = storage_call("DictContents", spb.DictContentsRequest(dict_id=dict_id, after_seq=after, keys=True, values=True))
        for e in resp.entries[: None if show_all else n - shown]:
            table.add_row(show(e.key), show(e.value))
            shown += 1
        if resp.done:
            break
        after = resp.last_seq
    out.print(table)


@dict_.command()
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="do not ask for confirmation")
@friendly_errors
def clear(name: str, yes: bool) -> None:
    """Remove every item of a dict."""
    from squall.sdk.dict import Dict

    confirm(f"Remove every item of dict {name!r}", yes)
    Dict.from_name(name).clear()
    out.print(f"Cleared dict {name}.", markup=False)


@dict_.command()
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="do not ask for confirmation")
@friendly_errors
def delete(name: str, yes: bool) -> None:
    """Delete a dict and its contents."""
    from squall.sdk.dict import Dict

    confirm(f"Delete dict {name!r} and its contents", yes)
    Dict.delete(name)
    out.print(f"Deleted dict {name}.", markup=False)
