"""Fixtures: real solverd servers in subprocesses, on free ports."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

import gpu_lane

# Before any test module imports solvers (whose GPU probe is cached): SOLVERD_FAKE_GPU=1
# runs the GPU tests on the NumPy stand-in for CuPy where no device is.
GPU_LANE = gpu_lane.activate()

READY = re.compile(r"serving on \S+:(\d+) metrics :(\d+)")


@dataclass
class RunningServer:
    process: subprocess.Popen
    port: int
    metrics_port: int
    lines: list[str]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        total = 0.0
        for line in self.metrics().splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            head, value = line.rsplit(" ", 1)
            found = dict(re.findall(r'(\w+)="([^"]*)"', head))
            if all(found.get(k) == v for k, v in labels.items()):
                total += float(value)
        return total

    def rss_bytes(self) -> int:
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(*args: str, env: dict[str, str] | None = None) -> RunningServer:
    """Starts `python -m service serve` on free ports and waits for its ready line."""
    command = [sys.executable, "-u", "-m", "service", "serve", "--host", "127.0.0.1",
               "--port", "0", "--metrics-port", "0", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env={**os.environ, **(env or {})})
    lines: list[str] = []
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = READY.search(line)
        if match:
            # Keep draining the pipe so the server never blocks on a full one.
            threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True).start()
            return RunningServer(process, int(match.group(1)), int(match.group(2)), lines)
    process.kill()
    raise RuntimeError("server did not start:\n" + "".join(lines))


def chunk_header(request: object, tensors: list[tuple[str, int]]) -> bytes:
    """A serialized RequestChunk header for `request` (a WireMessage) declaring
    `tensors` (field path, bytes): for hand-made, possibly hostile, chunk streams."""
    from solverd.v1 import chunks_pb2

    msg = chunks_pb2.RequestChunk()
    msg.header.request = request.message.SerializeToString()  # type: ignore[attr-defined]
    for field, size in tensors:
        msg.header.tensors.add(field=field, size=size)
    return msg.SerializeToString()


def chunk_data(index: int, data: bytes) -> bytes:
    """A serialized RequestChunk carrying `data` for the header's tensor `index`."""
    from solverd.v1 import chunks_pb2

    return chunks_pb2.RequestChunk(data=chunks_pb2.TensorChunk(tensor=index, data=data)
                                   ).SerializeToString()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pytest_report_header() -> str:
    return {"off": "GPU tests: on a real device if there is one, else skipped",
            "real": "GPU tests: on the real device (SOLVERD_FAKE_GPU ignored)",
            "standin": "GPU tests: on the NumPy stand-in for CuPy (tests/standin)"}[GPU_LANE]


@pytest.fixture(scope="session")
def server() -> Iterator[RunningServer]:
    running = start_server("--backend", "cpu")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def small_server() -> Iterator[RunningServer]:
    """A server with tight limits, to test that they are enforced."""
    running = start_server("--backend", "cpu", "--max-message-bytes", str(1 << 20),
                           "--max-rows", "5000", "--max-iterations", "1000", "--max-rhs", "4",
                           "--max-dense-rows", "100", "--max-solve-seconds", "0.3")
    yield running
    running.stop()


@pytest.fixture()
def client(server: RunningServer):
    from solverd import Client

    with Client(server.address, timeout=120) as c:
        yield c
