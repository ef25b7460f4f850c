"""`squall queue list|create|peek|len|clear|delete`."""

from __future__ import annotations

import click
from rich.table import Table

from squall.cli._common import friendly_errors, when
from squall.cli.dict import confirm, create_object, show, storage_call
from squall.cli.output import out

PARTITION = click.option("-p", "--partition", default=None, help="a partition key (the default partition if not given)")


@click.group()
def queue() -> None:
    """Manage Queues."""


@queue.command("list")
@friendly_errors
def list_queues() -> None:
    """List named queues."""
    from squall._proto.squall.v1 import storage_pb2 as spb

    table = Table("Name", "Items", "Partitions", "Created", "Queue ID")
    for q in storage_call("QueueList", spb.StorageEmpty()).objects:
        table.add_row(q.name, str(q.num_items), str(q.num_partitions), when(q.created_at), q.object_id)
    out.print(table)


@queue.command()
@click.argument("name")
@friendly_errors
def create(name: str) -> None:
    """Create an empty queue."""
    create_object("queue", name)


@queue.command()
@click.argument("name")
@click.argument("n", type=int, default=1)
@PARTITION
@friendly_errors
def peek(name: str, n: int, partition: str | None) -> None:
    """Print the next N items (1 by default) without removing them."""
    from squall import _limits as lim
    from squall._proto.squall.v1 import storage_pb2 as spb
    from squall.sdk._sync import run_sync
    from squall.sdk.queue import Queue

    queue_id = run_sync(Queue.from_name(name)._id())
    resp = storage_call("QueuePeek", spb.QueuePeekRequest(queue_id=queue_id, partition=lim.check_partition(partition), n_values=n))
    for v in resp.values:
        out.print(show(v), markup=False)


@queue.command("len")
@click.argument("name")
@PARTITION
@click.option("-t", "--total", is_flag=True, help="count the items of every partition")
@friendly_errors
def len_(name: str, partition: str | None, total: bool) -> None:
    """Print how many items a queue (partition) holds."""
    from squall.sdk.queue import Queue

    out.print(str(Queue.from_name(name).len(partition=partition, total=total)))


@queue.command()
@click.argument("name")
@PARTITION
@click.option("-a", "--all", "all_", is_flag=True, help="clear every partition")
@click.option("-y", "--yes", is_flag=True, help="do not ask for confirmation")
@friendly_errors
def clear(name: str, partition: str | None, all_: bool, yes: bool) -> None:
    """Remove the items of a queue partition (or of all, with --all)."""
    from squall.sdk.queue import Queue

    confirm(f"Remove the items of queue {name!r}", yes)
    Queue.from_name(name).clear(partition=partition, all=all_)
    out.print(f"Cleared queue {name}.", markup=False)


@queue.command()
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="do not ask for confirmation")
@friendly_errors
def delete(name: str, yes: bool) -> None:
    """Delete a queue and its items."""
    from squall.sdk.queue import Queue

    confirm(f"Delete queue {name!r} and its items", yes)
    Queue.delete(name)
    out.print(f"Deleted queue {name}.", markup=False)
