"""Shared fixtures: the golden grid (loaded once), and the golden files per metafor version."""

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
#: golden files live in one folder per metafor version: fixtures/goldens/metafor-X.Y.Z/
GOLDENS = ROOT / "fixtures" / "goldens"


pytest_plugins = ["pytester"]


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.replace("-", ".").split("."))


def golden_versions(name: str = "rma_grid.json") -> list[str]:
    """The metafor versions (oldest first) for which golden file ``name`` was recorded."""
    found = [p.parent.name.removeprefix("metafor-") for p in GOLDENS.glob(f"metafor-*/{name}")]
    return sorted(found, key=_version_key)


def golden_path(name: str = "rma_grid.json", version: str | None = None) -> Path:
    """The golden file ``name`` recorded with metafor ``version`` (default: the oldest)."""
    return GOLDENS / f"metafor-{version or golden_versions(name)[0]}" / name


def load_golden(version: str | None = None) -> dict:
    with golden_path("rma_grid.json", version).open() as fh:
        return json.load(fh)


@pytest.fixture(autouse=True)
def _mirror_the_bridges_metafor(request):
    """A test that talks to live metafor (the ``metafor`` fixture) mirrors that metafor's
    release (:func:`metaparity.metafor_version`); other tests keep the default."""
    if "metafor" not in request.fixturenames:
        yield
        return
    from metaparity import metafor_version

    bridge = request.getfixturevalue("metafor")
    with metafor_version(bridge.versions()["metafor"]):
        yield


@pytest.fixture(scope="session")
def golden() -> dict:
    return load_golden()
