from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WebEndpoint(_message.Message):
    __slots__ = ("kind", "method", "label", "docs", "requires_proxy_auth", "port", "startup_timeout_s")
    KIND_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    DOCS_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_PROXY_AUTH_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    STARTUP_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    kind: str
    method: str
    label: str
    docs: bool
    requires_proxy_auth: bool
    port: int
    startup_timeout_s: float
    def __init__(self, kind: _Optional[str] = ..., method: _Optional[str] = ..., label: _Optional[str] = ..., docs: _Optional[bool] = ..., requires_proxy_auth: _Optional[bool] = ..., port: _Optional[int] = ..., startup_timeout_s: _Optional[float] = ...) -> None: ...

class Schedule(_message.Message):
    __slots__ = ("period_s", "cron", "timezone")
    PERIOD_S_FIELD_NUMBER: _ClassVar[int]
    CRON_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    period_s: float
    cron: str
    timezone: str
    def __init__(self, period_s: _Optional[float] = ..., cron: _Optional[str] = ..., timezone: _Optional[str] = ...) -> None: ...

class WebEmpty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WebUrlsRequest(_message.Message):
    __slots__ = ("function_ids",)
    FUNCTION_IDS_FIELD_NUMBER: _ClassVar[int]
    function_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, function_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class WebUrlsResponse(_message.Message):
    __slots__ = ("urls", "gateway_url")
    class UrlsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    URLS_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_URL_FIELD_NUMBER: _ClassVar[int]
    urls: _containers.ScalarMap[str, str]
    gateway_url: str
    def __init__(self, urls: _Optional[_Mapping[str, str]] = ..., gateway_url: _Optional[str] = ...) -> None: ...

class ProxyTokenCreateRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ProxyTokenCreateResponse(_message.Message):
    __slots__ = ("token_id", "token_secret")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_SECRET_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    token_secret: str
    def __init__(self, token_id: _Optional[str] = ..., token_secret: _Optional[str] = ...) -> None: ...

class ProxyTokenInfo(_message.Message):
    __slots__ = ("token_id", "name", "created_at")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    name: str
    created_at: float
    def __init__(self, token_id: _Optional[str] = ..., name: _Optional[str] = ..., created_at: _Optional[float] = ...) -> None: ...

class ProxyTokenListResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[ProxyTokenInfo]
    def __init__(self, tokens: _Optional[_Iterable[_Union[ProxyTokenInfo, _Mapping]]] = ...) -> None: ...

class ProxyTokenDeleteRequest(_message.Message):
    __slots__ = ("token_id",)
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    def __init__(self, token_id: _Optional[str] = ...) -> None: ...

class ScheduleListRequest(_message.Message):
    __slots__ = ("app", "max_runs")
    APP_FIELD_NUMBER: _ClassVar[int]
    MAX_RUNS_FIELD_NUMBER: _ClassVar[int]
    app: str
    max_runs: int
    def __init__(self, app: _Optional[str] = ..., max_runs: _Optional[int] = ...) -> None: ...

class ScheduleRun(_message.Message):
    __slots__ = ("function_name", "call_id", "scheduled_for", "started_at", "catch_up", "status")
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_FOR_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    CATCH_UP_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    function_name: str
    call_id: str
    scheduled_for: float
    started_at: float
    catch_up: bool
    status: str
    def __init__(self, function_name: _Optional[str] = ..., call_id: _Optional[str] = ..., scheduled_for: _Optional[float] = ..., started_at: _Optional[float] = ..., catch_up: _Optional[bool] = ..., status: _Optional[str] = ...) -> None: ...

class ScheduleInfo(_message.Message):
    __slots__ = ("app_id", "app_name", "function_name", "spec", "next_run_at", "runs")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    APP_NAME_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    NEXT_RUN_AT_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    app_name: str
    function_name: str
    spec: str
    next_run_at: float
    runs: _containers.RepeatedCompositeFieldContainer[ScheduleRun]
    def __init__(self, app_id: _Optional[str] = ..., app_name: _Optional[str] = ..., function_name: _Optional[str] = ..., spec: _Optional[str] = ..., next_run_at: _Optional[float] = ..., runs: _Optional[_Iterable[_Union[ScheduleRun, _Mapping]]] = ...) -> None: ...

class ScheduleListResponse(_message.Message):
    __slots__ = ("schedules",)
    SCHEDULES_FIELD_NUMBER: _ClassVar[int]
    schedules: _containers.RepeatedCompositeFieldContainer[ScheduleInfo]
    def __init__(self, schedules: _Optional[_Iterable[_Union[ScheduleInfo, _Mapping]]] = ...) -> None: ...
