"""TLS, mutual TLS and the bearer token, with certificates made for the test."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import grpc
import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from solverd import Client, Unauthenticated, Unavailable, tls_credentials

from conftest import start_server
from problems import poisson_2d

A = poisson_2d(10)
B = np.ones(100)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _issue(subject: str, issuer_key, issuer: x509.Name | None, key, *, ca: bool,
           server: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject))
               .issuer_name(issuer or _name(subject)).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate | None = None, key=None) -> str:
    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, str]:
    """A CA, a server certificate for localhost / 127.0.0.1, a client certificate
    from the same CA, and one from a stranger's CA."""
    d = tmp_path_factory.mktemp("pki")
    keys = {name: ec.generate_private_key(ec.SECP256R1())
            for name in ("ca", "server", "client", "rogue_ca", "rogue")}
    ca = _issue("solverd test CA", keys["ca"], None, keys["ca"], ca=True)
    rogue_ca = _issue("rogue CA", keys["rogue_ca"], None, keys["rogue_ca"], ca=True)
    return {
        "ca": _write(d / "ca.pem", ca),
        "server_cert": _write(d / "server.pem", _issue("localhost", keys["ca"], ca.subject,
                                                       keys["server"], ca=False, server=True)),
        "server_key": _write(d / "server.key", key=keys["server"]),
        "client_cert": _write(d / "client.pem", _issue("client", keys["ca"], ca.subject,
                                                       keys["client"], ca=False)),
        "client_key": _write(d / "client.key", key=keys["client"]),
        "rogue_cert": _write(d / "rogue.pem", _issue("rogue", keys["rogue_ca"],
                                                     rogue_ca.subject, keys["rogue"], ca=False)),
        "rogue_key": _write(d / "rogue.key", key=keys["rogue"]),
    }


def test_tls(pki) -> None:
    running = start_server("--backend", "cpu", "--tls-cert", pki["server_cert"],
                           "--tls-key", pki["server_key"])
    try:
        with Client(f"localhost:{running.port}", credentials=tls_credentials(pki["ca"])) as c:
            assert c.solve(A, B, method="cg").converged
        with Client(running.address, retries=0, timeout=5) as plain, \
                pytest.raises(Unavailable):
            plain.solve(A, B)
    finally:
        running.stop()


def test_mutual_tls(pki) -> None:
    running = start_server("--backend", "cpu", "--tls-cert", pki["server_cert"],
                           "--tls-key", pki["server_key"], "--tls-client-ca", pki["ca"])
    try:
        good = tls_credentials(pki["ca"], pki["client_cert"], pki["client_key"])
        with Client(f"localhost:{running.port}", credentials=good) as c:
            assert c.solve(A, B, method="cg").converged
        for creds in (tls_credentials(pki["ca"]),
                      tls_credentials(pki["ca"], pki["rogue_cert"], pki["rogue_key"])):
            with Client(f"localhost:{running.port}", credentials=creds, retries=0,
                        timeout=5) as c, pytest.raises(Unavailable):
                c.solve(A, B)
    finally:
        running.stop()


def test_bearer_token_guards_solvers_not_health_or_metrics() -> None:
    running = start_server("--backend", "cpu", env={"SOLVERD_AUTH_TOKEN": "s3cret"})
    try:
        with Client(running.address, token="s3cret") as c:
            assert c.solve(A, B, method="cg").converged
            assert all(r.converged for r in c.solve_batch(A, np.stack([B, B])))
            assert c.lasso(np.eye(20), np.arange(20.0), 0.1).converged
        for token in (None, "wrong", "s3cret "):
            with Client(running.address, token=token) as c:
                with pytest.raises(Unauthenticated):
                    c.solve(A, B)
                with pytest.raises(Unauthenticated):
                    c.solve_batch(A, np.stack([B, B]))
                with pytest.raises(Unauthenticated):
                    c.info()
            with Client(running.address, token=token, chunk_threshold=0) as c, \
                    pytest.raises(Unauthenticated):
                c.solve(A, B)
        with grpc.insecure_channel(running.address) as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                               timeout=10)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
        assert "solverd_requests" in running.metrics()
        assert running.metric("solverd_requests_total", code="OK") >= 3
    finally:
        running.stop()
