"""Decorators that mark methods and functions: @enter, @exit, @method, @concurrent, @batched,
and `parameter()` for class fields. They only tag; App.function / App.cls read the tags."""

from __future__ import annotations

import dataclasses

from squall.exception import InvalidError

_UNSET = object()


def enter(_fn=None, *, snap: bool = False):
    def deco(fn):
        fn.__squall_enter__ = {"snap": snap}
        return fn

    return deco(_fn) if _fn is not None else deco


def exit(_fn=None):  # noqa: A001 - Modal's name
    def deco(fn):
        fn.__squall_exit__ = True
        return fn

    return deco(_fn) if _fn is not None else deco


def method(_fn=None, *, is_generator: bool | None = None):
    def deco(fn):
        fn.__squall_method__ = {"is_generator": is_generator}
        return fn

    return deco(_fn) if _fn is not None else deco


def concurrent(_fn=None, *, max_inputs: int, target_inputs: int | None = None):
    if not isinstance(max_inputs, int) or max_inputs < 1:
        raise InvalidError(f"@concurrent(max_inputs={max_inputs!r}): max_inputs must be an integer >= 1")
    if target_inputs is not None and not (1 <= target_inputs <= max_inputs):
        raise InvalidError(f"@concurrent(target_inputs={target_inputs!r}): must be between 1 and max_inputs ({max_inputs})")

    def deco(fn):
        fn.__squall_concurrent__ = (max_inputs, target_inputs or max_inputs)
        return fn

    return deco(_fn) if _fn is not None else deco


def batched(_fn=None, *, max_batch_size: int, wait_ms: int):
    if not isinstance(max_batch_size, int) or not 1 <= max_batch_size <= 1000:
        raise InvalidError(f"@batched(max_batch_size={max_batch_size!r}): must be an integer from 1 to 1000")
    if not isinstance(wait_ms, int) or not 0 <= wait_ms <= 10 * 60 * 1000:
        raise InvalidError(f"@batched(wait_ms={wait_ms!r}): must be an integer from 0 to 600000 (10 minutes)")

    def deco(fn):
        fn.__squall_batched__ = (max_batch_size, wait_ms)
        return fn

    return deco(_fn) if _fn is not None else deco


@dataclasses.dataclass(frozen=True)
class _Parameter:
    default: object = _UNSET
    init: bool = True

    def __repr__(self) -> str:
        return f"parameter(default={self.default!r})"


def parameter(*, default=_UNSET, init: bool = True):
    """A class field set per instance: `x: int = squall.parameter(default=1)`; `Model(x=2)`."""
    return _Parameter(default, init)
