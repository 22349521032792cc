from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Backend(_message.Message):
    __slots__ = ("name", "available", "device", "memory_total_bytes", "memory_free_bytes", "versions", "reason", "preconditioners", "workers")
    class VersionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PRECONDITIONERS_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    available: bool
    device: str
    memory_total_bytes: int
    memory_free_bytes: int
    versions: _containers.ScalarMap[str, str]
    reason: str
    preconditioners: _containers.RepeatedScalarFieldContainer[str]
    workers: int
    def __init__(self, name: _Optional[str] = ..., available: _Optional[bool] = ..., device: _Optional[str] = ..., memory_total_bytes: _Optional[int] = ..., memory_free_bytes: _Optional[int] = ..., versions: _Optional[_Mapping[str, str]] = ..., reason: _Optional[str] = ..., preconditioners: _Optional[_Iterable[str]] = ..., workers: _Optional[int] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_message_bytes", "max_rows", "max_nonzeros", "max_dense_rows", "max_rhs", "max_iterations", "max_restart", "max_solve_seconds", "max_queue", "max_batch", "max_transport_entries", "max_upload_bytes", "max_inflight", "max_state_numbers", "stream_idle_seconds", "max_factor_bytes")
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_ROWS_FIELD_NUMBER: _ClassVar[int]
    MAX_NONZEROS_FIELD_NUMBER: _ClassVar[int]
    MAX_DENSE_ROWS_FIELD_NUMBER: _ClassVar[int]
    MAX_RHS_FIELD_NUMBER: _ClassVar[int]
    MAX_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_RESTART_FIELD_NUMBER: _ClassVar[int]
    MAX_SOLVE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    MAX_TRANSPORT_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    MAX_UPLOAD_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_INFLIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_STATE_NUMBERS_FIELD_NUMBER: _ClassVar[int]
    STREAM_IDLE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_FACTOR_BYTES_FIELD_NUMBER: _ClassVar[int]
    max_message_bytes: int
    max_rows: int
    max_nonzeros: int
    max_dense_rows: int
    max_rhs: int
    max_iterations: int
    max_restart: int
    max_solve_seconds: float
    max_queue: int
    max_batch: int
    max_transport_entries: int
    max_upload_bytes: int
    max_inflight: int
    max_state_numbers: int
    stream_idle_seconds: float
    max_factor_bytes: int
    def __init__(self, max_message_bytes: _Optional[int] = ..., max_rows: _Optional[int] = ..., max_nonzeros: _Optional[int] = ..., max_dense_rows: _Optional[int] = ..., max_rhs: _Optional[int] = ..., max_iterations: _Optional[int] = ..., max_restart: _Optional[int] = ..., max_solve_seconds: _Optional[float] = ..., max_queue: _Optional[int] = ..., max_batch: _Optional[int] = ..., max_transport_entries: _Optional[int] = ..., max_upload_bytes: _Optional[int] = ..., max_inflight: _Optional[int] = ..., max_state_numbers: _Optional[int] = ..., stream_idle_seconds: _Optional[float] = ..., max_factor_bytes: _Optional[int] = ...) -> None: ...

class GetInfoResponse(_message.Message):
    __slots__ = ("version", "default_device", "backends", "limits", "methods", "blas_threads")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_DEVICE_FIELD_NUMBER: _ClassVar[int]
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    BLAS_THREADS_FIELD_NUMBER: _ClassVar[int]
    version: str
    default_device: str
    backends: _containers.RepeatedCompositeFieldContainer[Backend]
    limits: Limits
    methods: _containers.RepeatedScalarFieldContainer[str]
    blas_threads: int
    def __init__(self, version: _Optional[str] = ..., default_device: _Optional[str] = ..., backends: _Optional[_Iterable[_Union[Backend, _Mapping]]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., methods: _Optional[_Iterable[str]] = ..., blas_threads: _Optional[int] = ...) -> None: ...
