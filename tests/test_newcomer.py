"""What a new user meets first (issue 28): the server's command line and the client's
manners. Each test failed before its fix."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from conftest import start_server


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service", "serve", "--host", "127.0.0.1",
                           *args], capture_output=True, text=True, timeout=90,
                          env={**os.environ, **(env or {})})


def _last_line(run: subprocess.CompletedProcess) -> str:
    return run.stderr.strip().splitlines()[-1]


def test_a_port_in_use_is_an_error_naming_it() -> None:
    """Before: a second server on a served port started and took part of the traffic."""
    first = start_server("--backend", "cpu")
    try:
        run = _serve("--port", str(first.port), "--metrics-port", "-1")
        assert run.returncode != 0
        assert f":{first.port}" in _last_line(run) and "--port" in _last_line(run)
    finally:
        first.stop()


def test_a_metrics_port_in_use_is_one_line_naming_the_flag() -> None:
    """Before: a 39-line traceback naming neither the port nor the flag."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = _serve("--port", "0", "--metrics-port", str(port))
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert str(port) in _last_line(run) and "--metrics-port" in _last_line(run)


def test_bad_values_say_where_they_came_from() -> None:
    run = _serve(env={"SOLVERD_PORT": "abc"})
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "SOLVERD_PORT" in run.stderr and "'abc'" in run.stderr


def test_integers_in_the_readmes_notation() -> None:
    from service.config import build_parser, config_from_args

    args = build_parser().parse_args(["serve", "--max-rows", "5e7", "--max-nonzeros",
                                      "500_000_000"])
    limits = config_from_args(args).limits
    assert (limits.max_rows, limits.max_nonzeros) == (50_000_000, 500_000_000)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--max-rows", "5.5"])


def test_every_flag_has_help_with_its_default() -> None:
    """Before: 31 flags with no description and no default."""
    from service.config import HELP, build_parser

    serve = build_parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore
    flags = [a for a in serve._actions if a.dest != "help"]
    assert {a.dest for a in flags} == set(HELP)
    for action in flags:
        assert action.help and "(default: " in action.help, action.dest
        assert len(action.help) > len("(default: x)") + 10, action.dest


def test_no_metrics_says_off() -> None:
    """Before: --metrics-port -1 printed 'metrics :0'."""
    server = subprocess.Popen([sys.executable, "-u", "-m", "service", "serve", "--host",
                               "127.0.0.1", "--port", "0", "--metrics-port", "-1"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert "serving on" in line and "metrics off" in line
    finally:
        server.terminate()
        server.wait(30)


def test_the_names_each_ecosystem_uses(client) -> None:
    """Before: client.solve(A, b, maxiter=10) raised 'solve_request() got an unexpected
    keyword argument' (an internal name, no hint)."""
    import numpy as np

    from problems import poisson_2d

    a, b = poisson_2d(10), np.ones(100)
    assert client.solve(a, b, method="cg", maxiter=3).iterations == 3  # SciPy
    assert client.solve(a, b, method="cg", tol=1e-12).residual_norm <= 1e-12
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 8))
    assert client.lasso(X, X[:, 0], 0.01, max_iter=2).iterations <= 2  # scikit-learn
    M = rng.random((6, 5))
    assert client.transport(None, None, M, method="sinkhorn", numItermax=3,  # POT
                            stopThr=1e-3).sinkhorn_iterations <= 3
    assert client.transport(None, None, M, method="sinkhorn-eps").method == "sinkhorn_eps"
    with client.sequence(method="sor", tuner="tsallis_inf") as seq:
        assert seq.solve(a, b).converged


def test_the_async_client_takes_the_same_names(server) -> None:
    import asyncio

    import numpy as np

    from solverd import AsyncClient

    from problems import poisson_2d

    a, b = poisson_2d(10), np.ones(100)
    X = np.random.default_rng(0).standard_normal((30, 8))

    async def go() -> None:
        async with AsyncClient(server.address) as client:
            assert (await client.solve(a, b, method="cg", maxiter=3)).iterations == 3
            assert (await client.lasso(X, X[:, 0], 0.01, max_iter=2)).iterations <= 2
            r = await client.transport(None, None, X[:6, :5] ** 2, method="sinkhorn",
                                       numItermax=3, stopThr=1e-3)
            assert r.sinkhorn_iterations <= 3
            with pytest.raises(TypeError, match=r"^AsyncClient.solve\(\).*'maxiter'"):
                await client.solve(a, b, maxitr=3)
            with pytest.raises(TypeError, match=r"^AsyncClient.lasso\(\).*'max_iter'"):
                await client.lasso(X, X[:, 0], 0.01, max_it=2)
            with pytest.raises(TypeError, match="twice"):
                await client.transport(None, None, X[:6, :5] ** 2, tol=1e-3, stopThr=1e-3)

    asyncio.run(go())


def test_transport_is_typed_one_result_and_batches_a_list() -> None:
    import typing

    from solverd import AsyncClient, Client
    from solverd.transport import TransportResult

    for cls in (Client, AsyncClient):
        assert typing.get_type_hints(cls.transport)["return"] is TransportResult
        assert typing.get_type_hints(cls.transport_batch)["return"] == list[TransportResult]


@pytest.mark.parametrize(("call", "public", "hint"), [
    (lambda c, a, b: c.solve(a, b, maxitr=3), "Client.solve", "maxiter"),
    (lambda c, a, b: c.solve_batch(a, [b, b], foo=1), "Client.solve_batch", None),
    (lambda c, a, b: c.lasso(a.toarray(), b, 0.1, max_it=3), "Client.lasso", "max_iter"),
    (lambda c, a, b: c.transport(None, None, a.toarray(), numItermx=3), "Client.transport",
     "numItermax"),
])
def test_an_unknown_keyword_names_the_public_method_and_the_closest(client, call, public,
                                                                     hint) -> None:
    import numpy as np

    from problems import poisson_2d

    with pytest.raises(TypeError) as err:
        call(client, poisson_2d(4), np.ones(16))
    text = str(err.value)
    assert text.startswith(f"{public}()") and "valid:" in text
    if hint:
        assert f"did you mean '{hint}'" in text


def test_clear_messages_for_common_mistakes(client) -> None:
    import numpy as np
    import scipy.sparse.linalg as spla

    from problems import poisson_2d

    a = poisson_2d(5)
    with pytest.raises(TypeError, match=r"not a function|entries"):
        client.solve(spla.aslinearoperator(a), np.ones(25))
    with pytest.raises(ValueError, match="one target per sample"):
        client.lasso(np.eye(4), np.ones((4, 2)), 0.1)
    with pytest.raises(ValueError, match="transposed"):
        client.transport(np.ones(3) / 3, np.ones(2) / 2, np.ones((2, 3)))
    with pytest.raises(ValueError, match="context must be one number"):
        client.sequence(method="sor", tuner="chebcb").solve(a, np.ones(25),
                                                             context=np.array([0.3, 0.4]))
    assert client.sequence(method="sor", tuner="chebcb", context_range=(0, 1)).solve(
        a, np.ones(25), context=np.array([0.3])).converged
    with pytest.raises(TypeError, match="integer indices"):
        client.complete(np.array([0.0, 1.7]), np.array([0, 1]), np.ones(2), (3, 3), rank=1)


def test_a_deadline_error_says_the_timeout_and_how_to_change_it(client) -> None:
    import numpy as np

    from solverd.errors import DeadlineExceeded

    from problems import poisson_2d

    a = poisson_2d(300)
    with pytest.raises(DeadlineExceeded) as late:
        client.solve(a, np.ones(a.shape[0]), method="cg", rtol=1e-14, timeout=0.05)
    assert "0.05 s" in str(late.value) and "timeout=" in str(late.value)


def test_results_print_briefly(client) -> None:
    """Before: printing a solve of n = 900 wrote 17,552 characters."""
    import numpy as np

    from problems import poisson_2d

    result = client.solve(poisson_2d(30), np.ones(900))
    assert len(repr(result)) < 1000 and "shape=(900,)" in repr(result)
    assert result.__doc__ and "converged" in result.__doc__


def test_the_sklearn_extra_is_named_when_missing() -> None:
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "try:\n    import solverd.sklearn\nexcept ModuleNotFoundError as e:\n"
            "    print(e)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert "solverd[sklearn]" in run.stdout, run.stdout + run.stderr


def test_the_readme_example_runs(server) -> None:
    """The front door's one example per family, as a newcomer would paste it."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert len(blocks) == 1
    code = blocks[0].replace('Client("127.0.0.1:50051")', f'Client("{server.address}")')
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["r"].converged and namespace["t"].converged
    assert namespace["c"].converged and namespace["f"].converged
    for page in re.findall(r"\(docs/(\w+\.md)\)", readme):
        assert (Path(__file__).resolve().parent.parent / "docs" / page).exists(), page


@pytest.mark.parametrize("version", ["v1alpha", "v1"])
def test_reflection_resolves_methods_on_both_versions(server, version) -> None:
    """Before: only v1alpha, and `grpcurl describe solverd.v1.LinearSolver.Solve` said
    'Symbol not found'."""
    import grpc
    from google.protobuf import descriptor_pb2
    from grpc_reflection.v1alpha import reflection_pb2

    with grpc.insecure_channel(server.address) as channel:
        info = channel.stream_stream(
            f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        replies = list(info(iter([
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(
                file_containing_symbol="solverd.v1.LinearSolver.Solve"),
        ]), timeout=10))
    services = {s.name for s in replies[0].list_services_response.service}
    assert "solverd.v1.LinearSolver" in services and "grpc.health.v1.Health" in services
    files = replies[1].file_descriptor_response.file_descriptor_proto
    assert files, replies[1]
    protos = {p.name: p for p in map(descriptor_pb2.FileDescriptorProto.FromString, files)}
    assert "solverd/v1/linear.proto" in protos and "solverd/v1/tensor.proto" in protos
    # With the comments, for tools to show.
    comments = " ".join(location.leading_comments for location
                        in protos["solverd/v1/linear.proto"].source_code_info.location)
    assert "Solves A x = b" in comments


def test_chunks_fit_a_server_with_a_small_message_limit() -> None:
    """Before: a server started with --max-message-bytes 1 MiB could not receive chunked
    requests at all: the client's chunks were 8 MiB."""
    import numpy as np

    from solverd import Client

    from problems import poisson_2d

    server = start_server("--backend", "cpu", "--max-message-bytes", str(1 << 20))
    try:
        a = poisson_2d(300)  # 90,000 rows: ~7 MiB of CSR, sent in chunks
        with Client(server.address, chunk_threshold=0, retries=0) as client:
            result = client.solve(a, np.ones(a.shape[0]), method="cg", rtol=1e-6)
        assert result.converged
    finally:
        server.stop()


def test_metrics_count_a_request_once_in_one_vocabulary() -> None:
    """Before: a SolveBatch of 5 counted as 5 requests and a 7-alpha path as 7; rpc was
    'Solve' for one service and 'Transport.Solve' for another; backend 'numpy' on some
    series and 'cpu' on others; method 'sns' and 'transport_sns'; validation failures
    carried empty labels; _created series doubled the count."""
    import re

    import numpy as np

    from solverd import Client
    from solverd.errors import InvalidArgument

    from problems import poisson_2d

    server = start_server("--backend", "cpu")
    try:
        rng = np.random.default_rng(0)
        with Client(server.address, retries=0) as client:
            a = poisson_2d(10)
            client.solve_batch(a, rng.standard_normal((5, 100)), method="cg")
            X = rng.standard_normal((40, 12))
            client.lasso_path(X, X[:, 0], alphas=np.geomspace(1.0, 0.01, 7))
            client.transport(None, None, rng.random((8, 6)), reg=1e-3, method="sns")
            with pytest.raises(InvalidArgument):
                client.solve(a, np.ones(7))
        batch = "solverd.v1.LinearSolver/SolveBatch"
        path = "solverd.v1.SparseRegression/FitPath"
        assert server.metric("solverd_requests_total", rpc=batch) == 1
        assert server.metric("solverd_items_total", rpc=batch) == 5
        assert server.metric("solverd_requests_total", rpc=path) == 1
        assert server.metric("solverd_items_total", rpc=path) == 7
        assert server.metric("solverd_solver_iterations_count",
                             rpc="solverd.v1.Transport/Solve", method="sns") == 1
        assert server.metric("solverd_requests_total", rpc="solverd.v1.LinearSolver/Solve",
                             code="INVALID_ARGUMENT", method="unknown") == 1
        text = server.metrics()
        assert "_created" not in text
        labels = dict()
        for name, value in re.findall(r'(\w+)="([^"]*)"',
                                      "\n".join(line for line in text.splitlines()
                                                if line.startswith("solverd_"))):
            labels.setdefault(name, set()).add(value)
        assert "" not in set().union(*labels.values())
        assert labels["backend"] <= {"cpu", "gpu", "unknown"}
        assert all(r.startswith("solverd.v1.") and "/" in r for r in labels["rpc"])
        assert not any(m.startswith(("transport_", "regression_", "completion_"))
                       for m in labels["method"])
    finally:
        server.stop()


def test_an_access_log_when_asked_for() -> None:
    import json

    import numpy as np

    from solverd import Client

    from problems import poisson_2d

    server = start_server("--backend", "cpu", "--access-log-sample", "1")
    try:
        with Client(server.address) as client:
            client.solve(poisson_2d(5), np.ones(25), method="cg")
    finally:
        server.stop()
    lines = [line.split("solverd.access: ", 1)[1] for line in server.lines
             if "solverd.access: " in line]
    entry = json.loads(lines[-1])
    assert entry["rpc"] == "solverd.v1.LinearSolver/Solve" and entry["code"] == "OK"
    assert entry["method"] == "cg" and entry["seconds"] > 0


def test_a_read_only_kernel_cache_is_used_from_a_copy(tmp_path, monkeypatch) -> None:
    """The image's numba cache sits on a pod's read-only root filesystem."""
    import tempfile

    from service.cli import writable_numba_cache

    baked = tmp_path / "baked"
    baked.mkdir()
    (baked / "kernel.nbi").write_text("index")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(baked))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    writable_numba_cache(writable=lambda path: True)
    assert os.environ["NUMBA_CACHE_DIR"] == str(baked)
    writable_numba_cache(writable=lambda path: False)
    copied = tmp_path / "tmp" / "solverd-numba"
    assert os.environ["NUMBA_CACHE_DIR"] == str(copied)
    assert (copied / "kernel.nbi").read_text() == "index"
