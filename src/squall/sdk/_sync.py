"""Async core, thin sync facade: every I/O method is written once as a coroutine and runs on
one background event loop; callers get a blocking call and an awaitable `.aio` form."""

from __future__ import annotations

import asyncio
import functools
import threading
import warnings

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, daemon=True, name="squall-sdk").start()
        return _loop


def _in_sdk_loop() -> bool:
    try:
        return asyncio.get_running_loop() is _loop
    except RuntimeError:
        return False


def run_sync(coro):
    if _in_sdk_loop():
        coro.close()
        raise RuntimeError("a blocking squall call was made from squall's own event loop")
    try:
        asyncio.get_running_loop()
        warnings.warn("a blocking squall call inside async code blocks the event loop; use `await ....aio(...)` instead", stacklevel=3)
    except RuntimeError:
        pass
    return asyncio.run_coroutine_threadsafe(coro, loop()).result()


async def run_aio(coro):
    if _in_sdk_loop():
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop()))


class _Live:
    """A coroutine function seen from outside: call it to block, or `.aio(...)` to await."""

    def __init__(self, afunc):
        self._afunc = afunc
        functools.update_wrapper(self, afunc)

    def __call__(self, *args, **kwargs):
        return run_sync(self._afunc(*args, **kwargs))

    def aio(self, *args, **kwargs):
        return run_aio(self._afunc(*args, **kwargs))


class _LiveGen:
    """An async generator function seen from outside: iterate it, or `async for` over `.aio(...)`."""

    def __init__(self, agenfunc):
        self._agenfunc = agenfunc
        functools.update_wrapper(self, agenfunc)

    def __call__(self, *args, **kwargs):
        agen = self._agenfunc(*args, **kwargs)
        try:
            while True:
                try:
                    yield run_sync(agen.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            run_sync(agen.aclose())

    async def aio(self, *args, **kwargs):
        agen = self._agenfunc(*args, **kwargs)
        try:
            while True:
                try:
                    yield await run_aio(agen.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            await run_aio(agen.aclose())


class live_method:
    """Decorator for `async def` methods: `obj.m(...)` blocks, `obj.m.aio(...)` awaits."""

    def __init__(self, afunc):
        self._afunc = afunc
        self._gen = asyncio.iscoroutinefunction(afunc) is False

    def __set_name__(self, owner, name):
        self._name = name

    def __get__(self, obj, objtype=None):
        bound = self._afunc.__get__(obj, objtype) if obj is not None else self._afunc
        return _LiveGen(bound) if self._gen else _Live(bound)


def live_function(afunc):
    """Decorator for module-level or static `async def` functions and async generators."""
    return _Live(afunc) if asyncio.iscoroutinefunction(afunc) else _LiveGen(afunc)
