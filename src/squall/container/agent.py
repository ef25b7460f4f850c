"""The program every function container runs (`python -m squall.container`).

It asks the control plane what to run, imports the user's module, runs `@enter`
hooks, then loops: fetch a batch of inputs, run them, push outputs (or exceptions with
tracebacks). A watchdog ends the process when an input overruns its timeout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import inspect
import os
import queue
import sys
import threading
import time

T_PROCESS_STARTED = time.time()

import grpc  # noqa: E402 - timed above: the import is part of the cold start

from squall import _serialization as ser  # noqa: E402
from squall import config  # noqa: E402
from squall._context import current  # noqa: E402
from squall._compat import install_modal_alias  # noqa: E402
from squall._proto.squall.v1 import common_pb2 as pb  # noqa: E402
from squall._proto.squall.v1 import container_pb2, container_pb2_grpc  # noqa: E402
from squall.exception import FunctionTimeoutError, InputCancellation, InvalidError  # noqa: E402

GET_INPUTS_WAIT_S = 25.0
MAX_FETCH = 64


class Agent:
    def __init__(self) -> None:
        target = os.environ[config.ENV_CONTAINER_SERVER]
        self.channel = grpc.insecure_channel(target, options=config.grpc_options())
        self.stub = container_pb2_grpc.ContainerServiceStub(self.channel)
        self.md = (("x-squall-container-token", os.environ[config.ENV_CONTAINER_TOKEN]),)
        self.outputs: queue.Queue[pb.Output | None] = queue.Queue()
        self.running: dict[str, float] = {}  # input id -> start (monotonic)
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tasks: dict[str, concurrent.futures.Future] = {}
        self.inline_outputs: list[pb.Output] = []
        self.cancelled_ids: set[str] = set()  # inputs the control plane cancelled (checked between a generator's items)
        self.sequential = False
        self.web_handler = None  # a web endpoint's WebHandler (container/web.py)
        self.web_listener = None  # its HTTP listener for the gateway's direct path (container/web_listener.py)

    # -- start-up ------------------------------------------------------------------------------
    def start(self) -> None:
        hello = self.stub.ContainerHello(container_pb2.ContainerHelloRequest(timings={"process_started": T_PROCESS_STARTED}), metadata=self.md)
        self.definition = d = hello.definition
        self.options = d.options
        try:
            install_modal_alias()
            if config.CONTAINER_APP_DIR not in sys.path:
                sys.path.append(config.CONTAINER_APP_DIR)
            module = importlib.import_module(d.module_name)
            t_imports = time.time()
            self.target = self._resolve(module)
            t_enter = time.time()
        except BaseException as exc:  # report it, then stop: nothing can run here
            self.stub.ContainerHello(container_pb2.ContainerHelloRequest(init_failed=True, init_result=ser.exception_result(exc, pb.INIT_FAILURE)), metadata=self.md)
            raise SystemExit(1) from exc
        self.stub.ContainerHello(container_pb2.ContainerHelloRequest(timings={"imports_done": t_imports, "enter_done": t_enter}, web_port=self._listen()),
                                 metadata=self.md)

    def _listen(self) -> int:
        """Start the web endpoint's HTTP listener, the gateway's direct path; 0 when there is none.
        Requests keep coming as inputs too (WebSockets; and until the gateway knows the port)."""
        listen = os.environ.get(config.ENV_WEB_LISTEN)
        if self.web_handler is None or not listen:
            return 0
        from squall.container.web_listener import WebListener

        host, _, port = listen.rpartition(":")
        try:
            self.web_listener = WebListener(self.web_handler.app)
            return asyncio.run_coroutine_threadsafe(self.web_listener.start(host, int(port)), self._event_loop()).result()
        except OSError as exc:
            print(f"squall: no direct HTTP listener ({exc}); requests come as inputs", file=sys.stderr)
            self.web_listener = None
            return 0

    def _resolve(self, module):
        obj = module
        for part in self.definition.qualname.split("."):
            obj = getattr(obj, part)
        raw = getattr(obj, "_squall_raw", obj)
        self.raw = raw
        if self.definition.HasField("web") and not self.definition.is_class:  # each input is an HTTP request; see container/web.py
            from squall.container.web import WebHandler

            self.instance = None
            self.web_handler = WebHandler(self.definition.web, raw, lambda coro: asyncio.run_coroutine_threadsafe(coro, self._event_loop()).result())
            self.raw = self.web_handler.handle
            return self.raw
        if not self.definition.is_class:
            self.instance = None
            return raw
        args, kwargs = ser.deserialize(self.definition.class_params) if self.definition.class_params else ((), {})
        from squall.sdk.cls import construct_instance, lifecycle_methods

        self.instance = construct_instance(raw, args, kwargs)
        for hook in lifecycle_methods(raw, "enter"):
            self._call_sync_or_async(getattr(self.instance, hook.__name__))
        if self.definition.HasField("web"):  # a class's web method, built after @enter so it can use what @enter loaded
            from squall.container.web import WebHandler

            self.web_method = self.definition.web.class_method
            self.web_handler = WebHandler(self.definition.web, getattr(self.instance, self.web_method),
                                          lambda coro: asyncio.run_coroutine_threadsafe(coro, self._event_loop()).result())
            self.web_handle = self.web_handler.handle
        return self.instance

    def _call_sync_or_async(self, fn, *args, **kwargs):
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            return asyncio.run_coroutine_threadsafe(_await(result), self._event_loop()).result()
        return result

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
            threading.Thread(target=self.loop.run_forever, daemon=True, name="squall-async").start()
        return self.loop

    # -- the input loop ------------------------------------------------------------------------
    def serve(self) -> None:
        threading.Thread(target=self._send_outputs, daemon=True, name="squall-outputs").start()
        threading.Thread(target=self._watchdog, daemon=True, name="squall-watchdog").start()
        o = self.options
        slots = max(1, o.max_concurrent_inputs)
        pool = concurrent.futures.ThreadPoolExecutor(slots) if slots > 1 else None
        # One input at a time: results go back with the next GetInputs instead of their own RPC.
        self.sequential = pool is None
        free = threading.Semaphore(slots)
        try:
            while True:
                if o.batch_max_size:
                    want = o.batch_max_size
                else:
                    free.acquire()
                    free.release()
                    with self.lock:
                        want = min(MAX_FETCH, slots - len(self.running)) if slots > 1 else MAX_FETCH
                done, self.inline_outputs = self.inline_outputs, []
                resp = self.stub.GetInputs(container_pb2.GetInputsRequest(max=max(1, want), wait_s=GET_INPUTS_WAIT_S, outputs=done), metadata=self.md)
                self._cancel(resp.cancelled_input_ids)
                if resp.shutdown:
                    break
                if not resp.inputs:
                    continue
                if o.batch_max_size:
                    self._run_batch(self._fill_batch(list(resp.inputs)))
                    continue
                for k, inp in enumerate(resp.inputs):
                    if pool is None:
                        if k:
                            self._flush_inline()  # only the batch's last result waits for the next GetInputs
                        self._run_one(inp)
                    else:
                        free.acquire()
                        pool.submit(self._run_one, inp).add_done_callback(lambda _f: free.release())
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
            self._flush_inline()
            if self.web_listener is not None:  # requests the gateway sent directly finish before @exit
                asyncio.run_coroutine_threadsafe(self.web_listener.drain(min(self.options.timeout_s or 300.0, 60.0)), self._event_loop()).result()
            self.outputs.put(None)
            self._sender_done.wait(30)
            self._run_exit_hooks()

    def _fill_batch(self, inputs: list[pb.Input]) -> list[pb.Input]:
        deadline = time.monotonic() + self.options.batch_wait_ms / 1000
        while len(inputs) < self.options.batch_max_size and (remaining := deadline - time.monotonic()) > 0:
            resp = self.stub.GetInputs(container_pb2.GetInputsRequest(max=self.options.batch_max_size - len(inputs), wait_s=remaining), metadata=self.md)
            inputs.extend(resp.inputs)
            if resp.shutdown:
                break
        return inputs

    def _callable(self, inp: pb.Input):
        if self.instance is None:
            return self.raw
        if inp.method_name and inp.method_name == getattr(self, "web_method", None):
            return self.web_handle
        method = getattr(self.instance, inp.method_name or "__call__", None)
        if method is None:
            raise InvalidError(f"{type(self.instance).__name__} has no method {inp.method_name!r}")
        return method

    def _run_one(self, inp: pb.Input) -> None:
        with self.lock:
            self.running[inp.input_id] = time.monotonic()
        current.input_id, current.call_id = inp.input_id, inp.call_id
        is_generator = False
        try:
            args, kwargs = ser.deserialize(self._payload(inp.args))
            fn = self._callable(inp)
            if self.options.is_generator or inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
                is_generator = True
                self._run_generator(inp, fn, args, kwargs)
                return
            if inspect.iscoroutinefunction(fn):
                fut = asyncio.run_coroutine_threadsafe(fn(*args, **kwargs), self._event_loop())
                self.tasks[inp.input_id] = fut
                value = fut.result()
            else:
                value = fn(*args, **kwargs)
            result = pb.Result(status=pb.SUCCESS, data=self._offload(ser.serialize(value)))
        except concurrent.futures.CancelledError:
            result = ser.exception_result(InputCancellation("the input was cancelled"), pb.CANCELLED)
        except BaseException as exc:  # noqa: BLE001 - every user error goes back to the caller
            result = ser.exception_result(exc)
        finally:
            self.tasks.pop(inp.input_id, None)
        # A generator's error follows its items through the sender, so it never overtakes them.
        self._finish(inp, result, inline=not is_generator)

    def _run_generator(self, inp: pb.Input, fn, args, kwargs) -> None:
        gen = fn(*args, **kwargs)
        i = 0
        if inspect.isasyncgen(gen):
            loop = self._event_loop()
            while True:
                if inp.input_id in self.cancelled_ids:  # e.g. a web client went away: end the generator (its finally blocks run)
                    asyncio.run_coroutine_threadsafe(gen.aclose(), loop).result()
                    raise concurrent.futures.CancelledError()
                try:
                    fut = asyncio.run_coroutine_threadsafe(gen.__anext__(), loop)
                    self.tasks[inp.input_id] = fut  # so a cancel interrupts a generator that waits
                    item = fut.result()
                except StopAsyncIteration:
                    break
                self.outputs.put(pb.Output(input_id=inp.input_id, idx=inp.idx, gen_index=i, result=pb.Result(status=pb.GENERATOR_ITEM, data=self._offload(ser.serialize(item)))))
                i += 1
        else:
            for item in gen:
                self.outputs.put(pb.Output(input_id=inp.input_id, idx=inp.idx, gen_index=i, result=pb.Result(status=pb.GENERATOR_ITEM, data=self._offload(ser.serialize(item)))))
                i += 1
        # The final output follows its items through the sender, so it can never overtake them.
        self._finish(inp, pb.Result(status=pb.SUCCESS, data=ser.serialize(None)), gen_index=i, inline=False)

    def _run_batch(self, inputs: list[pb.Input]) -> None:
        now = time.monotonic()
        with self.lock:
            for inp in inputs:
                self.running[inp.input_id] = now
        try:
            calls = [ser.deserialize(self._payload(i.args)) for i in inputs]
            fn = self._callable(inputs[0])
            names = list(inspect.signature(fn).parameters)
            columns = [[] for _ in names]
            for args, kwargs in calls:
                bound = inspect.signature(fn).bind(*args, **kwargs)
                for k, name in enumerate(names):
                    columns[k].append(bound.arguments[name])
            values = self._call_sync_or_async(fn, *columns)
            if not isinstance(values, list) or len(values) != len(inputs):
                raise InvalidError(f"a @batched function must return a list with one result per input ({len(inputs)}), got {type(values).__name__}")
            results = [pb.Result(status=pb.SUCCESS, data=self._offload(ser.serialize(v))) for v in values]
        except BaseException as exc:  # noqa: BLE001
            results = [ser.exception_result(exc)] * len(inputs)
        for inp, result in zip(inputs, results):
            self._finish(inp, result)

    def _payload(self, data: bytes) -> bytes:
        """An argument that arrived as a blob reference (sdk/_blobs.py), fetched from the blob store."""
        if not data.startswith(b"\xff"):
            return data
        from squall.sdk import _blobs

        return _blobs.resolve_sync(self.channel, self.md, data)

    def _offload(self, data: bytes) -> bytes:
        """A result too large to travel inline goes to the blob store; the output carries its reference.
        Not for web endpoints: the gateway reads their response chunks straight from the outputs."""
        from squall.sdk import _blobs

        if len(data) <= _blobs.LARGE_PAYLOAD or self.definition.HasField("web"):
            return data
        return _blobs.offload_sync(self.channel, self.md, data)

    def _finish(self, inp: pb.Input, result: pb.Result, gen_index: int = 0, inline: bool = True) -> None:
        with self.lock:
            started = self.running.pop(inp.input_id, None)
        if started is None:
            return  # the watchdog already reported it
        out = pb.Output(input_id=inp.input_id, idx=inp.idx, result=result, gen_index=gen_index, attempt=inp.attempt, exec_s=time.monotonic() - started)
        if inline and self.sequential and threading.current_thread() is threading.main_thread():
            self.inline_outputs.append(out)  # rides on the next GetInputs
        else:
            self.outputs.put(out)

    def _flush_inline(self) -> None:
        """Hand results to the sender now rather than holding them for the rest of a slow batch."""
        for out in self.inline_outputs:
            self.outputs.put(out)
        self.inline_outputs = []

    def _cancel(self, input_ids) -> None:
        for input_id in input_ids:
            self.cancelled_ids.add(input_id)
            fut = self.tasks.get(input_id)
            if fut is not None:
                fut.cancel()

    # -- background threads --------------------------------------------------------------------
    _sender_done = threading.Event()

    def _send_outputs(self) -> None:
        done = False
        while not done:
            batch = [self.outputs.get()]
            while len(batch) < 500:
                try:
                    batch.append(self.outputs.get_nowait())
                except queue.Empty:
                    break
            if batch[-1] is None or None in batch:
                done = True
            batch = [b for b in batch if b is not None]
            if batch:
                try:
                    resp = self.stub.PutOutputs(container_pb2.PutOutputsRequest(outputs=batch), metadata=self.md)
                except grpc.RpcError as exc:
                    # Results that cannot be delivered must not vanish: end the container, so the
                    # control plane retries or fails its inputs.
                    sys.stderr.write(f"squall: cannot deliver results ({exc.code().name}: {exc.details()}); stopping this container\n")
                    sys.stderr.flush()
                    os._exit(1)
                self._cancel(resp.cancelled_input_ids)
        self._sender_done.set()

    def _watchdog(self) -> None:
        timeout = self.options.timeout_s or 300.0
        while True:
            time.sleep(0.2 if timeout < 30 else 1.0)
            now = time.monotonic()
            with self.lock:
                late = [i for i, t in self.running.items() if now - t > timeout]
            if not late:
                continue
            # Python cannot stop a running thread: report the timeout, then end the container.
            err = ser.exception_result(FunctionTimeoutError(f"the input ran longer than the function's timeout of {timeout:g} s and was stopped"), pb.TIMEOUT)
            outs = list(self.inline_outputs) + _drain(self.outputs) + [pb.Output(input_id=i, result=err) for i in late]
            self.stub.PutOutputs(container_pb2.PutOutputsRequest(outputs=outs), metadata=self.md)
            sys.stderr.write(f"squall: input timed out after {timeout:g} s; stopping this container\n")
            sys.stderr.flush()
            os._exit(124)

    def _run_exit_hooks(self) -> None:
        if self.instance is None:
            return
        from squall.sdk.cls import lifecycle_methods

        for hook in lifecycle_methods(self.raw, "exit"):
            try:
                self._call_sync_or_async(getattr(self.instance, hook.__name__))
            except Exception as exc:  # noqa: BLE001 - an @exit failure must not hide the others
                print(f"squall: @exit hook {hook.__name__} failed: {exc!r}", file=sys.stderr)


def _drain(q: queue.Queue) -> list:
    items = []
    while True:
        try:
            item = q.get_nowait()
        except queue.Empty:
            return items
        if item is not None:
            items.append(item)


async def _await(awaitable):
    return await awaitable


def main() -> None:
    agent = Agent()
    agent.start()
    agent.serve()
