"""The control plane's records in memory: inputs, calls, containers, workers and functions.

control.py keeps them (rebuilt from the Store when the server starts) and changes them; the
gateway's direct path (web_proxy.py) and the container API read them.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time
import uuid

from squall import config
from squall._proto.squall.v1 import common_pb2 as pb
from squall.server import autoscaler


def new_id(kind: str) -> str:
    return config.ID_PREFIX[kind] + uuid.uuid4().hex[:20]


@dataclasses.dataclass(eq=False)
class InputRec:
    input_id: str
    call_id: str
    idx: int
    method: str
    args: bytes
    attempt: int = 0
    available_at: float = 0.0
    container_id: str | None = None
    lost_with_worker: int = 0  # times its worker died under it; those do not use up retries

    def __lt__(self, other: InputRec) -> bool:  # for the retry heap
        return self.available_at < other.available_at

    def to_proto(self) -> pb.Input:
        return pb.Input(input_id=self.input_id, idx=self.idx, args=self.args, method_name=self.method, attempt=self.attempt, call_id=self.call_id)


@dataclasses.dataclass(eq=False)
class CallRec:
    call_id: str
    function_id: str
    cancelled: bool = False
    kind: int = 0
    num_inputs: int = 0
    changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


@dataclasses.dataclass(eq=False)
class ContainerRec:
    container_id: str
    function_id: str
    worker_id: str
    token: str
    runtime: str
    cpu: float
    memory_mb: int
    state: str = "scheduled"  # scheduled | running | stopping | stopped
    created_at: float = dataclasses.field(default_factory=time.time)
    last_active: float = dataclasses.field(default_factory=time.time)
    running: set[str] = dataclasses.field(default_factory=set)
    inputs_taken: int = 0
    said_hello: bool = False
    ready: bool = False  # imported the user's code and ran @enter
    cancelled: set[str] = dataclasses.field(default_factory=set)  # to tell the agent on its next call
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    stop_reason: str = ""  # why squall stopped it, when it did
    # The gateway's direct path (server/web_proxy.py): the agent's HTTP listener, requests in
    # flight there, and the gateway's connections to it (idle ones pooled).
    address: str = ""  # where the control plane's host reaches it ("" = it cannot)
    web_port: int = 0
    web_inflight: int = 0
    web_requests: int = 0  # all it was sent on the direct path
    web_conns: set = dataclasses.field(default_factory=set)
    web_pool: list = dataclasses.field(default_factory=list)

    def busy(self) -> bool:
        return bool(self.running) or self.web_inflight > 0


@dataclasses.dataclass(eq=False)
class WorkerRec:
    worker_id: str
    cpu: float
    memory_mb: int
    runtimes: tuple[str, ...]
    default_runtime: str
    local: bool = False  # on the control plane's machine: its containers' addresses are reachable from here
    commands: asyncio.Queue = dataclasses.field(default_factory=asyncio.Queue)
    containers: set[str] = dataclasses.field(default_factory=set)
    gvisor_version: str = ""  # memory snapshots restore only where this, the platform and the CPU features match
    gvisor_platform: str = ""
    cpu_features: tuple[str, ...] = ()


@dataclasses.dataclass(eq=False)
class FunctionRec:
    function_id: str
    app_id: str
    definition: pb.FunctionDefinition
    pending: collections.deque = dataclasses.field(default_factory=collections.deque)
    delayed: list = dataclasses.field(default_factory=list)  # heap of InputRec by available_at
    running: dict[str, InputRec] = dataclasses.field(default_factory=dict)
    containers: dict[str, ContainerRec] = dataclasses.field(default_factory=dict)
    work: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    start_failures: int = 0
    seconds_per_input: float | None = None  # moving average of the user code's run time
    name: str = ""
    parent_id: str | None = None  # set for a parameterised class instance
    retired: bool = False  # a newer deployed version took over: finish what is queued, then stop
    superseded_by: str | None = None  # the function that takes this one's new inputs
    web_inflight: int = 0  # web requests on the gateway's direct path, running in its containers
    web_waiting: int = 0  # ... and waiting for a free slot in one
    web_waiters: collections.deque = dataclasses.field(default_factory=collections.deque)  # their futures, oldest first

    def observe(self, exec_s: float) -> None:
        prev = self.seconds_per_input
        self.seconds_per_input = exec_s if prev is None else 0.9 * prev + 0.1 * exec_s

    @property
    def options(self) -> pb.FunctionOptions:
        return self.definition.options

    def policy(self) -> autoscaler.ScalingPolicy:
        o = self.options
        per = max(1, o.max_concurrent_inputs, o.batch_max_size)
        if self.retired:  # keep no warm containers for an old version
            return autoscaler.ScalingPolicy(0, o.max_containers, 0, per)
        return autoscaler.ScalingPolicy(o.min_containers, o.max_containers, o.buffer_containers, per)

    def demand(self) -> int:
        return len(self.pending) + len(self.running) + len(self.delayed) + self.web_inflight + self.web_waiting

    def wake_web_waiters(self, n: int | None = None) -> None:
        while self.web_waiters and (n is None or n > 0):
            fut = self.web_waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                n = None if n is None else n - 1

    def active(self) -> list[ContainerRec]:
        return [c for c in self.containers.values() if c.state in ("scheduled", "running")]
