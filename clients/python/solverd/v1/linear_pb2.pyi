from solverd.v1 import chunks_pb2 as _chunks_pb2
from solverd.v1 import tensor_pb2 as _tensor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Method(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METHOD_AUTO: _ClassVar[Method]
    METHOD_CG: _ClassVar[Method]
    METHOD_MINRES: _ClassVar[Method]
    METHOD_GMRES: _ClassVar[Method]
    METHOD_BICGSTAB: _ClassVar[Method]
    METHOD_DIRECT: _ClassVar[Method]
    METHOD_SOR: _ClassVar[Method]
    METHOD_SSOR_CG: _ClassVar[Method]
    METHOD_GCRODR: _ClassVar[Method]
    METHOD_RECYCLED_CG: _ClassVar[Method]

class Tuner(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TUNER_NONE: _ClassVar[Tuner]
    TUNER_TSALLIS_INF: _ClassVar[Tuner]
    TUNER_CHEBCB: _ClassVar[Tuner]

class Preconditioner(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRECONDITIONER_NONE: _ClassVar[Preconditioner]
    PRECONDITIONER_JACOBI: _ClassVar[Preconditioner]
    PRECONDITIONER_ILU: _ClassVar[Preconditioner]
    PRECONDITIONER_AMG: _ClassVar[Preconditioner]

class AmgKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AMG_KIND_AUTO: _ClassVar[AmgKind]
    AMG_KIND_SA: _ClassVar[AmgKind]
    AMG_KIND_AIR: _ClassVar[AmgKind]

class AmgStrength(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AMG_STRENGTH_AUTO: _ClassVar[AmgStrength]
    AMG_STRENGTH_SYMMETRIC: _ClassVar[AmgStrength]
    AMG_STRENGTH_EVOLUTION: _ClassVar[AmgStrength]
    AMG_STRENGTH_CLASSICAL: _ClassVar[AmgStrength]

class AmgSmoother(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AMG_SMOOTHER_AUTO: _ClassVar[AmgSmoother]
    AMG_SMOOTHER_GAUSS_SEIDEL: _ClassVar[AmgSmoother]
    AMG_SMOOTHER_JACOBI: _ClassVar[AmgSmoother]

class AmgCycle(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AMG_CYCLE_V: _ClassVar[AmgCycle]
    AMG_CYCLE_W: _ClassVar[AmgCycle]
    AMG_CYCLE_F: _ClassVar[AmgCycle]

class Device(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEVICE_AUTO: _ClassVar[Device]
    DEVICE_CPU: _ClassVar[Device]
    DEVICE_GPU: _ClassVar[Device]

class Precision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRECISION_AUTO: _ClassVar[Precision]
    PRECISION_FLOAT64: _ClassVar[Precision]
    PRECISION_FLOAT32: _ClassVar[Precision]

class BatchOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BATCH_ORDER_AUTO: _ClassVar[BatchOrder]
    BATCH_ORDER_INPUT: _ClassVar[BatchOrder]
    BATCH_ORDER_VALUES: _ClassVar[BatchOrder]
    BATCH_ORDER_FEATURES: _ClassVar[BatchOrder]
METHOD_AUTO: Method
METHOD_CG: Method
METHOD_MINRES: Method
METHOD_GMRES: Method
METHOD_BICGSTAB: Method
METHOD_DIRECT: Method
METHOD_SOR: Method
METHOD_SSOR_CG: Method
METHOD_GCRODR: Method
METHOD_RECYCLED_CG: Method
TUNER_NONE: Tuner
TUNER_TSALLIS_INF: Tuner
TUNER_CHEBCB: Tuner
PRECONDITIONER_NONE: Preconditioner
PRECONDITIONER_JACOBI: Preconditioner
PRECONDITIONER_ILU: Preconditioner
PRECONDITIONER_AMG: Preconditioner
AMG_KIND_AUTO: AmgKind
AMG_KIND_SA: AmgKind
AMG_KIND_AIR: AmgKind
AMG_STRENGTH_AUTO: AmgStrength
AMG_STRENGTH_SYMMETRIC: AmgStrength
AMG_STRENGTH_EVOLUTION: AmgStrength
AMG_STRENGTH_CLASSICAL: AmgStrength
AMG_SMOOTHER_AUTO: AmgSmoother
AMG_SMOOTHER_GAUSS_SEIDEL: AmgSmoother
AMG_SMOOTHER_JACOBI: AmgSmoother
AMG_CYCLE_V: AmgCycle
AMG_CYCLE_W: AmgCycle
AMG_CYCLE_F: AmgCycle
DEVICE_AUTO: Device
DEVICE_CPU: Device
DEVICE_GPU: Device
PRECISION_AUTO: Precision
PRECISION_FLOAT64: Precision
PRECISION_FLOAT32: Precision
BATCH_ORDER_AUTO: BatchOrder
BATCH_ORDER_INPUT: BatchOrder
BATCH_ORDER_VALUES: BatchOrder
BATCH_ORDER_FEATURES: BatchOrder

class TunerState(_message.Message):
    __slots__ = ("version", "kind", "grid", "seed", "step", "iterations_sum", "losses", "plays", "warmup", "gamma_scale", "has_range", "range_low", "range_high", "seen", "gram", "moment", "fallback", "signature")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    GRID_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_SUM_FIELD_NUMBER: _ClassVar[int]
    LOSSES_FIELD_NUMBER: _ClassVar[int]
    PLAYS_FIELD_NUMBER: _ClassVar[int]
    WARMUP_FIELD_NUMBER: _ClassVar[int]
    GAMMA_SCALE_FIELD_NUMBER: _ClassVar[int]
    HAS_RANGE_FIELD_NUMBER: _ClassVar[int]
    RANGE_LOW_FIELD_NUMBER: _ClassVar[int]
    RANGE_HIGH_FIELD_NUMBER: _ClassVar[int]
    SEEN_FIELD_NUMBER: _ClassVar[int]
    GRAM_FIELD_NUMBER: _ClassVar[int]
    MOMENT_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    version: int
    kind: str
    grid: _containers.RepeatedScalarFieldContainer[float]
    seed: int
    step: int
    iterations_sum: float
    losses: _containers.RepeatedScalarFieldContainer[float]
    plays: _containers.RepeatedScalarFieldContainer[float]
    warmup: int
    gamma_scale: float
    has_range: bool
    range_low: float
    range_high: float
    seen: _containers.RepeatedScalarFieldContainer[float]
    gram: _containers.RepeatedScalarFieldContainer[float]
    moment: _containers.RepeatedScalarFieldContainer[float]
    fallback: TunerState
    signature: bytes
    def __init__(self, version: _Optional[int] = ..., kind: _Optional[str] = ..., grid: _Optional[_Iterable[float]] = ..., seed: _Optional[int] = ..., step: _Optional[int] = ..., iterations_sum: _Optional[float] = ..., losses: _Optional[_Iterable[float]] = ..., plays: _Optional[_Iterable[float]] = ..., warmup: _Optional[int] = ..., gamma_scale: _Optional[float] = ..., has_range: _Optional[bool] = ..., range_low: _Optional[float] = ..., range_high: _Optional[float] = ..., seen: _Optional[_Iterable[float]] = ..., gram: _Optional[_Iterable[float]] = ..., moment: _Optional[_Iterable[float]] = ..., fallback: _Optional[_Union[TunerState, _Mapping]] = ..., signature: _Optional[bytes] = ...) -> None: ...

class AmgOptions(_message.Message):
    __slots__ = ("kind", "strength", "smoother", "cycle", "near_nullspace", "max_coarse", "max_levels")
    KIND_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    SMOOTHER_FIELD_NUMBER: _ClassVar[int]
    CYCLE_FIELD_NUMBER: _ClassVar[int]
    NEAR_NULLSPACE_FIELD_NUMBER: _ClassVar[int]
    MAX_COARSE_FIELD_NUMBER: _ClassVar[int]
    MAX_LEVELS_FIELD_NUMBER: _ClassVar[int]
    kind: AmgKind
    strength: AmgStrength
    smoother: AmgSmoother
    cycle: AmgCycle
    near_nullspace: _tensor_pb2.Tensor
    max_coarse: int
    max_levels: int
    def __init__(self, kind: _Optional[_Union[AmgKind, str]] = ..., strength: _Optional[_Union[AmgStrength, str]] = ..., smoother: _Optional[_Union[AmgSmoother, str]] = ..., cycle: _Optional[_Union[AmgCycle, str]] = ..., near_nullspace: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., max_coarse: _Optional[int] = ..., max_levels: _Optional[int] = ...) -> None: ...

class AmgHierarchy(_message.Message):
    __slots__ = ("kind", "levels", "operator_complexity", "grid_complexity", "coarse_rows", "setup_seconds", "reused")
    KIND_FIELD_NUMBER: _ClassVar[int]
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_COMPLEXITY_FIELD_NUMBER: _ClassVar[int]
    GRID_COMPLEXITY_FIELD_NUMBER: _ClassVar[int]
    COARSE_ROWS_FIELD_NUMBER: _ClassVar[int]
    SETUP_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REUSED_FIELD_NUMBER: _ClassVar[int]
    kind: str
    levels: int
    operator_complexity: float
    grid_complexity: float
    coarse_rows: int
    setup_seconds: float
    reused: bool
    def __init__(self, kind: _Optional[str] = ..., levels: _Optional[int] = ..., operator_complexity: _Optional[float] = ..., grid_complexity: _Optional[float] = ..., coarse_rows: _Optional[int] = ..., setup_seconds: _Optional[float] = ..., reused: _Optional[bool] = ...) -> None: ...

class SolveRequest(_message.Message):
    __slots__ = ("a", "b", "x0", "method", "preconditioner", "rtol", "atol", "max_iterations", "device", "precision", "restart", "omega", "tuner", "tuner_state", "context", "context_range", "cap", "seed", "same_matrix", "recycle", "recycle_space", "return_recycle_space", "amg")
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    X0_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    PRECONDITIONER_FIELD_NUMBER: _ClassVar[int]
    RTOL_FIELD_NUMBER: _ClassVar[int]
    ATOL_FIELD_NUMBER: _ClassVar[int]
    MAX_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    RESTART_FIELD_NUMBER: _ClassVar[int]
    OMEGA_FIELD_NUMBER: _ClassVar[int]
    TUNER_FIELD_NUMBER: _ClassVar[int]
    TUNER_STATE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_RANGE_FIELD_NUMBER: _ClassVar[int]
    CAP_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SAME_MATRIX_FIELD_NUMBER: _ClassVar[int]
    RECYCLE_FIELD_NUMBER: _ClassVar[int]
    RECYCLE_SPACE_FIELD_NUMBER: _ClassVar[int]
    RETURN_RECYCLE_SPACE_FIELD_NUMBER: _ClassVar[int]
    AMG_FIELD_NUMBER: _ClassVar[int]
    a: _tensor_pb2.Matrix
    b: _tensor_pb2.Tensor
    x0: _tensor_pb2.Tensor
    method: Method
    preconditioner: Preconditioner
    rtol: float
    atol: float
    max_iterations: int
    device: Device
    precision: Precision
    restart: int
    omega: float
    tuner: Tuner
    tuner_state: TunerState
    context: float
    context_range: _containers.RepeatedScalarFieldContainer[float]
    cap: int
    seed: int
    same_matrix: bool
    recycle: int
    recycle_space: RecycleSpace
    return_recycle_space: bool
    amg: AmgOptions
    def __init__(self, a: _Optional[_Union[_tensor_pb2.Matrix, _Mapping]] = ..., b: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., x0: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., method: _Optional[_Union[Method, str]] = ..., preconditioner: _Optional[_Union[Preconditioner, str]] = ..., rtol: _Optional[float] = ..., atol: _Optional[float] = ..., max_iterations: _Optional[int] = ..., device: _Optional[_Union[Device, str]] = ..., precision: _Optional[_Union[Precision, str]] = ..., restart: _Optional[int] = ..., omega: _Optional[float] = ..., tuner: _Optional[_Union[Tuner, str]] = ..., tuner_state: _Optional[_Union[TunerState, _Mapping]] = ..., context: _Optional[float] = ..., context_range: _Optional[_Iterable[float]] = ..., cap: _Optional[int] = ..., seed: _Optional[int] = ..., same_matrix: _Optional[bool] = ..., recycle: _Optional[int] = ..., recycle_space: _Optional[_Union[RecycleSpace, _Mapping]] = ..., return_recycle_space: _Optional[bool] = ..., amg: _Optional[_Union[AmgOptions, _Mapping]] = ...) -> None: ...

class SolveBatchRequest(_message.Message):
    __slots__ = ("a", "values", "b", "features", "order", "method", "preconditioner", "rtol", "atol", "max_iterations", "restart", "recycle", "device", "precision", "warm_start", "amg")
    A_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    PRECONDITIONER_FIELD_NUMBER: _ClassVar[int]
    RTOL_FIELD_NUMBER: _ClassVar[int]
    ATOL_FIELD_NUMBER: _ClassVar[int]
    MAX_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    RESTART_FIELD_NUMBER: _ClassVar[int]
    RECYCLE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    WARM_START_FIELD_NUMBER: _ClassVar[int]
    AMG_FIELD_NUMBER: _ClassVar[int]
    a: _tensor_pb2.Matrix
    values: _tensor_pb2.Tensor
    b: _tensor_pb2.Tensor
    features: _tensor_pb2.Tensor
    order: BatchOrder
    method: Method
    preconditioner: Preconditioner
    rtol: float
    atol: float
    max_iterations: int
    restart: int
    recycle: int
    device: Device
    precision: Precision
    warm_start: bool
    amg: AmgOptions
    def __init__(self, a: _Optional[_Union[_tensor_pb2.Matrix, _Mapping]] = ..., values: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., b: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., features: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., order: _Optional[_Union[BatchOrder, str]] = ..., method: _Optional[_Union[Method, str]] = ..., preconditioner: _Optional[_Union[Preconditioner, str]] = ..., rtol: _Optional[float] = ..., atol: _Optional[float] = ..., max_iterations: _Optional[int] = ..., restart: _Optional[int] = ..., recycle: _Optional[int] = ..., device: _Optional[_Union[Device, str]] = ..., precision: _Optional[_Union[Precision, str]] = ..., warm_start: _Optional[bool] = ..., amg: _Optional[_Union[AmgOptions, _Mapping]] = ...) -> None: ...

class SolveBatchResponse(_message.Message):
    __slots__ = ("index", "position", "result")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    index: int
    position: int
    result: SolveResponse
    def __init__(self, index: _Optional[int] = ..., position: _Optional[int] = ..., result: _Optional[_Union[SolveResponse, _Mapping]] = ...) -> None: ...

class RecycleSpace(_message.Message):
    __slots__ = ("kind", "u", "c", "iterations")
    KIND_FIELD_NUMBER: _ClassVar[int]
    U_FIELD_NUMBER: _ClassVar[int]
    C_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    u: _tensor_pb2.Tensor
    c: _tensor_pb2.Tensor
    iterations: int
    def __init__(self, kind: _Optional[str] = ..., u: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., c: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., iterations: _Optional[int] = ...) -> None: ...

class SolveInfo(_message.Message):
    __slots__ = ("backend", "device", "decode_seconds", "queue_seconds", "compute_seconds", "encode_seconds", "precision", "stop_reason", "server_version")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    DECODE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ENCODE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    backend: str
    device: str
    decode_seconds: float
    queue_seconds: float
    compute_seconds: float
    encode_seconds: float
    precision: str
    stop_reason: str
    server_version: str
    def __init__(self, backend: _Optional[str] = ..., device: _Optional[str] = ..., decode_seconds: _Optional[float] = ..., queue_seconds: _Optional[float] = ..., compute_seconds: _Optional[float] = ..., encode_seconds: _Optional[float] = ..., precision: _Optional[str] = ..., stop_reason: _Optional[str] = ..., server_version: _Optional[str] = ...) -> None: ...

class SolveResponse(_message.Message):
    __slots__ = ("x", "converged", "iterations", "residual_norm", "method", "matvecs", "column_iterations", "column_converged", "column_residual_norms", "info", "omega", "best_omega", "tuned_iterations", "capped", "tuner_state", "recycled", "recycle_space", "recycle_bytes", "recycle_setup_matvecs", "amg", "auto_reason", "factors_reused", "direct_solver")
    X_FIELD_NUMBER: _ClassVar[int]
    CONVERGED_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    RESIDUAL_NORM_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    MATVECS_FIELD_NUMBER: _ClassVar[int]
    COLUMN_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    COLUMN_CONVERGED_FIELD_NUMBER: _ClassVar[int]
    COLUMN_RESIDUAL_NORMS_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    OMEGA_FIELD_NUMBER: _ClassVar[int]
    BEST_OMEGA_FIELD_NUMBER: _ClassVar[int]
    TUNED_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    CAPPED_FIELD_NUMBER: _ClassVar[int]
    TUNER_STATE_FIELD_NUMBER: _ClassVar[int]
    RECYCLED_FIELD_NUMBER: _ClassVar[int]
    RECYCLE_SPACE_FIELD_NUMBER: _ClassVar[int]
    RECYCLE_BYTES_FIELD_NUMBER: _ClassVar[int]
    RECYCLE_SETUP_MATVECS_FIELD_NUMBER: _ClassVar[int]
    AMG_FIELD_NUMBER: _ClassVar[int]
    AUTO_REASON_FIELD_NUMBER: _ClassVar[int]
    FACTORS_REUSED_FIELD_NUMBER: _ClassVar[int]
    DIRECT_SOLVER_FIELD_NUMBER: _ClassVar[int]
    x: _tensor_pb2.Tensor
    converged: bool
    iterations: int
    residual_norm: float
    method: Method
    matvecs: int
    column_iterations: _containers.RepeatedScalarFieldContainer[int]
    column_converged: _containers.RepeatedScalarFieldContainer[bool]
    column_residual_norms: _containers.RepeatedScalarFieldContainer[float]
    info: SolveInfo
    omega: float
    best_omega: float
    tuned_iterations: int
    capped: bool
    tuner_state: TunerState
    recycled: bool
    recycle_space: RecycleSpace
    recycle_bytes: int
    recycle_setup_matvecs: int
    amg: AmgHierarchy
    auto_reason: str
    factors_reused: bool
    direct_solver: str
    def __init__(self, x: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., converged: _Optional[bool] = ..., iterations: _Optional[int] = ..., residual_norm: _Optional[float] = ..., method: _Optional[_Union[Method, str]] = ..., matvecs: _Optional[int] = ..., column_iterations: _Optional[_Iterable[int]] = ..., column_converged: _Optional[_Iterable[bool]] = ..., column_residual_norms: _Optional[_Iterable[float]] = ..., info: _Optional[_Union[SolveInfo, _Mapping]] = ..., omega: _Optional[float] = ..., best_omega: _Optional[float] = ..., tuned_iterations: _Optional[int] = ..., capped: _Optional[bool] = ..., tuner_state: _Optional[_Union[TunerState, _Mapping]] = ..., recycled: _Optional[bool] = ..., recycle_space: _Optional[_Union[RecycleSpace, _Mapping]] = ..., recycle_bytes: _Optional[int] = ..., recycle_setup_matvecs: _Optional[int] = ..., amg: _Optional[_Union[AmgHierarchy, _Mapping]] = ..., auto_reason: _Optional[str] = ..., factors_reused: _Optional[bool] = ..., direct_solver: _Optional[str] = ...) -> None: ...
