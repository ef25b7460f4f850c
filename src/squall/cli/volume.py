"""`squall volume create|list|ls|put|get|rm|cp|rename|delete`."""

from __future__ import annotations

import pathlib
import sys

import click
from rich.table import Table

from squall.cli._common import friendly_errors, when
from squall.cli.output import out


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _vol(name: str):
    from squall.sdk.volume import Volume

    return Volume.from_name(name)


@click.group()
def volume() -> None:
    """Manage Volumes."""


@volume.command()
@click.argument("name")
@friendly_errors
def create(name: str) -> None:
    """Create an empty volume."""
    from squall import _limits as lim
    from squall._proto.squall.v1 import volume_pb2 as vpb
    from squall.exception import AlreadyExistsError, NotFoundError
    from squall.sdk import _blobs
    from squall.sdk._sync import run_sync
    from squall.sdk.volume import _client

    lim.check_name("volume", name)

    async def go():
        client = await _client()
        try:
            await _blobs.call(client, "VolumeGetOrCreate", vpb.VolumeGetOrCreateRequest(name=name))
        except NotFoundError:
            await _blobs.call(client, "VolumeGetOrCreate", vpb.VolumeGetOrCreateRequest(name=name, create_if_missing=True))
            return
        raise AlreadyExistsError(f"a volume named {name!r} already exists")

    run_sync(go())
    out.print(f"Created volume {name}.", markup=False)


@volume.command("list")
@friendly_errors
def list_volumes() -> None:
    """List named volumes."""
    from squall._proto.squall.v1 import volume_pb2 as vpb
    from squall.sdk import _blobs
    from squall.sdk._sync import run_sync
    from squall.sdk.volume import _client

    async def go():
        return await _blobs.call(await _client(), "VolumeList", vpb.VolumeEmpty())

    table = Table("Name", "Version", "Files", "Size", "Created", "Committed", "Volume ID")
    for v in run_sync(go()).volumes:
        table.add_row(v.name, str(v.version), str(v.num_files), _size(v.size_bytes), when(v.created_at), when(v.committed_at), v.volume_id)
    out.print(table)


@volume.command()
@click.argument("name")
@click.argument("path", default="/")
@click.option("-r", "--recursive", is_flag=True, help="everything below PATH, not just its children")
@friendly_errors
def ls(name: str, path: str, recursive: bool) -> None:
    """List the files in a volume's directory."""
    table = Table("Path", "Type", "Size", "Modified")
    for e in _vol(name).listdir(path, recursive=recursive):
        table.add_row(e.path + ("/" if e.type.name == "DIRECTORY" else ""), e.type.name.lower(), _size(e.size) if e.type.name == "FILE" else "-", when(e.mtime))
    out.print(table)


@volume.command()
@click.argument("name")
@click.argument("local", type=click.Path(exists=True, path_type=pathlib.Path))
@click.argument("remote", default="/")
@click.option("-f", "--force", is_flag=True, help="replace files that exist")
@friendly_errors
def put(name: str, local: pathlib.Path, remote: str, force: bool) -> None:
    """Upload a local file or directory to REMOTE (a directory when it ends in '/')."""
    vol = _vol(name)
    with vol.batch_upload(force=force) as batch:
        if local.is_dir():
            batch.put_directory(local, remote)
        else:
            batch.put_file(local, remote.rstrip("/") + "/" + local.name if remote.endswith("/") else remote)
    out.print(f"Uploaded {local} to {name}:{remote}.", markup=False)


@volume.command()
@click.argument("name")
@click.argument("remote")
@click.argument("local", default=".")
@friendly_errors
def get(name: str, remote: str, local: str) -> None:
    """Download a file (or, recursively, a directory) to LOCAL; '-' writes a file to stdout."""
    vol = _vol(name)
    from squall.sdk.volume import FileEntryType
    from squall.storage import volume_manifest as vm

    remote_n = vm.normalise(remote)
    entries = vol.listdir(remote_n, recursive=True)
    if local == "-":
        for data in vol.read_file(remote_n):
            sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    is_file = len(entries) == 1 and entries[0].path == remote_n and entries[0].type == FileEntryType.FILE
    dest = pathlib.Path(local)
    base = remote_n.rpartition("/")[0] if is_file else remote_n
    if is_file and dest.is_dir():
        dest = dest / remote_n.rpartition("/")[2]
    for e in entries:
        if e.type != FileEntryType.FILE:
            continue
        target = dest if is_file else dest / e.path[len(base):].lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as f:
            vol.read_file_into_fileobj(e.path, f)
    out.print(f"Downloaded {name}:{remote} to {dest}.", markup=False)


@volume.command()
@click.argument("name")
@click.argument("path")
@click.option("-r", "--recursive", is_flag=True, help="remove a directory and everything in it")
@friendly_errors
def rm(name: str, path: str, recursive: bool) -> None:
    """Remove a file (or with -r a directory) from a volume."""
    _vol(name).remove_file(path, recursive=recursive)
    out.print(f"Removed {name}:{path}.", markup=False)


@volume.command()
@click.argument("name")
@click.argument("paths", nargs=-1, required=True)
@click.option("-r", "--recursive", is_flag=True, help="copy directories")
@friendly_errors
def cp(name: str, paths: tuple[str, ...], recursive: bool) -> None:
    """Copy files within a volume: SRC... DST."""
    if len(paths) < 2:
        raise click.UsageError("give one or more sources and a destination")
    _vol(name).copy_files(list(paths[:-1]), paths[-1], recursive=recursive)
    out.print(f"Copied to {name}:{paths[-1]}.", markup=False)


@volume.command()
@click.argument("name")
@click.argument("src")
@click.argument("dst")
@friendly_errors
def rename(name: str, src: str, dst: str) -> None:
    """Move a file or directory within a volume."""
    _vol(name).rename(src, dst)
    out.print(f"Renamed {name}:{src} to {dst}.", markup=False)


@volume.command()
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="do not ask for confirmation")
@friendly_errors
def delete(name: str, yes: bool) -> None:
    """Delete a volume and all its versions."""
    from squall.sdk.volume import Volume

    if not yes:
        click.confirm(f"Delete volume {name!r} and all its files? This cannot be undone", abort=True)
    Volume.delete(name)
    out.print(f"Deleted volume {name}.", markup=False)
