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

class TransportMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSPORT_METHOD_AUTO: _ClassVar[TransportMethod]
    TRANSPORT_METHOD_SINKHORN: _ClassVar[TransportMethod]
    TRANSPORT_METHOD_SINKHORN_EPS: _ClassVar[TransportMethod]
    TRANSPORT_METHOD_SNS: _ClassVar[TransportMethod]
    TRANSPORT_METHOD_EXACT: _ClassVar[TransportMethod]

class CostMetric(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COST_METRIC_SQEUCLIDEAN: _ClassVar[CostMetric]
    COST_METRIC_EUCLIDEAN: _ClassVar[CostMetric]
    COST_METRIC_CITYBLOCK: _ClassVar[CostMetric]

class CostScale(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COST_SCALE_NONE: _ClassVar[CostScale]
    COST_SCALE_MAX: _ClassVar[CostScale]
    COST_SCALE_MEAN: _ClassVar[CostScale]

class PlanForm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PLAN_FORM_DENSE: _ClassVar[PlanForm]
    PLAN_FORM_SPARSE: _ClassVar[PlanForm]
    PLAN_FORM_NONE: _ClassVar[PlanForm]
TRANSPORT_METHOD_AUTO: TransportMethod
TRANSPORT_METHOD_SINKHORN: TransportMethod
TRANSPORT_METHOD_SINKHORN_EPS: TransportMethod
TRANSPORT_METHOD_SNS: TransportMethod
TRANSPORT_METHOD_EXACT: TransportMethod
COST_METRIC_SQEUCLIDEAN: CostMetric
COST_METRIC_EUCLIDEAN: CostMetric
COST_METRIC_CITYBLOCK: CostMetric
COST_SCALE_NONE: CostScale
COST_SCALE_MAX: CostScale
COST_SCALE_MEAN: CostScale
PLAN_FORM_DENSE: PlanForm
PLAN_FORM_SPARSE: PlanForm
PLAN_FORM_NONE: PlanForm

class TransportRequest(_message.Message):
    __slots__ = ("a", "b", "cost", "x", "y", "metric", "scale", "reg", "method", "tol", "max_iterations", "reg_m", "plan", "plan_threshold", "device", "exact_potentials", "sparse_cost")
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    REG_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    TOL_FIELD_NUMBER: _ClassVar[int]
    MAX_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    REG_M_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    PLAN_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    EXACT_POTENTIALS_FIELD_NUMBER: _ClassVar[int]
    SPARSE_COST_FIELD_NUMBER: _ClassVar[int]
    a: _tensor_pb2.Tensor
    b: _tensor_pb2.Tensor
    cost: _tensor_pb2.Tensor
    x: _tensor_pb2.Tensor
    y: _tensor_pb2.Tensor
    metric: CostMetric
    scale: CostScale
    reg: float
    method: TransportMethod
    tol: float
    max_iterations: int
    reg_m: float
    plan: PlanForm
    plan_threshold: float
    device: _linear_pb2.Device
    exact_potentials: bool
    sparse_cost: _tensor_pb2.CooMatrix
    def __init__(self, a: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., b: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., cost: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., x: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., y: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., metric: _Optional[_Union[CostMetric, str]] = ..., scale: _Optional[_Union[CostScale, str]] = ..., reg: _Optional[float] = ..., method: _Optional[_Union[TransportMethod, str]] = ..., tol: _Optional[float] = ..., max_iterations: _Optional[int] = ..., reg_m: _Optional[float] = ..., plan: _Optional[_Union[PlanForm, str]] = ..., plan_threshold: _Optional[float] = ..., device: _Optional[_Union[_linear_pb2.Device, str]] = ..., exact_potentials: _Optional[bool] = ..., sparse_cost: _Optional[_Union[_tensor_pb2.CooMatrix, _Mapping]] = ...) -> None: ...

class TransportPlan(_message.Message):
    __slots__ = ("dense", "sparse", "dropped_mass")
    DENSE_FIELD_NUMBER: _ClassVar[int]
    SPARSE_FIELD_NUMBER: _ClassVar[int]
    DROPPED_MASS_FIELD_NUMBER: _ClassVar[int]
    dense: _tensor_pb2.Tensor
    sparse: _tensor_pb2.CooMatrix
    dropped_mass: float
    def __init__(self, dense: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., sparse: _Optional[_Union[_tensor_pb2.CooMatrix, _Mapping]] = ..., dropped_mass: _Optional[float] = ...) -> None: ...

class TransportResult(_message.Message):
    __slots__ = ("cost", "objective", "f", "g", "plan", "marginal_error_a", "marginal_error_b", "method", "converged", "stop_reason", "sinkhorn_iterations", "newton_iterations", "cg_iterations", "lp_rounds", "cost_scale", "compute_seconds", "simplex_pivots")
    COST_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    F_FIELD_NUMBER: _ClassVar[int]
    G_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    MARGINAL_ERROR_A_FIELD_NUMBER: _ClassVar[int]
    MARGINAL_ERROR_B_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    CONVERGED_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    SINKHORN_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    NEWTON_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    CG_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    LP_ROUNDS_FIELD_NUMBER: _ClassVar[int]
    COST_SCALE_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SIMPLEX_PIVOTS_FIELD_NUMBER: _ClassVar[int]
    cost: float
    objective: float
    f: _tensor_pb2.Tensor
    g: _tensor_pb2.Tensor
    plan: TransportPlan
    marginal_error_a: float
    marginal_error_b: float
    method: TransportMethod
    converged: bool
    stop_reason: str
    sinkhorn_iterations: int
    newton_iterations: int
    cg_iterations: int
    lp_rounds: int
    cost_scale: float
    compute_seconds: float
    simplex_pivots: int
    def __init__(self, cost: _Optional[float] = ..., objective: _Optional[float] = ..., f: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., g: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., plan: _Optional[_Union[TransportPlan, _Mapping]] = ..., marginal_error_a: _Optional[float] = ..., marginal_error_b: _Optional[float] = ..., method: _Optional[_Union[TransportMethod, str]] = ..., converged: _Optional[bool] = ..., stop_reason: _Optional[str] = ..., sinkhorn_iterations: _Optional[int] = ..., newton_iterations: _Optional[int] = ..., cg_iterations: _Optional[int] = ..., lp_rounds: _Optional[int] = ..., cost_scale: _Optional[float] = ..., compute_seconds: _Optional[float] = ..., simplex_pivots: _Optional[int] = ...) -> None: ...

class TransportResponse(_message.Message):
    __slots__ = ("results", "info")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[TransportResult]
    info: _linear_pb2.SolveInfo
    def __init__(self, results: _Optional[_Iterable[_Union[TransportResult, _Mapping]]] = ..., info: _Optional[_Union[_linear_pb2.SolveInfo, _Mapping]] = ...) -> None: ...
