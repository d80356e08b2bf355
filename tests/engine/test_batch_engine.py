"""rma_batch engines: the numba kernel gives the numpy reference's numbers.

The kernel mirrors the reference operation for operation (same sums in numpy's
order, same iterations, the same scipy.special functions), so the two agree to
the last bit; the checks below demand rtol 1e-12 on every float field and exact
equality of k, converged and iterations, and one test documents the bitwise
identity on a fixed batch.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaparity import rma, rma_batch
from metaparity._core.names import METHODS, TESTS
from metaparity.engine.facts import BATCH_FIELDS as _BATCH_FIELDS
from metaparity.parity.strategies import batches

pytest.importorskip("numba")

FLOATS = "b se zval pval ci_lb ci_ub tau2 se_tau2 I2 H2 QE QEp dfs".split()
EXACT = ("k", "converged", "iterations")
ALL = [m for m in METHODS if m != "FE"]  # FE is EE under another name


def _both(Y, V, **kw):
    return (
        rma_batch(Y, V, engine="numpy", **kw),
        rma_batch(Y, V, engine="numba", **kw),
    )


def _assert_same(a, b, rtol=1e-12, where=""):
    for f in FLOATS:
        np.testing.assert_allclose(
            getattr(b, f), getattr(a, f), rtol=rtol, atol=0, equal_nan=True, err_msg=f"{f} {where}"
        )
    for f in EXACT:
        np.testing.assert_array_equal(getattr(b, f), getattr(a, f), err_msg=f"{f} {where}")


def _corner_batch():
    """Ragged rows with the corners: k = 1, 2, homogeneous, vi ratios up to 1e8, huge tau2."""
    rng = np.random.default_rng(7)
    rows = [
        ([0.3], [0.02]),  # k = 1
        ([0.1, 0.5], [0.01, 0.03]),  # k = 2
        ([0.2, 0.2, 0.2, 0.2], [0.01, 0.02, 0.03, 0.04]),  # identical effects
        ([0.2] * 5, [0.05] * 5),  # identical effects and variances
        (rng.normal(0, 1, 6).tolist(), (1e-4 * 10 ** rng.uniform(0, 8, 6)).tolist()),
        (rng.normal(0, 30, 9).tolist(), rng.uniform(0.01, 0.1, 9).tolist()),  # tau2 >> vi
        (rng.normal(0, 0.01, 10).tolist(), rng.uniform(1, 2, 10).tolist()),  # tau2 = 0
        ([1e-3, 2e-3, -1e-3], [1e-8, 2e-8, 1e-8]),  # tiny scale
        ([3e3, 1e3, -2e3, 5e2], [1e4, 3e4, 2e4, 1e5]),  # large scale
    ]
    for _ in range(40):
        k = int(rng.integers(1, 12))
        v = 10 ** rng.uniform(-3, 1, k)
        rows.append((rng.normal(0.3, np.sqrt(v + rng.choice([0, 0.05, 2.0]))).tolist(), v.tolist()))
    K = max(len(y) for y, _ in rows)
    Y = np.full((len(rows), K), np.nan)
    V = np.full((len(rows), K), np.nan)
    for i, (y, v) in enumerate(rows):
        Y[i, : len(y)], V[i, : len(v)] = y, v
    W = rng.uniform(0.2, 5.0, Y.shape)
    return Y, V, W


@pytest.mark.parametrize("method", ALL)
@pytest.mark.parametrize("test", TESTS)
def test_engines_agree_on_corners(method, test):
    Y, V, W = _corner_batch()
    a, b = _both(Y, V, method=method, test=test, weights=W if method == "GENQ" else None)
    _assert_same(a, b, where=f"{method}/{test}")
    if method != "GENQ":  # user weights for the pooled estimate
        a, b = _both(Y, V, method=method, test=test, weights=W)
        _assert_same(a, b, where=f"{method}/{test}/weights")


def _assert_bitwise(a, b, where):
    """Every field to the last bit, but QEp: the numba engine takes the closed form of the
    chi-square tail for integer df (tests/engine/test_lanes.py: ~10x closer to 50-digit values
    than scipy's chdtrc, which the reference calls), so QEp agrees to a few ulp."""
    for f in _BATCH_FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        if f == "QEp":
            # the reference's chdtrc is up to 2.6e-14 (~120 ulp) from 50-digit values for
            # x < 200 (df = 1: 2.9e-14 where the closed form is exact to the last bit), and
            # the tail's relative condition number in x is about x / 2, so far out the two
            # differ by up to ~x/2 ulp (chdtrc 3.9e-14 off at x = 1232, df = 10; ours exact)
            tol = np.finfo(float).eps * (300.0 + 0.5 * np.nan_to_num(a.QE))
            bad = ~(np.abs(y - x) <= tol * np.abs(x)) & ~(np.isnan(x) & np.isnan(y))
            assert not bad.any(), (where, f, np.flatnonzero(bad))
            continue
        same = (x == y) | (np.isnan(x.astype(float)) & np.isnan(y.astype(float)))
        assert same.all(), (where, f, np.flatnonzero(~same))


def test_engines_bitwise_identical():
    """Not merely close: the kernel reproduces every bit of the reference."""
    Y, V, W = _corner_batch()
    for method in ALL:
        for test in TESTS:
            w = W if method == "GENQ" or test == "knha" else None
            a, b = _both(Y, V, method=method, test=test, weights=w)
            _assert_bitwise(a, b, (method, test))


@pytest.mark.parametrize("method", ["ML", "REML", "DL", "PM", "PMM", "EB", "SJIT", "DLIT"])
def test_engines_bitwise_on_simulated_batch_with_stragglers(method):
    """Thousands of rows in SIMD lanes (blocks of 64, two threads), iterations masked per
    lane (bracket growth, Newton polish, compaction of the running lanes); ML/REML rows whose Fisher
    scoring runs past 32 iterations are deferred to blocks of stragglers and resumed; they
    end with the reference's tau2, iterations and converged flag all the same."""
    from metaparity.simulate import simulate_normal

    Y, V = simulate_normal(6000, 10, tau2=0.02, k_dist=(1, 10), seed=11)
    a, b = _both(Y, V, method=method, test="knha")
    _assert_bitwise(a, b, method)
    if method in ("ML", "REML"):
        assert (a.iterations > 32).sum() > 20  # the straggler path ran


@pytest.mark.parametrize("method", ["DL", "REML", "ML", "PM", "PMM", "DLIT"])
def test_engines_agree_beyond_lane_width(method):
    """K > 128 studies: numpy's pairwise sum recurses there; the row kernel takes over."""
    rng = np.random.default_rng(3)
    V = rng.uniform(0.01, 0.2, (5, 140))
    Y = rng.normal(0, np.sqrt(V + 0.05))
    Y[2, 100:] = np.nan
    _assert_bitwise(*_both(Y, V, method=method), method)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    batches(max_rows=8, min_k=1, max_k=10),
    st.sampled_from(ALL),
    st.sampled_from(TESTS),
    st.booleans(),
)
def test_engines_agree_on_generated_batches(data, method, test, weighted):
    Y, V = data
    W = None
    if weighted or method == "GENQ":
        W = np.linspace(0.5, 2.0, Y.size).reshape(Y.shape)
    a, b = _both(Y, V, method=method, test=test, weights=W)
    _assert_same(a, b, where=f"{method}/{test}")


@pytest.mark.parametrize("engine", ["numpy", "numba"])
@pytest.mark.parametrize("method", ["DL", "PM", "REML"])
def test_chunking_changes_nothing(engine, method):
    Y, V, _ = _corner_batch()
    ref = rma_batch(Y, V, method=method, engine=engine)
    for chunk in (1, 7, Y.shape[0] - 1):
        res = rma_batch(Y, V, method=method, engine=engine, chunk_size=chunk)
        for f in _BATCH_FIELDS:
            np.testing.assert_array_equal(getattr(res, f), getattr(ref, f), err_msg=f)


def test_threaded_slices_match_one_slice():
    """Large enough for the thread pool: the split into slices changes nothing."""
    rng = np.random.default_rng(11)
    V = rng.uniform(0.01, 0.2, (5000, 6))
    Y = rng.normal(0.3, np.sqrt(V + 0.05))
    a = rma_batch(Y, V, method="REML", engine="numba")
    b = rma_batch(Y, V, method="REML", engine="numba", chunk_size=1000)  # below the pool
    c = rma_batch(Y[:300], V[:300], method="REML", engine="numpy")
    for f in _BATCH_FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    head = SimpleNamespace(**{f: getattr(a, f)[:300] for f in _BATCH_FIELDS})
    _assert_bitwise(c, head, "REML")
    assert a.converged.all()


@pytest.mark.parametrize("method", ["DL", "SJ", "DLIT", "PMM", "ML", "REML"])
def test_numba_batch_equals_loop_of_rma(method):
    Y, V, _ = _corner_batch()
    res = rma_batch(Y, V, method=method, test="knha", engine="numba")
    for i in range(Y.shape[0]):
        keep = np.isfinite(Y[i])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            one = rma(Y[i, keep], V[i, keep], method=method, test="knha")
        for f in "b se zval pval ci_lb ci_ub tau2 se_tau2 I2 H2 QE QEp".split():
            # rma() sums without padding: only the order of floating-point sums differs
            np.testing.assert_allclose(
                getattr(res, f)[i], getattr(one, f), rtol=1e-12, atol=1e-15, err_msg=f"{f} {i}"
            )
        assert res.converged[i] == one.converged


def test_leading_shape_and_frame():
    Y = np.random.default_rng(2).normal(size=(3, 4, 6))
    V = np.full((3, 4, 6), 0.1)
    a, b = _both(Y, V, method="REML")
    assert b.b.shape == (3, 4) and b.iterations.shape == (3, 4)
    _assert_same(a, b)
    assert b.to_frame().shape[0] == 12


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_errors_are_the_reference_errors(engine):
    Y = np.array([[0.1, 0.2], [np.nan, np.nan], [0.3, 0.1]])
    V = np.array([[0.1, 0.1], [np.nan, np.nan], [0.1, -0.5]])
    # a V <= 0 is reported before an empty row, wherever they are
    with pytest.raises(ValueError, match=r"V\[2, 1\] = -0.5 <= 0 \(meta-analysis 2, study 1\)"):
        rma_batch(Y, V, engine=engine, chunk_size=1)
    V[2, 1] = 0.1
    with pytest.raises(ValueError, match="meta-analysis 1 has no studies"):
        rma_batch(Y, V, engine=engine)
    with pytest.raises(ValueError, match="GENQ' needs weights"):
        rma_batch(Y[[0, 2]], V[[0, 2]], method="GENQ", engine=engine)
    with pytest.raises(ValueError, match="chunk_size"):
        rma_batch(Y[[0, 2]], V[[0, 2]], engine=engine, chunk_size=0)


def test_engine_choice(monkeypatch):
    Y, V = np.array([[0.1, 0.3, 0.2]]), np.array([[0.01, 0.02, 0.03]])
    with pytest.raises(ValueError, match="unknown engine 'fast'"):
        rma_batch(Y, V, engine="fast")
    from metaparity.engine import dispatch as _batch_engine

    monkeypatch.setattr(_batch_engine, "_numba_ok", False)
    assert _batch_engine.resolve_engine("auto") == "numpy"
    with pytest.raises(ImportError, match=r"metaparity\[fast\]"):
        rma_batch(Y, V, engine="numba")
    assert rma_batch(Y, V, method="DL").k[0] == 3  # auto falls back to numpy
    monkeypatch.setattr(_batch_engine, "_numba_ok", True)
    assert _batch_engine.resolve_engine("auto") == "numba"


def test_import_does_not_import_numba():
    code = "import sys, metaparity; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("method", ["DLIT", "ML", "REML"])
def test_polish_is_newton_not_bisection(method):
    """The root of the ML/REML score and the DLIT fixed point is polished by safeguarded
    Newton: a handful of evaluations per row (bisection to machine precision took 30-55)."""
    from metaparity.engine import estimators

    rng = np.random.default_rng(5)
    V = rng.uniform(0.01, 0.2, (2000, 10))
    Y = rng.normal(0.3, np.sqrt(V + 0.05))
    calls = []
    real = estimators._refine

    def counting(*args, **kw):
        out = real(*args, **kw)
        calls.append(out[2])
        return out

    m = np.ones_like(Y)
    k = np.full(Y.shape[0], 10)
    try:
        estimators._refine = counting
        fit = estimators.estimate_tau2(method, Y, V, m, k)
    finally:
        estimators._refine = real
    its = np.concatenate(calls)
    assert fit.converged.all()
    assert its.mean() <= 6 and its.max() <= 20, (its.mean(), its.max())
