"""The benchmark suite behind ``metaparity bench`` and ``benchmarks/run.py``.

One command, one run, identical data for every engine (simulated once and
written to disk: ``.npz`` for Python, ``.csv`` for R), measured side by side:

* **metaparity** ``rma_batch`` for every estimator (and every ``engine=`` it offers);
* **metafor**: a plain ``rma()`` loop in ``Rscript`` (timed inside R, default
  control, as a user's loop), plus untimed tight-control fits for agreement and a
  ``control=list(stepadj=0.5)`` retry where REML's Fisher scoring fails;
* **PyMARE**'s batch estimators (``DerSimonianLaird``, ``Hedges``,
  ``VarianceBasedLikelihoodEstimator`` ML/REML; Wald inference, as metafor's z);
* **statsmodels** ``combine_effects`` in a Python loop (DL, and its iterated PM);
* a **memory-bandwidth floor**: ``np.einsum('ij,ij->i', Y, V)`` over the same arrays.

Reported: fits/s, ratios (metaparity / metafor loop, / PyMARE, / statsmodels,
time / floor), agreement with metafor on the rows metafor fitted, REML
convergence, peak memory, versions and machine facts; JSON, a Markdown table and
a log-log scaling plot go to the output folder.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from metaparity._core.names import METHODS, check_choice
from metaparity.models.uni import rma_batch
from metaparity.simulate import simulate_normal

__all__ = [
    "BenchConfig",
    "ResolvedConfig",
    "run_bench",
    "main",
    "ESTIMATORS",
    "add_arguments",
    "config_from_args",
    "run_from_args",
]

#: estimators timed (GENQ needs user weights; FE is an alias of EE)
ESTIMATORS = ("EE", "DL", "DLIT", "HE", "HS", "HSk", "SJ", "SJIT", "ML", "REML", "EB", "PM", "PMM")
#: PyMARE estimators and the metafor method each corresponds to
PYMARE = {"DL": "DerSimonianLaird", "HE": "Hedges", "ML": "ML", "REML": "REML"}
#: statsmodels combine_effects(method_re=...) and the metafor method it corresponds to
STATSMODELS = {"DL": "dl", "PM": "iterated"}


@dataclass
class BenchConfig:
    """What to run.  ``quick`` shrinks every default to a minute-long run."""

    out: str = "benchmarks/results"
    quick: bool = False
    ms: tuple[int, ...] | None = None
    ks: tuple[int, ...] | None = None
    max_m: int | None = None
    methods: tuple[str, ...] = ESTIMATORS
    engines: tuple[str, ...] | None = None  # None: every engine rma_batch offers
    r_n: int | None = None  # rows fitted by the metafor loop
    sm_n: int | None = None  # rows fitted by the statsmodels loop
    budget: float | None = None  # seconds: skip a larger M when predicted to exceed
    seed: int = 20240607
    r: bool = True
    pymare: bool = True
    statsmodels: bool = True
    plot: bool = True
    progress: bool = True
    # the data: y ~ N(mu, tau2 + v), v log-uniform (wide, as real meta-analyses)
    mu: float = 0.3
    tau2: float = 0.05
    vi: tuple[Any, ...] = field(default=("loguniform", 0.005, 0.5))

    def resolved(self) -> ResolvedConfig:
        """A copy with every ``None`` default filled in (``quick`` shrinks them).

        Returns
        -------
        ResolvedConfig
            ``ms``, ``ks``, ``r_n``, ``sm_n`` and ``budget`` set; ``ms`` capped at ``max_m``.
        """
        q = self.quick
        c = ResolvedConfig(**self.__dict__)
        c.ms = self.ms or ((1_000, 10_000) if q else (1_000, 10_000, 100_000, 1_000_000))
        c.ks = self.ks or ((5, 10) if q else (5, 10, 50))
        if self.max_m is not None:
            c.ms = tuple(m for m in c.ms if m <= self.max_m) or (int(self.max_m),)
        c.r_n = self.r_n or (300 if q else 2000)
        c.sm_n = self.sm_n or (300 if q else 2000)
        c.budget = self.budget or (20.0 if q else 300.0)
        return c


@dataclass
class ResolvedConfig(BenchConfig):
    """A :class:`BenchConfig` whose grid, row counts and budget are filled in
    (:meth:`BenchConfig.resolved`)."""

    ms: tuple[int, ...] = ()
    ks: tuple[int, ...] = ()
    r_n: int = 0
    sm_n: int = 0
    budget: float = 0.0


# --------------------------------------------------------------------------- #
# small utilities
# --------------------------------------------------------------------------- #
class Progress:
    """``[i/n] label (elapsed)`` on stderr: a redrawn bar on a terminal, lines otherwise."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total, self.i, self.t0 = total, 0, time.perf_counter()
        self.enabled = enabled
        self.tty = sys.stderr.isatty()

    def step(self, label: str) -> None:
        self.i += 1
        if not self.enabled:
            return
        el = time.perf_counter() - self.t0
        if self.tty:
            n = 24 * self.i // max(self.total, 1)
            sys.stderr.write(f"\r[{'#' * n:24s}] {self.i}/{self.total} {el:6.0f}s {label[:48]:48s}")
            if self.i >= self.total:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(f"[{self.i}/{self.total}] {el:.0f}s {label}\n")
        sys.stderr.flush()

    def note(self, msg: str) -> None:
        if self.enabled:
            sys.stderr.write(("\n" if self.tty else "") + msg + "\n")
            sys.stderr.flush()


def _timeit(
    fn: Callable[[], Any], min_time: float = 0.2, max_repeat: int = 5, warmup: bool = False
) -> float:
    """Best wall time of ``fn()`` over repeats (repeats only while cheap); ``warmup``
    runs it once untimed first (imports, first-call set-up)."""
    if warmup:
        fn()
    best = float("inf")
    total = 0.0
    for _ in range(max_repeat):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best, total = min(best, dt), total + dt
        if total > min_time:
            break
    return best


def _peak_bytes(fn: Callable[[], Any]) -> int:
    """Peak traced allocation of ``fn()`` (numpy buffers included)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        fn()
        return int(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


def _rel(a: np.ndarray, b: np.ndarray, floor: float = 1e-10) -> float:
    """max |a - b| / max(|b|, floor) over rows where both are finite."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    if not ok.any():
        return float("nan")
    return float(np.max(np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), floor)))


def _off(a: np.ndarray, b: np.ndarray, floor: float, tol: float = 1e-2) -> int:
    """Rows where |a - b| / max(|b|, floor) > tol (a real disagreement, not stopping noise)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    return int((np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), floor) > tol).sum())


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_facts() -> dict[str, Any]:
    """CPU, CPU count and affinity, memory, platform, Python, load average, thread env vars."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return dict(
        cpu=cpu,
        cpus=os.cpu_count(),
        affinity=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        memory_gb=mem,
        platform=platform.platform(),
        python=platform.python_version(),
        loadavg=os.getloadavg() if hasattr(os, "getloadavg") else None,
        threads_env={k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS") if k in os.environ},
    )  # fmt: skip


def library_versions() -> dict[str, str | None]:
    """Installed versions of metaparity and the engines it is timed against (None: absent)."""
    return {
        d: _version(d)
        for d in (
            "metaparity",
            "numpy",
            "scipy",
            "pandas",
            "numba",
            "dask",
            "PyMARE",
            "statsmodels",
        )
    }


def rma_batch_engines() -> list[str | None]:
    """Engines to time: ``[None]`` if rma_batch has no ``engine=``; else its engines."""
    par = inspect.signature(rma_batch).parameters.get("engine")
    if par is None:
        return [None]
    found: list[str | None] = []
    for eng in ("numpy", "numba"):
        try:
            rma_batch(np.ones((2, 2)), np.ones((2, 2)), method="REML", engine=eng)
            found.append(eng)
        except Exception:  # noqa: BLE001 - engine not available here
            continue
    return found or [None]


# --------------------------------------------------------------------------- #
# the data, written once
# --------------------------------------------------------------------------- #
def make_data(
    cfg: ResolvedConfig, k: int, data_dir: Path
) -> tuple[np.ndarray, np.ndarray, Path, Path]:
    """Y, V with max(ms) rows (npz, reused if present) and the first r_n rows as CSV."""
    M = max(cfg.ms)
    tag = f"k{k}_M{M}_seed{cfg.seed}_tau2{cfg.tau2:g}_{cfg.vi[0]}{cfg.vi[1]:g}-{cfg.vi[2]:g}"
    npz = data_dir / f"{tag}.npz"
    if npz.exists():
        with np.load(npz) as z:
            Y, V = z["Y"], z["V"]
    else:
        Y, V = simulate_normal(M, k, mu=cfg.mu, tau2=cfg.tau2, vi=cfg.vi, seed=[cfg.seed, k])
        np.savez(npz, Y=Y, V=V)
    n = min(cfg.r_n, M)
    csv = data_dir / f"{tag}_first{n}.csv"
    if not csv.exists():
        header = ",".join([f"y{j + 1}" for j in range(k)] + [f"v{j + 1}" for j in range(k)])
        np.savetxt(
            csv, np.hstack([Y[:n], V[:n]]), delimiter=",", fmt="%.17g", header=header, comments=""
        )
    return Y, V, npz, csv


# --------------------------------------------------------------------------- #
# engines
# --------------------------------------------------------------------------- #
def run_metafor(csv: Path, methods: tuple[str, ...], prefix: Path) -> dict[str, Any]:
    """The Rscript loop; returns timing, fits (pandas) and versions, or an error."""
    exe = shutil.which("Rscript")
    if exe is None:
        return {"error": "Rscript not found"}
    pkg = resources.files("metaparity.parity") / "r"
    with (
        resources.as_file(pkg / "metaparity.R") as lib,
        resources.as_file(pkg / "bench_metafor.R") as script,
    ):
        proc = subprocess.run(
            [exe, "--vanilla", str(script), str(lib), str(csv), str(prefix), ",".join(methods)],
            capture_output=True, text=True,
        )  # fmt: skip
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip()[-800:]}
    timing = pd.read_csv(f"{prefix}_timing.csv")
    fits = pd.read_csv(f"{prefix}_fits.csv", keep_default_na=False, na_values=["NA"])
    ver = Path(f"{prefix}_versions.txt").read_text().splitlines()
    return {"timing": timing, "fits": fits, "R": ver[0], "metafor": ver[1]}


def _pymare_fit(name: str, Y: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, ...]:
    from pymare import estimators as pe  # optional dependency (bench extra)

    kw: dict[str, Any] = {}
    if "small_sample_correction" in inspect.signature(pe.DerSimonianLaird).parameters:
        kw["small_sample_correction"] = "wald"  # metafor's z test
    if name in ("ML", "REML"):
        est = pe.VarianceBasedLikelihoodEstimator(method=name, **kw)
    else:
        est = getattr(pe, PYMARE[name])(**kw)
    X = np.ones((Y.shape[1], 1))
    est.fit(Y.T, V.T, X)
    p = est.params_
    return (
        np.ravel(p["fe_params"]),
        np.sqrt(np.asarray(p["inv_cov"])[0, 0]).ravel(),
        np.ravel(p["tau2"]),
    )


def _statsmodels_loop(method_re: str, Y: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, ...]:
    from statsmodels.stats.meta_analysis import combine_effects  # optional (bench extra)

    n = Y.shape[0]
    b, se, t2 = np.empty(n), np.empty(n), np.empty(n)
    # statsmodels warns (sqrt of a negative variance) where its DL tau2 < 0
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        for i in range(n):
            r = combine_effects(Y[i], V[i], method_re=method_re)
            b[i], se[i], t2[i] = r.mean_effect_re, r.sd_eff_w_re, r.tau2
    return b, se, t2


# --------------------------------------------------------------------------- #
# the run
# --------------------------------------------------------------------------- #
def run_bench(cfg: BenchConfig) -> dict[str, Any]:
    """Time ``rma_batch`` against a metafor ``rma()`` loop, PyMARE and statsmodels.

    Parameters
    ----------
    cfg : BenchConfig
        What to run (grid of M and k, estimators, engines, which competitors).

    Returns
    -------
    dict
        The report: ``config``, ``machine``, ``versions``, ``timings`` (one entry per
        engine x estimator x k x M), ``ratios``, ``agreement`` with metafor,
        ``convergence`` (REML), ``memory``, ``notes``; also written to ``cfg.out`` as
        ``bench.json``, ``bench.md`` and ``scaling.png``.
    """
    cfg = cfg.resolved()
    out = Path(cfg.out)
    data_dir = out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    engines = list(cfg.engines) if cfg.engines else rma_batch_engines()
    have_pymare = cfg.pymare and _version("PyMARE") is not None
    have_sm = cfg.statsmodels and _version("statsmodels") is not None
    pm_methods = [m for m in cfg.methods if m in PYMARE] if have_pymare else []
    sm_methods = [m for m in cfg.methods if m in STATSMODELS] if have_sm else []

    n_steps = len(cfg.ks) * (
        len(cfg.ms) * (1 + len(engines) * len(cfg.methods) + len(pm_methods))
        + int(cfg.r)
        + len(sm_methods)
        + 1
    )
    prog = Progress(n_steps, cfg.progress)
    report: dict[str, Any] = dict(
        config={k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.__dict__.items()},
        machine=machine_facts(),
        versions=library_versions(),
        engines=[e or "default" for e in engines],
        timings=[],  # one entry per (engine, estimator, k, M)
        metafor={},
        agreement=[],
        convergence={},
        memory={},
        notes=[],
    )
    for k in cfg.ks:
        Y_all, V_all, npz, csv = make_data(cfg, k, data_dir)
        report.setdefault("data", {})[str(k)] = dict(npz=str(npz), csv=str(csv))

        def record(
            engine: str, method: str, M: int, seconds: float, k: int = k, **extra: Any
        ) -> None:
            report["timings"].append(
                dict(engine=engine, method=method, k=k, M=M, seconds=seconds,
                     fits_per_s=M / seconds if seconds else float("nan"), **extra)
            )  # fmt: skip

        # ---- floor and metaparity, M by M (skip an M predicted to blow the budget)
        skip: dict[tuple[str, str], float] = {}
        for M in cfg.ms:
            Y, V = np.ascontiguousarray(Y_all[:M]), np.ascontiguousarray(V_all[:M])
            t = _timeit(functools.partial(np.einsum, "ij,ij->i", Y, V))
            record("floor", "einsum", M, t)
            prog.step(f"k={k} M={M} floor")
            for eng in engines:
                ekw: dict[str, Any] = {} if eng is None else {"engine": eng}
                for meth in cfg.methods:
                    label = f"metaparity[{eng or 'default'}]"
                    key = (label, meth)
                    if key in skip and skip[key] * M > cfg.budget:
                        record(
                            label,
                            meth,
                            M,
                            float("nan"),
                            skipped=f"predicted {skip[key] * M:.0f} s > budget",
                        )
                        prog.step(f"k={k} M={M} {label} {meth} skipped")
                        continue
                    last: dict[str, Any] = {}

                    def fit(
                        meth: str = meth,
                        ekw: dict[str, Any] = ekw,
                        Y: np.ndarray = Y,
                        V: np.ndarray = V,
                        last: dict[str, Any] = last,
                    ) -> None:
                        last["res"] = rma_batch(
                            Y, V, method=check_choice("method", meth, METHODS), **ekw
                        )

                    t = _timeit(fit, max_repeat=3 if M <= 10_000 else 1, warmup=M <= 10_000)
                    skip[key] = t / M
                    res = last["res"]
                    record(label, meth, M, t, not_converged=int((~res.converged).sum()))
                    prog.step(f"k={k} M={M} {label} {meth} {M / t:,.0f}/s")
            for meth in pm_methods:
                key = ("PyMARE", meth)
                if key in skip and skip[key] * M > cfg.budget:
                    record("PyMARE", meth, M, float("nan"), skipped="budget")
                    prog.step(f"k={k} M={M} PyMARE {meth} skipped")
                    continue
                t = _timeit(
                    functools.partial(_pymare_fit, meth, Y, V),
                    max_repeat=3 if M <= 10_000 else 1,
                    warmup=M <= 10_000,
                )
                skip[key] = t / M
                record("PyMARE", meth, M, t)
                prog.step(f"k={k} M={M} PyMARE {meth} {M / t:,.0f}/s")

        # ---- peak memory per fit (tracemalloc, untimed, at M = min(max M, 1e4))
        Mm = min(max(cfg.ms), 10_000)
        Ym, Vm = Y_all[:Mm], V_all[:Mm]
        mem: dict[str, float] = {}
        for eng in engines:
            ekw = {} if eng is None else {"engine": eng}
            for meth in cfg.methods:
                name = meth if eng is None else f"{meth} [{eng}]"
                mem[name] = (
                    _peak_bytes(
                        functools.partial(
                            rma_batch, Ym, Vm, method=check_choice("method", meth, METHODS), **ekw
                        )
                    )
                    / Mm
                )
        mem["floor"] = _peak_bytes(functools.partial(np.einsum, "ij,ij->i", Ym, Vm)) / Mm
        report["memory"][str(k)] = dict(M=Mm, input_bytes_per_row=16 * k, peak_bytes_per_row=mem)
        prog.step(f"k={k} memory")

        # ---- the overlapping rows: metafor, statsmodels, PyMARE vs metafor
        n = min(cfg.r_n, max(cfg.ms))
        Yr, Vr = Y_all[:n], V_all[:n]
        ours = {
            m: rma_batch(Yr, Vr, method=check_choice("method", m, METHODS)) for m in cfg.methods
        }
        mf = None
        if cfg.r:
            mf = run_metafor(csv, cfg.methods, data_dir / f"metafor_k{k}_n{n}")
            prog.step(f"k={k} metafor loop ({n} rows x {len(cfg.methods)} estimators)")
            if "error" in mf:
                report["notes"].append(f"metafor (k={k}) failed: {mf['error']}")
                mf = None
            else:
                report["metafor"] = dict(R=mf["R"], metafor=mf["metafor"])
                report["versions"]["R"] = mf["R"]
                report["versions"]["metafor"] = mf["metafor"]
                for _, row in mf["timing"].iterrows():
                    record("metafor loop", row["method"], int(row["n"]), float(row["seconds"]))
        sm_res: dict[str, tuple[np.ndarray, ...]] = {}
        for meth in sm_methods:
            m_sm = min(cfg.sm_n, n)
            t0 = time.perf_counter()
            sm_res[meth] = _statsmodels_loop(STATSMODELS[meth], Yr[:m_sm], Vr[:m_sm])
            record("statsmodels loop", meth, m_sm, time.perf_counter() - t0)
            prog.step(f"k={k} statsmodels {meth}")
        pm_res = {m: _pymare_fit(m, Yr, Vr) for m in pm_methods}

        if mf is not None:
            fits = mf["fits"]
            # tau2 differences relative to max(|tau2|, median vi): metafor's default
            # stopping rule is absolute in tau2 (1e-5), so tau2 = 0 vs 1e-7 is no news
            t2floor = float(np.median(Vr))
            report["tau2_rel_floor"] = t2floor
            for meth in cfg.methods:
                r = ours[meth]
                for pass_ in ("default", "tight"):
                    f = fits[(fits["method"] == meth) & (fits["pass"] == pass_)].sort_values("row")
                    if f.empty:
                        continue
                    ok = (f["error"] == "").to_numpy()
                    rows = f["row"].to_numpy()[ok]
                    report["agreement"].append(
                        dict(
                            k=k, method=meth, engine="metaparity", metafor_control=pass_,
                            rows=int(ok.sum()), metafor_errors=int((~ok).sum()),
                            b=_rel(r.b[rows], f["b"].to_numpy()[ok]),
                            se=_rel(r.se[rows], f["se"].to_numpy()[ok]),
                            tau2=_rel(r.tau2[rows], f["tau2"].to_numpy()[ok], t2floor),
                            tau2_rows_off=_off(r.tau2[rows], f["tau2"].to_numpy()[ok], t2floor),
                        )
                    )  # fmt: skip
                    for eng, res in (
                        ("PyMARE", pm_res.get(meth)),
                        ("statsmodels", sm_res.get(meth)),
                    ):
                        if res is None:
                            continue
                        m_e = res[0].size
                        okr = ok[:m_e]
                        rws = f["row"].to_numpy()[:m_e][okr]
                        ent = dict(
                            k=k, method=meth, engine=eng, metafor_control=pass_, rows=int(okr.sum()),
                            b=_rel(res[0][rws], f["b"].to_numpy()[:m_e][okr]),
                            se=_rel(res[1][rws], f["se"].to_numpy()[:m_e][okr]),
                            tau2=_rel(res[2][rws], f["tau2"].to_numpy()[:m_e][okr], t2floor),
                            tau2_rows_off=_off(res[2][rws], f["tau2"].to_numpy()[:m_e][okr], t2floor),
                        )  # fmt: skip
                        if eng == "statsmodels":
                            ent["negative_tau2"] = int((res[2] < 0).sum())
                            pos = rws[res[2][rws] >= 0]
                            ent["b_where_tau2_ge_0"] = _rel(
                                res[0][pos], f.set_index("row").loc[pos, "b"].to_numpy()
                            )
                        report["agreement"].append(ent)
            # REML convergence: metafor default control vs step halving vs metaparity
            if "REML" in cfg.methods:
                f = fits[(fits["method"] == "REML") & (fits["pass"] == "default")]
                failed = f[f["error"].str.contains("converge")]["row"].to_numpy()
                sa = fits[(fits["method"] == "REML") & (fits["pass"] == "stepadj")]
                rescued = sa[sa["error"] == ""]
                r = ours["REML"]
                conv = dict(
                    rows=int(len(f)),
                    metafor_default_failed=int(failed.size),
                    metafor_default_errors=sorted(set(f[f["error"] != ""]["error"]))[:3],
                    stepadj_rescued=int(len(rescued)),
                    metaparity_converged_there=int(r.converged[failed].sum()) if failed.size else 0,
                    metaparity_not_converged_all=int((~r.converged).sum()),
                )
                if len(rescued):
                    rr = rescued["row"].to_numpy()
                    conv["stepadj_vs_metaparity"] = dict(
                        b=_rel(r.b[rr], rescued["b"].to_numpy()),
                        tau2=_rel(r.tau2[rr], rescued["tau2"].to_numpy(), t2floor),
                    )
                report["convergence"][str(k)] = conv
        elif sm_res:
            for meth, res in sm_res.items():
                report["agreement"].append(
                    dict(
                        k=k,
                        method=meth,
                        engine="statsmodels",
                        negative_tau2=int((res[2] < 0).sum()),
                    )
                )

    report["machine"]["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    report["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report["ratios"] = ratios(report)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(report, indent=1, default=_json_default))
    md = markdown(report)
    (out / "bench.md").write_text(md)
    if cfg.plot:
        try:
            scaling_plot(report, out / "scaling.png")
        except ImportError as err:
            report["notes"].append(f"no plot: {err}")
    return report


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


# --------------------------------------------------------------------------- #
# summaries
# --------------------------------------------------------------------------- #
def _rate(
    report: dict[str, Any], engine: str, method: str, k: int, M: int | None = None
) -> dict[str, Any] | None:
    rows = [
        t
        for t in report["timings"]
        if t["engine"] == engine and t["method"] == method and t["k"] == k
    ]
    rows = [t for t in rows if np.isfinite(t["seconds"]) and (M is None or t["M"] == M)]
    if not rows:
        return None
    best = max(rows, key=lambda t: t["M"])  # the largest batch measured
    return best


def ratios(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (engine, estimator, k) at the largest M measured for metaparity."""
    out: list[dict[str, Any]] = []
    ks = sorted({t["k"] for t in report["timings"]})
    mp_engines = sorted(
        {t["engine"] for t in report["timings"] if t["engine"].startswith("metaparity")}
    )
    for k in ks:
        for eng in mp_engines:
            for meth in report["config"]["methods"]:
                me = _rate(report, eng, meth, k)
                if me is None:
                    continue
                M = me["M"]
                row = dict(engine=eng, method=meth, k=k, M=M, fits_per_s=me["fits_per_s"])
                mf = _rate(report, "metafor loop", meth, k)
                row["metafor_fits_per_s"] = mf["fits_per_s"] if mf else None
                row["x_metafor"] = me["fits_per_s"] / mf["fits_per_s"] if mf else None
                pm = _rate(report, "PyMARE", meth, k, M)
                row["pymare_fits_per_s"] = pm["fits_per_s"] if pm else None
                row["x_pymare"] = me["fits_per_s"] / pm["fits_per_s"] if pm else None
                sm = _rate(report, "statsmodels loop", meth, k)
                row["statsmodels_fits_per_s"] = sm["fits_per_s"] if sm else None
                row["x_statsmodels"] = me["fits_per_s"] / sm["fits_per_s"] if sm else None
                fl = _rate(report, "floor", "einsum", k, M)
                row["time_over_floor"] = me["seconds"] / fl["seconds"] if fl else None
                out.append(row)
    return out


def _f(x: Any, fmt: str = "{:,.0f}") -> str:
    return "—" if x is None or (isinstance(x, float) and not np.isfinite(x)) else fmt.format(x)


def _load(x: Any) -> str:
    return "—" if not x else "/".join(f"{v:.1f}" for v in x)


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown tables (ratios, agreement, REML convergence, memory)."""
    v, m = report["versions"], report["machine"]
    lines = [
        "# metaparity benchmark",
        "",
        f"Machine: {m['cpu']}, {m['affinity'] or m['cpus']} CPUs available, {m['memory_gb']} GB; "
        f"{m['platform']}; Python {m['python']}; load average (1/5/15 min) at start "
        f"{_load(m.get('loadavg'))}, at end {_load(m.get('loadavg_end'))}.",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val),
        "",
        "## Ratios (one run; metaparity at the largest M measured)",
        "",
        "| engine | estimator | k | M | metaparity fits/s | metafor loop fits/s | × metafor | PyMARE fits/s | × PyMARE | statsmodels fits/s | × statsmodels | time ÷ floor |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["ratios"]:
        lines.append(
            f"| {r['engine']} | {r['method']} | {r['k']} | {r['M']:,} | {_f(r['fits_per_s'])} | "
            f"{_f(r['metafor_fits_per_s'])} | {_f(r['x_metafor'], '{:,.0f}')} | "
            f"{_f(r['pymare_fits_per_s'])} | {_f(r['x_pymare'], '{:.2f}')} | "
            f"{_f(r['statsmodels_fits_per_s'])} | {_f(r['x_statsmodels'], '{:,.0f}')} | "
            f"{_f(r['time_over_floor'], '{:,.0f}')} |"
        )
    if report["agreement"]:
        lines += [
            "",
            "## Agreement with metafor (max relative difference on the rows metafor fitted)",
            "",
            f"tau² relative to max(|tau²|, median vi = {report.get('tau2_rel_floor', float('nan')):.3g}). "
            "metafor 'default' control: its stopping rule (1e-5 in tau²), as a user's loop; 'tight': "
            "run to the root (the parity checks' control).",
            "",
            "| k | estimator | engine | metafor control | rows | metafor errors | b | se | tau² | rows with tau² off > 1 % | notes |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for a in report["agreement"]:
            note = ""
            if "negative_tau2" in a:
                note = f"{a['negative_tau2']} negative tau² (not truncated at 0)"
                if a.get("b_where_tau2_ge_0") is not None:
                    note += f"; b where its tau² ≥ 0: {a['b_where_tau2_ge_0']:.1e}"
            lines.append(
                f"| {a['k']} | {a['method']} | {a['engine']} | {a.get('metafor_control', '—')} | "
                f"{a.get('rows', '—')} | {a.get('metafor_errors', '—')} | {_f(a.get('b'), '{:.1e}')} | "
                f"{_f(a.get('se'), '{:.1e}')} | {_f(a.get('tau2'), '{:.1e}')} | "
                f"{a.get('tau2_rows_off', '—')} | {note} |"
            )
    if report["convergence"]:
        lines += ["", "## REML convergence (metafor default control)", ""]
        for k, c in report["convergence"].items():
            lines.append(
                f"* k = {k}: {c['metafor_default_failed']} of {c['rows']} fits did not converge in "
                f"metafor; step halving (stepadj = 0.5) rescued {c['stepadj_rescued']}; metaparity "
                f"converged on {c['metaparity_converged_there']} of them "
                f"(metaparity non-converged overall: {c['metaparity_not_converged_all']})."
                + (f" Rescued fits vs metaparity: max rel diff b {c['stepadj_vs_metaparity']['b']:.1e}, "
                   f"tau² {c['stepadj_vs_metaparity']['tau2']:.1e}." if "stepadj_vs_metaparity" in c else "")
            )  # fmt: skip
    lines += ["", "## Peak memory (tracemalloc, bytes per meta-analysis)", ""]
    for k, mem in report["memory"].items():
        per = mem["peak_bytes_per_row"]
        worst = max((x for x in per if x != "floor"), key=per.get)
        shown = ", ".join(
            f"{n} {b:.0f}" for n, b in per.items() if n.split()[0] in ("DL", "REML") or n == "floor"
        )
        lines.append(
            f"* k = {k} (M = {mem['M']:,}; input {mem['input_bytes_per_row']} B/row, output ~128): "
            f"{shown}; largest: {worst} {per[worst]:.0f}"
        )
    lines.append(f"* process peak RSS: {report['peak_rss_mb']:.0f} MB")
    if report["notes"]:
        lines += ["", "## Notes", ""] + [f"* {n}" for n in report["notes"]]
    return "\n".join(lines) + "\n"


def scaling_plot(report: dict[str, Any], path: Path) -> None:
    """fits/s vs M (log-log), a panel per k: colour = estimator, style = engine."""
    import matplotlib  # optional heavy dependency (plot extra)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # optional heavy dependency
    from matplotlib.lines import Line2D  # optional heavy dependency

    ks = sorted({t["k"] for t in report["timings"]})
    methods = list(dict.fromkeys(t["method"] for t in report["timings"] if t["engine"] != "floor"))
    cmap = plt.get_cmap("tab20")
    color = {m: cmap(i % 20) for i, m in enumerate(methods)}
    mp_engines = sorted(
        {t["engine"] for t in report["timings"] if t["engine"].startswith("metaparity")}
    )
    dashes = ["-", "-.", (0, (5, 1, 1, 1, 1, 1))]
    style: dict[str, dict[str, Any]] = {
        e: dict(ls=dashes[i % 3], marker="o", ms=3, lw=1.4) for i, e in enumerate(mp_engines)
    }
    style["PyMARE"] = dict(ls="--", marker="^", ms=4, lw=1.2)
    style["metafor loop"] = dict(ls="none", marker="s", ms=7)
    style["statsmodels loop"] = dict(ls="none", marker="D", ms=6)
    style["floor"] = dict(ls=":", marker="o", ms=3, lw=2.2)
    fig, axes = plt.subplots(1, len(ks), figsize=(6.0 * len(ks), 5.0), sharey=True, squeeze=False)
    for ax, k in zip(axes[0], ks, strict=True):
        series: dict[tuple[str, str], list[tuple[int, float]]] = {}
        for t in report["timings"]:
            if t["k"] == k and np.isfinite(t["seconds"]):
                series.setdefault((t["engine"], t["method"]), []).append((t["M"], t["fits_per_s"]))
        for (eng, meth), pts in sorted(series.items()):
            pts.sort()
            xs, ys = zip(*pts, strict=True)
            c = "black" if eng == "floor" else color[meth]
            ax.plot(xs, ys, color=c, **style.get(eng, {}))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"k = {k} studies per meta-analysis")
        ax.set_xlabel("M (meta-analyses per call; loops: rows fitted)")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("fits per second")
    handles = [Line2D([], [], color=color[m], lw=3, label=m) for m in methods]
    handles += [Line2D([], [], color="grey", label=e, **style[e]) for e in mp_engines]
    handles += [
        Line2D([], [], color="grey", label=e, **style[e])
        for e in ("PyMARE", "metafor loop", "statsmodels loop")
        if any(t["engine"] == e for t in report["timings"])
    ]
    handles.append(Line2D([], [], color="black", label="floor: einsum over Y, V", **style["floor"]))
    axes[0][-1].legend(handles=handles, fontsize=7.5, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def print_summary(report: dict[str, Any], file: TextIO | None = None) -> None:
    """Print :func:`markdown` of the report (to stdout by default)."""
    print(markdown(report), file=sys.stdout if file is None else file)


# --------------------------------------------------------------------------- #
# command line (metaparity bench / benchmarks/run.py)
# --------------------------------------------------------------------------- #
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``metaparity bench`` (shared with benchmarks/run.py).

    Parameters
    ----------
    p : argparse.ArgumentParser
        The (sub)parser to extend.
    """
    p.add_argument(
        "--quick", action="store_true", help="small grid (M <= 1e4, k = 5, 10): ~a minute"
    )
    p.add_argument("--max-m", type=float, help="largest M (e.g. 1e5)")
    p.add_argument("--m", help="comma-separated M grid (default 1e3,1e4,1e5,1e6)")
    p.add_argument("--k", help="comma-separated k grid (default 5,10,50)")
    p.add_argument("--methods", help=f"estimators (default {','.join(ESTIMATORS)})")
    p.add_argument("--engines", help="rma_batch engines to time (default: all it offers)")
    p.add_argument(
        "--r-n", type=int, help="rows fitted by the metafor loop (default 2000; quick 300)"
    )
    p.add_argument("--sm-n", type=int, help="rows fitted by the statsmodels loop (default 2000)")
    p.add_argument("--budget", type=float, help="seconds per fit above which larger M are skipped")
    p.add_argument("--no-r", action="store_true", help="skip the metafor loop")
    p.add_argument("--no-pymare", action="store_true", help="skip PyMARE")
    p.add_argument("--no-statsmodels", action="store_true", help="skip statsmodels")
    p.add_argument("--no-plot", action="store_true", help="do not draw the timing plot")
    p.add_argument("--seed", type=int, default=20240607, help="random seed of the data")
    p.add_argument("--tau2", type=float, default=0.05, help="true tau² of the data (default 0.05)")
    p.add_argument("--vi", default="loguniform:0.005:0.5",
                   help="sampling variances: uniform:LO:HI or loguniform:LO:HI (default "
                        "loguniform:0.005:0.5; wider ratios stress REML's Fisher scoring)")  # fmt: skip
    p.add_argument(
        "--out", default="benchmarks/results", help="output folder (default: benchmarks/results)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def config_from_args(a: argparse.Namespace) -> BenchConfig:
    """The :class:`BenchConfig` that parsed :func:`add_arguments` options describe.

    Parameters
    ----------
    a : argparse.Namespace
        Parsed options.

    Returns
    -------
    BenchConfig
    """

    def ints(s: str | None) -> tuple[int, ...] | None:
        return tuple(int(float(x)) for x in s.split(",")) if s else None

    return BenchConfig(
        out=a.out, quick=a.quick, ms=ints(a.m), ks=ints(a.k),
        max_m=None if a.max_m is None else int(a.max_m),
        methods=tuple(a.methods.split(",")) if a.methods else ESTIMATORS,
        engines=tuple(a.engines.split(",")) if a.engines else None,
        r_n=a.r_n, sm_n=a.sm_n, budget=a.budget, seed=a.seed, r=not a.no_r, tau2=a.tau2,
        vi=(a.vi.split(":")[0], *(float(x) for x in a.vi.split(":")[1:])),
        pymare=not a.no_pymare, statsmodels=not a.no_statsmodels, plot=not a.no_plot,
        progress=not a.quiet,
    )  # fmt: skip


def run_from_args(args: argparse.Namespace) -> int:
    """Run with parsed :func:`add_arguments` options and print the tables (``metaparity bench``).

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options.

    Returns
    -------
    int
        0 (failures of a competitor are notes in the report, not errors).
    """
    report = run_bench(config_from_args(args))
    print_summary(report)
    print(f"wrote {Path(report['config']['out']) / 'bench.json'}, bench.md, scaling.png")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``benchmarks/run.py``: parse ``argv`` and run the benchmark.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code of :func:`run_from_args`.
    """
    p = argparse.ArgumentParser(
        prog="benchmarks/run.py", description=(__doc__ or "").split("\n\n")[0]
    )
    add_arguments(p)
    return run_from_args(p.parse_args(argv))
