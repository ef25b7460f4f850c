"""Function and FunctionCall: the handles users call `.remote()`, `.map()` and `.spawn()` on."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import time
from collections.abc import AsyncIterator, Iterable

from squall import _serialization as ser
from squall import config
from squall._proto.squall.v1 import api_pb2
from squall._proto.squall.v1 import common_pb2 as pb
from squall.exception import ExecutionError, FunctionTimeoutError, InputCancellation, InvalidError, NotFoundError
from squall.sdk import _blobs
from squall.sdk._sync import live_function, live_method
from squall.sdk.retries import Retries

MAP_CHUNK = 1000  # inputs per RPC
MAP_MAX_IN_FLIGHT = 50_000  # unfinished inputs per map before sending waits (keeps memory flat)
REMOTE_WAIT_S = 50.0
POLL_S = 50.0


class Progress:
    """Hook the CLI replaces to draw progress bars; the default draws nothing."""

    def map_started(self, name: str) -> object:
        return None

    def map_update(self, handle, done: int, total: int | None) -> None:
        pass

    def map_finished(self, handle) -> None:
        pass

    def image_log(self, image: str, line: str) -> None:
        """One line of an image build's output (only images that build print any)."""
        import sys

        sys.stderr.write(f"[build {image}] {line}\n")
        sys.stderr.flush()


progress = Progress()


def _check_number(name: str, value, lo: float, hi: float | None, unit: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < lo or (hi is not None and value > hi):
        allowed = f"from {lo:g} to {hi:g} {unit}" if hi is not None else f"at least {lo:g} {unit}"
        raise InvalidError(f"{name}={value!r} is not allowed: give a number {allowed}")


def _request_limit(name: str, value, default: tuple[float, float]) -> tuple[float, float]:
    if value is None:
        return default
    if isinstance(value, tuple):
        if len(value) != 2:
            raise InvalidError(f"{name}={value!r}: give a number or a (request, limit) pair")
        return value
    return value, value


def build_options(
    *, cpu=None, memory=None, timeout=300, startup_timeout=None, retries=None, env=None, min_containers=0, max_containers=None,
    buffer_containers=0, scaledown_window=60, block_network=False, max_inputs=None, single_use_containers=False, gpu=None,
    is_generator=False, concurrent=None, batched=None, runtime=None,
) -> pb.FunctionOptions:
    """Validate decorator options now (decoration time) and turn them into the wire form."""
    cpu_req, cpu_lim = _request_limit("cpu", cpu, (0.125, 0.0))
    _check_number("cpu", cpu_req, 0.001, 64, "cores (more than 0)")
    if cpu_lim:
        _check_number("cpu limit", cpu_lim, cpu_req, 64, "cores (at least the request)")
    mem_req, mem_lim = _request_limit("memory", memory, (128, 0))
    _check_number("memory", mem_req, config.MIN_MEMORY_MB, 1024 * 1024, "MiB")
    if mem_lim:
        _check_number("memory limit", mem_lim, mem_req, 1024 * 1024, "MiB (at least the request)")
    _check_number("timeout", timeout, config.MIN_TIMEOUT_S, config.MAX_TIMEOUT_S, "seconds (1 s to 24 h)")
    if startup_timeout is not None:
        _check_number("startup_timeout", startup_timeout, config.MIN_TIMEOUT_S, config.MAX_TIMEOUT_S, "seconds (1 s to 24 h)")
    _check_number("scaledown_window", scaledown_window, 1, 24 * 3600, "seconds")
    for name, value in (("min_containers", min_containers), ("buffer_containers", buffer_containers)):
        if not isinstance(value, int) or value < 0 or value > 1000:
            raise InvalidError(f"{name}={value!r} is not allowed: give an integer from 0 to 1000")
    if max_containers is not None and (not isinstance(max_containers, int) or not 1 <= max_containers <= 10_000):
        raise InvalidError(f"max_containers={max_containers!r} is not allowed: give an integer from 1 to 10000")
    if max_containers is not None and min_containers > max_containers:
        raise InvalidError(f"min_containers={min_containers} is more than max_containers={max_containers}")
    if gpu is not None:
        raise InvalidError(f"gpu={gpu!r}: this squall cluster has no GPU workers yet; remove gpu= to run on CPU")
    if env is not None and not (isinstance(env, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())):
        raise InvalidError(f"env={env!r}: give a dict of str to str")
    if runtime not in (None, "runc", "gvisor", "process"):
        raise InvalidError(f"runtime={runtime!r}: choose 'runc', 'gvisor' or 'process'")
    r = Retries.coerce(retries)
    if single_use_containers:
        max_inputs = 1
    if max_inputs is not None and (not isinstance(max_inputs, int) or max_inputs < 1):
        raise InvalidError(f"max_inputs={max_inputs!r}: give an integer >= 1")
    return pb.FunctionOptions(
        cpu=cpu_req, cpu_limit=cpu_lim, memory_mb=int(mem_req), memory_limit_mb=int(mem_lim or mem_req if memory is not None else 0),
        timeout_s=timeout, startup_timeout_s=startup_timeout or 0, max_retries=r.max_retries, backoff_coefficient=r.backoff_coefficient,
        initial_delay_s=r.initial_delay, max_delay_s=r.max_delay, min_containers=min_containers, max_containers=max_containers or 0,
        buffer_containers=buffer_containers, scaledown_window_s=scaledown_window, env=env or {}, block_network=block_network,
        max_inputs=max_inputs or 0, is_generator=is_generator, runtime=runtime or "",
        max_concurrent_inputs=concurrent[0] if concurrent else 1, batch_max_size=batched[0] if batched else 0, batch_wait_ms=batched[1] if batched else 0,
    )


def result_value(result: pb.Result):
    """An output's value, or its error raised as the caller would expect."""
    if result.status == pb.SUCCESS:
        return ser.deserialize(result.data) if result.data else None
    if result.status in (pb.FAILURE, pb.INIT_FAILURE) and result.data:
        raise ser.exception_from_result(result)
    if result.status == pb.TIMEOUT:
        raise FunctionTimeoutError(result.exception_repr.split(": ", 1)[-1] if result.exception_repr else "the function timed out")
    if result.status == pb.CANCELLED:
        raise InputCancellation(result.exception_repr or "the input was cancelled")
    raise ExecutionError(result.exception_repr or f"the input failed ({pb.ResultStatus.Name(result.status)})")


def _error_or_value(result: pb.Result):
    try:
        return result_value(result)
    except (Exception, InputCancellation) as exc:  # noqa: BLE001 - returned in place with return_exceptions
        return exc


class Function:
    """A function registered on an App. Calling methods on it talks to the control plane."""

    def __init__(self, app, raw_f, name: str, definition: pb.FunctionDefinition, *, method_name: str = "", parent: Function | None = None,
                 class_params: bytes | None = None):
        self._app = app
        self._squall_raw = raw_f
        self._name = name
        self._definition = definition
        self._method_name = method_name
        self._parent = parent
        self._class_params = class_params
        self._function_id: str | None = None
        self._hydrate_lock: asyncio.Lock | None = None
        self._lookup: tuple[str, str, bool] | None = None  # (app name, name, is a class) for from_name handles
        self._bound_client = None  # the client a from_name handle (or one derived from it) was resolved with
        if raw_f is not None:
            self.__doc__ = raw_f.__doc__
            self.__name__ = getattr(raw_f, "__name__", name)
            self.__qualname__ = getattr(raw_f, "__qualname__", name)

    def __repr__(self) -> str:
        return f"Function({self._name})"

    @property
    def is_generator(self) -> bool:
        if self._app is None and self._method_name:  # a method of a Cls.from_name handle
            return self._method_name in self._definition.generator_methods
        return self._definition.options.is_generator

    @staticmethod
    def from_name(app_name: str, name: str) -> Function:
        """A handle to function `name` of the deployed app `app_name`. Lazy: the first call looks it up."""
        return Function._lookup_handle(app_name, name, is_class=False)

    @staticmethod
    def _lookup_handle(app_name: str, name: str, is_class: bool) -> Function:
        for what, value in (("app name", app_name), ("name", name)):
            if not isinstance(value, str) or not value:
                raise InvalidError(f"from_name(): the {what} must be a non-empty string, not {value!r}")
        fn = Function(None, None, name, pb.FunctionDefinition())
        fn._lookup = (app_name, name, is_class)
        return fn

    async def _look_up(self) -> str:
        from squall.client.client import get_client

        app_name, name, is_class = self._lookup
        client = await get_client()
        resp = await client.call("FunctionLookup", api_pb2.FunctionLookupRequest(app_name=app_name, name=name))
        if resp.definition.is_class != is_class:
            use = "Cls.from_name" if resp.definition.is_class else "Function.from_name"
            raise InvalidError(f"{name!r} of app {app_name!r} is a {'class' if resp.definition.is_class else 'function'}: use {use}({app_name!r}, {name!r})")
        self._definition.CopyFrom(resp.definition)  # in place: handles derived from this one share it
        self._bound_client = client
        self._function_id = resp.function_id
        return self._function_id

    # -- hydration -----------------------------------------------------------------------------
    async def _hydrate(self) -> str:
        if self._function_id:
            return self._function_id
        if self._hydrate_lock is None:
            self._hydrate_lock = asyncio.Lock()
        async with self._hydrate_lock:
            if self._function_id:
                return self._function_id
            if self._lookup is not None:
                return await self._look_up()
            if self._app is None and self._parent is not None:  # derived from a from_name handle
                return await self._hydrate_from_lookup()
            running = self._app._running if self._app is not None else None
            if running is None:
                raise InvalidError(
                    f"{self._name}.remote() needs a running app: run the file with `squall run app.py`, or call it inside `with app.run():`"
                )
            if self._parent is None:
                raise InvalidError(f"{self._name} is not registered on the running app")
            parent_id = await self._parent._hydrate()
            if self._class_params is not None:
                resp = await running.client.call("FunctionBind", api_pb2.FunctionBindRequest(function_id=parent_id, class_params=self._class_params))
                self._function_id = resp.function_id
            elif not self._method_name and self._definition is not self._parent._definition:  # with_options(): its own container pool
                self._definition.mount_digest = self._parent._definition.mount_digest
                del self._definition.secret_ids[:]
                self._definition.secret_ids.extend(self._parent._definition.secret_ids)
                del self._definition.volumes[:]
                self._definition.volumes.extend(self._parent._definition.volumes)
                resp = await running.client.call(
                    "FunctionCreate", api_pb2.FunctionCreateRequest(app_id=running.app_id, name=self._name, definition=self._definition)
                )
                self._function_id = resp.function_id
            else:
                self._function_id = parent_id
            return self._function_id

    async def _hydrate_from_lookup(self) -> str:
        parent_id = await self._parent._hydrate()
        client = self._parent._bound_client
        if self._method_name and self._definition.methods and self._method_name not in self._definition.methods:
            raise NotFoundError(f"class {self._definition.function_name.removesuffix('.*')} of app {self._definition.app_name!r} has no method "
                                f"{self._method_name!r}; its methods: {', '.join(self._definition.methods)}")
        if self._class_params is not None:
            resp = await client.call("FunctionBind", api_pb2.FunctionBindRequest(function_id=parent_id, class_params=self._class_params))
            self._function_id = resp.function_id
        else:
            self._function_id = parent_id
        self._bound_client = client
        return self._function_id

    async def _client(self):
        await self._hydrate()
        if self._app is None:
            return self._bound_client
        return self._app._running.client

    def _input(self, args: tuple, kwargs: dict, idx: int = 0) -> pb.Input:
        return pb.Input(idx=idx, args=ser.serialize_args(args, kwargs), method_name=self._method_name)

    # -- calls ---------------------------------------------------------------------------------
    @live_method
    async def remote(self, *args, **kwargs):
        client = await self._client()  # first: a from_name handle learns what it is here
        if self.is_generator:
            raise InvalidError(f"{self._name} is a generator: use .remote_gen() to iterate its values")
        inp = self._input(args, kwargs)
        await _blobs.offload_inputs(client, [inp])  # a large argument travels as a blob reference
        resp = await client.call(
            "FunctionCallCreate", api_pb2.FunctionCallCreateRequest(function_id=self._function_id, kind=api_pb2.REMOTE, inputs=[inp], wait_s=REMOTE_WAIT_S),
            timeout=REMOTE_WAIT_S + 10,
        )
        outputs = await _blobs.resolve_outputs(client, list(resp.outputs))
        call = FunctionCall(resp.call_id, client)
        if not outputs:
            return await call._get(None)
        return result_value(outputs[0].result)

    @live_method
    async def remote_gen(self, *args, **kwargs):
        client = await self._client()
        if not self.is_generator:
            raise InvalidError(f"{self._name} is not a generator: use .remote()")
        inputs = await _blobs.offload_inputs(client, [self._input(args, kwargs)])
        resp = await client.call("FunctionCallCreate", api_pb2.FunctionCallCreateRequest(function_id=self._function_id, kind=api_pb2.GENERATOR, inputs=inputs))
        async for out in _outputs(client, resp.call_id, None):
            if out.result.status == pb.GENERATOR_ITEM:
                yield ser.deserialize(out.result.data)
            else:
                result_value(out.result)  # raises if the generator failed
                return

    def local(self, *args, **kwargs):
        local_method = getattr(self, "_local_method", None)
        if local_method is not None:
            return local_method(*args, **kwargs)
        if self._squall_raw is None:
            raise InvalidError(f"{self._name}.local() is not available for class methods; call the method on a local instance")
        return self._squall_raw(*args, **kwargs)

    @live_method
    async def spawn(self, *args, **kwargs) -> FunctionCall:
        client = await self._client()
        kind = api_pb2.GENERATOR if self.is_generator else api_pb2.SPAWN
        inputs = await _blobs.offload_inputs(client, [self._input(args, kwargs)])
        resp = await client.call("FunctionCallCreate", api_pb2.FunctionCallCreateRequest(function_id=self._function_id, kind=kind, inputs=inputs))
        return FunctionCall(resp.call_id, client)

    @live_method
    async def map(self, *iterables, kwargs: dict | None = None, order_outputs: bool = True, return_exceptions: bool = False):
        calls = ((args, kwargs or {}) for args in zip(*iterables))
        async for value in self._map(calls, order_outputs, return_exceptions):
            yield value

    @live_method
    async def starmap(self, input_iterator: Iterable, *, kwargs: dict | None = None, order_outputs: bool = True, return_exceptions: bool = False):
        calls = ((tuple(args), kwargs or {}) for args in input_iterator)
        async for value in self._map(calls, order_outputs, return_exceptions):
            yield value

    @live_method
    async def for_each(self, *iterables, kwargs: dict | None = None, ignore_exceptions: bool = False) -> None:
        calls = ((args, kwargs or {}) for args in zip(*iterables))
        async for _ in self._map(calls, False, ignore_exceptions):
            pass

    @live_method
    async def spawn_map(self, *iterables, kwargs: dict | None = None) -> FunctionCall:
        client = await self._client()
        inputs = await _blobs.offload_inputs(client, [self._input(args, kwargs or {}, i) for i, args in enumerate(zip(*iterables))])
        resp = await client.call("FunctionCallCreate", api_pb2.FunctionCallCreateRequest(function_id=self._function_id, kind=api_pb2.MAP, inputs=inputs))
        return FunctionCall(resp.call_id, client, num_inputs=len(inputs), is_map=True)

    async def _map(self, calls, order_outputs: bool, return_exceptions: bool) -> AsyncIterator:
        client = await self._client()
        if self.is_generator:
            raise InvalidError(f"{self._name} is a generator: .map() is not supported for generators")
        indexed = (self._input(args, kw, i) for i, (args, kw) in enumerate(calls))
        first = await _blobs.offload_inputs(client, list(itertools.islice(indexed, MAP_CHUNK)))
        resp = await client.call("FunctionCallCreate", api_pb2.FunctionCallCreateRequest(function_id=self._function_id, kind=api_pb2.MAP, inputs=first))
        call_id = resp.call_id
        state = {"sent": len(first), "done": 0, "total": None if len(first) == MAP_CHUNK else len(first)}
        room = asyncio.Event()
        room.set()

        async def send_rest() -> None:
            while chunk := list(itertools.islice(indexed, MAP_CHUNK)):
                while state["sent"] - state["done"] > MAP_MAX_IN_FLIGHT:
                    room.clear()
                    await room.wait()
                await client.call("FunctionPutInputs", api_pb2.FunctionPutInputsRequest(call_id=call_id, inputs=await _blobs.offload_inputs(client, chunk)))
                state["sent"] += len(chunk)
            state["total"] = state["sent"]

        sender = asyncio.create_task(send_rest()) if state["total"] is None else None

        def sender_failed() -> None:
            if sender is not None and sender.done() and not sender.cancelled() and sender.exception() is not None:
                raise sender.exception()

        bar = progress.map_started(self._name)
        buffered: dict[int, pb.Result] = {}
        next_idx = 0
        try:
            async for out in _outputs(client, call_id, state, check=sender_failed):
                if out.result.status == pb.GENERATOR_ITEM:
                    continue
                state["done"] += 1
                room.set()
                progress.map_update(bar, state["done"], state["total"])
                if not order_outputs:
                    yield _error_or_value(out.result) if return_exceptions else result_value(out.result)
                    continue
                buffered[out.idx] = out.result
                while next_idx in buffered:
                    result = buffered.pop(next_idx)
                    next_idx += 1
                    yield _error_or_value(result) if return_exceptions else result_value(result)
        except BaseException:
            if state["total"] is None or state["done"] < state["total"]:
                await client.call("FunctionCallCancel", api_pb2.FunctionCallCancelRequest(call_id=call_id))
            raise
        finally:
            progress.map_finished(bar)
            if sender is not None:
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)

    # -- variants and autoscaler ---------------------------------------------------------------
    def _check_local_definition(self, what: str) -> None:
        if self._app is None:
            raise InvalidError(f"{what} is not supported on a from_name handle ({self._name}); set the options in the deployed app")

    def with_options(self, **options) -> Function:
        self._check_local_definition("with_options()")
        d = pb.FunctionDefinition()
        d.CopyFrom(self._definition)
        known = dict(cpu="cpu", memory="memory", timeout="timeout", retries="retries", env="env", min_containers="min_containers",
                     max_containers="max_containers", buffer_containers="buffer_containers", scaledown_window="scaledown_window")
        unknown = set(options) - set(known)
        if unknown:
            raise InvalidError(f"with_options() does not take {sorted(unknown)}; it takes {sorted(known)}")
        current = _options_kwargs(self._definition.options)
        current.update(options)
        d.options.CopyFrom(build_options(**current))
        return Function(self._app, self._squall_raw, self._name, d, method_name=self._method_name, parent=self, class_params=None)

    def with_concurrency(self, *, max_inputs: int, target_inputs: int | None = None) -> Function:
        return self._variant(concurrent=(max_inputs, target_inputs or max_inputs))

    def with_batching(self, *, max_batch_size: int, wait_ms: int) -> Function:
        return self._variant(batched=(max_batch_size, wait_ms))

    def _variant(self, **opt) -> Function:
        self._check_local_definition("with_concurrency() / with_batching()")
        current = _options_kwargs(self._definition.options)
        current.update(opt)
        d = pb.FunctionDefinition()
        d.CopyFrom(self._definition)
        d.options.CopyFrom(build_options(**current))
        return Function(self._app, self._squall_raw, self._name, d, method_name=self._method_name, parent=self)

    @live_method
    async def update_autoscaler(self, *, min_containers: int | None = None, max_containers: int | None = None, buffer_containers: int | None = None,
                                scaledown_window: float | None = None) -> None:
        client = await self._client()
        req = api_pb2.FunctionUpdateAutoscalerRequest(function_id=self._function_id)
        for field, value in (("min_containers", min_containers), ("max_containers", max_containers), ("buffer_containers", buffer_containers),
                             ("scaledown_window_s", scaledown_window)):
            if value is not None:
                setattr(req, field, value)
                req.fields.append(field)
        await client.call("FunctionUpdateAutoscaler", req)

    @live_method
    async def get_web_url(self) -> str | None:
        """This web endpoint's URL on the gateway (None for a function that is not one)."""
        from squall.sdk.web import web_url

        return await web_url(self)

    @property
    def web_url(self) -> str | None:
        return self.get_web_url()

    @live_method
    async def get_current_stats(self):
        client = await self._client()
        return await client.call("FunctionGetStats", api_pb2.FunctionRef(function_id=self._function_id))


def _options_kwargs(o: pb.FunctionOptions) -> dict:
    return dict(
        cpu=(o.cpu, o.cpu_limit) if o.cpu_limit else o.cpu, memory=(o.memory_mb, o.memory_limit_mb) if o.memory_limit_mb else o.memory_mb,
        timeout=o.timeout_s, retries=Retries(max_retries=o.max_retries, backoff_coefficient=o.backoff_coefficient or 2.0,
                                             initial_delay=o.initial_delay_s, max_delay=max(1.0, o.max_delay_s)),
        env=dict(o.env), min_containers=o.min_containers, max_containers=o.max_containers or None, buffer_containers=o.buffer_containers,
        scaledown_window=o.scaledown_window_s, block_network=o.block_network, max_inputs=o.max_inputs or None, is_generator=o.is_generator,
        concurrent=(o.max_concurrent_inputs, o.max_concurrent_inputs) if o.max_concurrent_inputs > 1 else None,
        batched=(o.batch_max_size, o.batch_wait_ms) if o.batch_max_size else None, runtime=o.runtime or None,
    )


async def _outputs(client, call_id: str, state: dict | None, timeout: float | None = None, check=None) -> AsyncIterator[pb.Output]:
    """Every output of a call, in arrival order, until all inputs (state['total']) are final."""
    after = 0
    deadline = None if timeout is None else time.monotonic() + timeout
    finals = 0
    while True:
        wait = POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - time.monotonic()))
        resp = await client.call("FunctionGetOutputs", api_pb2.FunctionGetOutputsRequest(call_id=call_id, after_seq=after, timeout_s=wait, max=5000), timeout=wait + 30)
        for out in await _blobs.resolve_outputs(client, resp.outputs):  # large results arrive as blob references
            yield out
            if out.result.status != pb.GENERATOR_ITEM:
                finals += 1
        after = resp.last_seq
        if check is not None:
            check()
        if state is not None and state.get("ask_server"):  # FunctionCall.from_id: the server knows the call's size
            state["total"], state["kind"] = resp.num_inputs, resp.kind
        total = 1 if state is None else state.get("total")
        if total is not None and finals >= total:
            return
        if deadline is not None and time.monotonic() >= deadline and not resp.outputs:
            raise TimeoutError(f"function call {call_id} has no result yet")


class FunctionCall:
    """A handle to a call started with .spawn(); anyone with its id can wait for it."""

    def __init__(self, call_id: str, client=None, num_inputs: int | None = 1, is_map: bool = False):
        self.object_id = call_id
        self._client = client
        self._num_inputs = num_inputs  # None: ask the server (a handle made by from_id)
        self._is_map = is_map

    def __repr__(self) -> str:
        return f"FunctionCall({self.object_id})"

    async def _resolved_client(self):
        if self._client is None:
            from squall.client.client import get_client

            self._client = await get_client()
        return self._client

    async def _get(self, timeout: float | None):
        client = await self._resolved_client()
        results: dict[int, pb.Result] = {}
        items = []
        state = {"total": self._num_inputs, "ask_server": self._num_inputs is None}
        async for out in _outputs(client, self.object_id, state, timeout):
            if out.result.status == pb.GENERATOR_ITEM:
                items.append(ser.deserialize(out.result.data))
            else:
                results[out.idx] = out.result
        is_map = self._is_map or state.get("kind") == api_pb2.MAP
        if not is_map:
            value = result_value(results[min(results)])
            return items if items else value
        return [result_value(results[i]) for i in sorted(results)]

    @live_method
    async def get(self, timeout: float | None = None):
        return await self._get(timeout)

    @live_method
    async def cancel(self, terminate_containers: bool = False) -> None:
        client = await self._resolved_client()
        await client.call("FunctionCallCancel", api_pb2.FunctionCallCancelRequest(call_id=self.object_id, terminate_containers=terminate_containers))

    @staticmethod
    def from_id(function_call_id: str) -> FunctionCall:
        if not function_call_id.startswith(config.ID_PREFIX["call"]):
            raise InvalidError(f"{function_call_id!r} is not a function call id (they start with {config.ID_PREFIX['call']!r})")
        return FunctionCall(function_call_id, num_inputs=None)

    @staticmethod
    @live_function
    async def gather(*calls: FunctionCall) -> list:
        return list(await asyncio.gather(*(c._get(None) for c in calls)))


def is_generator_function(fn) -> bool:
    return inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)
