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
    res.stdout.fnmatch_lines(["*R/metafor unavailable (R is not installed (test))*"])
    monkeypatch.setenv("CI", "true")
    res = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    res.assert_outcomes(errors=1)  # a setup failure: red, never a skip
    res.stdout.fnmatch_lines(["*R is required here (CI=true) but unavailable*"])


def test_an_r_test_that_skips_itself_fails_under_ci(pytester, monkeypatch):
    """An r-marked test whose body skips (an R package or metafor's fit unavailable) is red
    under CI=true, and a plain skip stays a skip."""
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.r
        def test_needs_numderiv():
            pytest.skip("metafor: Please install the 'numDeriv' package")
        def test_not_r():
            pytest.skip("no matplotlib")
        """
    )
    monkeypatch.setattr(rbridge, "r_status", lambda: (True, "R (test)"))
    monkeypatch.delenv("METAPARITY_REQUIRE_R", raising=False)
    monkeypatch.delenv("CI", raising=False)
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(skipped=2)
    monkeypatch.setenv("CI", "true")
    res = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    res.assert_outcomes(failed=1, skipped=1)
    res.stdout.fnmatch_lines(["*an R test skipped under CI=true*numDeriv*"])


@pytest.mark.r
def test_bridge_reports_versions_and_runs_rma(metafor):
    v = metafor.versions()
    assert v["metafor"] and v["R"].startswith("R version")
    out = metafor.rma([0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, 0.015], method="DL")
    assert out["ok"] and out["fit"]["k"] == 4
    # R-side errors come back structured, not as an R traceback
    bad = metafor.rma([0.1, 0.2], [0.01, 0.0], method="DL")
    assert bad["ok"] is False and "non-positive sampling variances" in bad["error"]


FAKE_RSCRIPT = """#!/bin/sh
# an Rscript that prints partial output, half-writes its result and dies by SIGKILL when
# asked to run metafor's rma (the version and package checks go to the real Rscript)
for a in "$@"; do
  case "$a" in *request.json) if grep -q '"fn": "rma"' "$a"; then
      echo "partial output"; printf '[{"ok": tr' > "$(dirname "$a")/result.json"
      kill -9 $$; fi;;
  esac
done
exec Rscript "$@"
"""


def fake_rscript(tmp_path):
    """A fake Rscript (see FAKE_RSCRIPT) for METAPARITY_RSCRIPT."""
    exe = tmp_path / "Rscript-dies"
    exe.write_text(FAKE_RSCRIPT)
    exe.chmod(0o755)
    return exe


def test_rscript_override_must_be_an_executable(monkeypatch):
    monkeypatch.setenv("METAPARITY_RSCRIPT", "/nonexistent/Rscript")
    with pytest.raises(rbridge.RUnavailable, match=r"METAPARITY_RSCRIPT=/nonexistent.*unset"):
        rbridge.RscriptBridge()


@pytest.mark.r
def test_rscript_killed_mid_run_is_rfailed(tmp_path, monkeypatch, metafor):
    monkeypatch.setenv("METAPARITY_RSCRIPT", str(fake_rscript(tmp_path)))
    bridge = rbridge.RscriptBridge()  # versions come from the real R
    with pytest.raises(rbridge.RFailed, match=r"killed by SIGKILL.*\(rma\).*partial output"):
        bridge.rma([0.1, 0.3], [0.01, 0.02], method="DL")


def test_rpy2_mismatch_names_both_versions_and_the_fix():
    msg = rbridge._rpy2_mismatch_message("4.2.2", OSError("cannot load library 'libR.so'"))
    assert "rpy2 " + rbridge._rpy2_version() in msg and "R 4.2.2" in msg
    assert "bash scripts/setup.sh" in msg and "pip install 'rpy2==3.5.17'" in msg


@pytest.mark.r
def test_rpy2_console_output_becomes_warnings_and_r_errors_rfailed(metafor, capfd):
    if metafor.backend != "rpy2":
        pytest.skip("rpy2 backend only")
    ro = metafor._ro
    ro.r("mp_rma_saved <- mp_rma")
    try:
        ro.r('mp_rma <- function(...) { message("a note from R"); mp_rma_saved(...) }')
        out = metafor.rma([0.1, 0.3, 0.2], [0.01, 0.02, 0.015], method="DL")
        assert out["ok"] and "R console: a note from R" in out["warnings"]
        ro.r('mp_rma <- function(...) stop("R fell over")')
        with pytest.raises(rbridge.RFailed, match=r"R 4\.\d+\.\d+ failed .*\(rma\).*R fell over"):
            metafor.rma([0.1, 0.3], [0.01, 0.02], method="DL")
    finally:
        ro.r("mp_rma <- mp_rma_saved")
    assert "a note from R" not in capfd.readouterr().err


@pytest.mark.r
@pytest.mark.parametrize("backend", ["rpy2", "rscript"])
def test_generic_call_round_trips_arguments_on_both_backends(metafor, backend):
    """``bridge.call("mp_…", **args)``: the family files' entry point, same R types on both."""
    b = rbridge.get_bridge(backend)
    r = b.call("mp_echo", x=[1.0, float("nan"), 3], s=["a", "b"], one=2.5, i=3, flag=True,
               nul=None, ctl={"threshold": 1e-12, "maxiter": 100}, name="OR")  # fmt: skip
    assert r["classes"] == ["numeric", "character", "numeric", "integer", "logical", "NULL",
                            "list", "character"]  # fmt: skip
    assert r["lengths"] == [3, 2, 1, 1, 1, 0, 2, 1]
    assert r["values"]["x"] == [1.0, None, 3.0] and r["values"]["ctl"] == ["threshold", "maxiter"]
    with pytest.raises(ValueError, match="mp_"):
        b.call("system", command="true")
