"""Channel options shared by the sync and async clients."""

from __future__ import annotations

import random

DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024
DEFAULT_TIMEOUT_SECONDS = 600.0
# HTTP/2 stream window: gRPC's 64 KiB default makes a multi-megabyte message
# wait for many window updates before it can be sent at full speed.
STREAM_WINDOW_BYTES = 8 * 1024 * 1024


def channel_options(max_message_bytes: int) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        # gRPC's own transparent retries buffer the request; ours resend it instead.
        ("grpc.enable_retries", 0),
        ("grpc.http2.lookahead_bytes", STREAM_WINDOW_BYTES),
    ]


def backoff_seconds(attempt: int, base: float = 0.1, cap: float = 2.0) -> float:
    """Full-jitter exponential backoff: spreads retries of many clients apart."""
    return random.uniform(0, min(cap, base * 2**attempt))
