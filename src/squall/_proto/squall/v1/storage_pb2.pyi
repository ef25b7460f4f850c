from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StorageEmpty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ObjectGetOrCreateRequest(_message.Message):
    __slots__ = ("name", "create_if_missing", "ephemeral")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATE_IF_MISSING_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_FIELD_NUMBER: _ClassVar[int]
    name: str
    create_if_missing: bool
    ephemeral: bool
    def __init__(self, name: _Optional[str] = ..., create_if_missing: _Optional[bool] = ..., ephemeral: _Optional[bool] = ...) -> None: ...

class ObjectGetOrCreateResponse(_message.Message):
    __slots__ = ("object_id",)
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    object_id: str
    def __init__(self, object_id: _Optional[str] = ...) -> None: ...

class ObjectDeleteRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ObjectInfo(_message.Message):
    __slots__ = ("object_id", "name", "created_at", "num_items", "num_partitions")
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    NUM_ITEMS_FIELD_NUMBER: _ClassVar[int]
    NUM_PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    object_id: str
    name: str
    created_at: float
    num_items: int
    num_partitions: int
    def __init__(self, object_id: _Optional[str] = ..., name: _Optional[str] = ..., created_at: _Optional[float] = ..., num_items: _Optional[int] = ..., num_partitions: _Optional[int] = ...) -> None: ...

class ObjectListResponse(_message.Message):
    __slots__ = ("objects",)
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    objects: _containers.RepeatedCompositeFieldContainer[ObjectInfo]
    def __init__(self, objects: _Optional[_Iterable[_Union[ObjectInfo, _Mapping]]] = ...) -> None: ...

class LenResponse(_message.Message):
    __slots__ = ("len",)
    LEN_FIELD_NUMBER: _ClassVar[int]
    len: int
    def __init__(self, len: _Optional[int] = ...) -> None: ...

class DictEntry(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    value: bytes
    def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ...) -> None: ...

class DictKeyRequest(_message.Message):
    __slots__ = ("dict_id", "key")
    DICT_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    dict_id: str
    key: bytes
    def __init__(self, dict_id: _Optional[str] = ..., key: _Optional[bytes] = ...) -> None: ...

class DictGetResponse(_message.Message):
    __slots__ = ("found", "value")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    found: bool
    value: bytes
    def __init__(self, found: _Optional[bool] = ..., value: _Optional[bytes] = ...) -> None: ...

class DictContainsResponse(_message.Message):
    __slots__ = ("found",)
    FOUND_FIELD_NUMBER: _ClassVar[int]
    found: bool
    def __init__(self, found: _Optional[bool] = ...) -> None: ...

class DictPutRequest(_message.Message):
    __slots__ = ("dict_id", "entries", "skip_if_exists")
    DICT_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    SKIP_IF_EXISTS_FIELD_NUMBER: _ClassVar[int]
    dict_id: str
    entries: _containers.RepeatedCompositeFieldContainer[DictEntry]
    skip_if_exists: bool
    def __init__(self, dict_id: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[DictEntry, _Mapping]]] = ..., skip_if_exists: _Optional[bool] = ...) -> None: ...

class DictPutResponse(_message.Message):
    __slots__ = ("created",)
    CREATED_FIELD_NUMBER: _ClassVar[int]
    created: bool
    def __init__(self, created: _Optional[bool] = ...) -> None: ...

class DictLenRequest(_message.Message):
    __slots__ = ("dict_id",)
    DICT_ID_FIELD_NUMBER: _ClassVar[int]
    dict_id: str
    def __init__(self, dict_id: _Optional[str] = ...) -> None: ...

class DictClearRequest(_message.Message):
    __slots__ = ("dict_id",)
    DICT_ID_FIELD_NUMBER: _ClassVar[int]
    dict_id: str
    def __init__(self, dict_id: _Optional[str] = ...) -> None: ...

class DictContentsRequest(_message.Message):
    __slots__ = ("dict_id", "after_seq", "limit", "keys", "values")
    DICT_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    dict_id: str
    after_seq: int
    limit: int
    keys: bool
    values: bool
    def __init__(self, dict_id: _Optional[str] = ..., after_seq: _Optional[int] = ..., limit: _Optional[int] = ..., keys: _Optional[bool] = ..., values: _Optional[bool] = ...) -> None: ...

class DictContentsResponse(_message.Message):
    __slots__ = ("entries", "last_seq", "done")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[DictEntry]
    last_seq: int
    done: bool
    def __init__(self, entries: _Optional[_Iterable[_Union[DictEntry, _Mapping]]] = ..., last_seq: _Optional[int] = ..., done: _Optional[bool] = ...) -> None: ...

class QueuePutRequest(_message.Message):
    __slots__ = ("queue_id", "partition", "values", "wait_s")
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    WAIT_S_FIELD_NUMBER: _ClassVar[int]
    queue_id: str
    partition: str
    values: _containers.RepeatedScalarFieldContainer[bytes]
    wait_s: float
    def __init__(self, queue_id: _Optional[str] = ..., partition: _Optional[str] = ..., values: _Optional[_Iterable[bytes]] = ..., wait_s: _Optional[float] = ...) -> None: ...

class QueueGetRequest(_message.Message):
    __slots__ = ("queue_id", "partition", "n_values", "wait_s")
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    N_VALUES_FIELD_NUMBER: _ClassVar[int]
    WAIT_S_FIELD_NUMBER: _ClassVar[int]
    queue_id: str
    partition: str
    n_values: int
    wait_s: float
    def __init__(self, queue_id: _Optional[str] = ..., partition: _Optional[str] = ..., n_values: _Optional[int] = ..., wait_s: _Optional[float] = ...) -> None: ...

class QueueGetResponse(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, values: _Optional[_Iterable[bytes]] = ...) -> None: ...

class QueuePeekRequest(_message.Message):
    __slots__ = ("queue_id", "partition", "n_values")
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    N_VALUES_FIELD_NUMBER: _ClassVar[int]
    queue_id: str
    partition: str
    n_values: int
    def __init__(self, queue_id: _Optional[str] = ..., partition: _Optional[str] = ..., n_values: _Optional[int] = ...) -> None: ...

class QueueLenRequest(_message.Message):
    __slots__ = ("queue_id", "partition", "total")
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    queue_id: str
    partition: str
    total: bool
    def __init__(self, queue_id: _Optional[str] = ..., partition: _Optional[str] = ..., total: _Optional[bool] = ...) -> None: ...

class QueueClearRequest(_message.Message):
    __slots__ = ("queue_id", "partition", "all")
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    queue_id: str
    partition: str
    all: bool
    def __init__(self, queue_id: _Optional[str] = ..., partition: _Optional[str] = ..., all: _Optional[bool] = ...) -> None: ...

class SecretGetOrCreateRequest(_message.Message):
    __slots__ = ("name", "env_dict", "ephemeral", "overwrite", "required_keys")
    class EnvDictEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENV_DICT_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_KEYS_FIELD_NUMBER: _ClassVar[int]
    name: str
    env_dict: _containers.ScalarMap[str, str]
    ephemeral: bool
    overwrite: bool
    required_keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., env_dict: _Optional[_Mapping[str, str]] = ..., ephemeral: _Optional[bool] = ..., overwrite: _Optional[bool] = ..., required_keys: _Optional[_Iterable[str]] = ...) -> None: ...

class SecretInfo(_message.Message):
    __slots__ = ("object_id", "name", "created_at", "keys")
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    object_id: str
    name: str
    created_at: float
    keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, object_id: _Optional[str] = ..., name: _Optional[str] = ..., created_at: _Optional[float] = ..., keys: _Optional[_Iterable[str]] = ...) -> None: ...

class SecretListResponse(_message.Message):
    __slots__ = ("secrets",)
    SECRETS_FIELD_NUMBER: _ClassVar[int]
    secrets: _containers.RepeatedCompositeFieldContainer[SecretInfo]
    def __init__(self, secrets: _Optional[_Iterable[_Union[SecretInfo, _Mapping]]] = ...) -> None: ...
