"""nvmath.sparse on the stand-in (see nvmath/__init__.py)."""
