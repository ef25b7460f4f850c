from squall._proto.squall.v1 import web_pb2 as _web_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ResultStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESULT_STATUS_UNSPECIFIED: _ClassVar[ResultStatus]
    SUCCESS: _ClassVar[ResultStatus]
    FAILURE: _ClassVar[ResultStatus]
    TIMEOUT: _ClassVar[ResultStatus]
    TERMINATED: _ClassVar[ResultStatus]
    CANCELLED: _ClassVar[ResultStatus]
    INIT_FAILURE: _ClassVar[ResultStatus]
    GENERATOR_ITEM: _ClassVar[ResultStatus]
RESULT_STATUS_UNSPECIFIED: ResultStatus
SUCCESS: ResultStatus
FAILURE: ResultStatus
TIMEOUT: ResultStatus
TERMINATED: ResultStatus
CANCELLED: ResultStatus
INIT_FAILURE: ResultStatus
GENERATOR_ITEM: ResultStatus

class FunctionOptions(_message.Message):
    __slots__ = ("cpu", "cpu_limit", "memory_mb", "memory_limit_mb", "timeout_s", "max_retries", "backoff_coefficient", "initial_delay_s", "max_delay_s", "min_containers", "max_containers", "buffer_containers", "scaledown_window_s", "env", "max_concurrent_inputs", "batch_max_size", "batch_wait_ms", "is_generator", "runtime", "block_network", "max_inputs", "startup_timeout_s")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CPU_FIELD_NUMBER: _ClassVar[int]
    CPU_LIMIT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_MB_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    MAX_RETRIES_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_COEFFICIENT_FIELD_NUMBER: _ClassVar[int]
    INITIAL_DELAY_S_FIELD_NUMBER: _ClassVar[int]
    MAX_DELAY_S_FIELD_NUMBER: _ClassVar[int]
    MIN_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    BUFFER_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    SCALEDOWN_WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_INPUTS_FIELD_NUMBER: _ClassVar[int]
    BATCH_MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    BATCH_WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    IS_GENERATOR_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NETWORK_FIELD_NUMBER: _ClassVar[int]
    MAX_INPUTS_FIELD_NUMBER: _ClassVar[int]
    STARTUP_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    cpu: float
    cpu_limit: float
    memory_mb: int
    memory_limit_mb: int
    timeout_s: float
    max_retries: int
    backoff_coefficient: float
    initial_delay_s: float
    max_delay_s: float
    min_containers: int
    max_containers: int
    buffer_containers: int
    scaledown_window_s: float
    env: _containers.ScalarMap[str, str]
    max_concurrent_inputs: int
    batch_max_size: int
    batch_wait_ms: int
    is_generator: bool
    runtime: str
    block_network: bool
    max_inputs: int
    startup_timeout_s: float
    def __init__(self, cpu: _Optional[float] = ..., cpu_limit: _Optional[float] = ..., memory_mb: _Optional[int] = ..., memory_limit_mb: _Optional[int] = ..., timeout_s: _Optional[float] = ..., max_retries: _Optional[int] = ..., backoff_coefficient: _Optional[float] = ..., initial_delay_s: _Optional[float] = ..., max_delay_s: _Optional[float] = ..., min_containers: _Optional[int] = ..., max_containers: _Optional[int] = ..., buffer_containers: _Optional[int] = ..., scaledown_window_s: _Optional[float] = ..., env: _Optional[_Mapping[str, str]] = ..., max_concurrent_inputs: _Optional[int] = ..., batch_max_size: _Optional[int] = ..., batch_wait_ms: _Optional[int] = ..., is_generator: _Optional[bool] = ..., runtime: _Optional[str] = ..., block_network: _Optional[bool] = ..., max_inputs: _Optional[int] = ..., startup_timeout_s: _Optional[float] = ...) -> None: ...

class FunctionDefinition(_message.Message):
    __slots__ = ("module_name", "qualname", "is_class", "mount_digest", "mount_name", "image_id", "options", "class_params", "app_name", "function_name", "secret_ids", "methods", "generator_methods", "file_mounts", "volumes", "web", "schedule")
    MODULE_NAME_FIELD_NUMBER: _ClassVar[int]
    QUALNAME_FIELD_NUMBER: _ClassVar[int]
    IS_CLASS_FIELD_NUMBER: _ClassVar[int]
    MOUNT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    MOUNT_NAME_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    CLASS_PARAMS_FIELD_NUMBER: _ClassVar[int]
    APP_NAME_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    SECRET_IDS_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    GENERATOR_METHODS_FIELD_NUMBER: _ClassVar[int]
    FILE_MOUNTS_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    WEB_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    module_name: str
    qualname: str
    is_class: bool
    mount_digest: str
    mount_name: str
    image_id: str
    options: FunctionOptions
    class_params: bytes
    app_name: str
    function_name: str
    secret_ids: _containers.RepeatedScalarFieldContainer[str]
    methods: _containers.RepeatedScalarFieldContainer[str]
    generator_methods: _containers.RepeatedScalarFieldContainer[str]
    file_mounts: _containers.RepeatedCompositeFieldContainer[FileMount]
    volumes: _containers.RepeatedCompositeFieldContainer[VolumeMount]
    web: _web_pb2.WebEndpoint
    schedule: _web_pb2.Schedule
    def __init__(self, module_name: _Optional[str] = ..., qualname: _Optional[str] = ..., is_class: _Optional[bool] = ..., mount_digest: _Optional[str] = ..., mount_name: _Optional[str] = ..., image_id: _Optional[str] = ..., options: _Optional[_Union[FunctionOptions, _Mapping]] = ..., class_params: _Optional[bytes] = ..., app_name: _Optional[str] = ..., function_name: _Optional[str] = ..., secret_ids: _Optional[_Iterable[str]] = ..., methods: _Optional[_Iterable[str]] = ..., generator_methods: _Optional[_Iterable[str]] = ..., file_mounts: _Optional[_Iterable[_Union[FileMount, _Mapping]]] = ..., volumes: _Optional[_Iterable[_Union[VolumeMount, _Mapping]]] = ..., web: _Optional[_Union[_web_pb2.WebEndpoint, _Mapping]] = ..., schedule: _Optional[_Union[_web_pb2.Schedule, _Mapping]] = ...) -> None: ...

class VolumeMount(_message.Message):
    __slots__ = ("path", "volume_id", "name", "read_only", "bucket_name", "bucket_endpoint_url", "key_prefix")
    PATH_FIELD_NUMBER: _ClassVar[int]
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    BUCKET_NAME_FIELD_NUMBER: _ClassVar[int]
    BUCKET_ENDPOINT_URL_FIELD_NUMBER: _ClassVar[int]
    KEY_PREFIX_FIELD_NUMBER: _ClassVar[int]
    path: str
    volume_id: str
    name: str
    read_only: bool
    bucket_name: str
    bucket_endpoint_url: str
    key_prefix: str
    def __init__(self, path: _Optional[str] = ..., volume_id: _Optional[str] = ..., name: _Optional[str] = ..., read_only: _Optional[bool] = ..., bucket_name: _Optional[str] = ..., bucket_endpoint_url: _Optional[str] = ..., key_prefix: _Optional[str] = ...) -> None: ...

class FileMount(_message.Message):
    __slots__ = ("digest", "path", "is_file")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    IS_FILE_FIELD_NUMBER: _ClassVar[int]
    digest: str
    path: str
    is_file: bool
    def __init__(self, digest: _Optional[str] = ..., path: _Optional[str] = ..., is_file: _Optional[bool] = ...) -> None: ...

class LayerSpec(_message.Message):
    __slots__ = ("layer_id", "step_json", "blob_digest", "force")
    LAYER_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_JSON_FIELD_NUMBER: _ClassVar[int]
    BLOB_DIGEST_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    layer_id: str
    step_json: str
    blob_digest: str
    force: bool
    def __init__(self, layer_id: _Optional[str] = ..., step_json: _Optional[str] = ..., blob_digest: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class ImagePlan(_message.Message):
    __slots__ = ("image_id", "layers", "config_json")
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    image_id: str
    layers: _containers.RepeatedCompositeFieldContainer[LayerSpec]
    config_json: str
    def __init__(self, image_id: _Optional[str] = ..., layers: _Optional[_Iterable[_Union[LayerSpec, _Mapping]]] = ..., config_json: _Optional[str] = ...) -> None: ...

class Input(_message.Message):
    __slots__ = ("input_id", "idx", "args", "method_name", "attempt", "call_id")
    INPUT_ID_FIELD_NUMBER: _ClassVar[int]
    IDX_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    METHOD_NAME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    input_id: str
    idx: int
    args: bytes
    method_name: str
    attempt: int
    call_id: str
    def __init__(self, input_id: _Optional[str] = ..., idx: _Optional[int] = ..., args: _Optional[bytes] = ..., method_name: _Optional[str] = ..., attempt: _Optional[int] = ..., call_id: _Optional[str] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ("status", "data", "exception_repr", "traceback")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EXCEPTION_REPR_FIELD_NUMBER: _ClassVar[int]
    TRACEBACK_FIELD_NUMBER: _ClassVar[int]
    status: ResultStatus
    data: bytes
    exception_repr: str
    traceback: str
    def __init__(self, status: _Optional[_Union[ResultStatus, str]] = ..., data: _Optional[bytes] = ..., exception_repr: _Optional[str] = ..., traceback: _Optional[str] = ...) -> None: ...

class Output(_message.Message):
    __slots__ = ("input_id", "idx", "result", "seq", "gen_index", "attempt", "exec_s")
    INPUT_ID_FIELD_NUMBER: _ClassVar[int]
    IDX_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    GEN_INDEX_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    EXEC_S_FIELD_NUMBER: _ClassVar[int]
    input_id: str
    idx: int
    result: Result
    seq: int
    gen_index: int
    attempt: int
    exec_s: float
    def __init__(self, input_id: _Optional[str] = ..., idx: _Optional[int] = ..., result: _Optional[_Union[Result, _Mapping]] = ..., seq: _Optional[int] = ..., gen_index: _Optional[int] = ..., attempt: _Optional[int] = ..., exec_s: _Optional[float] = ...) -> None: ...

class LogEntry(_message.Message):
    __slots__ = ("container_id", "stream", "text", "ts", "function_name", "seq")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    stream: str
    text: str
    ts: float
    function_name: str
    seq: int
    def __init__(self, container_id: _Optional[str] = ..., stream: _Optional[str] = ..., text: _Optional[str] = ..., ts: _Optional[float] = ..., function_name: _Optional[str] = ..., seq: _Optional[int] = ...) -> None: ...
