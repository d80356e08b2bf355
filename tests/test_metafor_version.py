"""The metafor-version setting: set_metafor_version, metafor_version, METAPARITY_METAFOR."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import metaparity as mp
from metaparity._core import mfversion
from metaparity._core.mfversion import KNOWN, NEWEST, parse_version, resolve_version, since

# Five studies, DL-like heterogeneity: DLIT (3.8: the DL fixed point) and PM differ here.
Y = [0.1, 0.3, 0.5, 0.2, -0.1]
V = [0.01, 0.02, 0.03, 0.015, 0.02]


@pytest.fixture(autouse=True)
def _restore():
    before = mp.get_metafor_version()
    yield
    mp.set_metafor_version(before)


@pytest.mark.parametrize(
    "text,want",
    [("4.8", (4, 8, 0)), ("4.8.0", (4, 8, 0)), ("4.8-0", (4, 8, 0)), ("5.1-12", (5, 1, 12)),
     (" 3.8.1 ", (3, 8, 1))],
)  # fmt: skip
def test_versions_are_read_as_r_prints_them(text, want):
    assert parse_version(text) == want


@pytest.mark.parametrize("bad", ["", "four", "4", "4.x", "v4.8", "4.8.0.1", 4.8])
def test_malformed_version_is_an_error_naming_the_known_ones(bad):
    with pytest.raises(ValueError, match="malformed metafor version") as err:
        mp.set_metafor_version(bad)
    assert all(k in str(err.value) for k in KNOWN)


def test_default_is_the_newest_known_release():
    assert NEWEST == KNOWN[-1] == "5.1"
    code = "import metaparity as mp; print(mp.get_metafor_version())"
    env = {k: v for k, v in os.environ.items() if k != "METAPARITY_METAFOR"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == NEWEST, out.stderr


def test_environment_variable_selects_the_release():
    code = "import metaparity as mp; print(mp.get_metafor_version())"
    env = dict(os.environ, METAPARITY_METAFOR="4.8-0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "4.8", out.stderr
    env["METAPARITY_METAFOR"] = "nonsense"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0
    assert "METAPARITY_METAFOR" in out.stderr and "malformed metafor version" in out.stderr


def test_set_returns_the_previous_setting_and_the_context_manager_restores_it():
    mp.set_metafor_version("3.8.1")
    assert mp.get_metafor_version() == "3.8"
    assert mp.set_metafor_version("4.8") == "3.8"
    with mp.metafor_version("5.1-12") as chosen:
        assert chosen == "5.1" == mp.get_metafor_version()
    assert mp.get_metafor_version() == "4.8"
    with pytest.raises(RuntimeError), mp.metafor_version("3.8"):
        raise RuntimeError("restored even on errors")
    assert mp.get_metafor_version() == "4.8"


@pytest.mark.parametrize(
    "given,nearest",
    [("4.7", "4.6"), ("4.9.2", "4.8"), ("6.0", "5.1"), ("3.4", "3.8"), ("5.0-1", "5.0")],
)
def test_unknown_versions_get_the_nearest_known_behaviour_with_a_warning(given, nearest):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert resolve_version(given) == nearest
    is_known = ".".join(given.split("-")[0].split(".")[:2]) in KNOWN
    if is_known:
        assert not caught
    else:
        assert any(f"behaviour of metafor {nearest}" in str(w.message) for w in caught), caught


def test_every_change_names_a_known_release_and_since_orders_them():
    for key, text in mfversion.CHANGES.items():
        first = text.split(":", 1)[0]
        assert first in KNOWN, (key, first)
        assert since(key, first) and since(key, NEWEST)
        older = [k for k in KNOWN if parse_version(k) < parse_version(first)]
        assert not any(since(key, k) for k in older), key


def test_dlit_is_the_dl_fixed_point_before_4_6_and_the_pm_root_after():
    pm = mp.rma(Y, V, method="PM")
    with mp.metafor_version("3.8"):
        old = mp.rma(Y, V, method="DLIT")
        old_batch = mp.rma_batch(np.array([Y]), np.array([V]), method="DLIT", engine="numpy")
    with mp.metafor_version("4.8"):
        new = mp.rma(Y, V, method="DLIT")
        new_batch = mp.rma_batch(np.array([Y]), np.array([V]), method="DLIT", engine="numpy")
    assert abs(old.tau2 - pm.tau2) > 1e-3  # the two fixed points differ on these data
    assert new.tau2 == pm.tau2 and new.se_tau2 == pm.se_tau2 and new.method == "DLIT"
    assert old_batch.tau2[0] == old.tau2 and new_batch.tau2[0] == new.tau2
    # the DL fixed point: tau2 = (Q_a - (k-1)) / (sum a - sum a^2 / sum a), a = 1/(v + tau2)
    a = 1.0 / (np.array(V) + old.tau2)
    mu = (a * Y).sum() / a.sum()
    qa = (a * (np.array(Y) - mu) ** 2).sum()
    assert old.tau2 == pytest.approx((qa - 4) / (a.sum() - (a * a).sum() / a.sum()), rel=1e-12)


def test_dask_chunks_fit_under_the_callers_release():
    da = pytest.importorskip("dask.array")
    Yb = np.array([Y, Y[::-1]])
    Vb = np.array([V, V[::-1]])
    with mp.metafor_version("3.8"):
        want = mp.rma_batch(Yb, Vb, method="DLIT", engine="numpy").tau2
        lazy = mp.rma_batch(da.from_array(Yb, chunks=(1, 5)), da.from_array(Vb, chunks=(1, 5)),
                            method="DLIT", engine="numpy")  # fmt: skip
    got = lazy.compute().tau2  # computed after the block: still 3.8's DLIT
    np.testing.assert_array_equal(got, want)
