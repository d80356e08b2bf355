"""pytest plugin (entry point ``metaparity``): the ``r`` marker, the CI policy and
a session-wide ``metafor`` fixture.

* Tests marked ``@pytest.mark.r`` need R with metafor reachable through rpy2.
* Without R they are skipped with the reason (what is missing, how to install it)
  -- unless the environment says R must be there: under ``CI=true`` (or
  ``METAPARITY_REQUIRE_R=1``) a missing R fails the test instead of skipping it.
* The ``metafor`` fixture is the in-process bridge
  (:class:`metaparity.parity.rbridge.MetaforBridge`), started once per session.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from metaparity._core.mfversion import get_metafor_version
from metaparity.parity import rbridge

__all__ = ["r_required", "INSTALL_R"]

#: how to get what ``r``-marked tests need, with what users have (no repository script)
INSTALL_R = (
    "to run these tests install R and metafor (Debian/Ubuntu: apt-get install r-base "
    "r-cran-metafor; elsewhere R from https://cran.r-project.org and "
    "install.packages('metafor') in R) and rpy2 (pip install rpy2), or put Rscript on PATH"
)


def r_required() -> bool:
    """Whether R must be present, so that a missing R fails instead of skipping.

    Returns
    -------
    bool
        True under ``CI=true`` (or 1/yes) or ``METAPARITY_REQUIRE_R=1``.
    """
    ci = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
    forced = os.environ.get("METAPARITY_REQUIRE_R", "").strip().lower() in {"1", "true", "yes"}
    return ci or forced


def _need_r() -> None:
    ok, why = rbridge.r_status()
    if ok:
        return
    if r_required():
        pytest.fail(
            f"R is required here (CI=true) but unavailable: {why}; {INSTALL_R}", pytrace=False
        )
    pytest.skip(f"R/metafor unavailable ({why}); {INSTALL_R}")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``r`` marker."""
    config.addinivalue_line(
        "markers", "r: needs R with metafor through rpy2 (skipped without R; fails under CI=true)"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip (or, when :func:`r_required`, fail) an ``r``-marked test without R."""
    if item.get_closest_marker("r") is not None:
        _need_r()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Under :func:`r_required`, an ``r``-marked test that skips anyway (its body called
    ``pytest.skip`` because an R package or metafor's fit was unavailable) fails: in CI an R
    skip is a failure, whatever raised it."""
    outcome = yield
    rep = outcome.get_result()
    if (rep.skipped and not hasattr(rep, "wasxfail") and r_required()
            and item.get_closest_marker("r") is not None):  # fmt: skip
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = f"an R test skipped under CI=true (an R skip fails in CI): {reason}"


def pytest_report_header(config: pytest.Config) -> str:
    """One header line: whether R/metafor is reachable and whether it is required."""
    ok, why = rbridge.r_status()
    policy = "required (CI)" if r_required() else "optional"
    mirrored = f"; mirroring metafor {get_metafor_version()}" if ok else ""
    return (
        f"metaparity: R {'available: ' + why if ok else 'unavailable: ' + why} [R {policy}]"
        f"{mirrored}"
    )


@pytest.fixture(scope="session")
def metafor():
    """The live metafor bridge (:func:`metaparity.parity.rbridge.get_bridge`); skips (or
    fails under CI) when R is unavailable."""
    _need_r()
    return rbridge.get_bridge()
