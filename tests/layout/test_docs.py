"""Every public function documents its parameters and return value (numpydoc) and names
its metafor equivalent; examples in docstrings run as doctests (``--doctest-modules``)."""

from __future__ import annotations

import inspect

import pytest

import metaparity

FUNCTIONS = [n for n in metaparity.__all__ if inspect.isfunction(getattr(metaparity, n, None))]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_public_function_has_numpydoc_sections_and_names_metafor(name):
    doc = inspect.getdoc(getattr(metaparity, name)) or ""
    missing = [s for s in ("Parameters\n----------", "Returns\n-------") if s not in doc]
    assert not missing, f"metaparity.{name}: docstring lacks {missing}"
    assert "metafor" in doc, f"metaparity.{name}: docstring does not name its metafor equivalent"


def test_version_comes_from_the_installed_distribution():
    from importlib.metadata import version

    assert metaparity.__version__ == version("metaparity")
