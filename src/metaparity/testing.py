"""Parity assertions for a user's own test suite (public path of :mod:`metaparity.parity.testing`).

>>> from metaparity.testing import assert_agrees_with_metafor
"""

from metaparity.parity.testing import assert_agrees_with_metafor

__all__ = ["assert_agrees_with_metafor"]
