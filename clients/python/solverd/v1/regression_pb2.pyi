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

class Loss(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOSS_SQUARED: _ClassVar[Loss]
    LOSS_LOGISTIC: _ClassVar[Loss]

class CoefFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COEF_DENSE: _ClassVar[CoefFormat]
    COEF_SPARSE: _ClassVar[CoefFormat]
LOSS_SQUARED: Loss
LOSS_LOGISTIC: Loss
COEF_DENSE: CoefFormat
COEF_SPARSE: CoefFormat

class RegressionProblem(_message.Message):
    __slots__ = ("x", "y", "loss", "l1_ratio", "fit_intercept", "feature_weights", "tol", "max_iterations", "coef_format", "device")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    L1_RATIO_FIELD_NUMBER: _ClassVar[int]
    FIT_INTERCEPT_FIELD_NUMBER: _ClassVar[int]
    FEATURE_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    TOL_FIELD_NUMBER: _ClassVar[int]
    MAX_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    COEF_FORMAT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    x: _tensor_pb2.Matrix
    y: _tensor_pb2.Tensor
    loss: Loss
    l1_ratio: float
    fit_intercept: bool
    feature_weights: _tensor_pb2.Tensor
    tol: float
    max_iterations: int
    coef_format: CoefFormat
    device: _linear_pb2.Device
    def __init__(self, x: _Optional[_Union[_tensor_pb2.Matrix, _Mapping]] = ..., y: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., loss: _Optional[_Union[Loss, str]] = ..., l1_ratio: _Optional[float] = ..., fit_intercept: _Optional[bool] = ..., feature_weights: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., tol: _Optional[float] = ..., max_iterations: _Optional[int] = ..., coef_format: _Optional[_Union[CoefFormat, str]] = ..., device: _Optional[_Union[_linear_pb2.Device, str]] = ...) -> None: ...

class FitRequest(_message.Message):
    __slots__ = ("problem", "alpha", "coef_init")
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    COEF_INIT_FIELD_NUMBER: _ClassVar[int]
    problem: RegressionProblem
    alpha: float
    coef_init: _tensor_pb2.Tensor
    def __init__(self, problem: _Optional[_Union[RegressionProblem, _Mapping]] = ..., alpha: _Optional[float] = ..., coef_init: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...

class FitPathRequest(_message.Message):
    __slots__ = ("problem", "alphas", "n_alphas", "eps")
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    ALPHAS_FIELD_NUMBER: _ClassVar[int]
    N_ALPHAS_FIELD_NUMBER: _ClassVar[int]
    EPS_FIELD_NUMBER: _ClassVar[int]
    problem: RegressionProblem
    alphas: _containers.RepeatedScalarFieldContainer[float]
    n_alphas: int
    eps: float
    def __init__(self, problem: _Optional[_Union[RegressionProblem, _Mapping]] = ..., alphas: _Optional[_Iterable[float]] = ..., n_alphas: _Optional[int] = ..., eps: _Optional[float] = ...) -> None: ...

class FitResponse(_message.Message):
    __slots__ = ("alpha", "coef", "support_indices", "support_values", "intercept", "primal", "dual", "gap", "relative_gap", "kkt_violation", "converged", "iterations", "epochs", "newton_steps", "passes", "working_set_sizes", "screened", "classes", "index", "info")
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    COEF_FIELD_NUMBER: _ClassVar[int]
    SUPPORT_INDICES_FIELD_NUMBER: _ClassVar[int]
    SUPPORT_VALUES_FIELD_NUMBER: _ClassVar[int]
    INTERCEPT_FIELD_NUMBER: _ClassVar[int]
    PRIMAL_FIELD_NUMBER: _ClassVar[int]
    DUAL_FIELD_NUMBER: _ClassVar[int]
    GAP_FIELD_NUMBER: _ClassVar[int]
    RELATIVE_GAP_FIELD_NUMBER: _ClassVar[int]
    KKT_VIOLATION_FIELD_NUMBER: _ClassVar[int]
    CONVERGED_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    NEWTON_STEPS_FIELD_NUMBER: _ClassVar[int]
    PASSES_FIELD_NUMBER: _ClassVar[int]
    WORKING_SET_SIZES_FIELD_NUMBER: _ClassVar[int]
    SCREENED_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    alpha: float
    coef: _tensor_pb2.Tensor
    support_indices: _tensor_pb2.Tensor
    support_values: _tensor_pb2.Tensor
    intercept: float
    primal: float
    dual: float
    gap: float
    relative_gap: float
    kkt_violation: float
    converged: bool
    iterations: int
    epochs: int
    newton_steps: int
    passes: int
    working_set_sizes: _containers.RepeatedScalarFieldContainer[int]
    screened: int
    classes: _containers.RepeatedScalarFieldContainer[float]
    index: int
    info: _linear_pb2.SolveInfo
    def __init__(self, alpha: _Optional[float] = ..., coef: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., support_indices: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., support_values: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., intercept: _Optional[float] = ..., primal: _Optional[float] = ..., dual: _Optional[float] = ..., gap: _Optional[float] = ..., relative_gap: _Optional[float] = ..., kkt_violation: _Optional[float] = ..., converged: _Optional[bool] = ..., iterations: _Optional[int] = ..., epochs: _Optional[int] = ..., newton_steps: _Optional[int] = ..., passes: _Optional[int] = ..., working_set_sizes: _Optional[_Iterable[int]] = ..., screened: _Optional[int] = ..., classes: _Optional[_Iterable[float]] = ..., index: _Optional[int] = ..., info: _Optional[_Union[_linear_pb2.SolveInfo, _Mapping]] = ...) -> None: ...
