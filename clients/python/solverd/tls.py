"""TLS credentials for a Client from PEM files."""

from __future__ import annotations

from pathlib import Path

import grpc


def tls_credentials(ca: str | Path | None = None, cert: str | Path | None = None,
                    key: str | Path | None = None) -> grpc.ChannelCredentials:
    """Credentials for `Client(..., credentials=...)`: `ca` the CA that signed the
    server's certificate (None: the system's roots); `cert` and `key` this client's
    certificate and key, for servers that require mutual TLS (--tls-client-ca)."""
    if (cert is None) != (key is None):
        raise ValueError("a client certificate needs both cert and key")

    def read(path: str | Path | None) -> bytes | None:
        return None if path is None else Path(path).read_bytes()

    return grpc.ssl_channel_credentials(root_certificates=read(ca), private_key=read(key),
                                        certificate_chain=read(cert))
