"""Stubs generated from protos/solverd/v1 by scripts/gen-protos. Do not edit."""
