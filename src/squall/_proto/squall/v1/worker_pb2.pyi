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
    __slots__ = ("worker_id", "hostname", "cpu", "memory_mb", "runtimes", "default_runtime", "tunnel_host", "tunnel_public_key_pem", "gvisor_version", "gvisor_platform", "cpu_features")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    RUNTIMES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_RUNTIME_FIELD_NUMBER: _ClassVar[int]
    TUNNEL_HOST_FIELD_NUMBER: _ClassVar[int]
    TUNNEL_PUBLIC_KEY_PEM_FIELD_NUMBER: _ClassVar[int]
    GVISOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    GVISOR_PLATFORM_FIELD_NUMBER: _ClassVar[int]
    CPU_FEATURES_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    hostname: str
    cpu: float
    memory_mb: int
    runtimes: _containers.RepeatedScalarFieldContainer[str]
    default_runtime: str
    tunnel_host: str
    tunnel_public_key_pem: bytes
    gvisor_version: str
    gvisor_platform: str
    cpu_features: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, worker_id: _Optional[str] = ..., hostname: _Optional[str] = ..., cpu: _Optional[float] = ..., memory_mb: _Optional[int] = ..., runtimes: _Optional[_Iterable[str]] = ..., default_runtime: _Optional[str] = ..., tunnel_host: _Optional[str] = ..., tunnel_public_key_pem: _Optional[bytes] = ..., gvisor_version: _Optional[str] = ..., gvisor_platform: _Optional[str] = ..., cpu_features: _Optional[_Iterable[str]] = ...) -> None: ...

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
    __slots__ = ("container_id", "timings", "address")
    class TimingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    timings: _containers.ScalarMap[str, float]
    address: str
    def __init__(self, container_id: _Optional[str] = ..., timings: _Optional[_Mapping[str, float]] = ..., address: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("register", "heartbeat", "started", "exited", "logs", "build_log", "build_done", "filesystem_snapshot", "tunnels_ready", "sandbox_checkpointed")
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    EXITED_FIELD_NUMBER: _ClassVar[int]
    LOGS_FIELD_NUMBER: _ClassVar[int]
    BUILD_LOG_FIELD_NUMBER: _ClassVar[int]
    BUILD_DONE_FIELD_NUMBER: _ClassVar[int]
    FILESYSTEM_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    TUNNELS_READY_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_CHECKPOINTED_FIELD_NUMBER: _ClassVar[int]
    register: WorkerRegister
    heartbeat: WorkerHeartbeat
    started: ContainerStarted
    exited: ContainerExited
    logs: ContainerLogs
    build_log: BuildLog
    build_done: BuildDone
    filesystem_snapshot: FilesystemSnapshot
    tunnels_ready: TunnelsReady
    sandbox_checkpointed: SandboxCheckpointed
    def __init__(self, register: _Optional[_Union[WorkerRegister, _Mapping]] = ..., heartbeat: _Optional[_Union[WorkerHeartbeat, _Mapping]] = ..., started: _Optional[_Union[ContainerStarted, _Mapping]] = ..., exited: _Optional[_Union[ContainerExited, _Mapping]] = ..., logs: _Optional[_Union[ContainerLogs, _Mapping]] = ..., build_log: _Optional[_Union[BuildLog, _Mapping]] = ..., build_done: _Optional[_Union[BuildDone, _Mapping]] = ..., filesystem_snapshot: _Optional[_Union[FilesystemSnapshot, _Mapping]] = ..., tunnels_ready: _Optional[_Union[TunnelsReady, _Mapping]] = ..., sandbox_checkpointed: _Optional[_Union[SandboxCheckpointed, _Mapping]] = ...) -> None: ...

class TunnelsReady(_message.Message):
    __slots__ = ("container_id", "tunnels", "error")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    TUNNELS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    tunnels: _containers.RepeatedCompositeFieldContainer[_sandbox_pb2.TunnelInfo]
    error: str
    def __init__(self, container_id: _Optional[str] = ..., tunnels: _Optional[_Iterable[_Union[_sandbox_pb2.TunnelInfo, _Mapping]]] = ..., error: _Optional[str] = ...) -> None: ...

class CheckpointSandbox(_message.Message):
    __slots__ = ("request_id", "sandbox_id", "snapshot_id", "resume_secret")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    RESUME_SECRET_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    sandbox_id: str
    snapshot_id: str
    resume_secret: bytes
    def __init__(self, request_id: _Optional[str] = ..., sandbox_id: _Optional[str] = ..., snapshot_id: _Optional[str] = ..., resume_secret: _Optional[bytes] = ...) -> None: ...

class SandboxCheckpointed(_message.Message):
    __slots__ = ("request_id", "blob_digest", "size_bytes", "runtime_version", "cpu_features", "paused_s", "error", "platform")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    BLOB_DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_VERSION_FIELD_NUMBER: _ClassVar[int]
    CPU_FEATURES_FIELD_NUMBER: _ClassVar[int]
    PAUSED_S_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    blob_digest: str
    size_bytes: int
    runtime_version: str
    cpu_features: _containers.RepeatedScalarFieldContainer[str]
    paused_s: float
    error: str
    platform: str
    def __init__(self, request_id: _Optional[str] = ..., blob_digest: _Optional[str] = ..., size_bytes: _Optional[int] = ..., runtime_version: _Optional[str] = ..., cpu_features: _Optional[_Iterable[str]] = ..., paused_s: _Optional[float] = ..., error: _Optional[str] = ..., platform: _Optional[str] = ...) -> None: ...

class TunnelCertificate(_message.Message):
    __slots__ = ("cert_pem", "ca_cert_pem")
    CERT_PEM_FIELD_NUMBER: _ClassVar[int]
    CA_CERT_PEM_FIELD_NUMBER: _ClassVar[int]
    cert_pem: bytes
    ca_cert_pem: bytes
    def __init__(self, cert_pem: _Optional[bytes] = ..., ca_cert_pem: _Optional[bytes] = ...) -> None: ...

class SnapshotFilesystem(_message.Message):
    __slots__ = ("request_id", "container_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    container_id: str
    def __init__(self, request_id: _Optional[str] = ..., container_id: _Optional[str] = ...) -> None: ...

class FilesystemSnapshot(_message.Message):
    __slots__ = ("request_id", "blob_digest", "size_bytes", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    BLOB_DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    blob_digest: str
    size_bytes: int
    error: str
    def __init__(self, request_id: _Optional[str] = ..., blob_digest: _Optional[str] = ..., size_bytes: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class BuildLog(_message.Message):
    __slots__ = ("build_id", "lines")
    BUILD_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    build_id: str
    lines: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, build_id: _Optional[str] = ..., lines: _Optional[_Iterable[str]] = ...) -> None: ...

class BuildDone(_message.Message):
    __slots__ = ("build_id", "error", "layers", "python_version")
    BUILD_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    PYTHON_VERSION_FIELD_NUMBER: _ClassVar[int]
    build_id: str
    error: str
    layers: _containers.RepeatedCompositeFieldContainer[_common_pb2.LayerSpec]
    python_version: str
    def __init__(self, build_id: _Optional[str] = ..., error: _Optional[str] = ..., layers: _Optional[_Iterable[_Union[_common_pb2.LayerSpec, _Mapping]]] = ..., python_version: _Optional[str] = ...) -> None: ...

class StartContainer(_message.Message):
    __slots__ = ("container_id", "function_id", "definition", "token", "runtime", "scheduled_at", "secret_env", "image")
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
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    function_id: str
    definition: _common_pb2.FunctionDefinition
    token: str
    runtime: str
    scheduled_at: float
    secret_env: _containers.ScalarMap[str, str]
    image: _common_pb2.ImagePlan
    def __init__(self, container_id: _Optional[str] = ..., function_id: _Optional[str] = ..., definition: _Optional[_Union[_common_pb2.FunctionDefinition, _Mapping]] = ..., token: _Optional[str] = ..., runtime: _Optional[str] = ..., scheduled_at: _Optional[float] = ..., secret_env: _Optional[_Mapping[str, str]] = ..., image: _Optional[_Union[_common_pb2.ImagePlan, _Mapping]] = ...) -> None: ...

class BuildImage(_message.Message):
    __slots__ = ("build_id", "image", "registry_auth")
    class RegistryAuthEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    BUILD_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_AUTH_FIELD_NUMBER: _ClassVar[int]
    build_id: str
    image: _common_pb2.ImagePlan
    registry_auth: _containers.ScalarMap[str, str]
    def __init__(self, build_id: _Optional[str] = ..., image: _Optional[_Union[_common_pb2.ImagePlan, _Mapping]] = ..., registry_auth: _Optional[_Mapping[str, str]] = ...) -> None: ...

class GcLayers(_message.Message):
    __slots__ = ("keep_layer_ids",)
    KEEP_LAYER_IDS_FIELD_NUMBER: _ClassVar[int]
    keep_layer_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, keep_layer_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class StopContainer(_message.Message):
    __slots__ = ("container_id", "reason")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    reason: str
    def __init__(self, container_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class WorkerCommand(_message.Message):
    __slots__ = ("start", "stop", "build", "gc_layers", "snapshot_filesystem", "start_sandbox", "tunnel_certificate", "checkpoint_sandbox", "forget_snapshot")
    START_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    BUILD_FIELD_NUMBER: _ClassVar[int]
    GC_LAYERS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FILESYSTEM_FIELD_NUMBER: _ClassVar[int]
    START_SANDBOX_FIELD_NUMBER: _ClassVar[int]
    TUNNEL_CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_SANDBOX_FIELD_NUMBER: _ClassVar[int]
    FORGET_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    start: StartContainer
    stop: StopContainer
    build: BuildImage
    gc_layers: GcLayers
    snapshot_filesystem: SnapshotFilesystem
    start_sandbox: _sandbox_pb2.StartSandbox
    tunnel_certificate: TunnelCertificate
    checkpoint_sandbox: CheckpointSandbox
    forget_snapshot: str
    def __init__(self, start: _Optional[_Union[StartContainer, _Mapping]] = ..., stop: _Optional[_Union[StopContainer, _Mapping]] = ..., build: _Optional[_Union[BuildImage, _Mapping]] = ..., gc_layers: _Optional[_Union[GcLayers, _Mapping]] = ..., snapshot_filesystem: _Optional[_Union[SnapshotFilesystem, _Mapping]] = ..., start_sandbox: _Optional[_Union[_sandbox_pb2.StartSandbox, _Mapping]] = ..., tunnel_certificate: _Optional[_Union[TunnelCertificate, _Mapping]] = ..., checkpoint_sandbox: _Optional[_Union[CheckpointSandbox, _Mapping]] = ..., forget_snapshot: _Optional[str] = ...) -> None: ...
