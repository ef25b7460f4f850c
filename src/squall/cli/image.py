"""`squall image build|list|gc`: build an app's image explicitly, list the built images, drop unused layers."""

from __future__ import annotations

import click

from squall.cli._common import friendly_errors, when


@click.group()
def image() -> None:
    """Images: build, list and clean up."""


@image.command()
@click.argument("target")
@click.option("--force", is_flag=True, help="Rebuild every layer even if cached.")
@friendly_errors
def build(target: str, force: bool) -> None:
    """Build the image TARGET names: FILE::name, where name is an Image variable, a function
    or a class of the file (its image), or an App (every image it uses)."""
    from squall.cli import output
    from squall.cli.run import import_target, server_or_embedded
    from squall.exception import InvalidError
    from squall.sdk._sync import run_sync
    from squall.sdk.app import App
    from squall.sdk.function import Function
    from squall.sdk.image import Image

    file_or_module, _, name = target.partition("::")
    with server_or_embedded():
        module = import_target(file_or_module, is_module=not file_or_module.endswith(".py"))
        found = vars(module).get(name) if name else None
        images: list[Image] = []
        if isinstance(found, Image):
            images = [found]
        elif isinstance(found, App):
            images = list({id(im): im for im in found._images.values()}.values())
        elif found is not None and (isinstance(found, Function) or hasattr(found, "_function")):
            fn = found if isinstance(found, Function) else found._function
            images = [fn._app._images[fn._name]]
        if not images:
            choices = sorted(k for k, v in vars(module).items() if isinstance(v, (Image, App)))
            raise InvalidError(f"{file_or_module} has no image, app, function or class named {name!r}; choose one of: {', '.join(choices) or '(none)'}")

        async def go():
            from squall.client.client import get_client

            client = await get_client()
            return [await im._build(client, on_log=lambda line: output.MapProgress().image_log(_short(im), line), force=force) for im in images]

        for image_id, python in run_sync(go()):
            output.console.print(f"[green]✓[/green] image {image_id} is ready (python {python or 'none'})")


@image.command(name="list")
@friendly_errors
def list_() -> None:
    """The images this server has built, newest last."""
    from rich.table import Table

    from squall._proto.squall.v1 import api_pb2
    from squall.cli import output
    from squall.cli._common import api_call
    from squall.cli.run import server_or_embedded

    with server_or_embedded():
        resp = api_call("ImageList", api_pb2.Empty())
    table = Table("image", "status", "python", "layers", "size", "built", "build time", "recipe")
    for im in resp.images:
        table.add_row(im.image_id, im.status, im.python_version or "-", str(len(im.layer_ids)), _size(im.size_bytes), when(im.built_at),
                      f"{im.build_s:.1f}s" if im.build_s else "-", im.description)
    output.out.print(table)


@image.command()
@friendly_errors
def gc() -> None:
    """Forget images no running or deployed app uses, and delete the layers only they used."""
    from squall._proto.squall.v1 import api_pb2
    from squall.cli import output
    from squall.cli._common import api_call
    from squall.cli.run import server_or_embedded

    with server_or_embedded():
        resp = api_call("ImageGc", api_pb2.Empty())
    output.out.print(f"removed {len(resp.removed_image_ids)} images and {len(resp.removed_layer_ids)} layers, freeing {_size(resp.freed_bytes)}")


def _short(image) -> str:
    from squall.sdk.app import _short as short

    return short(image)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
