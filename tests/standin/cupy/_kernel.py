"""cupy.ElementwiseKernel on the stand-in: the C operation evaluated with NumPy.

The operation is read as what it is on the device, one thread per element i:
statements run in order, each over all elements at once (equivalent for the
elementwise kernels solverd writes: a statement never reads another element of an
array that an earlier statement wrote, except through `raw` indexing). Parameters
follow CuPy's type rules (cupy/_core/_kernel.pyx, _decide_params_type): a type
placeholder (T) is bound by the first device array given for it, every other array
must have exactly that dtype, scalars are cast to it; fixed types (int32) must match
exactly; host arrays are refused. Arithmetic follows C: float literals are double,
integer division truncates, assignments convert to the target's type.

Only the C that solverd's kernels use is understood (declarations, `=`, `+=`, `-=`,
`*=`, `/=`, + - * /, unary minus, parentheses, calls to exp/log/sqrt/fabs/abs/
min/max/fmin/fmax, `raw` subscripts, the index `i`); anything else raises
NotImplementedError rather than guess.

SOLVERD_STANDIN_MUTATE="old=>new" replaces text in every operation at construction:
the test that proves a wrong kernel fails the lane.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from cupy._core import host_array_error, ndarray, wrap

_FUNCTIONS = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "fabs": np.abs, "abs": np.abs,
              "min": np.minimum, "max": np.maximum, "fmin": np.fmin, "fmax": np.fmax}
_COMPOUND = {"+=": ast.Add, "-=": ast.Sub, "*=": ast.Mult, "/=": ast.Div}
_C_TYPES = {"float": np.float32, "double": np.float64, "int": np.int32, "long": np.int64,
            "bool": np.bool_}


def _dtype(ctype: str) -> np.dtype | None:
    """A fixed type's dtype; None for a placeholder (a name that is not a type)."""
    if ctype in _C_TYPES:
        return np.dtype(_C_TYPES[ctype])
    if len(ctype) == 1:
        return None
    try:
        return np.dtype(ctype)
    except TypeError:
        return None


@dataclass(frozen=True)
class _Param:
    name: str
    ctype: str  # a placeholder such as T, or a dtype name
    dtype: np.dtype | None  # fixed type, None for a placeholder
    raw: bool


def _params(text: str) -> list[_Param]:
    params = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        words = part.split()
        raw = words[0] == "raw"
        if raw:
            words = words[1:]
        if len(words) != 2:
            raise NotImplementedError(f"parameter {part!r}")
        ctype, name = words
        params.append(_Param(name, ctype, _dtype(ctype), raw))
    return params


def _statements(operation: str) -> list[tuple[str | None, str, str, str]]:
    """(declared type or None, target, operator, expression) per statement."""
    if re.search(r"[{}?]|\b(if|for|while|return)\b", operation):
        raise NotImplementedError(f"the stand-in evaluates straight-line C only: {operation!r}")
    out = []
    for text in filter(None, (s.strip() for s in operation.split(";"))):
        match = re.fullmatch(r"(?:(\w+)\s+)?([\w\[\]\s]+?)\s*([-+*/]?=)\s*(.+)", text, re.S)
        if not match:
            raise NotImplementedError(f"statement {text!r}")
        declared, target, op, expr = match.groups()
        out.append((declared, target.replace(" ", ""), op, expr))
    return out


def _c_to_python(expr: str) -> ast.expr:
    expr = re.sub(r"(\d+\.\d*|\.\d+|\d+)[fF]\b", r"\1", expr)
    return ast.parse(expr, mode="eval").body


class ElementwiseKernel:
    def __init__(self, in_params: str, out_params: str, operation: str,
                 name: str = "kernel", reduce_dims: bool = True, preamble: str = "",
                 no_return: bool = False, return_tuple: bool = False, **_: Any) -> None:
        mutation = os.environ.get("SOLVERD_STANDIN_MUTATE", "")
        if "=>" in mutation:
            old, new = mutation.split("=>", 1)
            operation = operation.replace(old, new)
        self.in_params = _params(in_params)
        self.out_params = _params(out_params)
        self.operation = operation
        self.name = name
        self.no_return = no_return
        self.return_tuple = return_tuple
        self.statements = [(d, t, o, _c_to_python(e)) for d, t, o, e in _statements(operation)]

    def __call__(self, *args: Any, size: int = -1, **kwargs: Any) -> Any:
        kwargs.pop("stream", None)
        kwargs.pop("block_size", None)
        if kwargs:
            raise TypeError(f"Wrong arguments {kwargs}")
        nin, nargs = len(self.in_params), len(self.in_params) + len(self.out_params)
        if len(args) not in (nin, nargs):
            raise TypeError(f"Wrong number of arguments for {self.name!r}. It must be either "
                            f"{nin} or {nargs} (with outputs), but given {len(args)}.")
        for a in args:
            if isinstance(a, np.ndarray):
                raise host_array_error(f"kernel {self.name}")
            if not isinstance(a, ndarray | int | float | complex | bool | np.generic):
                raise TypeError(f"Unsupported type {type(a)}")
        params = self.in_params + self.out_params
        types = self._types(args[:nin], args[nin:])
        shape = self._shape(args, params, size)
        env: dict[str, Any] = {"i": np.arange(int(np.prod(shape))).reshape(shape)
                               if shape else np.int64(0)}
        for p, a in zip(params, args, strict=False):
            dtype = types[p.ctype] if p.dtype is None else p.dtype
            if isinstance(a, ndarray):
                env[p.name] = a._a if p.raw else np.broadcast_to(a._a, shape)
            else:
                env[p.name] = np.asarray(a, dtype=dtype)[()]
        outs = list(args[nin:])
        if not outs:
            for p in self.out_params:
                dtype = types[p.ctype] if p.dtype is None else p.dtype
                fresh = wrap(np.empty(shape, dtype=dtype))
                outs.append(fresh)
                env[p.name] = fresh._a
        writable = {p.name: o._a for p, o in zip(self.out_params, outs, strict=True)}
        for declared, target, op, expr in self.statements:
            self._run(declared, target, op, expr, env, writable, types)
        if self.no_return:
            return None
        if len(outs) == 1 and not self.return_tuple:
            return outs[0]
        return tuple(outs)

    def _types(self, ins: tuple, outs: tuple) -> dict[str, np.dtype]:
        bound: dict[str, np.dtype] = {}
        for group, args in ((self.out_params, outs), (self.in_params, ins)):
            for p, a in zip(group, args, strict=False):
                if not isinstance(a, ndarray):
                    if group is self.out_params:
                        raise TypeError("Output arguments must be cupy.ndarray")
                    continue
                if p.dtype is not None:
                    if a.dtype != p.dtype:
                        raise TypeError(f"Type is mismatched. {p.name} {a.dtype} {p.dtype}")
                elif p.ctype in bound:
                    if a.dtype != bound[p.ctype]:
                        raise TypeError(f"Type is mismatched. {p.name} {a.dtype} "
                                        f"{bound[p.ctype]} {p.ctype}")
                else:
                    bound[p.ctype] = a.dtype
        for p in self.in_params + self.out_params:
            if p.dtype is None and p.ctype not in bound:
                raise TypeError(f"Cannot determine the type of {p.ctype} ({p.name})")
        return bound

    def _shape(self, args: tuple, params: list[_Param], size: int) -> tuple[int, ...]:
        arrays = [a._a for p, a in zip(params, args, strict=False)
                  if isinstance(a, ndarray) and not p.raw]
        if size != -1:
            if arrays:
                raise ValueError("The size parameter is given while there are non-raw "
                                 "arrays")
            return (size,)
        if not arrays:
            raise ValueError("Loop size is undecided")
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        for p, a in zip(params[len(self.in_params):], args[len(self.in_params):],
                        strict=False):
            if not p.raw and a.shape != shape:
                raise ValueError(f"Out shape is mismatched: {p.name} {a.shape} != {shape}")
        return shape

    def _run(self, declared: str | None, target: str, op: str, expr: ast.expr,
             env: dict[str, Any], writable: dict[str, np.ndarray],
             types: dict[str, np.dtype]) -> None:
        value = _evaluate(expr, env)
        if declared is not None:
            if op != "=" or "[" in target:
                raise NotImplementedError(f"declaration of {target}")
            dtype = types.get(declared) or _dtype(declared)
            if dtype is None:
                raise NotImplementedError(f"type {declared}")
            env[target] = np.asarray(value).astype(dtype)
            return
        subscript = re.fullmatch(r"(\w+)\[(.+)\]", target)
        name = subscript.group(1) if subscript else target
        if name not in writable:
            raise NotImplementedError(f"{self.name}: assignment to {name}, not an output")
        array = writable[name]
        index: Any = ...
        if subscript:
            index = _evaluate(_c_to_python(subscript.group(2)), env)
        if op != "=":
            value = _binary(_COMPOUND[op](), array[index], value)
        array[index] = np.asarray(value).astype(array.dtype, copy=False)
        if name in env and not subscript:
            env[name] = array


def _binary(op: ast.operator, left: Any, right: Any) -> Any:
    if isinstance(op, ast.Add):
        return np.add(left, right)
    if isinstance(op, ast.Sub):
        return np.subtract(left, right)
    if isinstance(op, ast.Mult):
        return np.multiply(left, right)
    if isinstance(op, ast.Div):
        left, right = np.asarray(left), np.asarray(right)
        if left.dtype.kind in "iu" and right.dtype.kind in "iu":
            quotient = np.abs(left) // np.abs(right)  # C truncates toward zero
            return np.where((left < 0) ^ (right < 0), -quotient, quotient)
        return np.divide(left, right)
    raise NotImplementedError(f"operator {type(op).__name__}")


def _evaluate(node: ast.expr, env: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        # C: a float literal is a double, an integer literal an int.
        return np.float64(node.value) if isinstance(node.value, float) else np.int32(node.value)
    if isinstance(node, ast.Name):
        if node.id not in env:
            raise NotImplementedError(f"unknown name {node.id}")
        return env[node.id]
    if isinstance(node, ast.BinOp):
        return _binary(node.op, _evaluate(node.left, env), _evaluate(node.right, env))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _evaluate(node.operand, env)
        return np.negative(value) if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id in _FUNCTIONS and not node.keywords:
        return _FUNCTIONS[node.func.id](*(_evaluate(a, env) for a in node.args))
    if isinstance(node, ast.Subscript):
        return _evaluate(node.value, env)[_evaluate(node.slice, env)]
    raise NotImplementedError(f"C expression {ast.dump(node)}")
