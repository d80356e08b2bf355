"""The R bridge and the pytest plugin's policy (what happens without R)."""

from __future__ import annotations

import pytest

from metaparity.parity import rbridge
from metaparity.parity.pytest_plugin import r_required


@pytest.mark.parametrize(
    "version,spec",
    [("4.2.2", "rpy2==3.5.17"), ("4.3.3", "rpy2==3.5.17"), ("4.4.0", "rpy2>=3.6,<3.7"),
     ("4.5.1", "rpy2>=3.6,<3.7")],
)  # fmt: skip
def test_rpy2_spec_follows_r_version(version, spec):
    assert rbridge.rpy2_spec_for(version) == spec


def test_missing_r_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(rbridge.shutil, "which", lambda name: None)
    rbridge._r_version_from_rscript.cache_clear()
    try:
        with pytest.raises(rbridge.RUnavailable, match=r"R is not installed.*scripts/setup.sh"):
            rbridge.MetaforBridge()
    finally:
        rbridge._r_version_from_rscript.cache_clear()


@pytest.mark.parametrize(
    "env,expected",
    [({"CI": "true"}, True), ({"CI": "1"}, True), ({"CI": ""}, False), ({}, False),
     ({"METAPARITY_REQUIRE_R": "1"}, True)],
)  # fmt: skip
def test_r_required_policy(monkeypatch, env, expected):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("METAPARITY_REQUIRE_R", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert r_required() is expected


def test_plugin_skips_without_r_and_fails_under_ci(pytester, monkeypatch):
    """A user's r-marked test: skipped with the reason on a laptop, failed under CI=true."""
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.r
        def test_needs_r():
            pass
        """
    )
    monkeypatch.setattr(rbridge, "r_status", lambda: (False, "R is not installed (test)"))
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("METAPARITY_REQUIRE_R", raising=False)
    res = pytester.runpytest_inprocess("-rs", "-p", "no:cacheprovider")
    res.assert_outcomes(skipped=1)
    res.stdout.fnmatch_lines(["*R/metafor unavailable: R is not installed (test)*"])
    monkeypatch.setenv("CI", "true")
    res = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    res.assert_outcomes(errors=1)  # a setup failure: red, never a skip
    res.stdout.fnmatch_lines(["*R is required here (CI=true) but unavailable*"])


@pytest.mark.r
def test_bridge_reports_versions_and_runs_rma(metafor):
    v = metafor.versions()
    assert v["metafor"] and v["R"].startswith("R version")
    out = metafor.rma([0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, 0.015], method="DL")
    assert out["ok"] and out["fit"]["k"] == 4
    # R-side errors come back structured, not as an R traceback
    bad = metafor.rma([0.1, 0.2], [0.01, 0.0], method="DL")
    assert bad["ok"] is False and "non-positive sampling variances" in bad["error"]
