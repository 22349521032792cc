from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DTYPE_UNSPECIFIED: _ClassVar[DType]
    DTYPE_FLOAT64: _ClassVar[DType]
    DTYPE_FLOAT32: _ClassVar[DType]
    DTYPE_INT32: _ClassVar[DType]
    DTYPE_INT64: _ClassVar[DType]
DTYPE_UNSPECIFIED: DType
DTYPE_FLOAT64: DType
DTYPE_FLOAT32: DType
DTYPE_INT32: DType
DTYPE_INT64: DType

class Tensor(_message.Message):
    __slots__ = ("dtype", "shape", "data")
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    dtype: DType
    shape: _containers.RepeatedScalarFieldContainer[int]
    data: bytes
    def __init__(self, dtype: _Optional[_Union[DType, str]] = ..., shape: _Optional[_Iterable[int]] = ..., data: _Optional[bytes] = ...) -> None: ...

class CsrMatrix(_message.Message):
    __slots__ = ("shape", "indptr", "indices", "data")
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    INDPTR_FIELD_NUMBER: _ClassVar[int]
    INDICES_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    indptr: Tensor
    indices: Tensor
    data: Tensor
    def __init__(self, shape: _Optional[_Iterable[int]] = ..., indptr: _Optional[_Union[Tensor, _Mapping]] = ..., indices: _Optional[_Union[Tensor, _Mapping]] = ..., data: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...

class CooMatrix(_message.Message):
    __slots__ = ("shape", "row", "col", "data")
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    ROW_FIELD_NUMBER: _ClassVar[int]
    COL_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    row: Tensor
    col: Tensor
    data: Tensor
    def __init__(self, shape: _Optional[_Iterable[int]] = ..., row: _Optional[_Union[Tensor, _Mapping]] = ..., col: _Optional[_Union[Tensor, _Mapping]] = ..., data: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...

class Matrix(_message.Message):
    __slots__ = ("dense", "csr", "coo")
    DENSE_FIELD_NUMBER: _ClassVar[int]
    CSR_FIELD_NUMBER: _ClassVar[int]
    COO_FIELD_NUMBER: _ClassVar[int]
    dense: Tensor
    csr: CsrMatrix
    coo: CooMatrix
    def __init__(self, dense: _Optional[_Union[Tensor, _Mapping]] = ..., csr: _Optional[_Union[CsrMatrix, _Mapping]] = ..., coo: _Optional[_Union[CooMatrix, _Mapping]] = ...) -> None: ...
