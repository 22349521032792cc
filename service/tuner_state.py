"""Tuner state between the solvers' plain dict and the wire's TunerState message.

The solvers validate a state's consistency (finite numbers, sizes, a positive
definite Gram, plays <= steps). That cannot catch a state that is consistent but
made up; with a state key shared by the replicas (--state-key), every state the
server hands out is signed with HMAC-SHA256 and every state it takes back must
carry a valid signature.
"""

from __future__ import annotations

import hashlib
import hmac

from solverd.v1 import linear_pb2
from solvers.errors import SolverInputError

_LISTS = ("grid", "losses", "plays", "seen", "gram", "moment")


def to_proto(state: dict, out: linear_pb2.TunerState, key: bytes = b"") -> None:
    out.version = int(state["version"])
    out.kind = state["kind"]
    out.seed = int(state["seed"])
    out.step = int(state["step"])
    out.iterations_sum = float(state.get("iterations_sum", 0.0))  # Tsallis-INF's only
    for name in _LISTS:
        if name in state:
            getattr(out, name).extend(float(v) for v in state[name])
    if state["kind"] == "chebcb":
        out.warmup = int(state["warmup"])
        out.gamma_scale = float(state["gamma_scale"])
        if state["range"] is not None:
            out.has_range = True
            out.range_low, out.range_high = (float(v) for v in state["range"])
        to_proto(state["fallback"], out.fallback)
    if key:
        out.signature = _sign(out, key)


def size(msg: linear_pb2.TunerState) -> int:
    """How many numbers the state holds, its fallback's included."""
    own = sum(len(getattr(msg, name)) for name in _LISTS)
    return own + (size(msg.fallback) if msg.HasField("fallback") else 0)


def from_proto(msg: linear_pb2.TunerState, key: bytes = b"", max_numbers: int = 0) -> dict:
    """The state as the solvers read it; SolverInputError("state", ...) when the
    signature is missing or wrong (only checked with a key), or when it holds more
    than `max_numbers` numbers (0: no limit)."""
    if max_numbers and size(msg) > max_numbers:
        raise SolverInputError("state", f"{size(msg)} numbers exceed the limit of "
                                        f"{max_numbers} (max_state_numbers)")
    if key and not hmac.compare_digest(msg.signature, _sign(msg, key)):
        raise SolverInputError("state", "signature does not match: the state was altered "
                                        "or signed with another key")
    state: dict = {"version": msg.version, "kind": msg.kind, "seed": msg.seed,
                   "step": msg.step, "iterations_sum": msg.iterations_sum}
    for name in ("grid", "losses", "plays"):
        state[name] = list(getattr(msg, name))
    if msg.kind == "chebcb":
        state.update(warmup=msg.warmup, gamma_scale=msg.gamma_scale, seen=list(msg.seen),
                     gram=list(msg.gram), moment=list(msg.moment),
                     range=[msg.range_low, msg.range_high] if msg.has_range else None,
                     fallback=from_proto(msg.fallback))
    return state


def _sign(msg: linear_pb2.TunerState, key: bytes) -> bytes:
    unsigned = linear_pb2.TunerState()
    unsigned.CopyFrom(msg)
    unsigned.ClearField("signature")
    return hmac.new(key, unsigned.SerializeToString(deterministic=True), hashlib.sha256).digest()
