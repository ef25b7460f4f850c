from squall._proto.squall.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ContainerHelloRequest(_message.Message):
    __slots__ = ("timings", "init_failed", "init_result", "web_port")
    class TimingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    INIT_FAILED_FIELD_NUMBER: _ClassVar[int]
    INIT_RESULT_FIELD_NUMBER: _ClassVar[int]
    WEB_PORT_FIELD_NUMBER: _ClassVar[int]
    timings: _containers.ScalarMap[str, float]
    init_failed: bool
    init_result: _common_pb2.Result
    web_port: int
    def __init__(self, timings: _Optional[_Mapping[str, float]] = ..., init_failed: _Optional[bool] = ..., init_result: _Optional[_Union[_common_pb2.Result, _Mapping]] = ..., web_port: _Optional[int] = ...) -> None: ...

class ContainerHelloResponse(_message.Message):
    __slots__ = ("container_id", "function_id", "definition")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    function_id: str
    definition: _common_pb2.FunctionDefinition
    def __init__(self, container_id: _Optional[str] = ..., function_id: _Optional[str] = ..., definition: _Optional[_Union[_common_pb2.FunctionDefinition, _Mapping]] = ...) -> None: ...

class GetInputsRequest(_message.Message):
    __slots__ = ("max", "wait_s", "outputs")
    MAX_FIELD_NUMBER: _ClassVar[int]
    WAIT_S_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    max: int
    wait_s: float
    outputs: _containers.RepeatedCompositeFieldContainer[_common_pb2.Output]
    def __init__(self, max: _Optional[int] = ..., wait_s: _Optional[float] = ..., outputs: _Optional[_Iterable[_Union[_common_pb2.Output, _Mapping]]] = ...) -> None: ...

class GetInputsResponse(_message.Message):
    __slots__ = ("inputs", "shutdown", "cancelled_input_ids")
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    SHUTDOWN_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_INPUT_IDS_FIELD_NUMBER: _ClassVar[int]
    inputs: _containers.RepeatedCompositeFieldContainer[_common_pb2.Input]
    shutdown: bool
    cancelled_input_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, inputs: _Optional[_Iterable[_Union[_common_pb2.Input, _Mapping]]] = ..., shutdown: _Optional[bool] = ..., cancelled_input_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class PutOutputsRequest(_message.Message):
    __slots__ = ("outputs",)
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    outputs: _containers.RepeatedCompositeFieldContainer[_common_pb2.Output]
    def __init__(self, outputs: _Optional[_Iterable[_Union[_common_pb2.Output, _Mapping]]] = ...) -> None: ...

class PutOutputsResponse(_message.Message):
    __slots__ = ("cancelled_input_ids",)
    CANCELLED_INPUT_IDS_FIELD_NUMBER: _ClassVar[int]
    cancelled_input_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, cancelled_input_ids: _Optional[_Iterable[str]] = ...) -> None: ...
