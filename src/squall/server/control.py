"""The control plane's live state: queues of inputs per function, containers, workers.

Every change is written to the Store before it is acknowledged; the in-memory view is
rebuilt from the Store when the server starts, so a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import logging
import math
import secrets
import socket
import time

from squall._proto.squall.v1 import common_pb2 as pb
from squall._proto.squall.v1 import worker_pb2
from squall.server import autoscaler, scheduler
from squall.server.images import ImageBuilds
from squall.server.records import CallRec, ContainerRec, FunctionRec, InputRec, WorkerRec, new_id
from squall.server.state.store import Store

log = logging.getLogger("squall.server")

FINAL_FAILURES = (pb.FAILURE, pb.TIMEOUT, pb.TERMINATED)
# A function whose containers die before they ever start this many times in a row has its
# waiting inputs failed, instead of crash-looping forever.
MAX_START_FAILURES = 3
# How often an input may lose its worker (machine died, worker killed) before it is failed.
MAX_WORKER_LOSSES = 3
# A container takes at most this many seconds of (measured) work in one GetInputs.
PREFETCH_S = 0.05
# One answer to an output poll carries about this many bytes of results at most.
MAX_OUTPUT_BYTES = 64 * 1024 * 1024


class ControlPlane:
    def __init__(self, store: Store):
        self.store = store
        self.functions: dict[str, FunctionRec] = {}
        self.calls: dict[str, CallRec] = {}
        self.containers: dict[str, ContainerRec] = {}
        self.tokens: dict[str, str] = {}  # container token -> container id
        self.container_apps: dict[str, tuple[str, str]] = {}  # container id -> (app id, function name), kept after exit for late logs
        self.workers: dict[str, WorkerRec] = {}
        self.running_apps: set[str] = set()
        self.log_events: dict[str, asyncio.Event] = collections.defaultdict(asyncio.Event)
        self._kick = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.images: ImageBuilds | None = None  # set by the server, which owns the blob store
        self.sandboxes = None  # a SandboxManager (server/sandboxes.py), set by the server; hooks below tell it about its containers

    # -- lifecycle -----------------------------------------------------------------------------
    def recover(self) -> None:
        """Rebuild the live view from the Store: running apps, their functions, unfinished inputs."""
        self.store.stop_stale_containers()
        self.running_apps = {row.id for row in self.store.running_apps()}
        for row in self.store.functions_of_apps(list(self.running_apps)):
            self._load_function(row)
        for app_id in self.store.current_versions():
            if app_id in self.running_apps:
                self._retire_stale(app_id, self.store.current_app_version(app_id).function_ids)
        requeue = []
        for row in self.store.unfinished_inputs():
            fn = self.functions.get(row.function_id)
            if fn is None:
                continue
            if row.call_id not in self.calls:
                call_row = self.store.get_call(row.call_id)
                self.calls[row.call_id] = CallRec(row.call_id, row.function_id, call_row.cancelled, call_row.kind, self.store.count_inputs(row.call_id))
            rec = InputRec(row.id, row.call_id, row.idx, row.method, row.args, row.attempt, row.available_at)
            fn.pending.append(rec)
            if row.status == "running":  # its container is gone with the old server process
                requeue.append((rec.input_id, rec.attempt, 0.0))
        self.store.requeue(requeue)
        if requeue:
            log.info("recovered %d inputs that were running when the control plane stopped", len(requeue))

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._autoscale_loop()))

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _load_function(self, row) -> FunctionRec:
        definition = pb.FunctionDefinition.FromString(row.definition)
        fn = FunctionRec(row.id, row.app_id, definition, name=row.name, parent_id=row.parent_id)
        self.functions[row.id] = fn
        return fn

    # -- apps and functions --------------------------------------------------------------------
    def create_app(self, name: str, ephemeral: bool) -> str:
        """A new app; for a deployment (not ephemeral), the existing app of that name, running again."""
        if not ephemeral:
            row = self.store.find_deployed_app(name)
            if row is not None:
                self._resume_app(row.id)
                return row.id
        app_id = new_id("app")
        self.store.create_app(app_id, name, ephemeral)
        self.running_apps.add(app_id)
        return app_id

    def stop_app(self, app_id: str) -> None:
        self.store.stop_app(app_id)
        self.running_apps.discard(app_id)
        if self.sandboxes is not None:
            self.sandboxes.stop_app(app_id)
        for fn in [f for f in self.functions.values() if f.app_id == app_id]:
            for c in list(fn.containers.values()):
                self.stop_container(c, "app stopped")
            self._fail_waiting(fn, pb.Result(status=pb.CANCELLED, exception_repr="the app was stopped before this input ran"))
            fn.work.set()
        self.log_events[app_id].set()

    def create_function(self, app_id: str, name: str, definition: pb.FunctionDefinition, parent_id: str | None = None) -> str:
        function_id = new_id("function")
        self.store.create_function(function_id, app_id, name, definition.SerializeToString(), parent_id)
        self.functions[function_id] = FunctionRec(function_id, app_id, definition, name=name, parent_id=parent_id)
        return function_id

    # -- deployed versions ---------------------------------------------------------------------
    def _resume_app(self, app_id: str) -> None:
        if app_id in self.running_apps:
            return
        self.store.resume_app(app_id)
        self.running_apps.add(app_id)
        for row in self.store.functions_of_apps([app_id]):
            if row.id not in self.functions:
                self._load_function(row)
        current = self.store.current_app_version(app_id)
        if current is not None:
            self._retire_stale(app_id, current.function_ids)

    def publish(self, app_id: str, function_ids: dict[str, str], rollback_of: int = 0) -> int:
        """Make these functions the app's next version. A rolling update: new inputs go to them,
        and the old version's containers finish the inputs they hold and stop."""
        version = self.store.add_app_version(app_id, function_ids, rollback_of)
        self._retire_stale(app_id, function_ids)
        return version

    def rollback(self, app_id: str, version: int) -> int:
        """Deploy an older version's definitions again, as a new version."""
        row = next(r for r in self.store.app_versions(app_id) if r.version == version)
        self._resume_app(app_id)
        new_ids = {}
        for name, function_id in row.function_ids.items():
            old = self.function(function_id)
            new_ids[name] = self.create_function(app_id, name, old.definition)
        return self.publish(app_id, new_ids, rollback_of=version)

    def _retire_stale(self, app_id: str, current: dict[str, str]) -> None:
        keep = set(current.values())
        for fn in list(self.functions.values()):
            if fn.app_id != app_id or fn.retired or fn.function_id in keep or fn.parent_id in keep:
                continue
            fn.retired = True
            if fn.parent_id is None:
                fn.superseded_by = current.get(fn.name)
            fn.work.set()  # idle containers of the old version wake up and stop
        self._kick.set()

    def current_function(self, fn: FunctionRec) -> FunctionRec:
        """The function that takes new inputs for `fn`: itself, or its newest deployed version
        (a class instance is bound again to the new version of its class)."""
        for _ in range(1000):
            if not fn.retired:
                return fn
            nxt = self.function(fn.superseded_by) if fn.superseded_by else None
            if nxt is None and fn.parent_id:
                parent = self.function(fn.parent_id)
                new_parent = self.current_function(parent) if parent is not None else None
                if new_parent is not None and new_parent is not parent:
                    d = pb.FunctionDefinition()
                    d.CopyFrom(new_parent.definition)
                    d.class_params = fn.definition.class_params
                    fn.superseded_by = self.create_function(new_parent.app_id, new_parent.name, d, parent_id=new_parent.function_id)
                    nxt = self.functions[fn.superseded_by]
            if nxt is None:
                return fn
            fn = nxt
        return fn

    def function(self, function_id: str) -> FunctionRec | None:
        fn = self.functions.get(function_id)
        if fn is None:
            row = self.store.get_function(function_id)
            if row is not None:
                fn = self._load_function(row)
        return fn

    # -- inputs --------------------------------------------------------------------------------
    def _input_rows(self, fn: FunctionRec, call_id: str, inputs: list[pb.Input]) -> tuple[list[dict], list[InputRec]]:
        now = time.time()
        rows, recs = [], []
        for inp in inputs:
            rec = InputRec(new_id("input"), call_id, inp.idx, inp.method_name, inp.args)
            recs.append(rec)
            rows.append(
                dict(id=rec.input_id, call_id=call_id, function_id=fn.function_id, idx=rec.idx, method=rec.method, args=rec.args,
                     status="pending", attempt=0, available_at=0.0, created_at=now)
            )
        return rows, recs

    def create_call(self, fn: FunctionRec, kind: int, inputs: list[pb.Input]) -> CallRec:
        call = CallRec(new_id("call"), fn.function_id, kind=kind, num_inputs=len(inputs))
        rows, recs = self._input_rows(fn, call.call_id, inputs)
        self.store.create_call(call.call_id, fn.function_id, kind, rows)  # persisted before we answer
        self.calls[call.call_id] = call
        self._enqueue(fn, recs)
        return call

    def add_inputs(self, call: CallRec, inputs: list[pb.Input]) -> None:
        fn = self.functions[call.function_id]
        rows, recs = self._input_rows(fn, call.call_id, inputs)
        self.store.add_inputs(rows)
        call.num_inputs += len(rows)
        self._enqueue(fn, recs)

    def _enqueue(self, fn: FunctionRec, recs: list[InputRec]) -> None:
        fn.pending.extend(recs)
        fn.work.set()
        self._kick.set()

    def call(self, call_id: str) -> CallRec | None:
        call = self.calls.get(call_id)
        if call is None:
            row = self.store.get_call(call_id)
            if row is not None:
                call = self.calls[call_id] = CallRec(call_id, row.function_id, row.cancelled, row.kind, self.store.count_inputs(call_id))
        return call

    def cancel_call(self, call: CallRec, terminate_containers: bool) -> None:
        call.cancelled = True
        self.store.cancel_call(call.call_id)
        fn = self.functions.get(call.function_id)
        if fn is None:
            return
        result = pb.Result(status=pb.CANCELLED, exception_repr="the function call was cancelled")
        dropped = [r for r in fn.pending if r.call_id == call.call_id] + [r for r in fn.delayed if r.call_id == call.call_id]
        fn.pending = collections.deque(r for r in fn.pending if r.call_id != call.call_id)
        fn.delayed = [r for r in fn.delayed if r.call_id != call.call_id]
        heapq.heapify(fn.delayed)
        running = [r for r in fn.running.values() if r.call_id == call.call_id]
        for r in running:
            c = self.containers.get(r.container_id or "")
            if c is not None:
                c.cancelled.add(r.input_id)
        self._record(fn, [(r, result, 0, True) for r in dropped + running])
        if terminate_containers:
            for cid in {r.container_id for r in running if r.container_id}:
                if cid in self.containers:
                    self.stop_container(self.containers[cid], "its input was cancelled")

    def _fail_waiting(self, fn: FunctionRec, result: pb.Result) -> None:
        waiting = list(fn.pending) + list(fn.delayed)
        fn.pending.clear()
        fn.delayed.clear()
        self._record(fn, [(r, result, 0, True) for r in waiting])

    # -- outputs -------------------------------------------------------------------------------
    def _record(self, fn: FunctionRec, items: list[tuple[InputRec, pb.Result, int, bool]], requeued: list[InputRec] = ()) -> None:
        """Persist outputs; items are (input, result, gen_index, is_final)."""
        rows, finished = [], []
        for rec, result, gen_index, final in items:
            rows.append(dict(call_id=rec.call_id, input_id=rec.input_id, idx=rec.idx, gen_index=gen_index, attempt=rec.attempt, result=result.SerializeToString()))
            if final:
                finished.append(rec.input_id)
                fn.running.pop(rec.input_id, None)
                c = self.containers.get(rec.container_id or "")
                if c is not None:
                    c.running.discard(rec.input_id)
        self.store.add_outputs(rows, finished, [(r.input_id, r.attempt, r.available_at) for r in requeued])
        for call_id in {rec.call_id for rec, *_ in items}:
            call = self.calls.get(call_id)
            if call is not None:
                call.changed.set()

    def outputs_after(self, call_id: str, after_seq: int, limit: int) -> list[pb.Output]:
        """At most `limit` outputs and about MAX_OUTPUT_BYTES of them (always at least one), so a
        poll answer stays under the gRPC message limit however large the results are."""
        outs, size = [], 0
        for r in self.store.outputs_after(call_id, after_seq, limit):
            size += len(r.result)
            if outs and size > MAX_OUTPUT_BYTES:
                break
            outs.append(pb.Output(input_id=r.input_id, idx=r.idx, result=pb.Result.FromString(r.result), seq=r.seq, gen_index=r.gen_index, attempt=r.attempt))
        return outs

    async def wait_outputs(self, call: CallRec, after_seq: int, timeout: float, limit: int) -> list[pb.Output]:
        deadline = time.monotonic() + timeout
        while True:
            call.changed.clear()
            outs = self.outputs_after(call.call_id, after_seq, limit)
            remaining = deadline - time.monotonic()
            if outs or remaining <= 0:
                return outs
            try:
                await asyncio.wait_for(call.changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    def _retry_or_fail(self, fn: FunctionRec, rec: InputRec, result: pb.Result) -> tuple[list, list]:
        """A failed attempt: back to the queue if retries remain, else a final output."""
        o = fn.options
        call = self.calls.get(rec.call_id)
        if fn.app_id not in self.running_apps:
            return [(rec, pb.Result(status=pb.CANCELLED, exception_repr="the app was stopped while this input ran"), 0, True)], []
        if rec.attempt < o.max_retries and not (call and call.cancelled):
            delay = min(o.initial_delay_s * (o.backoff_coefficient**rec.attempt), o.max_delay_s)
            rec.attempt += 1
            rec.available_at = time.time() + delay
            rec.container_id = None
            fn.running.pop(rec.input_id, None)
            heapq.heappush(fn.delayed, rec)
            self._kick.set()
            return [], [rec]
        return [(rec, result, 0, True)], []

    # -- containers (called through the ContainerService) --------------------------------------
    def container_for_token(self, token: str) -> ContainerRec | None:
        cid = self.tokens.get(token)
        return self.containers.get(cid) if cid else None

    def container_hello(self, c: ContainerRec, timings: dict[str, float], init_failed: bool, init_result: pb.Result, web_port: int = 0) -> None:
        fn = self.functions[c.function_id]
        c.said_hello = True
        c.last_active = time.time()
        c.timings.update(timings)
        self.store.update_container(c.container_id, state="running" if not init_failed else "stopping", timings=dict(c.timings))
        if init_failed:
            # The container cannot run anything: fail what waits, rather than crash-loop.
            self._fail_waiting(fn, init_result)
            self.stop_container(c, "import or @enter failed")
            return
        c.state = "running" if c.state == "scheduled" else c.state
        if "enter_done" in timings:
            c.ready = True
            fn.start_failures = 0
            c.web_port = web_port
            if self.web_address(c) is not None:
                fn.wake_web_waiters()

    async def get_inputs(self, c: ContainerRec, max_n: int, wait_s: float) -> tuple[list[pb.Input], bool]:
        fn = self.functions[c.function_id]
        deadline = time.monotonic() + wait_s
        while True:
            if c.state not in ("scheduled", "running") or fn.app_id not in self.running_apps:
                return [], True
            if fn.retired and not fn.pending and not fn.delayed and not c.busy():
                c.state = "stopping"
                c.stop_reason = "a newer version of the app was deployed"
                self.store.update_container(c.container_id, state="stopping")
                return [], True
            o = fn.options
            if o.max_inputs and c.inputs_taken >= o.max_inputs:
                if not c.running:
                    c.state = "stopping"
                    c.stop_reason = f"ran its max_inputs={o.max_inputs}"
                    return [], True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return [], False
                fn.work.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(fn.work.wait(), min(remaining, 1.0))
                continue
            if fn.pending:
                # Share a backlog fairly: take at most our part of it, but never less than one.
                share = math.ceil(len(fn.pending) / max(1, len(fn.active())))
                n = max(1, min(max_n, share, len(fn.pending), self._prefetch(fn)))
                if o.max_inputs:
                    n = min(n, o.max_inputs - c.inputs_taken)
                taken = [fn.pending.popleft() for _ in range(n)]
                live = [r for r in taken if not (self.calls.get(r.call_id) and self.calls[r.call_id].cancelled)]
                for r in live:
                    r.container_id = c.container_id
                    fn.running[r.input_id] = r
                    c.running.add(r.input_id)
                if live and not c.inputs_taken:
                    c.timings["first_input"] = time.time()
                    self.store.update_container(c.container_id, timings=dict(c.timings))
                c.inputs_taken += len(live)
                c.last_active = time.time()
                if live:
                    # Not written to the Store: after a restart every unfinished input is pending again.
                    return [r.to_proto() for r in live], False
                continue
            idle_for = time.time() - c.last_active
            if not c.busy() and idle_for >= o.scaledown_window_s and autoscaler.may_scale_down(fn.policy(), fn.demand(), len(fn.active())):
                c.state = "stopping"
                c.stop_reason = f"idle for {o.scaledown_window_s:g} s (scaledown_window)"
                self.store.update_container(c.container_id, state="stopping")
                return [], True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return [], False
            fn.work.clear()
            # Busy with direct web requests (which do not come through here): look again a window later.
            wake_for_scaledown = max(0.05, o.scaledown_window_s - idle_for if not c.busy() else o.scaledown_window_s)
            try:
                await asyncio.wait_for(fn.work.wait(), min(remaining, wake_for_scaledown))
            except asyncio.TimeoutError:
                pass

    @staticmethod
    def _prefetch(fn: FunctionRec) -> int:
        """Inputs one container may take at once: many when inputs are quick, one while they are slow
        or not yet measured, so containers that start later still find work."""
        if fn.options.batch_max_size or fn.options.max_concurrent_inputs > 1:
            return 1 << 30  # the agent asks for exactly its free slots
        if fn.seconds_per_input is None:
            return 1
        return max(1, int(PREFETCH_S / max(fn.seconds_per_input, 1e-6)))

    def put_outputs(self, c: ContainerRec, outputs: list[pb.Output]) -> None:
        fn = self.functions[c.function_id]
        items, requeued = [], []
        for out in outputs:
            rec = fn.running.get(out.input_id)
            if rec is None or rec.container_id != c.container_id:
                continue  # cancelled, or already given to another container
            status = out.result.status
            if out.exec_s:
                fn.observe(out.exec_s)
            if status == pb.GENERATOR_ITEM:
                items.append((rec, out.result, out.gen_index, False))
            elif status in (pb.FAILURE, pb.TIMEOUT):
                more_items, more_requeued = self._retry_or_fail(fn, rec, out.result)
                items += more_items
                requeued += more_requeued
                c.running.discard(rec.input_id)
            else:
                items.append((rec, out.result, out.gen_index, True))
        c.last_active = time.time()
        if items or requeued:
            self._record(fn, items, requeued)
        if requeued or fn.retired:
            fn.work.set()  # an old version's container that just finished may stop now

    def cancelled_inputs(self, c: ContainerRec) -> list[str]:
        ids, c.cancelled = list(c.cancelled), set()
        return ids

    # -- workers -------------------------------------------------------------------------------
    def register_worker(self, reg: worker_pb2.WorkerRegister) -> WorkerRec:
        old = self.workers.get(reg.worker_id)
        if old is not None:  # it reconnected before we noticed the old stream end: its containers are gone
            self.worker_lost(old)
        w = WorkerRec(reg.worker_id, reg.cpu, reg.memory_mb, tuple(reg.runtimes), reg.default_runtime, local=reg.hostname == socket.gethostname(),
                      gvisor_version=reg.gvisor_version, gvisor_platform=reg.gvisor_platform, cpu_features=tuple(reg.cpu_features))
        self.store.upsert_worker(reg.worker_id, reg.hostname, reg.cpu, reg.memory_mb)
        self.workers[w.worker_id] = w
        self._kick.set()
        log.info("worker %s connected: %.1f cpu, %d MiB, runtimes %s", w.worker_id, w.cpu, w.memory_mb, ",".join(w.runtimes))
        return w

    def worker_lost(self, w: WorkerRec) -> None:
        if self.workers.get(w.worker_id) is not w:
            return
        del self.workers[w.worker_id]
        self.store.set_worker_state(w.worker_id, "lost")
        if self.images is not None:
            self.images.worker_lost(w.worker_id)
        log.warning("worker %s disconnected; its %d containers are gone", w.worker_id, len(w.containers))
        if self.sandboxes is not None:
            self.sandboxes.worker_lost(w.worker_id)
        for cid in list(w.containers):
            self.container_exited(cid, -9, False, f"worker {w.worker_id} was lost", worker_lost=True)

    def container_started(self, container_id: str, timings: dict[str, float], address: str = "") -> None:
        if self.sandboxes is not None and self.sandboxes.container_started(container_id, timings):
            return
        c = self.containers.get(container_id)
        if c is not None:
            c.timings.update(timings)
            c.address = address
            if self.web_address(c) is not None:
                self.functions[c.function_id].wake_web_waiters()
            self.store.update_container(container_id, timings=dict(c.timings))

    def container_exited(self, container_id: str, exit_code: int, oom_killed: bool, reason: str, worker_lost: bool = False) -> None:
        if self.sandboxes is not None and self.sandboxes.container_exited(container_id, exit_code, oom_killed, reason):
            return
        c = self.containers.pop(container_id, None)
        if c is None:
            return
        self.tokens.pop(c.token, None)
        fn = self.functions[c.function_id]
        fn.containers.pop(container_id, None)
        w = self.workers.get(c.worker_id)
        if w is not None:
            w.containers.discard(container_id)
        was_stopping = c.state == "stopping"
        c.state = "stopped"
        for writer in [*c.web_conns, *(w for _, w in c.web_pool)]:  # a direct web request in flight fails now (502), never hangs
            writer.transport.abort()
        c.web_pool.clear()
        fn.wake_web_waiters()  # requests waiting for a slot look again (maybe for the input path)
        if was_stopping and not oom_killed:
            why = c.stop_reason or "stopped"
        elif oom_killed:
            why = f"the container ran out of memory (limit {fn.options.memory_limit_mb} MiB) and was killed; raise `memory=` on the function"
        elif reason:
            why = reason
        else:
            why = f"the container exited unexpectedly with code {exit_code}"
        self.store.update_container(container_id, state="stopped", stopped_at=time.time(), exit_reason=why)
        # Inputs it was running are retried under the retry policy, or failed with the reason.
        items, requeued = [], []
        for input_id in list(c.running):
            rec = fn.running.get(input_id)
            if rec is None:
                continue
            if worker_lost and rec.lost_with_worker < MAX_WORKER_LOSSES:
                # A lost machine is not the input's fault: try it again without using a retry.
                rec.lost_with_worker += 1
                rec.container_id = None
                fn.running.pop(input_id, None)
                fn.pending.appendleft(rec)
                requeued.append(rec)
                continue
            result = pb.Result(status=pb.TERMINATED, exception_repr=f"container {container_id} died while running this input: {why}")
            more_items, more_requeued = self._retry_or_fail(fn, rec, result)
            items += more_items
            requeued += more_requeued
        if items or requeued:
            self._record(fn, items, requeued)
            fn.work.set()
        if not c.ready and not was_stopping and not worker_lost and fn.app_id in self.running_apps:
            fn.start_failures += 1
            if fn.start_failures >= MAX_START_FAILURES:
                fn.start_failures = 0
                self._fail_waiting(fn, pb.Result(status=pb.TERMINATED, exception_repr=f"containers for {fn.definition.function_name} failed to start {MAX_START_FAILURES} times; last: {why}"))
        self._kick.set()

    def stop_container(self, c: ContainerRec, reason: str) -> None:
        if c.state == "stopped":
            return
        c.state = "stopping"
        c.stop_reason = reason
        w = self.workers.get(c.worker_id)
        if w is not None:
            w.commands.put_nowait(worker_pb2.WorkerCommand(stop=worker_pb2.StopContainer(container_id=c.container_id, reason=reason)))
        else:
            self.container_exited(c.container_id, -9, False, reason)

    # -- web requests on the gateway's direct path (server/web_proxy.py) -----------------------
    def web_address(self, c: ContainerRec) -> tuple[str, int] | None:
        """Where the gateway sends a web request for this container directly, if it can."""
        if not (c.address and c.web_port and c.ready and c.state == "running"):
            return None
        w = self.workers.get(c.worker_id)
        return (c.address, c.web_port) if w is not None and w.local else None

    def web_target(self, fn: FunctionRec) -> tuple[ContainerRec | None, bool]:
        """The container to send a web request to directly: the least busy reachable one with a
        free slot (slots: @concurrent max_inputs, shared with its inputs). (None, True): all of
        those are full, so wait for one; (None, False): there are none (no container yet, no
        network into it, its worker on another machine): the request goes as an input."""
        o = fn.options
        if o.max_inputs or fn.retired:
            return None, False
        per = max(1, o.max_concurrent_inputs)
        best, best_load, reachable = None, per, False
        for c in fn.containers.values():
            if self.web_address(c) is None:
                continue
            reachable = True
            load = c.web_inflight + len(c.running)
            if load < best_load:
                best, best_load = c, load
        return best, reachable

    def web_begin(self, fn: FunctionRec, c: ContainerRec) -> None:
        c.web_inflight += 1
        c.web_requests += 1
        fn.web_inflight += 1
        c.last_active = time.time()

    def web_end(self, fn: FunctionRec, c: ContainerRec, took_s: float) -> None:
        c.web_inflight -= 1
        fn.web_inflight -= 1
        c.last_active = time.time()
        fn.observe(took_s)  # as an input's run time: the autoscaler sizes for how long requests take
        fn.wake_web_waiters(1)

    async def web_wait(self, fn: FunctionRec, timeout: float) -> None:
        """Wait (at most `timeout`) for a slot to free up, counted as demand so the autoscaler adds containers."""
        fut = asyncio.get_running_loop().create_future()
        fn.web_waiters.append(fut)
        fn.web_waiting += 1
        self._kick.set()
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            pass
        finally:
            fn.web_waiting -= 1
            if fut.done() and not fut.cancelled() and fut in fn.web_waiters:
                fn.web_waiters.remove(fut)

    # -- autoscaling ---------------------------------------------------------------------------
    async def _autoscale_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._kick.wait(), 0.1)
            except asyncio.TimeoutError:
                pass
            self._kick.clear()
            try:
                self.autoscale()
            except Exception:  # keep scaling whatever one function's state is
                log.exception("autoscaler step failed")

    def autoscale(self) -> None:
        now = time.time()
        for fn in list(self.functions.values()):
            if fn.app_id not in self.running_apps:
                continue
            while fn.delayed and fn.delayed[0].available_at <= now:
                fn.pending.append(heapq.heappop(fn.delayed))
                fn.work.set()
            active = fn.active()
            starting = sum(1 for c in active if c.state == "scheduled")
            for _ in range(autoscaler.containers_to_start(fn.policy(), fn.demand(), len(active), starting, fn.seconds_per_input)):
                if not self._start_container(fn):
                    if fn.demand() and not active:
                        self._evict_idle(exclude=fn)
                    break

    def _evict_idle(self, exclude: FunctionRec) -> None:
        """No room for a function that has work and no container: retire one idle container
        of another function (never below its min_containers) so the work can start."""
        idle = [
            c for c in self.containers.values()
            if c.state == "running" and not c.busy() and c.function_id != exclude.function_id
            and autoscaler.may_scale_down(self.functions[c.function_id].policy(), self.functions[c.function_id].demand(), len(self.functions[c.function_id].active()))
        ]
        if any(c.state == "stopping" for c in self.containers.values()):
            return  # one is already on its way out; wait for its room
        if idle:
            victim = min(idle, key=lambda c: c.last_active)
            victim.state = "stopping"  # its agent gets `shutdown` from its next GetInputs and runs @exit
            victim.stop_reason = "idle, and its room was needed by another function"
            self.functions[victim.function_id].work.set()

    def _capacity(self) -> list[scheduler.WorkerCapacity]:
        caps = []
        for w in self.workers.values():
            used_cpu = sum(self.containers[c].cpu for c in w.containers if c in self.containers)
            used_mem = sum(self.containers[c].memory_mb for c in w.containers if c in self.containers)
            caps.append(scheduler.WorkerCapacity(w.worker_id, w.cpu - used_cpu, w.memory_mb - used_mem, w.runtimes))
        if self.sandboxes is not None:
            self.sandboxes.adjust_capacity(caps)
        return caps

    def _start_container(self, fn: FunctionRec) -> bool:
        o = fn.options
        choice = scheduler.pick_worker(self._capacity(), o.cpu, o.memory_mb, o.runtime)
        if choice is None:
            return False
        w = self.workers[choice.worker_id]
        runtime = o.runtime or w.default_runtime
        c = ContainerRec(new_id("container"), fn.function_id, w.worker_id, secrets.token_urlsafe(24), runtime, o.cpu, o.memory_mb)
        self.containers[c.container_id] = c
        self.container_apps[c.container_id] = (fn.app_id, fn.definition.function_name)
        self.tokens[c.token] = c.container_id
        fn.containers[c.container_id] = c
        w.containers.add(c.container_id)
        self.store.create_container(c.container_id, fn.function_id, fn.app_id, w.worker_id, runtime)
        from squall.server.secret_box import secret_env  # decrypted only here, sent over the authenticated worker stream

        w.commands.put_nowait(
            worker_pb2.WorkerCommand(
                start=worker_pb2.StartContainer(
                    container_id=c.container_id, function_id=fn.function_id, definition=fn.definition, token=c.token, runtime=runtime, scheduled_at=time.time(),
                    secret_env=secret_env(self.store, fn.definition.secret_ids),
                    image=self.images.plan_for_container(fn.definition.image_id) if self.images is not None else None,
                )
            )
        )
        return True

    # -- logs ----------------------------------------------------------------------------------
    def add_logs(self, entries) -> None:
        rows = []
        for e in entries:
            app_id, function_name = self.container_apps.get(e.container_id, ("", ""))
            if app_id:
                rows.append(dict(app_id=app_id, container_id=e.container_id, function_name=function_name, stream=e.stream, text=e.text, ts=e.ts))
        self.store.add_logs(rows)
        for app_id in {r["app_id"] for r in rows}:
            self.log_events[app_id].set()

    def stats(self, fn: FunctionRec) -> tuple[int, int, int]:
        """(backlog, containers, running): web requests on the direct path count as inputs here too."""
        return len(fn.pending) + len(fn.delayed) + fn.web_waiting, len(fn.active()), len(fn.running) + fn.web_inflight
