"""Several replicas: calls spread over them, and a batch survives one dying."""

from __future__ import annotations

import signal
import threading

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solverd import Client

from conftest import start_server
from problems import poisson_2d


def _solves(server) -> float:
    return server.metric("solverd_requests_total", rpc="solverd.v1.LinearSolver/Solve")


def test_calls_go_round_robin_over_a_list_and_over_a_resolved_name() -> None:
    servers = [start_server("--backend", "cpu") for _ in range(2)]
    try:
        a = poisson_2d(10)
        with Client([s.address for s in servers]) as client:
            for _ in range(6):
                assert client.solve(a, np.ones(100), method="cg").converged
        assert [_solves(s) for s in servers] == [3, 3]
        # One name, several addresses: gRPC's round_robin balancer (as for a headless
        # Service resolved by dns:///), not pick_first.
        target = "ipv4:" + ",".join(s.address for s in servers)
        with Client(target) as client:
            for _ in range(20):
                assert client.solve(a, np.ones(100), method="cg").converged
        counts = [_solves(s) for s in servers]
        assert sum(counts) == 26 and min(counts) >= 3 + 5, counts
    finally:
        for s in servers:
            s.stop()


def test_batch_survives_a_replica_killed_mid_batch() -> None:
    servers = [start_server("--backend", "cpu", "--cpu-workers", "1") for _ in range(3)]
    try:
        rng = np.random.default_rng(3)
        base = poisson_2d(100)
        n = base.shape[0]
        mats = [sp.csr_matrix(base + sp.diags(rng.uniform(0, 0.5, n))) for _ in range(36)]
        rhs = rng.standard_normal((36, n))
        victim = servers[1]
        killed = threading.Event()

        def progress(done: int, total: int) -> None:
            if done >= 4 and not killed.is_set():
                victim.process.send_signal(signal.SIGKILL)
                killed.set()

        with Client([s.address for s in servers], timeout=120) as client:
            results = client.solve_batch(mats, rhs, method="cg", rtol=1e-10,
                                         progress=progress)
        assert killed.is_set() and victim.process.wait(timeout=10) == -signal.SIGKILL
        assert len(results) == 36
        for a, b, r in zip(mats, rhs, results, strict=True):
            assert r.converged
            exact = spla.spsolve(a.tocsc(), b)
            assert np.linalg.norm(r.x - exact) <= 1e-7 * np.linalg.norm(exact)
        # The survivors answered more than their own shards: they took the victim's rest.
        assert sum(s.metric("solverd_items_total", rpc="solverd.v1.LinearSolver/SolveBatch")
                   for s in (servers[0], servers[2])) > 24
    finally:
        for s in servers:
            s.stop()
