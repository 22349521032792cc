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
    limits: Limits = Limits()

    @property
    def allow_gpu(self) -> bool:
        return self.backend != "cpu"


def _env(name: str, default: object) -> str | None:
    value = os.environ.get(f"SOLVERD_{name.upper()}")
    return value if value is not None else (None if default is None else str(default))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="solverd", description="solverd gRPC server")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server",
                           description="Every flag also reads SOLVERD_<FLAG> (e.g. SOLVERD_PORT).")
    defaults = ServerConfig()
    for f in fields(ServerConfig):
        if f.name == "limits":
            continue
        kind = type(getattr(defaults, f.name))
        serve.add_argument(f"--{f.name.replace('_', '-')}", type=kind,
                           default=kind(_env(f.name, getattr(defaults, f.name))))
    serve.set_defaults(backend=_env("backend", defaults.backend))
    for f in fields(Limits):
        kind = type(getattr(defaults.limits, f.name))
        serve.add_argument(f"--{f.name.replace('_', '-')}", type=kind,
                           default=kind(_env(f.name, getattr(defaults.limits, f.name))))
    return parser


# Tokens published as examples: a server must not guard anything with one.
PLACEHOLDER_TOKENS = ("change-me", "changeme", "secret", "token", "password")


def memory_bounded(limits: Limits, memory: int | None) -> Limits:
    """Limits whose built-in defaults a container's memory limit lowers: the upload
    budget to half of it and a message to an eighth, so that a large request gets
    RESOURCE_EXHAUSTED rather than the pod an OOM kill (a 4 GiB pod took uploads of
    8 GiB). Values set by flag or environment are kept."""
    if memory is None:
        return limits
    defaults = Limits()
    changes = {}
    if limits.max_upload_bytes == defaults.max_upload_bytes:
        changes["max_upload_bytes"] = min(defaults.max_upload_bytes, memory // 2)
    if limits.max_message_bytes == defaults.max_message_bytes:
        changes["max_message_bytes"] = min(defaults.max_message_bytes, memory // 8)
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
