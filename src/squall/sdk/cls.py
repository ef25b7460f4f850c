"""Cls: a class whose methods run remotely. Containers keep the instance between calls, and
each set of parameters (`Model(x=1)`) gets its own pool of containers."""

from __future__ import annotations

import inspect

from squall import _serialization as ser
from squall.exception import InvalidError
from squall.sdk.function import Function
from squall.sdk.partial import _UNSET, _Parameter


def parameters_of(user_cls) -> dict[str, _Parameter]:
    params = {}
    for klass in reversed(user_cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, _Parameter):
                params[name] = value
    return params


def lifecycle_methods(user_cls, kind: str) -> list:
    """@enter / @exit hooks in definition order (base classes first)."""
    attr = {"enter": "__squall_enter__", "exit": "__squall_exit__"}[kind]
    seen, hooks = set(), []
    for klass in reversed(user_cls.__mro__):
        for name, value in vars(klass).items():
            if callable(value) and hasattr(value, attr) and name not in seen:
                seen.add(name)
                hooks.append(value)
    return hooks


def method_names(user_cls) -> dict[str, object]:
    return {name: value for name, value in inspect.getmembers(user_cls, callable) if hasattr(value, "__squall_method__")}


def construct_instance(user_cls, args: tuple, kwargs: dict):
    """Build an instance the way Modal does: parameters become attributes; a custom __init__ is called."""
    params = parameters_of(user_cls)
    if params:
        if args:
            raise InvalidError(f"{user_cls.__name__} takes its parameters by keyword only: {', '.join(params)}")
        unknown = set(kwargs) - set(params)
        if unknown:
            raise InvalidError(f"{user_cls.__name__} has no parameter {sorted(unknown)}; its parameters are {sorted(params)}")
        obj = user_cls.__new__(user_cls)
        for name, p in params.items():
            if name in kwargs:
                value = kwargs[name]
            elif p.default is not _UNSET:
                value = p.default
            else:
                raise InvalidError(f"{user_cls.__name__} needs parameter {name!r}")
            setattr(obj, name, value)
        return obj
    return user_cls(*args, **kwargs)


class Cls:
    def __init__(self, app, user_cls, class_function: Function):
        self._app = app
        self._squall_raw = user_cls
        self._function = class_function
        self._methods = method_names(user_cls)
        self.__name__ = user_cls.__name__
        self.__qualname__ = user_cls.__qualname__
        self.__doc__ = user_cls.__doc__

    def __repr__(self) -> str:
        return f"Cls({self.__name__})"

    @classmethod
    def from_name(cls, app_name: str, name: str) -> Cls:
        """A handle to class `name` of the deployed app `app_name`. Lazy: the first method call
        looks it up; parameters are checked in the container."""
        handle = cls.__new__(cls)
        handle._app = None
        handle._squall_raw = None
        handle._function = Function._lookup_handle(app_name, name, is_class=True)
        handle._methods = {}
        handle.__name__ = handle.__qualname__ = name
        handle.__doc__ = None
        return handle

    def __call__(self, *args, **kwargs) -> Obj:
        if self._squall_raw is not None and parameters_of(self._squall_raw):
            construct_instance(self._squall_raw, args, kwargs)  # validate now, not in the container
        return Obj(self, args, kwargs)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self(), name)

    def with_options(self, **options) -> Cls:
        self._function._check_local_definition("with_options()")
        return Cls(self._app, self._squall_raw, self._function.with_options(**options))

    def with_concurrency(self, *, max_inputs: int, target_inputs: int | None = None) -> Cls:
        self._function._check_local_definition("with_concurrency()")
        return Cls(self._app, self._squall_raw, self._function.with_concurrency(max_inputs=max_inputs, target_inputs=target_inputs))

    def with_batching(self, *, max_batch_size: int, wait_ms: int) -> Cls:
        self._function._check_local_definition("with_batching()")
        return Cls(self._app, self._squall_raw, self._function.with_batching(max_batch_size=max_batch_size, wait_ms=wait_ms))


class Obj:
    """An instance handle: `Model(x=1)`. Its methods are Functions bound to these parameters."""

    def __init__(self, cls: Cls, args: tuple, kwargs: dict):
        self._cls = cls
        self._params = ser.serialize((args, kwargs)) if (args or kwargs) else None
        self._bound = Function(cls._app, None, cls._function._name, cls._function._definition, parent=cls._function, class_params=self._params) \
            if self._params is not None else cls._function
        self._method_handles: dict[str, Function] = {}
        self._local = None
        self._args, self._kwargs = args, kwargs

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if self._cls._squall_raw is None:  # Cls.from_name: the methods are known once it is looked up
            if name not in self._method_handles:
                self._method_handles[name] = Function(None, None, f"{self._cls.__name__}.{name}", self._bound._definition, method_name=name, parent=self._bound)
            return self._method_handles[name]
        methods = self._cls._methods
        if name not in methods:
            raise AttributeError(f"{self._cls.__name__} has no @method {name!r} (its methods: {', '.join(methods) or 'none'})")
        if name not in self._method_handles:
            raw = methods[name]
            d = self._bound._definition
            handle = Function(self._cls._app, None, f"{self._cls.__name__}.{name}", _with_generator(d, raw), method_name=name, parent=self._bound)
            handle._local_method = lambda *a, **kw: getattr(self._local_instance(), name)(*a, **kw)
            self._method_handles[name] = handle
        return self._method_handles[name]

    def _local_instance(self):
        if self._local is None:
            self._local = construct_instance(self._cls._squall_raw, self._args, self._kwargs)
            for hook in lifecycle_methods(self._cls._squall_raw, "enter"):
                getattr(self._local, hook.__name__)()
        return self._local


def _with_generator(d, raw):
    from squall._proto.squall.v1 import common_pb2 as pb
    from squall.sdk.function import is_generator_function

    is_gen = raw.__squall_method__.get("is_generator")
    if is_gen is None:
        is_gen = is_generator_function(raw)
    if bool(is_gen) == d.options.is_generator:
        return d
    copy = pb.FunctionDefinition()
    copy.CopyFrom(d)
    copy.options.is_generator = bool(is_gen)
    return copy
