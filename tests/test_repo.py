"""Repository hygiene that CI must enforce: lint, Dockerfile lint, stubs in sync."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*command: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_ruff_clean() -> None:
    result = run(sys.executable, "-m", "ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_passes_hadolint() -> None:
    result = run(str(BIN / "hadolint"), "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_stubs_match_the_protos() -> None:
    result = run("bash", "scripts/gen-protos", "--check", PYTHON=sys.executable)
    assert result.returncode == 0, result.stdout + result.stderr


def test_protos_compile_alone_for_other_languages(tmp_path: Path) -> None:
    """Another language needs protos/ and nothing else: a descriptor set builds from it."""
    out = tmp_path / "solverd.pb"
    result = run(sys.executable, "-m", "grpc_tools.protoc", "-I", "protos",
                 f"--descriptor_set_out={out}", "--include_imports",
                 *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "protos").rglob("*.proto")))
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 0
