"""Bundled data sets (no download at run time)."""

from . import digits

__all__ = ["digits"]
