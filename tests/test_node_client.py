"""Another language: the Node.js client in clients/node/ (@grpc/grpc-js and
@grpc/proto-loader from npm, protos/ alone) against a live server."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parent.parent / "clients" / "node"


def _tools() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        if os.environ.get("CI"):
            pytest.fail("CI needs Node.js and npm for the Node client test")
        pytest.skip("Node.js / npm not installed")
    return node, npm  # type: ignore[return-value]


def test_node_client_solves_and_reads_bad_request(server) -> None:
    node, npm = _tools()
    if not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").exists():
        install = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR,
                                 capture_output=True, text=True, timeout=300)
        assert install.returncode == 0, install.stdout + install.stderr
    run = subprocess.run([node, "solve.js", server.address], cwd=NODE_DIR,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "converged=true" in run.stdout
    assert "b.dtype" in run.stdout and "node client: OK" in run.stdout
