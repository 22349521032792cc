"""Every combination of the linear solve's options a client can send, over the wire,
each answer checked on its true residual: the matrix forms (CSR, dense, COO), every
method, both precisions, one or three right-hand sides, with and without x0, and every
preconditioner. Combinations the service refuses must be refused by name. (A sweep
like this found recycled CG breaking down on its third column of three.)"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from solverd import Client, InvalidArgument

from problems import convection_diffusion_2d, poisson_2d

METHODS = ("cg", "minres", "gmres", "bicgstab", "direct", "sor", "ssor_cg", "gcrodr",
           "recycled_cg", "auto")
SYMMETRIC_ONLY = ("cg", "minres", "recycled_cg")
SWEEPS = ("sor", "ssor_cg")
RNG = np.random.default_rng(0)
SPD = poisson_2d(12).tocsr()
NONSYM = convection_diffusion_2d(12).tocsr()
B1 = RNG.standard_normal(SPD.shape[0])
B3 = RNG.standard_normal((SPD.shape[0], 3))


def _refused(method: str, preconditioner: str) -> bool:
    return ((method in SYMMETRIC_ONLY and preconditioner == "ilu")
            or (method in SWEEPS and preconditioner != "none"))


@pytest.mark.parametrize("method", METHODS)
def test_every_option_combination_answers_or_is_refused_by_name(client: Client,
                                                                method: str) -> None:
    a = NONSYM if method in ("gmres", "bicgstab", "gcrodr") else SPD
    checked = 0
    for form, precision, columns, x0, preconditioner in itertools.product(
            ("csr", "dense", "coo"), ("auto", "float32"), (1, 3), (False, True),
            ("none", "jacobi", "ilu")):
        b = B1 if columns == 1 else B3
        rtol = 1e-5 if precision == "float32" else 1e-9
        matrix = {"csr": a, "dense": a.toarray(), "coo": a.tocoo()}[form]
        options = {"method": method, "precision": precision, "preconditioner": preconditioner,
                   "rtol": rtol}
        if method in SWEEPS:
            options["omega"] = 1.5
        if x0:
            options["x0"] = np.full(b.shape, 0.1)
        case = (form, precision, columns, x0, preconditioner)
        if _refused(method, preconditioner):
            with pytest.raises(InvalidArgument) as err:
                client.solve(matrix, b, **options)
            assert "preconditioner" in err.value.fields, case
            continue
        r = client.solve(matrix, b, **options)
        assert r.converged, (case, r.info.stop_reason)
        residual = np.linalg.norm(b - a @ r.x, axis=0) / np.linalg.norm(b, axis=0)
        assert np.all(residual <= 10 * rtol), (case, residual)
        checked += 1
    assert checked >= 24
