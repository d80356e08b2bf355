"""rma_batch on dask arrays (metaparity.engine.dask): the numpy path, chunk by chunk, exactly."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields

import numpy as np
import pytest

from metaparity import BatchResult, rma_batch
from metaparity import rma_batch as ref_fit
from metaparity._core.names import METHODS, TESTS
from metaparity.simulate import simulate_normal

da = pytest.importorskip("dask.array")


def _data(M=600, k=7, seed=11):
    # ragged rows (k_i from 1 to k), one exact-duplicate row (RSS ~ 0 under knha)
    Y, V = simulate_normal(M, k, mu=0.3, tau2=0.08, k_dist=(1, k), seed=seed)
    Y[5, :3], V[5, :3], Y[5, 3:], V[5, 3:] = 0.2, 0.05, np.nan, np.nan
    return Y, V


def _same(ref: BatchResult, got: BatchResult) -> None:
    assert type(got) is BatchResult
    for f in fields(ref):
        a, b = getattr(ref, f.name), getattr(got, f.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape, f.name
            np.testing.assert_array_equal(b, a, err_msg=f.name, strict=True)
        else:
            assert a == b, f.name


def test_numpy_input_never_imports_dask():
    code = (
        "import sys, numpy as np, metaparity as mp;"
        "mp.rma_batch(np.ones((3, 2)), np.ones((3, 2)));"
        "assert not any(m == 'dask' or m.startswith('dask.') for m in sys.modules), 'dask imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("method", METHODS)
def test_every_estimator_equals_numpy_path(method):
    Y, V = _data()
    W = 1.0 / V if method == "GENQ" else None
    ref = rma_batch(Y, V, method=method, weights=W)
    # uneven row chunks, the study axis split (rechunked to one), V chunked differently
    Yd = da.from_array(Y, chunks=(137, 3))
    Vd = da.from_array(V, chunks=(250, 7))
    Wd = None if W is None else da.from_array(W, chunks=(90, 7))
    res = rma_batch(Yd, Vd, method=method, weights=Wd)
    assert all(isinstance(getattr(res, n), da.Array) for n in ("b", "se", "tau2", "converged"))
    assert res.b.numblocks == (5,)
    _same(ref, res.compute())


@pytest.mark.parametrize("test", TESTS)
def test_tests_level_and_mixed_inputs(test):
    Y, V = _data(M=300)
    ref = rma_batch(Y, V, method="PM", test=test, level=0.9)
    # Y dask, V numpy: V is wrapped with Y's chunks
    _same(
        ref, rma_batch(da.from_array(Y, chunks=64), V, method="PM", test=test, level=0.9).compute()
    )


def test_leading_dimensions_and_single_meta_analysis():
    Y, V = _data(M=240)
    Y3, V3 = Y.reshape(6, 40, 7), V.reshape(6, 40, 7)
    ref = rma_batch(Y3, V3, method="REML")
    res = rma_batch(da.from_array(Y3, chunks=(4, 15, 7)), da.from_array(V3, chunks=(4, 15, 7)))
    assert res.b.shape == (6, 40)
    _same(ref, res.compute())
    one = rma_batch(da.from_array(Y[0]), da.from_array(V[0]), method="DL").compute()
    _same(rma_batch(Y[0], V[0], method="DL"), one)


def test_bad_input_names_the_global_row():
    Y, V = _data(M=1000)
    V[777, 2] = -0.5  # in the 4th chunk of 200 rows
    with pytest.raises(ValueError, match=r"V\[777, 2\] = -0.5 <= 0 \(meta-analysis 777, study 2\)"):
        rma_batch(da.from_array(Y, chunks=200), V, method="DL").compute()
    Y, V = _data(M=1000)
    Y[555] = np.nan
    with pytest.raises(ValueError, match=r"meta-analysis 555 has no studies"):
        rma_batch(da.from_array(Y, chunks=200), da.from_array(V, chunks=200)).compute()
    Y3 = Y.reshape(10, 100, 7)
    with pytest.raises(ValueError, match=r"meta-analysis \(5, 55\) has no studies"):
        rma_batch(da.from_array(Y3, chunks=(3, 30, 7)), V.reshape(10, 100, 7)).compute()


def test_bad_arguments_fail_at_call_time():
    Y, V = _data(M=50)
    Yd = da.from_array(Y, chunks=10)
    with pytest.raises(ValueError, match="unknown method 'reml'"):
        rma_batch(Yd, V, method="reml")
    with pytest.raises(ValueError, match="same shape"):
        rma_batch(Yd, V[:, :3])
    with pytest.raises(ValueError, match="GENQ' needs weights"):
        rma_batch(Yd, V, method="GENQ")


def test_persist_and_npy_stack(tmp_path, monkeypatch):
    import metaparity.models.uni as mdask  # the numpy rma_batch each chunk calls

    Y, V = _data(M=400)
    ref = rma_batch(Y, V, method="EB")
    res = rma_batch(da.from_array(Y, chunks=128), da.from_array(V, chunks=128), method="EB")
    _same(ref, res.persist().compute())
    calls = []
    monkeypatch.setattr(mdask, "rma_batch", lambda *a, **k: calls.append(1) or ref_fit(*a, **k))
    res = rma_batch(da.from_array(Y, chunks=128), da.from_array(V, chunks=128), method="EB")
    calls.clear()
    res.to_npy_stack(str(tmp_path / "fits"))
    assert len(calls) == 4  # every field written, each chunk fitted once
    calls.clear()
    res.compute()
    assert len(calls) == 4
    np.testing.assert_array_equal(
        da.from_npy_stack(str(tmp_path / "fits" / "tau2")).compute(), ref.tau2
    )
    np.testing.assert_array_equal(da.from_npy_stack(str(tmp_path / "fits" / "k")).compute(), ref.k)
    assert res.to_frame().shape == (400, 16)


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


@pytest.mark.parametrize("method", ["DL", "REML", "PM", "SJIT"])
def test_local_cluster(client, method):
    Y, V = _data(M=2000, seed=5)
    ref = rma_batch(Y, V, method=method, test="knha")
    res = rma_batch(
        da.from_array(Y, chunks=300), da.from_array(V, chunks=300), method=method, test="knha"
    )
    _same(ref, res.compute())  # the active Client runs the graph
    fut = client.compute(res.tau2)
    np.testing.assert_array_equal(fut.result(), ref.tau2)


def test_other_keywords_pass_through():
    import inspect

    params = inspect.signature(rma_batch).parameters
    if "engine" not in params:
        pytest.skip("rma_batch has no engine= here")
    Y, V = _data(M=300)
    extra = {"engine": "numpy"}
    if "chunk_size" in params:
        extra["chunk_size"] = 50
    ref = rma_batch(Y, V, method="ML", **extra)
    _same(ref, rma_batch(da.from_array(Y, chunks=120), V, method="ML", **extra).compute())
    with pytest.raises(ValueError):
        rma_batch(da.from_array(Y, chunks=120), V, engine="no-such-engine")
