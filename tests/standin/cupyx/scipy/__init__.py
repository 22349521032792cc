from cupyx.scipy import sparse

__all__ = ["sparse"]
