"""Sparse matrix-vector products on the CPU: SciPy's CSR product against solverd's
product by diagonals (solvers/linear/diagonals.py), on the 5-point Darcy matrix.

    python bench/products.py [--grids 64 128 256] [--repeats 5]

One BLAS thread. For each grid: microseconds per product (best of --repeats runs of
300 products), the ratio, the conversion's cost in SciPy products, and the largest
difference from SciPy's result relative to |A| |x|.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from service.cpu import pin_blas_threads  # noqa: E402

pin_blas_threads(1)

import numpy as np  # noqa: E402

from solvers.linear import diagonals  # noqa: E402

from problems import darcy_2d, reference_random_field  # noqa: E402


def best(fn, number: int, repeats: int) -> float:  # type: ignore[no-untyped-def]
    return min(timeit.repeat(fn, number=number, repeat=repeats)) / number


def row(k: int, repeats: int) -> str:
    a = darcy_2d(k, np.exp(reference_random_field(k, np.random.default_rng(0)))).tocsr()
    x = np.random.default_rng(1).standard_normal(a.shape[0])
    form = diagonals.diagonal_form(a)
    assert form is not None
    scipy_s = best(lambda: a @ x, 300, repeats)
    ours_s = best(lambda: diagonals.matvec(form, x), 300, repeats)
    convert_s = best(lambda: diagonals.diagonal_form(a), 5, repeats)
    diff = np.abs(diagonals.matvec(form, x) - a @ x).max() / (abs(a) @ np.abs(x)).max()
    return (f"{a.shape[0]:6d} {a.nnz:8d} | {scipy_s * 1e6:12.1f} {ours_s * 1e6:13.1f} "
            f"{scipy_s / ours_s:7.2f}x | {convert_s / scipy_s:28.1f} | {diff:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grids", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    diagonals.warm_up()
    print("5-point Darcy matrix, a = exp(GRF); one thread; best of runs of 300 products")
    print("     n      nnz | SciPy CSR us  diagonals us  speedup | conversion (SciPy "
          "products) | max rel diff")
    for k in args.grids:
        print(row(k, args.repeats))


if __name__ == "__main__":
    main()
