"""Shared fixtures: the golden grid (loaded once)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import settings

from metaparity.parity.pytest_plugin import r_required

# CI runs the same examples every time (a red CI must be reproducible); laptops explore.
settings.register_profile("ci", derandomize=True, print_blob=True, max_examples=60)
# a longer search: pytest --hypothesis-profile=deep
settings.register_profile("deep", max_examples=3000, print_blob=True)
if r_required():
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "fixtures" / "goldens" / "rma_grid.json"


pytest_plugins = ["pytester"]


def load_golden() -> dict:
    with GOLDEN.open() as fh:
        return json.load(fh)


@pytest.fixture(scope="session")
def golden() -> dict:
    return load_golden()
