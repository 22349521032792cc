"""Decoding and validating requests before any numerics.

Every check runs on the declared shapes first, with Python integers (no
overflow), against the message's actual byte lengths and the server's limits;
only then is a byte buffer viewed as an array (zero-copy). A 10^12 x 10^12
matrix declared with three values is refused without allocating anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from service.config import Limits
from solverd.tensors import DTYPE_TO_NUMPY
from solverd.v1 import linear_pb2, tensor_pb2
from solverd.wire import DecodedMessage
from solvers.errors import SolverInputError
from solvers.linear.amg import AmgOptions
from solvers.linear.recycling import RecycleSpace
from solvers.linear.solve import RECYCLING_METHODS, SWEEP_METHODS, choose, looks_spd

FLOATS = (tensor_pb2.DTYPE_FLOAT64, tensor_pb2.DTYPE_FLOAT32)
INDICES = (tensor_pb2.DTYPE_INT32, tensor_pb2.DTYPE_INT64)
_DTYPE_NAMES = {v: k for k, v in tensor_pb2.DType.items()}


class ValidationError(Exception):
    """One or more request fields are invalid: `violations` is [(field, description)]."""

    def __init__(self, violations: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {d}" for f, d in violations))
        self.violations = violations


class Violations:
    """Collects every bad field of one request; `source` gives its Tensor payloads."""

    def __init__(self, source: DecodedMessage) -> None:
        self.source = source
        self.items: list[tuple[str, str]] = []

    def add(self, field: str, description: str) -> None:
        self.items.append((field, description))

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationError(self.items)


def tensor(msg: tensor_pb2.Tensor, field: str, v: Violations, *, dtypes: tuple[int, ...],
           ndims: tuple[int, ...], max_elements: int) -> np.ndarray | None:
    """The array in `msg`, or None after recording why it is unacceptable.

    `field` is the Tensor's dotted path in the request, which also names its payload.
    """
    if msg.dtype not in dtypes:
        allowed = ", ".join(_DTYPE_NAMES[d] for d in dtypes)
        got = _DTYPE_NAMES.get(msg.dtype, f"unknown value {msg.dtype}")
        v.add(f"{field}.dtype", f"must be one of {allowed}, got {got}")
        return None
    shape = [int(s) for s in msg.shape]
    if len(shape) not in ndims:
        v.add(f"{field}.shape", f"must have {' or '.join(map(str, ndims))} dimensions, "
                                f"got {len(shape)}")
        return None
    if any(s < 0 for s in shape):
        v.add(f"{field}.shape", f"entries must be >= 0, got {shape}")
        return None
    count = math.prod(shape)
    if count > max_elements:
        v.add(f"{field}.shape", f"{count} elements exceed the limit of {max_elements}")
        return None
    dtype = DTYPE_TO_NUMPY[msg.dtype]
    data = v.source.tensor_bytes(field, msg)  # a view of the received bytes, no copy
    if len(data) != count * dtype.itemsize:
        v.add(f"{field}.data", f"shape {shape} of {_DTYPE_NAMES[msg.dtype]} needs "
                               f"{count * dtype.itemsize} bytes, got {len(data)}")
        return None
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _finite(a: np.ndarray, field: str, v: Violations) -> None:
    if not np.isfinite(a).all():
        bad = int(np.flatnonzero(~np.isfinite(a.reshape(-1)))[0])
        v.add(field, f"values must be finite; element {bad} is {a.reshape(-1)[bad]}")


def _in_range(idx: np.ndarray, n: int, field: str, v: Violations) -> bool:
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = int(np.flatnonzero((idx < 0) | (idx >= n))[0])
        v.add(field, f"must be in [0, {n}); entry {bad} is {int(idx[bad])}")
        return False
    return True


def _shape(shape: list[int], field: str, v: Violations, max_rows: int,
           square: bool) -> tuple[int, int] | None:
    if len(shape) != 2:
        v.add(field, f"must have 2 entries [rows, cols], got {len(shape)}")
        return None
    rows, cols = shape
    if rows < 1 or cols < 1:
        v.add(field, f"must be positive, got {shape}")
        return None
    if square and rows != cols:
        v.add(field, f"A must be square, got {rows} x {cols}")
        return None
    if max(rows, cols) > max_rows:
        v.add(field, f"{max(rows, cols)} rows or columns exceed the limit of {max_rows}")
        return None
    return rows, cols


def matrix(msg: tensor_pb2.Matrix, field: str, v: Violations, limits: Limits,
           square: bool = True) -> np.ndarray | sp.csr_matrix | None:
    """A (square, for a linear system, or rectangular, for a design) matrix."""
    kind = msg.WhichOneof("format")
    if kind is None:
        v.add(field, "required: set one of dense, csr, coo")
        return None
    if kind == "dense":
        return _dense(msg.dense, f"{field}.dense", v, limits, square)
    if kind == "csr":
        return _csr(msg.csr, f"{field}.csr", v, limits, square)
    return _coo(msg.coo, f"{field}.coo", v, limits, square)


def _dense(msg: tensor_pb2.Tensor, field: str, v: Violations, limits: Limits,
           square: bool) -> np.ndarray | None:
    if square and len(msg.shape) == 2 and msg.shape[0] != msg.shape[1]:
        v.add(f"{field}.shape", f"A must be square, got {msg.shape[0]} x {msg.shape[1]}")
        return None
    if square and len(msg.shape) == 2 and msg.shape[0] > limits.max_dense_rows:
        v.add(f"{field}.shape",
              f"{msg.shape[0]} rows exceed the dense limit of {limits.max_dense_rows}")
        return None
    a = tensor(msg, field, v, dtypes=FLOATS, ndims=(2,),
               max_elements=limits.max_dense_rows**2)
    if a is None:
        return None
    if min(a.shape) < 1:
        v.add(f"{field}.shape", "must be positive")
        return None
    _finite(a, f"{field}.data", v)
    return a


def _csr(msg: tensor_pb2.CsrMatrix, field: str, v: Violations, limits: Limits,
         square: bool) -> sp.csr_matrix | None:
    shape = _shape([int(s) for s in msg.shape], f"{field}.shape", v, limits.max_rows, square)
    if shape is None:
        return None
    n, cols = shape
    indptr = tensor(msg.indptr, f"{field}.indptr", v, dtypes=INDICES, ndims=(1,),
                    max_elements=n + 1)
    indices = tensor(msg.indices, f"{field}.indices", v, dtypes=INDICES, ndims=(1,),
                     max_elements=limits.max_nonzeros)
    data = tensor(msg.data, f"{field}.data", v, dtypes=FLOATS, ndims=(1,),
                  max_elements=limits.max_nonzeros)
    if indptr is None or indices is None or data is None:
        return None
    nnz = data.shape[0]
    ok = True
    if indptr.shape[0] != n + 1:
        v.add(f"{field}.indptr", f"must have rows + 1 = {n + 1} entries, got {indptr.shape[0]}")
        ok = False
    if indices.shape[0] != nnz:
        v.add(f"{field}.indices", f"must have as many entries as data ({nnz}), "
                                  f"got {indices.shape[0]}")
        ok = False
    if not ok:
        return None
    if indptr[0] != 0 or indptr[-1] != nnz:
        v.add(f"{field}.indptr", f"must start at 0 and end at nnz = {nnz}, "
                                 f"got {int(indptr[0])} and {int(indptr[-1])}")
        return None
    steps = np.diff(indptr)
    if steps.size and steps.min() < 0:
        row = int(np.flatnonzero(steps < 0)[0])
        v.add(f"{field}.indptr", f"must be non-decreasing; decreases after row {row}")
        return None
    if not _in_range(indices, cols, f"{field}.indices", v):
        return None
    _finite(data, f"{field}.data", v)
    if v.items:
        return None
    a = sp.csr_matrix((data, indices, indptr), shape=(n, cols))
    if not a.has_canonical_format:
        # Sorts indices and sums repeats (SuperLU wants canonical input), on a copy: the
        # decoded arrays are views of the request's read-only buffer.
        a = a.copy()
        a.sum_duplicates()
    return a


def _coo(msg: tensor_pb2.CooMatrix, field: str, v: Violations, limits: Limits,
         square: bool) -> sp.csr_matrix | None:
    shape = _shape([int(s) for s in msg.shape], f"{field}.shape", v, limits.max_rows, square)
    if shape is None:
        return None
    arrays = {}
    for name in ("row", "col", "data"):
        arrays[name] = tensor(getattr(msg, name), f"{field}.{name}", v,
                              dtypes=FLOATS if name == "data" else INDICES, ndims=(1,),
                              max_elements=limits.max_nonzeros)
    if any(a is None for a in arrays.values()):
        return None
    row, col, data = arrays["row"], arrays["col"], arrays["data"]
    nnz = data.shape[0]
    for name, idx, size in (("row", row, shape[0]), ("col", col, shape[1])):
        if idx.shape[0] != nnz:
            v.add(f"{field}.{name}", f"must have as many entries as data ({nnz}), "
                                     f"got {idx.shape[0]}")
        else:
            _in_range(idx, size, f"{field}.{name}", v)
    _finite(data, f"{field}.data", v)
    if v.items:
        return None
    return sp.coo_matrix((data, (row, col)), shape=shape).tocsr()


@dataclass
class SolveProblem:
    a: np.ndarray | sp.csr_matrix
    b: np.ndarray
    x0: np.ndarray | None
    method: str
    preconditioner: str
    rtol: float
    atol: float
    maxiter: int
    restart: int
    device: str
    precision: str
    omega: float = 0.0
    tuner: str = "none"
    tuner_state: linear_pb2.TunerState | None = None
    context: float | None = None
    context_range: tuple[float, float] | None = None
    cap: int = 10_000
    seed: int = 0
    recycle: int = 0
    recycle_space: RecycleSpace | None = None
    return_recycle_space: bool = False
    amg: AmgOptions | None = None


TUNED_METHODS = SWEEP_METHODS  # the methods whose omega a tuner may choose
TUNER_NAMES = {linear_pb2.TUNER_NONE: "none", linear_pb2.TUNER_TSALLIS_INF: "tsallis-inf",
               linear_pb2.TUNER_CHEBCB: "chebcb"}
DEFAULT_CAP = 10_000

METHOD_NAMES = {linear_pb2.METHOD_AUTO: "auto", linear_pb2.METHOD_CG: "cg",
                linear_pb2.METHOD_MINRES: "minres", linear_pb2.METHOD_GMRES: "gmres",
                linear_pb2.METHOD_BICGSTAB: "bicgstab", linear_pb2.METHOD_DIRECT: "direct",
                linear_pb2.METHOD_SOR: "sor", linear_pb2.METHOD_SSOR_CG: "ssor_cg",
                linear_pb2.METHOD_GCRODR: "gcrodr",
                linear_pb2.METHOD_RECYCLED_CG: "recycled_cg"}
METHOD_CODES = {name: code for code, name in METHOD_NAMES.items()}
PRECONDITIONER_NAMES = {linear_pb2.PRECONDITIONER_NONE: "none",
                        linear_pb2.PRECONDITIONER_JACOBI: "jacobi",
                        linear_pb2.PRECONDITIONER_ILU: "ilu",
                        linear_pb2.PRECONDITIONER_AMG: "amg"}
AMG_KIND_NAMES = {linear_pb2.AMG_KIND_AUTO: "auto", linear_pb2.AMG_KIND_SA: "sa",
                  linear_pb2.AMG_KIND_AIR: "air"}
AMG_STRENGTH_NAMES = {linear_pb2.AMG_STRENGTH_AUTO: "auto",
                      linear_pb2.AMG_STRENGTH_SYMMETRIC: "symmetric",
                      linear_pb2.AMG_STRENGTH_EVOLUTION: "evolution",
                      linear_pb2.AMG_STRENGTH_CLASSICAL: "classical"}
AMG_SMOOTHER_NAMES = {linear_pb2.AMG_SMOOTHER_AUTO: "auto",
                      linear_pb2.AMG_SMOOTHER_GAUSS_SEIDEL: "gauss_seidel",
                      linear_pb2.AMG_SMOOTHER_JACOBI: "jacobi"}
AMG_CYCLE_NAMES = {linear_pb2.AMG_CYCLE_V: "V", linear_pb2.AMG_CYCLE_W: "W",
                   linear_pb2.AMG_CYCLE_F: "F"}


def amg_options(req: linear_pb2.SolveRequest | linear_pb2.SolveBatchRequest, n: int,
                limits: Limits, v: Violations) -> AmgOptions | None:
    """The AMG options of a request (None when absent: the defaults)."""
    if not req.HasField("amg"):
        return None
    msg = req.amg
    near = None
    if msg.HasField("near_nullspace"):
        near = tensor(msg.near_nullspace, "amg.near_nullspace", v, dtypes=FLOATS, ndims=(2,),
                      max_elements=64 * limits.max_rows)
    options = AmgOptions(
        kind=_enum(msg.kind, AMG_KIND_NAMES, "amg.kind", v),
        strength=_enum(msg.strength, AMG_STRENGTH_NAMES, "amg.strength", v),
        smoother=_enum(msg.smoother, AMG_SMOOTHER_NAMES, "amg.smoother", v),
        cycle=_enum(msg.cycle, AMG_CYCLE_NAMES, "amg.cycle", v),
        near_nullspace=None if near is None else np.asarray(near, dtype=np.float64),
        max_coarse=msg.max_coarse or 500, max_levels=msg.max_levels or 25)
    try:
        options.check(n)
    except SolverInputError as exc:
        v.add(exc.field, exc.description)
    return options
DEVICE_NAMES = {linear_pb2.DEVICE_AUTO: "auto", linear_pb2.DEVICE_CPU: "cpu",
                linear_pb2.DEVICE_GPU: "gpu"}
PRECISION_NAMES = {linear_pb2.PRECISION_AUTO: "auto", linear_pb2.PRECISION_FLOAT64: "float64",
                   linear_pb2.PRECISION_FLOAT32: "float32"}


def _enum(value: int, names: dict[int, str], field: str, v: Violations) -> str:
    if value not in names:
        v.add(field, f"unknown value {value}; one of {sorted(names)}")
        return ""
    return names[value]


def positive_or_default(value: float, field: str, v: Violations, default: float) -> float:
    """A proto3 double where 0 (unset) means `default`; otherwise finite and > 0."""
    if value == 0:
        return default
    if not (math.isfinite(value) and value > 0):
        v.add(field, f"must be finite and > 0, got {value}")
    return value


def iterations_or_default(value: int, default: int, limits: Limits, v: Violations,
                          field: str = "max_iterations") -> int:
    """max_iterations where 0 (unset) means `default`, within the server's limit."""
    maxiter = value or default
    if maxiter > limits.max_iterations:
        v.add(field, f"{maxiter} exceeds the server's limit of "
                                f"{limits.max_iterations}")
    return maxiter


def _tolerance(req: linear_pb2.SolveRequest, name: str, default: float, v: Violations) -> float:
    if not req.HasField(name):
        return default
    value = getattr(req, name)
    if not (math.isfinite(value) and value >= 0):
        v.add(name, f"must be finite and >= 0, got {value}")
    return value


def _tuning(req: linear_pb2.SolveRequest, method: str, limits: Limits, stream: bool,
            v: Violations) -> dict:
    """The sequence fields of a request, checked against each other."""
    tuner = _enum(req.tuner, TUNER_NAMES, "tuner", v)
    out: dict = {"tuner": tuner or "none", "omega": req.omega, "seed": req.seed}
    if req.omega and not (0.0 < req.omega < 2.0):
        v.add("omega", f"must be in (0, 2), got {req.omega}")
    # AUTO with Tsallis-INF learns a configuration along a stream (its arms reuse a
    # hierarchy and a recycle space that the server keeps for the stream).
    tuned_auto = method == "auto" and tuner in ("tsallis-inf", "chebcb")
    if tuned_auto and tuner == "chebcb":
        v.add("tuner", "AUTO learns its configuration with tsallis-inf, not chebcb")
    elif tuned_auto and not stream:
        v.add("tuner", "a tuned AUTO needs a SolveSequence stream (client.sequence(..., "
                       "stream=True)): its arms reuse a hierarchy and a recycle space that "
                       "the server keeps for the stream")
    if method and method not in TUNED_METHODS:
        names = ("omega", "cap") if tuned_auto else ("omega", "tuner", "tuner_state", "cap")
        for name in names:
            if req.HasField(name) if name == "tuner_state" else getattr(req, name):
                v.add(name, f"applies to sor and ssor_cg only, not {method}")
    if tuner and tuner != "none":
        if req.omega:
            v.add("omega", "chosen by the tuner: leave it 0")
    elif req.HasField("tuner_state"):
        v.add("tuner_state", "given without a tuner")
    if req.HasField("tuner_state"):
        out["tuner_state"] = req.tuner_state
    if req.HasField("context"):
        if not math.isfinite(req.context):
            v.add("context", f"must be finite, got {req.context}")
        out["context"] = req.context
    if req.context_range:
        bounds = list(req.context_range)
        if len(bounds) != 2 or not all(map(math.isfinite, bounds)) or bounds[0] >= bounds[1]:
            v.add("context_range", f"needs two finite numbers low < high, got {bounds}")
        else:
            out["context_range"] = (bounds[0], bounds[1])
    if req.cap < 0 or req.cap > limits.max_iterations:
        v.add("cap", f"must be in [0, {limits.max_iterations}], got {req.cap}")
    out["cap"] = req.cap or min(DEFAULT_CAP, limits.max_iterations)
    return out


def _recycling(req: linear_pb2.SolveRequest, method: str, n: int | None, limits: Limits,
               stream: bool, v: Violations) -> dict:
    """The recycle fields: only for the recycling methods, a space of the method's
    kind and of shape (k, n) for both U and C."""
    given = {"recycle": req.recycle != 0, "recycle_space": req.HasField("recycle_space"),
             "return_recycle_space": req.return_recycle_space}
    if method and method not in RECYCLING_METHODS:
        for name, present in given.items():
            if present:
                v.add(name, f"applies to gcrodr and recycled_cg only, not {method}")
        return {}
    if req.recycle > limits.max_restart:
        v.add("recycle", f"must be in [0, {limits.max_restart}], got {req.recycle}")
    out: dict = {"recycle": req.recycle,  # 0: the solver's default, fitted to n
                 "return_recycle_space": req.return_recycle_space}
    if stream:
        for name in ("recycle_space", "return_recycle_space"):
            if given[name]:
                v.add(name, "unary Solve only: a SolveSequence stream keeps the space")
        return out
    if not given["recycle_space"]:
        return out
    msg = req.recycle_space
    if method and msg.kind != method:
        v.add("recycle_space.kind", f"must be {method!r}, got {msg.kind!r}")
    mats = {}
    for name in ("u", "c"):
        if not msg.HasField(name):
            v.add(f"recycle_space.{name}", "required")
            continue
        mats[name] = tensor(getattr(msg, name), f"recycle_space.{name}", v, dtypes=FLOATS,
                            ndims=(2,), max_elements=limits.max_rows * limits.max_restart)
    if len(mats) == 2 and all(m is not None for m in mats.values()):
        u, c = mats["u"], mats["c"]
        if u.shape != c.shape:
            v.add("recycle_space.c", f"must have U's shape {list(u.shape)}, got {list(c.shape)}")
        elif not 1 <= u.shape[0] <= limits.max_restart:
            v.add("recycle_space.u", f"k = {u.shape[0]} rows outside [1, {limits.max_restart}]")
        elif n is not None and u.shape[1] != n:
            v.add("recycle_space.u", f"must have n = {n} columns to match A, got {u.shape[1]}")
        else:
            _finite(u, "recycle_space.u.data", v)
            _finite(c, "recycle_space.c.data", v)
            out["recycle_space"] = RecycleSpace(u, c, msg.kind, msg.iterations)
    return out


def _solve_options(req: linear_pb2.SolveRequest | linear_pb2.SolveBatchRequest,
                   limits: Limits, v: Violations) -> dict:
    """The fields Solve and SolveBatch share: method, preconditioner, device, precision,
    tolerances; max_iterations and restart are checked against the limits."""
    if req.max_iterations < 0 or req.max_iterations > limits.max_iterations:
        v.add("max_iterations", f"must be in [0, {limits.max_iterations}], "
                                f"got {req.max_iterations}")
    if req.restart < 0 or req.restart > limits.max_restart:
        v.add("restart", f"must be in [0, {limits.max_restart}], got {req.restart}")
    return {"method": _enum(req.method, METHOD_NAMES, "method", v),
            "preconditioner": _enum(req.preconditioner, PRECONDITIONER_NAMES,
                                    "preconditioner", v),
            "device": _enum(req.device, DEVICE_NAMES, "device", v),
            "precision": _enum(req.precision, PRECISION_NAMES, "precision", v),
            "rtol": _tolerance(req, "rtol", 1e-5, v),  # type: ignore[arg-type]
            "atol": _tolerance(req, "atol", 0.0, v)}  # type: ignore[arg-type]


def solve_request(decoded: DecodedMessage, limits: Limits,
                  previous_a: np.ndarray | sp.csr_matrix | None = None,
                  stream: bool = False) -> SolveProblem:
    """The validated problem, or ValidationError naming every bad field. On a
    SolveSequence stream, `previous_a` is the A a `same_matrix` request reuses."""
    req: linear_pb2.SolveRequest = decoded.message  # type: ignore[assignment]
    v = Violations(decoded)
    options = _solve_options(req, limits, v)
    method = options["method"]

    tuning = _tuning(req, method, limits, stream, v)
    a = None
    if req.same_matrix:
        if not stream:
            v.add("same_matrix", "only on a SolveSequence stream")
        elif req.HasField("a"):
            v.add("a", "set together with same_matrix")
        elif previous_a is None:
            v.add("same_matrix", "no earlier matrix on this stream")
        else:
            a = previous_a
    elif req.HasField("a"):
        a = matrix(req.a, "a", v, limits)
    else:
        v.add("a", "required")
    b = None
    if not req.HasField("b"):
        v.add("b", "required")
    else:
        b = tensor(req.b, "b", v, dtypes=FLOATS, ndims=(1, 2),
                   max_elements=limits.max_rows * limits.max_rhs)
    x0 = None
    if req.HasField("x0"):
        x0 = tensor(req.x0, "x0", v, dtypes=FLOATS, ndims=(1, 2),
                    max_elements=limits.max_rows * limits.max_rhs)
    if b is not None:
        if a is not None and b.shape[0] != a.shape[0]:
            v.add("b.shape", f"must start with n = {a.shape[0]} to match A, got {list(b.shape)}")
        elif b.ndim == 2 and not 1 <= b.shape[1] <= limits.max_rhs:
            v.add("b.shape", f"columns must be in [1, {limits.max_rhs}], got {b.shape[1]}")
        else:
            _finite(b, "b.data", v)
        if x0 is not None:
            if x0.shape != b.shape:
                v.add("x0.shape", f"must equal b's shape {list(b.shape)}, got {list(x0.shape)}")
            else:
                _finite(x0, "x0.data", v)
    recycling = _recycling(req, method, None if a is None else a.shape[0], limits, stream, v)
    amg = amg_options(req, 0 if a is None else a.shape[0], limits, v)
    v.raise_if_any()
    n = a.shape[0]
    maxiter = req.max_iterations or min(10 * n, limits.max_iterations)
    return SolveProblem(a=a, b=b, x0=x0, maxiter=maxiter, restart=req.restart, **options,
                        **tuning, **recycling, amg=amg)


ORDER_NAMES = {linear_pb2.BATCH_ORDER_AUTO: "auto", linear_pb2.BATCH_ORDER_INPUT: "input",
               linear_pb2.BATCH_ORDER_VALUES: "values",
               linear_pb2.BATCH_ORDER_FEATURES: "features"}


@dataclass
class BatchProblem:
    """A validated SolveBatch: `template` holds the options (and system 0's A and b);
    `matrix(i)` and `rhs(i)` give system i."""

    template: SolveProblem
    count: int
    values: np.ndarray | None  # (N, nnz): each system's stored entries on a's pattern
    b: np.ndarray  # (N, n), or (n,) shared
    features: np.ndarray | None
    order: str  # "input", "values" or "features" (auto resolved)
    warm_start: bool
    build: Callable[[np.ndarray], np.ndarray | sp.csr_matrix]

    def matrix(self, i: int) -> np.ndarray | sp.csr_matrix:
        return self.template.a if self.values is None else self.build(self.values[i])

    def rhs(self, i: int) -> np.ndarray:
        return self.b if self.b.ndim == 1 else self.b[i]


def _pattern(msg: tensor_pb2.Matrix, n: int, v: Violations, limits: Limits
             ) -> tuple[Callable[[np.ndarray], np.ndarray | sp.csr_matrix], int]:
    """A builder of the matrix with a's pattern and given stored values, and the
    number of stored values. Called after `matrix` accepted `a`."""
    kind = msg.WhichOneof("format")
    if kind == "dense":
        return (lambda values: values.reshape(n, n)), n * n
    if kind == "csr":
        indptr = tensor(msg.csr.indptr, "a.csr.indptr", v, dtypes=INDICES, ndims=(1,),
                        max_elements=n + 1)
        indices = tensor(msg.csr.indices, "a.csr.indices", v, dtypes=INDICES, ndims=(1,),
                         max_elements=limits.max_nonzeros)
        assert indptr is not None and indices is not None
        canonical = sp.csr_matrix((np.empty(indices.shape[0]), indices, indptr),
                                  shape=(n, n)).has_canonical_format

        def csr(values: np.ndarray) -> sp.csr_matrix:
            m = sp.csr_matrix((values, indices, indptr), shape=(n, n))
            if not canonical:
                m = m.copy()
                m.sum_duplicates()
            return m

        return csr, int(indices.shape[0])
    row = tensor(msg.coo.row, "a.coo.row", v, dtypes=INDICES, ndims=(1,),
                 max_elements=limits.max_nonzeros)
    col = tensor(msg.coo.col, "a.coo.col", v, dtypes=INDICES, ndims=(1,),
                 max_elements=limits.max_nonzeros)
    assert row is not None and col is not None
    return (lambda values: sp.coo_matrix((values, (row, col)), shape=(n, n)).tocsr()), \
        int(row.shape[0])


def batch_request(decoded: DecodedMessage, limits: Limits) -> BatchProblem:
    """The validated batch, or ValidationError naming every bad field."""
    req: linear_pb2.SolveBatchRequest = decoded.message  # type: ignore[assignment]
    v = Violations(decoded)
    options = _solve_options(req, limits, v)
    method = options.pop("method")
    order = _enum(req.order, ORDER_NAMES, "order", v)
    if req.recycle > limits.max_restart:
        v.add("recycle", f"must be in [0, {limits.max_restart}], got {req.recycle}")
    a = matrix(req.a, "a", v, limits) if req.HasField("a") else None
    if not req.HasField("a"):
        v.add("a", "required")
    v.raise_if_any()
    assert a is not None
    n = a.shape[0]
    build, nnz = _pattern(req.a, n, v, limits)
    values = None
    if req.HasField("values"):
        values = tensor(req.values, "values", v, dtypes=FLOATS, ndims=(2,),
                        max_elements=limits.max_nonzeros)
        if values is not None:
            if values.shape[1] != nnz:
                v.add("values.shape", f"must be [N, {nnz}] (a's stored entries), "
                                      f"got {list(values.shape)}")
            else:
                _finite(values, "values.data", v)
    b = None
    if not req.HasField("b"):
        v.add("b", "required")
    else:
        b = tensor(req.b, "b", v, dtypes=FLOATS, ndims=(1, 2),
                   max_elements=limits.max_rows * limits.max_batch)
    v.raise_if_any()
    assert b is not None
    count = values.shape[0] if values is not None else (b.shape[0] if b.ndim == 2 else 1)
    if b.shape[-1] != n:
        v.add("b.shape", f"must end with n = {n} to match A, got {list(b.shape)}")
    elif b.ndim == 2 and b.shape[0] != count:
        v.add("b.shape", f"must be [{count}, {n}] (one row per matrix of values) or "
                         f"[{n}], got {list(b.shape)}")
    else:
        _finite(b, "b.data", v)
    if not 1 <= count <= limits.max_batch:
        v.add("values.shape" if values is not None else "b.shape",
              f"{count} systems outside [1, {limits.max_batch}]")
    features = None
    if req.HasField("features"):
        features = tensor(req.features, "features", v, dtypes=FLOATS, ndims=(2,),
                          max_elements=limits.max_nonzeros)
        if features is not None:
            if features.shape[0] != count:
                v.add("features.shape", f"must have one row per system ({count}), "
                                        f"got {list(features.shape)}")
            else:
                _finite(features, "features.data", v)
    if order == "features" and features is None:
        v.add("order", "BATCH_ORDER_FEATURES needs `features`")
    if order == "values" and values is None:
        v.add("order", "BATCH_ORDER_VALUES needs `values` (one matrix has nothing to sort)")
    if order == "auto":
        order = "features" if features is not None else "values" if values is not None \
            else "input"
    v.raise_if_any()
    first = build(values[0]) if values is not None else a
    if method == "auto":
        chosen, preconditioner, _ = choose(first, options["preconditioner"],
                                           limits.max_factor_bytes)
        if preconditioner == "amg":  # large SPD-looking: AMG-CG, its hierarchy reused
            method, options["preconditioner"] = chosen, "amg"
        elif chosen == "direct" and options["preconditioner"] == "none" and not req.recycle:
            # Factorised per system (once for a batch of one matrix): on 20 Darcy systems
            # of 64^2 / 128^2, 0.23 / 0.85 s against recycled CG's 0.94 / 3.05 s.
            method = "direct"
        else:  # recycling (ILU is not symmetric: recycled CG refuses it)
            spd = looks_spd(first) and options["preconditioner"] != "ilu"
            method = "recycled_cg" if spd else "gcrodr"
    if req.recycle and method not in RECYCLING_METHODS:
        v.add("recycle", f"applies to gcrodr and recycled_cg only, not {method}")
    amg = amg_options(req, n, limits, v)
    v.raise_if_any()
    maxiter = req.max_iterations or min(10 * n, limits.max_iterations)
    template = SolveProblem(a=first, b=b if b.ndim == 1 else b[0], x0=None, method=method,
                            maxiter=maxiter, restart=req.restart, **options,
                            recycle=req.recycle, amg=amg)
    return BatchProblem(template=template, count=count, values=values, b=b,
                        features=features, order=order, warm_start=req.warm_start,
                        build=build)
