from squall._proto.squall.v1 import api_pb2 as _api_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VolumeEntryKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VOLUME_ENTRY_KIND_UNSPECIFIED: _ClassVar[VolumeEntryKind]
    FILE: _ClassVar[VolumeEntryKind]
    DIRECTORY: _ClassVar[VolumeEntryKind]
    SYMLINK: _ClassVar[VolumeEntryKind]
VOLUME_ENTRY_KIND_UNSPECIFIED: VolumeEntryKind
FILE: VolumeEntryKind
DIRECTORY: VolumeEntryKind
SYMLINK: VolumeEntryKind

class VolumeEmpty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VolumeGetOrCreateRequest(_message.Message):
    __slots__ = ("name", "create_if_missing", "ephemeral")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATE_IF_MISSING_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_FIELD_NUMBER: _ClassVar[int]
    name: str
    create_if_missing: bool
    ephemeral: bool
    def __init__(self, name: _Optional[str] = ..., create_if_missing: _Optional[bool] = ..., ephemeral: _Optional[bool] = ...) -> None: ...

class VolumeGetOrCreateResponse(_message.Message):
    __slots__ = ("volume_id", "version")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    version: int
    def __init__(self, volume_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class VolumeDeleteRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class VolumeInfo(_message.Message):
    __slots__ = ("volume_id", "name", "created_at", "version", "num_files", "size_bytes", "committed_at")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NUM_FILES_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    name: str
    created_at: float
    version: int
    num_files: int
    size_bytes: int
    committed_at: float
    def __init__(self, volume_id: _Optional[str] = ..., name: _Optional[str] = ..., created_at: _Optional[float] = ..., version: _Optional[int] = ..., num_files: _Optional[int] = ..., size_bytes: _Optional[int] = ..., committed_at: _Optional[float] = ...) -> None: ...

class VolumeListResponse(_message.Message):
    __slots__ = ("volumes",)
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    volumes: _containers.RepeatedCompositeFieldContainer[VolumeInfo]
    def __init__(self, volumes: _Optional[_Iterable[_Union[VolumeInfo, _Mapping]]] = ...) -> None: ...

class VolumeEntry(_message.Message):
    __slots__ = ("path", "kind", "mode", "size", "chunks", "mtime", "link_target")
    PATH_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    MTIME_FIELD_NUMBER: _ClassVar[int]
    LINK_TARGET_FIELD_NUMBER: _ClassVar[int]
    path: str
    kind: VolumeEntryKind
    mode: int
    size: int
    chunks: _containers.RepeatedScalarFieldContainer[str]
    mtime: float
    link_target: str
    def __init__(self, path: _Optional[str] = ..., kind: _Optional[_Union[VolumeEntryKind, str]] = ..., mode: _Optional[int] = ..., size: _Optional[int] = ..., chunks: _Optional[_Iterable[str]] = ..., mtime: _Optional[float] = ..., link_target: _Optional[str] = ...) -> None: ...

class VolumeGetManifestRequest(_message.Message):
    __slots__ = ("volume_id", "version")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    version: int
    def __init__(self, volume_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class VolumeManifest(_message.Message):
    __slots__ = ("volume_id", "version", "entries")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    version: int
    entries: _containers.RepeatedCompositeFieldContainer[VolumeEntry]
    def __init__(self, volume_id: _Optional[str] = ..., version: _Optional[int] = ..., entries: _Optional[_Iterable[_Union[VolumeEntry, _Mapping]]] = ...) -> None: ...

class VolumeCommitRequest(_message.Message):
    __slots__ = ("volume_id", "puts", "removes", "no_overwrite", "require_removes_exist")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    PUTS_FIELD_NUMBER: _ClassVar[int]
    REMOVES_FIELD_NUMBER: _ClassVar[int]
    NO_OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_REMOVES_EXIST_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    puts: _containers.RepeatedCompositeFieldContainer[VolumeEntry]
    removes: _containers.RepeatedScalarFieldContainer[str]
    no_overwrite: bool
    require_removes_exist: bool
    def __init__(self, volume_id: _Optional[str] = ..., puts: _Optional[_Iterable[_Union[VolumeEntry, _Mapping]]] = ..., removes: _Optional[_Iterable[str]] = ..., no_overwrite: _Optional[bool] = ..., require_removes_exist: _Optional[bool] = ...) -> None: ...

class VolumeCommitResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class VolumeGetFileRequest(_message.Message):
    __slots__ = ("volume_id", "path", "version")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    path: str
    version: int
    def __init__(self, volume_id: _Optional[str] = ..., path: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class BlobMissingRequest(_message.Message):
    __slots__ = ("digests",)
    DIGESTS_FIELD_NUMBER: _ClassVar[int]
    digests: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, digests: _Optional[_Iterable[str]] = ...) -> None: ...

class BlobMissingResponse(_message.Message):
    __slots__ = ("missing",)
    MISSING_FIELD_NUMBER: _ClassVar[int]
    missing: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, missing: _Optional[_Iterable[str]] = ...) -> None: ...

class VolumeAgentRequest(_message.Message):
    __slots__ = ("volume",)
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    volume: str
    def __init__(self, volume: _Optional[str] = ...) -> None: ...

class VolumeAgentResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...
