from squall._proto.squall.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CallKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CALL_KIND_UNSPECIFIED: _ClassVar[CallKind]
    REMOTE: _ClassVar[CallKind]
    MAP: _ClassVar[CallKind]
    SPAWN: _ClassVar[CallKind]
    GENERATOR: _ClassVar[CallKind]
CALL_KIND_UNSPECIFIED: CallKind
REMOTE: CallKind
MAP: CallKind
SPAWN: CallKind
GENERATOR: CallKind

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AppCreateRequest(_message.Message):
    __slots__ = ("name", "ephemeral")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_FIELD_NUMBER: _ClassVar[int]
    name: str
    ephemeral: bool
    def __init__(self, name: _Optional[str] = ..., ephemeral: _Optional[bool] = ...) -> None: ...

class AppCreateResponse(_message.Message):
    __slots__ = ("app_id",)
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    def __init__(self, app_id: _Optional[str] = ...) -> None: ...

class AppStopRequest(_message.Message):
    __slots__ = ("app_id",)
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    def __init__(self, app_id: _Optional[str] = ...) -> None: ...

class AppListRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AppInfo(_message.Message):
    __slots__ = ("app_id", "name", "state", "created_at", "stopped_at", "num_containers", "ephemeral", "version")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STOPPED_AT_FIELD_NUMBER: _ClassVar[int]
    NUM_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    name: str
    state: str
    created_at: float
    stopped_at: float
    num_containers: int
    ephemeral: bool
    version: int
    def __init__(self, app_id: _Optional[str] = ..., name: _Optional[str] = ..., state: _Optional[str] = ..., created_at: _Optional[float] = ..., stopped_at: _Optional[float] = ..., num_containers: _Optional[int] = ..., ephemeral: _Optional[bool] = ..., version: _Optional[int] = ...) -> None: ...

class AppListResponse(_message.Message):
    __slots__ = ("apps",)
    APPS_FIELD_NUMBER: _ClassVar[int]
    apps: _containers.RepeatedCompositeFieldContainer[AppInfo]
    def __init__(self, apps: _Optional[_Iterable[_Union[AppInfo, _Mapping]]] = ...) -> None: ...

class AppPublishRequest(_message.Message):
    __slots__ = ("app_id", "function_ids")
    class FunctionIdsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_IDS_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    function_ids: _containers.ScalarMap[str, str]
    def __init__(self, app_id: _Optional[str] = ..., function_ids: _Optional[_Mapping[str, str]] = ...) -> None: ...

class AppPublishResponse(_message.Message):
    __slots__ = ("app_id", "version")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    version: int
    def __init__(self, app_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class AppHistoryRequest(_message.Message):
    __slots__ = ("app_id",)
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    def __init__(self, app_id: _Optional[str] = ...) -> None: ...

class AppVersionInfo(_message.Message):
    __slots__ = ("version", "created_at", "functions", "rollback_of")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FUNCTIONS_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_OF_FIELD_NUMBER: _ClassVar[int]
    version: int
    created_at: float
    functions: _containers.RepeatedScalarFieldContainer[str]
    rollback_of: int
    def __init__(self, version: _Optional[int] = ..., created_at: _Optional[float] = ..., functions: _Optional[_Iterable[str]] = ..., rollback_of: _Optional[int] = ...) -> None: ...

class AppHistoryResponse(_message.Message):
    __slots__ = ("app_id", "name", "current", "versions")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    name: str
    current: int
    versions: _containers.RepeatedCompositeFieldContainer[AppVersionInfo]
    def __init__(self, app_id: _Optional[str] = ..., name: _Optional[str] = ..., current: _Optional[int] = ..., versions: _Optional[_Iterable[_Union[AppVersionInfo, _Mapping]]] = ...) -> None: ...

class AppRollbackRequest(_message.Message):
    __slots__ = ("app_id", "version")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    version: int
    def __init__(self, app_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class FunctionLookupRequest(_message.Message):
    __slots__ = ("app_name", "name")
    APP_NAME_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    app_name: str
    name: str
    def __init__(self, app_name: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class FunctionLookupResponse(_message.Message):
    __slots__ = ("function_id", "definition")
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    definition: _common_pb2.FunctionDefinition
    def __init__(self, function_id: _Optional[str] = ..., definition: _Optional[_Union[_common_pb2.FunctionDefinition, _Mapping]] = ...) -> None: ...

class AppLogsRequest(_message.Message):
    __slots__ = ("app_id", "container_id", "follow", "after_seq")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    container_id: str
    follow: bool
    after_seq: int
    def __init__(self, app_id: _Optional[str] = ..., container_id: _Optional[str] = ..., follow: _Optional[bool] = ..., after_seq: _Optional[int] = ...) -> None: ...

class LogBatch(_message.Message):
    __slots__ = ("entries", "app_stopped")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    APP_STOPPED_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[_common_pb2.LogEntry]
    app_stopped: bool
    def __init__(self, entries: _Optional[_Iterable[_Union[_common_pb2.LogEntry, _Mapping]]] = ..., app_stopped: _Optional[bool] = ...) -> None: ...

class BlobRef(_message.Message):
    __slots__ = ("digest",)
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    digest: str
    def __init__(self, digest: _Optional[str] = ...) -> None: ...

class BlobHasResponse(_message.Message):
    __slots__ = ("exists",)
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    exists: bool
    def __init__(self, exists: _Optional[bool] = ...) -> None: ...

class BlobChunk(_message.Message):
    __slots__ = ("digest", "data")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    digest: str
    data: bytes
    def __init__(self, digest: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class FunctionCreateRequest(_message.Message):
    __slots__ = ("app_id", "name", "definition")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    name: str
    definition: _common_pb2.FunctionDefinition
    def __init__(self, app_id: _Optional[str] = ..., name: _Optional[str] = ..., definition: _Optional[_Union[_common_pb2.FunctionDefinition, _Mapping]] = ...) -> None: ...

class FunctionCreateResponse(_message.Message):
    __slots__ = ("function_id",)
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    def __init__(self, function_id: _Optional[str] = ...) -> None: ...

class FunctionBindRequest(_message.Message):
    __slots__ = ("function_id", "class_params")
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    CLASS_PARAMS_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    class_params: bytes
    def __init__(self, function_id: _Optional[str] = ..., class_params: _Optional[bytes] = ...) -> None: ...

class FunctionCallCreateRequest(_message.Message):
    __slots__ = ("function_id", "kind", "inputs", "wait_s")
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    WAIT_S_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    kind: CallKind
    inputs: _containers.RepeatedCompositeFieldContainer[_common_pb2.Input]
    wait_s: float
    def __init__(self, function_id: _Optional[str] = ..., kind: _Optional[_Union[CallKind, str]] = ..., inputs: _Optional[_Iterable[_Union[_common_pb2.Input, _Mapping]]] = ..., wait_s: _Optional[float] = ...) -> None: ...

class FunctionCallCreateResponse(_message.Message):
    __slots__ = ("call_id", "outputs")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    outputs: _containers.RepeatedCompositeFieldContainer[_common_pb2.Output]
    def __init__(self, call_id: _Optional[str] = ..., outputs: _Optional[_Iterable[_Union[_common_pb2.Output, _Mapping]]] = ...) -> None: ...

class FunctionPutInputsRequest(_message.Message):
    __slots__ = ("call_id", "inputs")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    inputs: _containers.RepeatedCompositeFieldContainer[_common_pb2.Input]
    def __init__(self, call_id: _Optional[str] = ..., inputs: _Optional[_Iterable[_Union[_common_pb2.Input, _Mapping]]] = ...) -> None: ...

class FunctionGetOutputsRequest(_message.Message):
    __slots__ = ("call_id", "after_seq", "timeout_s", "max")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    after_seq: int
    timeout_s: float
    max: int
    def __init__(self, call_id: _Optional[str] = ..., after_seq: _Optional[int] = ..., timeout_s: _Optional[float] = ..., max: _Optional[int] = ...) -> None: ...

class FunctionGetOutputsResponse(_message.Message):
    __slots__ = ("outputs", "last_seq", "num_inputs", "kind")
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    NUM_INPUTS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    outputs: _containers.RepeatedCompositeFieldContainer[_common_pb2.Output]
    last_seq: int
    num_inputs: int
    kind: CallKind
    def __init__(self, outputs: _Optional[_Iterable[_Union[_common_pb2.Output, _Mapping]]] = ..., last_seq: _Optional[int] = ..., num_inputs: _Optional[int] = ..., kind: _Optional[_Union[CallKind, str]] = ...) -> None: ...

class FunctionCallCancelRequest(_message.Message):
    __slots__ = ("call_id", "terminate_containers")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINATE_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    terminate_containers: bool
    def __init__(self, call_id: _Optional[str] = ..., terminate_containers: _Optional[bool] = ...) -> None: ...

class FunctionRef(_message.Message):
    __slots__ = ("function_id",)
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    def __init__(self, function_id: _Optional[str] = ...) -> None: ...

class FunctionStats(_message.Message):
    __slots__ = ("backlog", "num_total_runners", "num_running_inputs")
    BACKLOG_FIELD_NUMBER: _ClassVar[int]
    NUM_TOTAL_RUNNERS_FIELD_NUMBER: _ClassVar[int]
    NUM_RUNNING_INPUTS_FIELD_NUMBER: _ClassVar[int]
    backlog: int
    num_total_runners: int
    num_running_inputs: int
    def __init__(self, backlog: _Optional[int] = ..., num_total_runners: _Optional[int] = ..., num_running_inputs: _Optional[int] = ...) -> None: ...

class FunctionUpdateAutoscalerRequest(_message.Message):
    __slots__ = ("function_id", "min_containers", "max_containers", "buffer_containers", "scaledown_window_s", "fields")
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    BUFFER_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    SCALEDOWN_WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    min_containers: int
    max_containers: int
    buffer_containers: int
    scaledown_window_s: float
    fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, function_id: _Optional[str] = ..., min_containers: _Optional[int] = ..., max_containers: _Optional[int] = ..., buffer_containers: _Optional[int] = ..., scaledown_window_s: _Optional[float] = ..., fields: _Optional[_Iterable[str]] = ...) -> None: ...

class ContainerListRequest(_message.Message):
    __slots__ = ("app_id",)
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    def __init__(self, app_id: _Optional[str] = ...) -> None: ...

class ContainerInfo(_message.Message):
    __slots__ = ("container_id", "app_id", "function_name", "worker_id", "state", "created_at", "stopped_at", "exit_reason", "timings", "runtime", "web_address", "web_requests")
    class TimingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STOPPED_AT_FIELD_NUMBER: _ClassVar[int]
    EXIT_REASON_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    WEB_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    WEB_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    app_id: str
    function_name: str
    worker_id: str
    state: str
    created_at: float
    stopped_at: float
    exit_reason: str
    timings: _containers.ScalarMap[str, float]
    runtime: str
    web_address: str
    web_requests: int
    def __init__(self, container_id: _Optional[str] = ..., app_id: _Optional[str] = ..., function_name: _Optional[str] = ..., worker_id: _Optional[str] = ..., state: _Optional[str] = ..., created_at: _Optional[float] = ..., stopped_at: _Optional[float] = ..., exit_reason: _Optional[str] = ..., timings: _Optional[_Mapping[str, float]] = ..., runtime: _Optional[str] = ..., web_address: _Optional[str] = ..., web_requests: _Optional[int] = ...) -> None: ...

class ContainerListResponse(_message.Message):
    __slots__ = ("containers",)
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    containers: _containers.RepeatedCompositeFieldContainer[ContainerInfo]
    def __init__(self, containers: _Optional[_Iterable[_Union[ContainerInfo, _Mapping]]] = ...) -> None: ...

class ContainerStopRequest(_message.Message):
    __slots__ = ("container_id",)
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    def __init__(self, container_id: _Optional[str] = ...) -> None: ...

class ServerInfoResponse(_message.Message):
    __slots__ = ("version", "workers")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    version: str
    workers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, version: _Optional[str] = ..., workers: _Optional[_Iterable[str]] = ...) -> None: ...

class ImageBuildRequest(_message.Message):
    __slots__ = ("recipe_json", "force", "registry_secret_id")
    RECIPE_JSON_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_SECRET_ID_FIELD_NUMBER: _ClassVar[int]
    recipe_json: str
    force: bool
    registry_secret_id: str
    def __init__(self, recipe_json: _Optional[str] = ..., force: _Optional[bool] = ..., registry_secret_id: _Optional[str] = ...) -> None: ...

class ImageBuildEvent(_message.Message):
    __slots__ = ("log", "done", "error")
    LOG_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    log: str
    done: ImageInfo
    error: str
    def __init__(self, log: _Optional[str] = ..., done: _Optional[_Union[ImageInfo, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...

class ImageInfo(_message.Message):
    __slots__ = ("image_id", "status", "description", "layer_ids", "size_bytes", "created_at", "built_at", "python_version", "cached", "build_s")
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LAYER_IDS_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    BUILT_AT_FIELD_NUMBER: _ClassVar[int]
    PYTHON_VERSION_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    BUILD_S_FIELD_NUMBER: _ClassVar[int]
    image_id: str
    status: str
    description: str
    layer_ids: _containers.RepeatedScalarFieldContainer[str]
    size_bytes: int
    created_at: float
    built_at: float
    python_version: str
    cached: bool
    build_s: float
    def __init__(self, image_id: _Optional[str] = ..., status: _Optional[str] = ..., description: _Optional[str] = ..., layer_ids: _Optional[_Iterable[str]] = ..., size_bytes: _Optional[int] = ..., created_at: _Optional[float] = ..., built_at: _Optional[float] = ..., python_version: _Optional[str] = ..., cached: _Optional[bool] = ..., build_s: _Optional[float] = ...) -> None: ...

class ImageListResponse(_message.Message):
    __slots__ = ("images",)
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[ImageInfo]
    def __init__(self, images: _Optional[_Iterable[_Union[ImageInfo, _Mapping]]] = ...) -> None: ...

class ImageGetRequest(_message.Message):
    __slots__ = ("image_id",)
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    image_id: str
    def __init__(self, image_id: _Optional[str] = ...) -> None: ...

class ImageGcResponse(_message.Message):
    __slots__ = ("removed_image_ids", "removed_layer_ids", "freed_bytes")
    REMOVED_IMAGE_IDS_FIELD_NUMBER: _ClassVar[int]
    REMOVED_LAYER_IDS_FIELD_NUMBER: _ClassVar[int]
    FREED_BYTES_FIELD_NUMBER: _ClassVar[int]
    removed_image_ids: _containers.RepeatedScalarFieldContainer[str]
    removed_layer_ids: _containers.RepeatedScalarFieldContainer[str]
    freed_bytes: int
    def __init__(self, removed_image_ids: _Optional[_Iterable[str]] = ..., removed_layer_ids: _Optional[_Iterable[str]] = ..., freed_bytes: _Optional[int] = ...) -> None: ...
