"""Shared fixtures: the golden grid (loaded once)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "fixtures" / "goldens" / "rma_grid.json"


pytest_plugins = ["pytester"]


def load_golden() -> dict:
    with GOLDEN.open() as fh:
        return json.load(fh)


@pytest.fixture(scope="session")
def golden() -> dict:
    return load_golden()
