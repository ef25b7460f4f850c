"""Helpers every CLI noun shares: calling the configured server and turning errors into exit codes."""

from __future__ import annotations

import functools
import sys

import click

from squall.exception import Error


def api_call(method: str, request, timeout: float = 30.0):
    from squall.client.client import get_client
    from squall.sdk._sync import run_sync

    async def go():
        client = await get_client()
        return await client.call(method, request, timeout=timeout)

    return run_sync(go())


def friendly_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Error as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)

    return wrapper


def when(ts: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"
