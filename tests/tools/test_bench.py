"""The benchmark suite (metaparity.bench) and the simulate/bench CLI, on tiny grids."""

from __future__ import annotations

import json

import numpy as np
import pytest

from metaparity.bench import BenchConfig, run_bench
from metaparity.cli import main


def test_simulate_cli(tmp_path, capsys):
    out = tmp_path / "sim.npz"
    assert (
        main(["simulate", str(out), "--M", "1000", "--k", "6", "--k-min", "3", "--seed", "4"]) == 0
    )
    from metaparity.simulate import simulate_normal

    Y, V = simulate_normal(1000, 6, tau2=0.1, k_dist=(3, 6), seed=4)
    with np.load(out) as z:
        np.testing.assert_array_equal(z["Y"], Y)
        np.testing.assert_array_equal(z["V"], V)
    assert "(1000, 6)" in capsys.readouterr().out


def test_bench_without_r(tmp_path):
    cfg = BenchConfig(out=str(tmp_path), ms=(200, 400), ks=(4,), methods=("DL", "REML"), r=False,
                      sm_n=20, progress=False, plot=False)  # fmt: skip
    rep = run_bench(cfg)
    saved = json.loads((tmp_path / "bench.json").read_text())
    engines = {t["engine"] for t in saved["timings"]}
    assert "floor" in engines and any(e.startswith("metaparity[") for e in engines)
    rows = {(r["method"], r["k"]) for r in rep["ratios"]}
    assert rows == {("DL", 4), ("REML", 4)}
    assert all(r["time_over_floor"] > 1 for r in rep["ratios"])
    assert (tmp_path / "bench.md").read_text().startswith("# metaparity benchmark")
    # the data are written once and reused
    assert len(list((tmp_path / "data").glob("*.npz"))) == 1


@pytest.mark.r
def test_bench_with_metafor(tmp_path):
    pytest.importorskip("matplotlib")
    cfg = BenchConfig(out=str(tmp_path), ms=(100,), ks=(5,), methods=("DL", "REML"), r_n=15,
                      sm_n=15, progress=False, pymare=False)  # fmt: skip
    rep = run_bench(cfg)
    assert rep["versions"]["metafor"][0] in "345"  # the installed metafor (3.8, 4.8, 5.x)
    tight = [
        a
        for a in rep["agreement"]
        if a["engine"] == "metaparity" and a["metafor_control"] == "tight"
    ]
    assert {a["method"] for a in tight} == {"DL", "REML"}
    assert all(a["b"] < 1e-9 and a["se"] < 1e-9 for a in tight)
    assert rep["convergence"]["5"]["rows"] == 15
    assert (tmp_path / "scaling.png").stat().st_size > 1000
