from squall._proto.squall.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SandboxEmpty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SandboxRef(_message.Message):
    __slots__ = ("sandbox_id",)
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    def __init__(self, sandbox_id: _Optional[str] = ...) -> None: ...

class SandboxCreateRequest(_message.Message):
    __slots__ = ("app_id", "app_name", "name", "command", "env", "secret_ids", "timeout_s", "idle_timeout_s", "workdir", "cpu", "memory_mb", "block_network", "outbound_cidr_allowlist", "runtime", "tags", "image_id", "volumes", "encrypted_ports", "unencrypted_ports")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    APP_NAME_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    SECRET_IDS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    WORKDIR_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NETWORK_FIELD_NUMBER: _ClassVar[int]
    OUTBOUND_CIDR_ALLOWLIST_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTED_PORTS_FIELD_NUMBER: _ClassVar[int]
    UNENCRYPTED_PORTS_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    app_name: str
    name: str
    command: _containers.RepeatedScalarFieldContainer[str]
    env: _containers.ScalarMap[str, str]
    secret_ids: _containers.RepeatedScalarFieldContainer[str]
    timeout_s: float
    idle_timeout_s: float
    workdir: str
    cpu: float
    memory_mb: int
    block_network: bool
    outbound_cidr_allowlist: _containers.RepeatedScalarFieldContainer[str]
    runtime: str
    tags: _containers.ScalarMap[str, str]
    image_id: str
    volumes: _containers.RepeatedCompositeFieldContainer[_common_pb2.VolumeMount]
    encrypted_ports: _containers.RepeatedScalarFieldContainer[int]
    unencrypted_ports: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, app_id: _Optional[str] = ..., app_name: _Optional[str] = ..., name: _Optional[str] = ..., command: _Optional[_Iterable[str]] = ..., env: _Optional[_Mapping[str, str]] = ..., secret_ids: _Optional[_Iterable[str]] = ..., timeout_s: _Optional[float] = ..., idle_timeout_s: _Optional[float] = ..., workdir: _Optional[str] = ..., cpu: _Optional[float] = ..., memory_mb: _Optional[int] = ..., block_network: _Optional[bool] = ..., outbound_cidr_allowlist: _Optional[_Iterable[str]] = ..., runtime: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ..., image_id: _Optional[str] = ..., volumes: _Optional[_Iterable[_Union[_common_pb2.VolumeMount, _Mapping]]] = ..., encrypted_ports: _Optional[_Iterable[int]] = ..., unencrypted_ports: _Optional[_Iterable[int]] = ...) -> None: ...

class SandboxCreateResponse(_message.Message):
    __slots__ = ("sandbox_id", "app_id")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    app_id: str
    def __init__(self, sandbox_id: _Optional[str] = ..., app_id: _Optional[str] = ...) -> None: ...

class SandboxSnapshotFilesystemResponse(_message.Message):
    __slots__ = ("image_id",)
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    image_id: str
    def __init__(self, image_id: _Optional[str] = ...) -> None: ...

class SandboxSnapshotInfo(_message.Message):
    __slots__ = ("snapshot_id", "sandbox_id", "created_at", "size_bytes", "runtime_version", "checkpoint_s", "platform")
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_S_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    snapshot_id: str
    sandbox_id: str
    created_at: float
    size_bytes: int
    runtime_version: str
    checkpoint_s: float
    platform: str
    def __init__(self, snapshot_id: _Optional[str] = ..., sandbox_id: _Optional[str] = ..., created_at: _Optional[float] = ..., size_bytes: _Optional[int] = ..., runtime_version: _Optional[str] = ..., checkpoint_s: _Optional[float] = ..., platform: _Optional[str] = ...) -> None: ...

class SandboxSnapshotRef(_message.Message):
    __slots__ = ("snapshot_id",)
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    snapshot_id: str
    def __init__(self, snapshot_id: _Optional[str] = ...) -> None: ...

class SandboxSnapshotListResponse(_message.Message):
    __slots__ = ("snapshots",)
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    snapshots: _containers.RepeatedCompositeFieldContainer[SandboxSnapshotInfo]
    def __init__(self, snapshots: _Optional[_Iterable[_Union[SandboxSnapshotInfo, _Mapping]]] = ...) -> None: ...

class SandboxRestoreRequest(_message.Message):
    __slots__ = ("snapshot_id",)
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    snapshot_id: str
    def __init__(self, snapshot_id: _Optional[str] = ...) -> None: ...

class SandboxGetRequest(_message.Message):
    __slots__ = ("sandbox_id", "app_name", "name")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    APP_NAME_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    app_name: str
    name: str
    def __init__(self, sandbox_id: _Optional[str] = ..., app_name: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class SandboxInfo(_message.Message):
    __slots__ = ("sandbox_id", "app_id", "name", "state", "created_at", "stopped_at", "done", "returncode", "reason", "timed_out", "tags", "runtime", "worker_id", "memory_limit_mb", "pids_limit", "from_warm_pool")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STOPPED_AT_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    RETURNCODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_MB_FIELD_NUMBER: _ClassVar[int]
    PIDS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    FROM_WARM_POOL_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    app_id: str
    name: str
    state: str
    created_at: float
    stopped_at: float
    done: bool
    returncode: int
    reason: str
    timed_out: bool
    tags: _containers.ScalarMap[str, str]
    runtime: str
    worker_id: str
    memory_limit_mb: int
    pids_limit: int
    from_warm_pool: bool
    def __init__(self, sandbox_id: _Optional[str] = ..., app_id: _Optional[str] = ..., name: _Optional[str] = ..., state: _Optional[str] = ..., created_at: _Optional[float] = ..., stopped_at: _Optional[float] = ..., done: _Optional[bool] = ..., returncode: _Optional[int] = ..., reason: _Optional[str] = ..., timed_out: _Optional[bool] = ..., tags: _Optional[_Mapping[str, str]] = ..., runtime: _Optional[str] = ..., worker_id: _Optional[str] = ..., memory_limit_mb: _Optional[int] = ..., pids_limit: _Optional[int] = ..., from_warm_pool: _Optional[bool] = ...) -> None: ...

class SandboxListRequest(_message.Message):
    __slots__ = ("app_id", "tags", "include_stopped")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_STOPPED_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    tags: _containers.ScalarMap[str, str]
    include_stopped: bool
    def __init__(self, app_id: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ..., include_stopped: _Optional[bool] = ...) -> None: ...

class SandboxListResponse(_message.Message):
    __slots__ = ("sandboxes",)
    SANDBOXES_FIELD_NUMBER: _ClassVar[int]
    sandboxes: _containers.RepeatedCompositeFieldContainer[SandboxInfo]
    def __init__(self, sandboxes: _Optional[_Iterable[_Union[SandboxInfo, _Mapping]]] = ...) -> None: ...

class SandboxSetTagsRequest(_message.Message):
    __slots__ = ("sandbox_id", "tags")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    tags: _containers.ScalarMap[str, str]
    def __init__(self, sandbox_id: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SandboxWaitRequest(_message.Message):
    __slots__ = ("sandbox_id", "timeout_s")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    timeout_s: float
    def __init__(self, sandbox_id: _Optional[str] = ..., timeout_s: _Optional[float] = ...) -> None: ...

class SandboxOutputRequest(_message.Message):
    __slots__ = ("sandbox_id", "fd")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    FD_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    fd: int
    def __init__(self, sandbox_id: _Optional[str] = ..., fd: _Optional[int] = ...) -> None: ...

class SandboxOutputChunk(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class ExecStart(_message.Message):
    __slots__ = ("sandbox_id", "argv", "workdir", "env", "timeout_s", "pty")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    ARGV_FIELD_NUMBER: _ClassVar[int]
    WORKDIR_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    PTY_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    argv: _containers.RepeatedScalarFieldContainer[str]
    workdir: str
    env: _containers.ScalarMap[str, str]
    timeout_s: float
    pty: TerminalSize
    def __init__(self, sandbox_id: _Optional[str] = ..., argv: _Optional[_Iterable[str]] = ..., workdir: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., timeout_s: _Optional[float] = ..., pty: _Optional[_Union[TerminalSize, _Mapping]] = ...) -> None: ...

class TerminalSize(_message.Message):
    __slots__ = ("rows", "cols")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLS_FIELD_NUMBER: _ClassVar[int]
    rows: int
    cols: int
    def __init__(self, rows: _Optional[int] = ..., cols: _Optional[int] = ...) -> None: ...

class ExecClientMessage(_message.Message):
    __slots__ = ("start", "stdin", "stdin_eof", "kill", "resize")
    START_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    STDIN_EOF_FIELD_NUMBER: _ClassVar[int]
    KILL_FIELD_NUMBER: _ClassVar[int]
    RESIZE_FIELD_NUMBER: _ClassVar[int]
    start: ExecStart
    stdin: bytes
    stdin_eof: bool
    kill: bool
    resize: TerminalSize
    def __init__(self, start: _Optional[_Union[ExecStart, _Mapping]] = ..., stdin: _Optional[bytes] = ..., stdin_eof: _Optional[bool] = ..., kill: _Optional[bool] = ..., resize: _Optional[_Union[TerminalSize, _Mapping]] = ...) -> None: ...

class ExecExit(_message.Message):
    __slots__ = ("returncode", "reason")
    RETURNCODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    returncode: int
    reason: str
    def __init__(self, returncode: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class ExecServerMessage(_message.Message):
    __slots__ = ("exec_id", "stdout", "stderr", "exit", "stdin_drained")
    EXEC_ID_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    EXIT_FIELD_NUMBER: _ClassVar[int]
    STDIN_DRAINED_FIELD_NUMBER: _ClassVar[int]
    exec_id: str
    stdout: bytes
    stderr: bytes
    exit: ExecExit
    stdin_drained: bool
    def __init__(self, exec_id: _Optional[str] = ..., stdout: _Optional[bytes] = ..., stderr: _Optional[bytes] = ..., exit: _Optional[_Union[ExecExit, _Mapping]] = ..., stdin_drained: _Optional[bool] = ...) -> None: ...

class ExecRecord(_message.Message):
    __slots__ = ("exec_id", "argv", "started_at", "finished_at", "finished", "returncode", "reason")
    EXEC_ID_FIELD_NUMBER: _ClassVar[int]
    ARGV_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    RETURNCODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    exec_id: str
    argv: _containers.RepeatedScalarFieldContainer[str]
    started_at: float
    finished_at: float
    finished: bool
    returncode: int
    reason: str
    def __init__(self, exec_id: _Optional[str] = ..., argv: _Optional[_Iterable[str]] = ..., started_at: _Optional[float] = ..., finished_at: _Optional[float] = ..., finished: _Optional[bool] = ..., returncode: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class SandboxHistoryResponse(_message.Message):
    __slots__ = ("execs",)
    EXECS_FIELD_NUMBER: _ClassVar[int]
    execs: _containers.RepeatedCompositeFieldContainer[ExecRecord]
    def __init__(self, execs: _Optional[_Iterable[_Union[ExecRecord, _Mapping]]] = ...) -> None: ...

class FileReadRequest(_message.Message):
    __slots__ = ("sandbox_id", "path")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    path: str
    def __init__(self, sandbox_id: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class FileChunk(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class FileWriteMessage(_message.Message):
    __slots__ = ("sandbox_id", "path", "data")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    path: str
    data: bytes
    def __init__(self, sandbox_id: _Optional[str] = ..., path: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class FileOpRequest(_message.Message):
    __slots__ = ("sandbox_id", "op", "path", "recursive")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    RECURSIVE_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    op: str
    path: str
    recursive: bool
    def __init__(self, sandbox_id: _Optional[str] = ..., op: _Optional[str] = ..., path: _Optional[str] = ..., recursive: _Optional[bool] = ...) -> None: ...

class FileEntry(_message.Message):
    __slots__ = ("path", "is_dir", "size", "mtime", "mode")
    PATH_FIELD_NUMBER: _ClassVar[int]
    IS_DIR_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MTIME_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    path: str
    is_dir: bool
    size: int
    mtime: float
    mode: int
    def __init__(self, path: _Optional[str] = ..., is_dir: _Optional[bool] = ..., size: _Optional[int] = ..., mtime: _Optional[float] = ..., mode: _Optional[int] = ...) -> None: ...

class FileOpResponse(_message.Message):
    __slots__ = ("entries", "stat", "bytes_written")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    STAT_FIELD_NUMBER: _ClassVar[int]
    BYTES_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[FileEntry]
    stat: FileEntry
    bytes_written: int
    def __init__(self, entries: _Optional[_Iterable[_Union[FileEntry, _Mapping]]] = ..., stat: _Optional[_Union[FileEntry, _Mapping]] = ..., bytes_written: _Optional[int] = ...) -> None: ...

class AgentInit(_message.Message):
    __slots__ = ("command", "env", "workdir", "pids_limit", "memory_limit_mb")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    WORKDIR_FIELD_NUMBER: _ClassVar[int]
    PIDS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_MB_FIELD_NUMBER: _ClassVar[int]
    command: _containers.RepeatedScalarFieldContainer[str]
    env: _containers.ScalarMap[str, str]
    workdir: str
    pids_limit: int
    memory_limit_mb: int
    def __init__(self, command: _Optional[_Iterable[str]] = ..., env: _Optional[_Mapping[str, str]] = ..., workdir: _Optional[str] = ..., pids_limit: _Optional[int] = ..., memory_limit_mb: _Optional[int] = ...) -> None: ...

class AgentExec(_message.Message):
    __slots__ = ("exec_id", "argv", "workdir", "env", "timeout_s", "pty")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EXEC_ID_FIELD_NUMBER: _ClassVar[int]
    ARGV_FIELD_NUMBER: _ClassVar[int]
    WORKDIR_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    PTY_FIELD_NUMBER: _ClassVar[int]
    exec_id: str
    argv: _containers.RepeatedScalarFieldContainer[str]
    workdir: str
    env: _containers.ScalarMap[str, str]
    timeout_s: float
    pty: TerminalSize
    def __init__(self, exec_id: _Optional[str] = ..., argv: _Optional[_Iterable[str]] = ..., workdir: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., timeout_s: _Optional[float] = ..., pty: _Optional[_Union[TerminalSize, _Mapping]] = ...) -> None: ...

class AgentResize(_message.Message):
    __slots__ = ("exec_id", "size")
    EXEC_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    exec_id: str
    size: TerminalSize
    def __init__(self, exec_id: _Optional[str] = ..., size: _Optional[_Union[TerminalSize, _Mapping]] = ...) -> None: ...

class AgentStdin(_message.Message):
    __slots__ = ("exec_id", "data", "eof", "req")
    EXEC_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EOF_FIELD_NUMBER: _ClassVar[int]
    REQ_FIELD_NUMBER: _ClassVar[int]
    exec_id: str
    data: bytes
    eof: bool
    req: int
    def __init__(self, exec_id: _Optional[str] = ..., data: _Optional[bytes] = ..., eof: _Optional[bool] = ..., req: _Optional[int] = ...) -> None: ...

class AgentKill(_message.Message):
    __slots__ = ("exec_id", "reason")
    EXEC_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    exec_id: str
    reason: str
    def __init__(self, exec_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class AgentFileRequest(_message.Message):
    __slots__ = ("req", "op", "path", "offset", "length", "data", "recursive")
    REQ_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    RECURSIVE_FIELD_NUMBER: _ClassVar[int]
    req: int
    op: str
    path: str
    offset: int
    length: int
    data: bytes
    recursive: bool
    def __init__(self, req: _Optional[int] = ..., op: _Optional[str] = ..., path: _Optional[str] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ..., data: _Optional[bytes] = ..., recursive: _Optional[bool] = ...) -> None: ...

class AgentCommand(_message.Message):
    __slots__ = ("init", "exec", "stdin", "kill", "file", "resize")
    INIT_FIELD_NUMBER: _ClassVar[int]
    EXEC_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    KILL_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    RESIZE_FIELD_NUMBER: _ClassVar[int]
    init: AgentInit
    exec: AgentExec
    stdin: AgentStdin
    kill: AgentKill
    file: AgentFileRequest
    resize: AgentResize
    def __init__(self, init: _Optional[_Union[AgentInit, _Mapping]] = ..., exec: _Optional[_Union[AgentExec, _Mapping]] = ..., stdin: _Optional[_Union[AgentStdin, _Mapping]] = ..., kill: _Optional[_Union[AgentKill, _Mapping]] = ..., file: _Optional[_Union[AgentFileRequest, _Mapping]] = ..., resize: _Optional[_Union[AgentResize, _Mapping]] = ...) -> None: ...

class AgentOutput(_message.Message):
    __slots__ = ("exec_id", "fd", "data")
    EXEC_ID_FIELD_NUMBER: _ClassVar[int]
    FD_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    exec_id: str
    fd: int
    data: bytes
    def __init__(self, exec_id: _Optional[str] = ..., fd: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class AgentExited(_message.Message):
    __slots__ = ("exec_id", "returncode", "reason")
    EXEC_ID_FIELD_NUMBER: _ClassVar[int]
    RETURNCODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    exec_id: str
    returncode: int
    reason: str
    def __init__(self, exec_id: _Optional[str] = ..., returncode: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class AgentStdinAck(_message.Message):
    __slots__ = ("exec_id", "req")
    EXEC_ID_FIELD_NUMBER: _ClassVar[int]
    REQ_FIELD_NUMBER: _ClassVar[int]
    exec_id: str
    req: int
    def __init__(self, exec_id: _Optional[str] = ..., req: _Optional[int] = ...) -> None: ...

class AgentFileReply(_message.Message):
    __slots__ = ("req", "error", "error_kind", "data", "entries", "stat")
    REQ_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_KIND_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    STAT_FIELD_NUMBER: _ClassVar[int]
    req: int
    error: str
    error_kind: str
    data: bytes
    entries: _containers.RepeatedCompositeFieldContainer[FileEntry]
    stat: FileEntry
    def __init__(self, req: _Optional[int] = ..., error: _Optional[str] = ..., error_kind: _Optional[str] = ..., data: _Optional[bytes] = ..., entries: _Optional[_Iterable[_Union[FileEntry, _Mapping]]] = ..., stat: _Optional[_Union[FileEntry, _Mapping]] = ...) -> None: ...

class AgentEvent(_message.Message):
    __slots__ = ("hello", "output", "exited", "file", "stdin_ack", "started")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    EXITED_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    STDIN_ACK_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    hello: str
    output: AgentOutput
    exited: AgentExited
    file: AgentFileReply
    stdin_ack: AgentStdinAck
    started: str
    def __init__(self, hello: _Optional[str] = ..., output: _Optional[_Union[AgentOutput, _Mapping]] = ..., exited: _Optional[_Union[AgentExited, _Mapping]] = ..., file: _Optional[_Union[AgentFileReply, _Mapping]] = ..., stdin_ack: _Optional[_Union[AgentStdinAck, _Mapping]] = ..., started: _Optional[str] = ...) -> None: ...

class StartSandbox(_message.Message):
    __slots__ = ("sandbox_id", "token", "runtime", "cpu_limit", "memory_limit_mb", "pids_limit", "block_network", "outbound_cidr_allowlist", "scheduled_at", "image_id", "disk_limit_mb", "image", "volumes", "bucket_env", "encrypted_ports", "unencrypted_ports", "restore")
    class BucketEnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    CPU_LIMIT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_MB_FIELD_NUMBER: _ClassVar[int]
    PIDS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NETWORK_FIELD_NUMBER: _ClassVar[int]
    OUTBOUND_CIDR_ALLOWLIST_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    DISK_LIMIT_MB_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    BUCKET_ENV_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTED_PORTS_FIELD_NUMBER: _ClassVar[int]
    UNENCRYPTED_PORTS_FIELD_NUMBER: _ClassVar[int]
    RESTORE_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    token: str
    runtime: str
    cpu_limit: float
    memory_limit_mb: int
    pids_limit: int
    block_network: bool
    outbound_cidr_allowlist: _containers.RepeatedScalarFieldContainer[str]
    scheduled_at: float
    image_id: str
    disk_limit_mb: int
    image: _common_pb2.ImagePlan
    volumes: _containers.RepeatedCompositeFieldContainer[_common_pb2.VolumeMount]
    bucket_env: _containers.ScalarMap[str, str]
    encrypted_ports: _containers.RepeatedScalarFieldContainer[int]
    unencrypted_ports: _containers.RepeatedScalarFieldContainer[int]
    restore: RestoreFrom
    def __init__(self, sandbox_id: _Optional[str] = ..., token: _Optional[str] = ..., runtime: _Optional[str] = ..., cpu_limit: _Optional[float] = ..., memory_limit_mb: _Optional[int] = ..., pids_limit: _Optional[int] = ..., block_network: _Optional[bool] = ..., outbound_cidr_allowlist: _Optional[_Iterable[str]] = ..., scheduled_at: _Optional[float] = ..., image_id: _Optional[str] = ..., disk_limit_mb: _Optional[int] = ..., image: _Optional[_Union[_common_pb2.ImagePlan, _Mapping]] = ..., volumes: _Optional[_Iterable[_Union[_common_pb2.VolumeMount, _Mapping]]] = ..., bucket_env: _Optional[_Mapping[str, str]] = ..., encrypted_ports: _Optional[_Iterable[int]] = ..., unencrypted_ports: _Optional[_Iterable[int]] = ..., restore: _Optional[_Union[RestoreFrom, _Mapping]] = ...) -> None: ...

class RestoreFrom(_message.Message):
    __slots__ = ("snapshot_id", "blob_digest", "resume_secret", "runtime_version", "cpu_features", "platform")
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    BLOB_DIGEST_FIELD_NUMBER: _ClassVar[int]
    RESUME_SECRET_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_VERSION_FIELD_NUMBER: _ClassVar[int]
    CPU_FEATURES_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    snapshot_id: str
    blob_digest: str
    resume_secret: bytes
    runtime_version: str
    cpu_features: _containers.RepeatedScalarFieldContainer[str]
    platform: str
    def __init__(self, snapshot_id: _Optional[str] = ..., blob_digest: _Optional[str] = ..., resume_secret: _Optional[bytes] = ..., runtime_version: _Optional[str] = ..., cpu_features: _Optional[_Iterable[str]] = ..., platform: _Optional[str] = ...) -> None: ...

class TunnelInfo(_message.Message):
    __slots__ = ("container_port", "host", "port", "unencrypted_host", "unencrypted_port")
    CONTAINER_PORT_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    UNENCRYPTED_HOST_FIELD_NUMBER: _ClassVar[int]
    UNENCRYPTED_PORT_FIELD_NUMBER: _ClassVar[int]
    container_port: int
    host: str
    port: int
    unencrypted_host: str
    unencrypted_port: int
    def __init__(self, container_port: _Optional[int] = ..., host: _Optional[str] = ..., port: _Optional[int] = ..., unencrypted_host: _Optional[str] = ..., unencrypted_port: _Optional[int] = ...) -> None: ...

class SandboxTunnelsRequest(_message.Message):
    __slots__ = ("sandbox_id", "timeout_s")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    timeout_s: float
    def __init__(self, sandbox_id: _Optional[str] = ..., timeout_s: _Optional[float] = ...) -> None: ...

class SandboxTunnelsResponse(_message.Message):
    __slots__ = ("tunnels", "ready", "ca_cert_pem")
    TUNNELS_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    CA_CERT_PEM_FIELD_NUMBER: _ClassVar[int]
    tunnels: _containers.RepeatedCompositeFieldContainer[TunnelInfo]
    ready: bool
    ca_cert_pem: str
    def __init__(self, tunnels: _Optional[_Iterable[_Union[TunnelInfo, _Mapping]]] = ..., ready: _Optional[bool] = ..., ca_cert_pem: _Optional[str] = ...) -> None: ...

class TunnelCAResponse(_message.Message):
    __slots__ = ("ca_cert_pem", "path")
    CA_CERT_PEM_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    ca_cert_pem: str
    path: str
    def __init__(self, ca_cert_pem: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...
