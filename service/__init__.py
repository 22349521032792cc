"""The solverd gRPC server: decode and validate, call `solvers`, encode, measure.

Kept free of imports so that `service.cli` can pin BLAS threads before NumPy loads.
"""
