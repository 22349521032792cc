from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ChunkedTensor(_message.Message):
    __slots__ = ("field", "size")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    field: str
    size: int
    def __init__(self, field: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class ChunkedRequestHeader(_message.Message):
    __slots__ = ("request", "tensors")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    TENSORS_FIELD_NUMBER: _ClassVar[int]
    request: bytes
    tensors: _containers.RepeatedCompositeFieldContainer[ChunkedTensor]
    def __init__(self, request: _Optional[bytes] = ..., tensors: _Optional[_Iterable[_Union[ChunkedTensor, _Mapping]]] = ...) -> None: ...

class TensorChunk(_message.Message):
    __slots__ = ("tensor", "data")
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    tensor: int
    data: bytes
    def __init__(self, tensor: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class RequestChunk(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: ChunkedRequestHeader
    data: TensorChunk
    def __init__(self, header: _Optional[_Union[ChunkedRequestHeader, _Mapping]] = ..., data: _Optional[_Union[TensorChunk, _Mapping]] = ...) -> None: ...
