from solverd.v1 import chunks_pb2 as _chunks_pb2
from solverd.v1 import linear_pb2 as _linear_pb2
from solverd.v1 import tensor_pb2 as _tensor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CompletionMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPLETION_METHOD_ALTMIN: _ClassVar[CompletionMethod]
    COMPLETION_METHOD_SOFTIMPUTE_ALS: _ClassVar[CompletionMethod]

class RowSolver(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROW_SOLVER_AUTO: _ClassVar[RowSolver]
    ROW_SOLVER_EXACT: _ClassVar[RowSolver]
    ROW_SOLVER_SKETCH: _ClassVar[RowSolver]

class Centering(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CENTERING_NONE: _ClassVar[Centering]
    CENTERING_GLOBAL: _ClassVar[Centering]
    CENTERING_BIASES: _ClassVar[Centering]
COMPLETION_METHOD_ALTMIN: CompletionMethod
COMPLETION_METHOD_SOFTIMPUTE_ALS: CompletionMethod
ROW_SOLVER_AUTO: RowSolver
ROW_SOLVER_EXACT: RowSolver
ROW_SOLVER_SKETCH: RowSolver
CENTERING_NONE: Centering
CENTERING_GLOBAL: Centering
CENTERING_BIASES: Centering

class CompleteRequest(_message.Message):
    __slots__ = ("shape", "rows", "cols", "values", "rank", "method", "reg", "row_solver", "center", "bias_reg", "seed", "tol", "atol", "max_iterations", "holdout_fraction", "test_rows", "test_cols", "test_values", "predict_rows", "predict_cols", "sketch_size", "sketch_steps", "device")
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    REG_FIELD_NUMBER: _ClassVar[int]
    ROW_SOLVER_FIELD_NUMBER: _ClassVar[int]
    CENTER_FIELD_NUMBER: _ClassVar[int]
    BIAS_REG_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    TOL_FIELD_NUMBER: _ClassVar[int]
    ATOL_FIELD_NUMBER: _ClassVar[int]
    MAX_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_FRACTION_FIELD_NUMBER: _ClassVar[int]
    TEST_ROWS_FIELD_NUMBER: _ClassVar[int]
    TEST_COLS_FIELD_NUMBER: _ClassVar[int]
    TEST_VALUES_FIELD_NUMBER: _ClassVar[int]
    PREDICT_ROWS_FIELD_NUMBER: _ClassVar[int]
    PREDICT_COLS_FIELD_NUMBER: _ClassVar[int]
    SKETCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    SKETCH_STEPS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    rows: _tensor_pb2.Tensor
    cols: _tensor_pb2.Tensor
    values: _tensor_pb2.Tensor
    rank: int
    method: CompletionMethod
    reg: float
    row_solver: RowSolver
    center: Centering
    bias_reg: float
    seed: int
    tol: float
    atol: float
    max_iterations: int
    holdout_fraction: float
    test_rows: _tensor_pb2.Tensor
    test_cols: _tensor_pb2.Tensor
    test_values: _tensor_pb2.Tensor
    predict_rows: _tensor_pb2.Tensor
    predict_cols: _tensor_pb2.Tensor
    sketch_size: int
    sketch_steps: int
    device: _linear_pb2.Device
    def __init__(self, shape: _Optional[_Iterable[int]] = ..., rows: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., cols: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., values: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., rank: _Optional[int] = ..., method: _Optional[_Union[CompletionMethod, str]] = ..., reg: _Optional[float] = ..., row_solver: _Optional[_Union[RowSolver, str]] = ..., center: _Optional[_Union[Centering, str]] = ..., bias_reg: _Optional[float] = ..., seed: _Optional[int] = ..., tol: _Optional[float] = ..., atol: _Optional[float] = ..., max_iterations: _Optional[int] = ..., holdout_fraction: _Optional[float] = ..., test_rows: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., test_cols: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., test_values: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., predict_rows: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., predict_cols: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., sketch_size: _Optional[int] = ..., sketch_steps: _Optional[int] = ..., device: _Optional[_Union[_linear_pb2.Device, str]] = ...) -> None: ...

class CompleteResponse(_message.Message):
    __slots__ = ("u", "v", "singular_values", "global_mean", "row_bias", "col_bias", "train_rmse", "holdout_rmse", "round_seconds", "iterations", "converged", "stop_reason", "method", "row_solver", "init_seconds", "holdout_count", "predictions", "info", "reg")
    U_FIELD_NUMBER: _ClassVar[int]
    V_FIELD_NUMBER: _ClassVar[int]
    SINGULAR_VALUES_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_MEAN_FIELD_NUMBER: _ClassVar[int]
    ROW_BIAS_FIELD_NUMBER: _ClassVar[int]
    COL_BIAS_FIELD_NUMBER: _ClassVar[int]
    TRAIN_RMSE_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_RMSE_FIELD_NUMBER: _ClassVar[int]
    ROUND_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    CONVERGED_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    ROW_SOLVER_FIELD_NUMBER: _ClassVar[int]
    INIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_COUNT_FIELD_NUMBER: _ClassVar[int]
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    REG_FIELD_NUMBER: _ClassVar[int]
    u: _tensor_pb2.Tensor
    v: _tensor_pb2.Tensor
    singular_values: _tensor_pb2.Tensor
    global_mean: float
    row_bias: _tensor_pb2.Tensor
    col_bias: _tensor_pb2.Tensor
    train_rmse: _containers.RepeatedScalarFieldContainer[float]
    holdout_rmse: _containers.RepeatedScalarFieldContainer[float]
    round_seconds: _containers.RepeatedScalarFieldContainer[float]
    iterations: int
    converged: bool
    stop_reason: str
    method: CompletionMethod
    row_solver: str
    init_seconds: float
    holdout_count: int
    predictions: _tensor_pb2.Tensor
    info: _linear_pb2.SolveInfo
    reg: float
    def __init__(self, u: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., v: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., singular_values: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., global_mean: _Optional[float] = ..., row_bias: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., col_bias: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., train_rmse: _Optional[_Iterable[float]] = ..., holdout_rmse: _Optional[_Iterable[float]] = ..., round_seconds: _Optional[_Iterable[float]] = ..., iterations: _Optional[int] = ..., converged: _Optional[bool] = ..., stop_reason: _Optional[str] = ..., method: _Optional[_Union[CompletionMethod, str]] = ..., row_solver: _Optional[str] = ..., init_seconds: _Optional[float] = ..., holdout_count: _Optional[int] = ..., predictions: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., info: _Optional[_Union[_linear_pb2.SolveInfo, _Mapping]] = ..., reg: _Optional[float] = ...) -> None: ...
