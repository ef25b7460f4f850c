from squall._proto.squall.v1 import common_pb2 as _common_pb2
from squall._proto.squall.v1 import api_pb2 as _api_pb2
from squall._proto.squall.v1 import sandbox_pb2 as _sandbox_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkerRegister(_message.Message):
    __slots__ = ("worker_id", "hostname", "cpu", "memory_mb", "runtimes", "default_runtime")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    RUNTIMES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_RUNTIME_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    hostname: str
    cpu: float
    memory_mb: int
    runtimes: _containers.RepeatedScalarFieldContainer[str]
    default_runtime: str
    def __init__(self, worker_id: _Optional[str] = ..., hostname: _Optional[str] = ..., cpu: _Optional[float] = ..., memory_mb: _Optional[int] = ..., runtimes: _Optional[_Iterable[str]] = ..., default_runtime: _Optional[str] = ...) -> None: ...

class WorkerHeartbeat(_message.Message):
    __slots__ = ("free_cpu", "free_memory_mb", "running_containers")
    FREE_CPU_FIELD_NUMBER: _ClassVar[int]
    FREE_MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    RUNNING_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    free_cpu: float
    free_memory_mb: int
    running_containers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, free_cpu: _Optional[float] = ..., free_memory_mb: _Optional[int] = ..., running_containers: _Optional[_Iterable[str]] = ...) -> None: ...

class ContainerStarted(_message.Message):
    __slots__ = ("container_id", "timings")
    class TimingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    timings: _containers.ScalarMap[str, float]
    def __init__(self, container_id: _Optional[str] = ..., timings: _Optional[_Mapping[str, float]] = ...) -> None: ...

class ContainerExited(_message.Message):
    __slots__ = ("container_id", "exit_code", "oom_killed", "reason")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    OOM_KILLED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    exit_code: int
    oom_killed: bool
    reason: str
    def __init__(self, container_id: _Optional[str] = ..., exit_code: _Optional[int] = ..., oom_killed: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class ContainerLogs(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[_common_pb2.LogEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[_common_pb2.LogEntry, _Mapping]]] = ...) -> None: ...

class WorkerEvent(_message.Message):
    __slots__ = ("register", "heartbeat", "started", "exited", "logs")
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    EXITED_FIELD_NUMBER: _ClassVar[int]
    LOGS_FIELD_NUMBER: _ClassVar[int]
    register: WorkerRegister
    heartbeat: WorkerHeartbeat
    started: ContainerStarted
    exited: ContainerExited
    logs: ContainerLogs
    def __init__(self, register: _Optional[_Union[WorkerRegister, _Mapping]] = ..., heartbeat: _Optional[_Union[WorkerHeartbeat, _Mapping]] = ..., started: _Optional[_Union[ContainerStarted, _Mapping]] = ..., exited: _Optional[_Union[ContainerExited, _Mapping]] = ..., logs: _Optional[_Union[ContainerLogs, _Mapping]] = ...) -> None: ...

class StartContainer(_message.Message):
    __slots__ = ("container_id", "function_id", "definition", "token", "runtime", "scheduled_at", "secret_env")
    class SecretEnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    SECRET_ENV_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    function_id: str
    definition: _common_pb2.FunctionDefinition
    token: str
    runtime: str
    scheduled_at: float
    secret_env: _containers.ScalarMap[str, str]
    def __init__(self, container_id: _Optional[str] = ..., function_id: _Optional[str] = ..., definition: _Optional[_Union[_common_pb2.FunctionDefinition, _Mapping]] = ..., token: _Optional[str] = ..., runtime: _Optional[str] = ..., scheduled_at: _Optional[float] = ..., secret_env: _Optional[_Mapping[str, str]] = ...) -> None: ...

class StopContainer(_message.Message):
    __slots__ = ("container_id", "reason")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    reason: str
    def __init__(self, container_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class WorkerCommand(_message.Message):
    __slots__ = ("start", "stop", "start_sandbox")
    START_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    START_SANDBOX_FIELD_NUMBER: _ClassVar[int]
    start: StartContainer
    stop: StopContainer
    start_sandbox: _sandbox_pb2.StartSandbox
    def __init__(self, start: _Optional[_Union[StartContainer, _Mapping]] = ..., stop: _Optional[_Union[StopContainer, _Mapping]] = ..., start_sandbox: _Optional[_Union[_sandbox_pb2.StartSandbox, _Mapping]] = ...) -> None: ...
