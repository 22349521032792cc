"""CPU a server keeps burning after a call's deadline, per family (issue 27).

    python bench/deadlines.py [--deadline 0.2] [--only exact,direct]

For each heavy request (exact transport of 4,000 points, AUTO on a random sparse
10,000-row matrix, matrix completion of a 10^5 x 10^5 matrix from 2e6 entries (a
deadline longer by its upload time, as for the regressions), Sinkhorn at reg 1e-4 on
5,000 x 5,000 points, L1-logistic and Lasso on a sparse 50,000 x 5,000 design at alpha
1e-7, GMRES on Poisson 700^2)
sent with a 200 ms deadline to a fresh one-worker server: the CPU-seconds the server
process spends after the client saw DEADLINE_EXCEEDED, until it is idle (no CPU for
0.5 s, or 60 s), and the wall time to idle. Then the same after a cancel at 200 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from solverd import Client  # noqa: E402

from conftest import start_server  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
# Seconds added to the deadline for the cases whose request takes a while to send.
UPLOAD = {"completion": 0.8, "logistic": 0.5, "lasso": 0.5}


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """CPU of the process and its living descendants (a factorisation runs in a child
    of the fork server, itself a child of the server)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                parents[int(entry)] = int(_stat(int(entry))[1])
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, of in parents.items():
            if of == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    total = 0
    for member in tree:
        with contextlib.suppress(OSError):
            fields = _stat(member)
            total += int(fields[11]) + int(fields[12])
    return total / TICK


def until_idle(pid: int, limit: float = 60.0) -> tuple[float, float]:
    """(CPU-seconds, wall seconds) from now until the process stops using CPU."""
    start_cpu, start = cpu_seconds(pid), time.perf_counter()
    last, quiet_since = start_cpu, time.perf_counter()
    while time.perf_counter() - start < limit:
        time.sleep(0.1)
        now = cpu_seconds(pid)
        if now - last > 0.02:
            last, quiet_since = now, time.perf_counter()
        elif time.perf_counter() - quiet_since >= 0.5:
            break
    return last - start_cpu, quiet_since - start


def cases(rng: np.random.Generator) -> dict:
    X = rng.random((4000, 2))
    Y = rng.random((4000, 2))
    n = 10_000
    random = (sp.random(n, n, density=5 / n, random_state=1, format="csr")
              + sp.identity(n) * 0.1).tocsr()
    m = 100_000
    cells = np.unique(rng.integers(0, m * m, 2_000_000))
    rows, cols = cells // m, cells % m
    vals = rng.standard_normal(cells.size)
    P = rng.random((5000, 2))
    Q = rng.random((5000, 2))
    Xl = sp.random(50_000, 5_000, density=0.01, random_state=2, format="csr")
    signal = Xl[:, :50].sum(axis=1).A.ravel()
    yl = np.sign(signal + 0.1 * rng.standard_normal(50_000))
    yr = signal + 0.1 * rng.standard_normal(50_000)
    k = 700
    poisson = sp.diags([-1.0, -1.0, 4.0, -1.0, -1.0], [-k, -1, 0, 1, k],
                       shape=(k * k, k * k)).tocsr()
    return {
        "exact": lambda c, t: c.transport(X=X, Y=Y, method="exact", plan="none", timeout=t),
        "direct": lambda c, t: c.solve(random, np.ones(n), timeout=t),
        "completion": lambda c, t: c.complete(rows, cols, vals, (m, m), rank=20, timeout=t),
        "sinkhorn": lambda c, t: c.transport(X=P, Y=Q, reg=1e-4, method="sinkhorn",
                                             plan="none", timeout=t),
        "logistic": lambda c, t: c.logistic_l1(Xl, yl, 1e-7, tol=1e-10, timeout=t),
        "lasso": lambda c, t: c.lasso(Xl, yr, 1e-7, tol=1e-12, timeout=t),
        "gmres": lambda c, t: c.solve(poisson, np.ones(k * k), method="gmres", rtol=1e-12,
                                      timeout=t),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deadline", type=float, default=0.2)
    parser.add_argument("--only", type=lambda s: s.split(","), default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"deadline {args.deadline} s; CPU-s and wall s the server spent after the client "
          "saw the error, until idle", flush=True)
    for name, call in cases(rng).items():
        if args.only and name not in args.only:
            continue
        deadline = args.deadline + UPLOAD.get(name, 0.0)  # its upload
        for mode in ("deadline", "cancel"):
            server = start_server("--backend", "cpu", "--cpu-workers", "2", "--blas-threads", "1")
            try:
                client = Client(server.address, timeout=600, retries=0)
                code = "ok"
                before = cpu_seconds(server.process.pid)
                if mode == "deadline":
                    try:
                        call(client, deadline)
                    except Exception as exc:  # any status: it is printed
                        code = type(exc).__name__
                else:
                    thread = threading.Thread(target=_quietly, args=(call, client),
                                              daemon=True)
                    thread.start()
                    time.sleep(deadline)
                    client.close()  # the channel closes: the call is cancelled
                    code = "cancelled"
                during = cpu_seconds(server.process.pid) - before
                burnt, wall = until_idle(server.process.pid)
                print(f"{name:10s} {mode:8s} {code!s:18s} CPU before the error "
                      f"{during:5.2f} s, after {burnt:6.2f} s, wall to idle {wall:6.2f} s",
                      flush=True)
            finally:
                server.stop()


def _quietly(call, client) -> None:
    with contextlib.suppress(Exception):  # cancelled on purpose
        call(client, 600)


if __name__ == "__main__":
    main()
