"""Server configuration: flags, with defaults from SOLVERD_* environment variables."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, fields, replace

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Caps on what one request may ask for (all documented in info.proto's Limits)."""

    max_message_bytes: int = 256 * MIB
    max_rows: int = 50_000_000
    max_nonzeros: int = 500_000_000
    max_dense_rows: int = 20_000
    max_rhs: int = 1024
    max_iterations: int = 1_000_000
    max_restart: int = 1000
    max_solve_seconds: float = 3600.0
    max_queue: int = 64
    # Calls (streams included) the process handles at once; beyond it gRPC answers
    # RESOURCE_EXHAUSTED at once. 0: no limit.
    max_inflight: int = 256
    max_batch: int = 10_000
    max_transport_entries: int = 100_000_000
    max_upload_bytes: int = 8 * 1024 * MIB
    max_state_numbers: int = 100_000
    # A stream (SolveSequence, a chunked upload) silent this long is closed.
    stream_idle_seconds: float = 60.0
    # A sparse LU whose estimated factors exceed this is never started: AUTO picks
    # another method, an explicit METHOD_DIRECT is refused.
    max_factor_bytes: int = 4 * 1024 * MIB


@dataclass(frozen=True)
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = 50051
    metrics_port: int = 9090  # 0: any free port; negative: no metrics server
    backend: str = "auto"  # auto | cpu | gpu
    cpu_workers: int = 0  # 0: the CPU quota
    gpu_workers: int = 1
    # Server processes on the same port (Linux SO_REUSEPORT); on Kubernetes prefer
    # one per pod and more replicas.
    processes: int = 1
    blas_threads: int = 0  # 0: CPU quota / cpu_workers (at least 1)
    grace_seconds: float = 30.0
    # Freed memory glibc may keep for reuse (see solverd.allocator); 0: glibc defaults.
    malloc_retain_mib: int = 1024
    # Shared by the replicas: signs tuner states (HMAC-SHA256); empty: unsigned.
    state_key: str = ""
    # TLS: certificate chain and key (PEM); with client_ca, clients must present a
    # certificate signed by it (mutual TLS). Empty: plaintext.
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    # Bearer token the solver RPCs require (health, reflection and metrics do not);
    # set it by SOLVERD_AUTH_TOKEN from a Secret rather than on the command line.
    auth_token: str = ""
    # Connections are closed after this long (plus a grace for calls in flight) so
    # that clients reconnect and load spreads over new replicas; 0: never.
    max_connection_age_seconds: float = 300.0
    # Fraction of calls written to the log as one JSON line each (0: none, 1: all).
    access_log_sample: float = 0.0
    limits: Limits = Limits()

    @property
    def allow_gpu(self) -> bool:
        return self.backend != "cpu"


# One line of help per flag (`solverd serve --help` adds each default).
HELP = {
    "host": "address to listen on",
    "port": "gRPC port (0: any free port); without --processes a port in use is an error",
    "metrics_port": "Prometheus /metrics port (0: any free port, negative: no metrics server)",
    "backend": "auto (the GPU when CuPy sees one), cpu, or gpu (fail without one)",
    "cpu_workers": "solver threads on the CPU (0: the CPU quota)",
    "gpu_workers": "solver threads on the GPU",
    "processes": "server processes sharing the port (SO_REUSEPORT), each a share of the quota",
    "blas_threads": "BLAS threads per worker (0: CPU quota / workers)",
    "grace_seconds": "after SIGTERM, how long calls in flight may finish before cancellation",
    "malloc_retain_mib": "freed memory glibc keeps for reuse (0: glibc's defaults)",
    "state_key": "HMAC key signing tuner states; share it between replicas (empty: unsigned)",
    "tls_cert": "TLS certificate chain (PEM); with --tls-key serves TLS",
    "tls_key": "TLS private key (PEM)",
    "tls_client_ca": "require client certificates signed by this CA (mutual TLS)",
    "auth_token": "bearer token the solver RPCs require; prefer SOLVERD_AUTH_TOKEN",
    "max_connection_age_seconds": "close connections after this long so load spreads (0: never)",
    "access_log_sample": "fraction of calls logged as one JSON line each (0: none, 1: every call)",
    "max_message_bytes": "largest request or response (lowered to 1/8 of a cgroup memory limit)",
    "max_rows": "most rows (unknowns, points, samples) a problem may have",
    "max_nonzeros": "most stored entries of a sparse matrix or observed entries",
    "max_dense_rows": "most rows of a dense matrix",
    "max_rhs": "most right-hand sides in one Solve",
    "max_iterations": "most iterations a request may ask for",
    "max_restart": "largest GMRES restart or recycle space a request may ask for",
    "max_solve_seconds": "stop a solve whose call has no (or a longer) deadline",
    "max_queue": "requests waiting beyond the workers before RESOURCE_EXHAUSTED",
    "max_inflight": "solver calls in flight per process (health is never counted; 0: no cap)",
    "max_batch": "most systems per SolveBatch or alphas per path",
    "max_transport_entries": "most cost entries (B n m) per Transport call",
    "max_upload_bytes": "chunked-upload budget (lowered to half a cgroup memory limit)",
    "max_state_numbers": "most numbers a tuner state sent back by a client may hold",
    "stream_idle_seconds": "close a stream or chunked upload silent this long (0: never)",
    "max_factor_bytes": "largest estimated sparse LU (factors' bytes) a direct solve may start "
                        "(lowered to half a cgroup memory limit)",
}


def _env(name: str) -> str | None:
    return os.environ.get(f"SOLVERD_{name.upper()}")


def _integer(text: str) -> int:
    """An integer, also in the notations the README uses: 5e7, 50_000_000."""
    try:
        return int(text.replace("_", ""))
    except ValueError:
        pass
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}")
    return int(value)


def _number(text: str) -> float:
    try:
        return float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _parser_type(kind: type) -> object:
    return {int: _integer, float: _number}.get(kind, kind)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="solverd", description="solverd gRPC server")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server",
                           description="Every flag also reads SOLVERD_<FLAG> (e.g. SOLVERD_PORT); "
                                       "integers may be written 5e7 or 50_000_000.")
    defaults = ServerConfig()
    items = [(f.name, getattr(defaults, f.name)) for f in fields(ServerConfig)
             if f.name != "limits"]
    items += [(f.name, getattr(defaults.limits, f.name)) for f in fields(Limits)]
    for name, default in items:
        kind = _parser_type(type(default))
        value = default
        env = _env(name)
        if env is not None:
            try:
                value = kind(env)  # type: ignore[operator]
            except argparse.ArgumentTypeError as exc:
                parser.exit(2, f"solverd: SOLVERD_{name.upper()}={env!r}: {exc}\n")
        shown = "off" if default == "" else default
        serve.add_argument(f"--{name.replace('_', '-')}", type=kind, default=value,
                           metavar=type(default).__name__.upper(),
                           help=f"{HELP.get(name, '')} (default: {shown})")
    return parser


# Tokens published as examples: a server must not guard anything with one.
PLACEHOLDER_TOKENS = ("change-me", "changeme", "secret", "token", "password")


def memory_bounded(limits: Limits, memory: int | None) -> Limits:
    """Limits whose built-in defaults a container's memory limit lowers: the upload
    budget and the factorisation budget to half of it and a message to an eighth, so
    that a large request gets RESOURCE_EXHAUSTED (or AUTO an iterative method) rather
    than the pod an OOM kill (a 4 GiB pod took uploads of 8 GiB). Values set by flag or
    environment are kept."""
    if memory is None:
        return limits
    defaults = Limits()
    changes = {}
    if limits.max_upload_bytes == defaults.max_upload_bytes:
        changes["max_upload_bytes"] = min(defaults.max_upload_bytes, memory // 2)
    if limits.max_message_bytes == defaults.max_message_bytes:
        changes["max_message_bytes"] = min(defaults.max_message_bytes, memory // 8)
    if limits.max_factor_bytes == defaults.max_factor_bytes:
        changes["max_factor_bytes"] = min(defaults.max_factor_bytes, memory // 2)
    return replace(limits, **changes)


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    from service.cpu import memory_limit

    if args.backend not in ("auto", "cpu", "gpu"):
        raise SystemExit(f"--backend must be auto, cpu or gpu, not {args.backend!r}")
    if args.auth_token.strip().lower() in PLACEHOLDER_TOKENS:
        raise SystemExit(f"--auth-token (SOLVERD_AUTH_TOKEN) is the published placeholder "
                         f"{args.auth_token!r}: generate one, e.g. `openssl rand -hex 32`")
    limits = memory_bounded(Limits(**{f.name: getattr(args, f.name) for f in fields(Limits)}),
                            memory_limit())
    values = {f.name: getattr(args, f.name) for f in fields(ServerConfig) if f.name != "limits"}
    return ServerConfig(**values, limits=limits)
