"""Result objects, one model for every fit (metafor's names).

* :class:`RmaResult` -- ``metafor::rma.uni``, with or without moderators.  The
  intercept-only model of :func:`metaparity.rma` is the ``p = 1`` case: its
  coefficient fields (``b, se, zval, pval, ci_lb, ci_ub``) are floats, a model with
  moderators has one entry per coefficient (``coef_names``).  ``int_only`` tells them
  apart, as metafor's ``int.only``.
* :class:`BatchResult` -- many intercept-only fits (:func:`metaparity.rma_batch`): the
  same field names, each an array; :class:`DaskBatchResult` is the lazy one.
* ``GlmmResult`` (:mod:`metaparity.models.glmm`) and the families to come share the
  base :class:`ModelResult`: ``tau``, ``beta``, ``summary()`` (one printer,
  :mod:`metaparity.models.summary`) and ``str()``.

The field lists are :mod:`metaparity.engine.facts`'s.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from metaparity._core.names import MethodName, TestName
from metaparity.engine.dask import is_dask
from metaparity.engine.facts import BATCH_FIELDS, COEF_FIELDS, FIT_FIELDS
from metaparity.models.blup import blup, ranef
from metaparity.models.confint import ConfInt, confint
from metaparity.models.fitstats import uni_fit_stats, uni_parms
from metaparity.models.predict import predict, predict_mods
from metaparity.models.profile_uni import profile_uni
from metaparity.models.summary import format_summary

__all__ = [
    "ModelResult", "RmaResult", "RmaModsResult", "BatchResult", "DaskBatchResult", "COEF_FIELDS",
]  # fmt: skip

#: the fields of an intercept-only fit that ``to_dict()`` reports (and the goldens hold)
_UNI_DICT = FIT_FIELDS + ("method", "test", "level")


class ModelResult:
    """What every fitted model offers (metafor's class ``rma``)."""

    b: Any
    tau2: float

    @property
    def tau(self) -> float:
        """``sqrt(tau2)``."""
        return float(np.sqrt(self.tau2))

    @property
    def beta(self) -> Any:
        """Alias of ``b`` (metafor's ``beta``)."""
        return self.b

    def summary(self, digits: int = 4) -> str:
        """A printout laid out like metafor's ``print`` method for the model."""
        return format_summary(self, digits=digits)

    def __str__(self) -> str:
        return self.summary()


@dataclass(frozen=True, kw_only=True, repr=False)
class RmaResult(ModelResult):
    """A fitted ``metafor::rma.uni`` model, with or without moderators.

    Coefficient fields ``b, se, zval, pval, ci_lb, ci_ub``: floats for the
    intercept-only model (``int_only``), arrays with one entry per coefficient
    (``coef_names``) with moderators; ``vb`` is their ``p x p`` covariance matrix.
    ``QM``/``QMp`` test the coefficients ``btt`` (chi^2 with ``QMdf = (m,)`` for
    ``test="z"``, F with ``QMdf = (m, k - p)`` otherwise); ``R2`` is NaN where metafor
    reports none (no intercept, intercept-only model).  ``tau2_fix`` is True when tau^2
    was held at a given value (metafor's ``tau2.fix``), ``weighted`` False for unweighted
    estimation.
    """

    b: Any
    se: Any
    zval: Any
    pval: Any
    ci_lb: Any
    ci_ub: Any
    tau2: float
    se_tau2: float
    I2: float
    H2: float
    QE: float
    QEp: float
    k: int
    method: MethodName
    test: TestName
    level: float
    dfs: float
    converged: bool
    #: iterations of the tau^2 estimator (with ``control=``: metafor's iterations)
    iterations: int = 0
    # moderators: the intercept-only model is p = 1 with X = None
    coef_names: tuple[str, ...] = ("intrcpt",)
    vb: np.ndarray | None = field(default=None)
    R2: float = float("nan")
    QM: float = float("nan")
    QMp: float = float("nan")
    QMdf: tuple = ()
    p: int = 1
    btt: tuple[int, ...] = ()
    intercept: bool = True
    X: np.ndarray | None = field(default=None)
    # the data
    yi: np.ndarray
    vi: np.ndarray
    weights: np.ndarray | None = field(default=None)
    slab: tuple | None = field(default=None)
    measure: str = "GEN"
    ni: np.ndarray | None = field(default=None)
    s2typ: float = float("nan")
    # how it was fitted (metafor's tau2.fix and weighted)
    tau2_fix: bool = False
    weighted: bool = True

    @property
    def int_only(self) -> bool:
        """True for the intercept-only model (metafor's ``int.only``)."""
        return self.X is None

    @property
    def parms(self) -> int:
        """The number of parameters: the coefficients, plus tau^2 when it was estimated
        (metafor's ``parms``)."""
        return uni_parms(self.p, self.method, self.tau2_fix)

    @property
    def fit_stats(self) -> dict[str, dict[str, float]]:
        """``{"ML": {...}, "REML": {...}}``, each ``{"ll", "dev", "AIC", "BIC", "AICc"}``
        at the fitted ``(b, tau^2)`` (metafor's ``fit.stats``; for every estimator):
        :func:`metaparity.models.fitstats.uni_fit_stats`."""
        return uni_fit_stats(self.yi, self.vi, self.X, self.b, self.tau2, self.parms)

    def _fit_stat(self, name: str) -> float:
        # metafor's logLik/deviance/AIC/...: REML's for a REML fit, else ML's
        return self.fit_stats["REML" if self.method == "REML" else "ML"][name]

    @property
    def logLik(self) -> float:
        """The log-likelihood (restricted for a REML fit), as ``logLik(res)``."""
        return self._fit_stat("ll")

    @property
    def deviance(self) -> float:
        """The deviance (``deviance(res)``): ML's against the saturated model, REML's
        ``-2 logLik``."""
        return self._fit_stat("dev")

    @property
    def AIC(self) -> float:
        """``AIC(res)``."""
        return self._fit_stat("AIC")

    @property
    def BIC(self) -> float:
        """``BIC(res)`` (``log(k)``, or ``log(k - p)`` under REML)."""
        return self._fit_stat("BIC")

    @property
    def AICc(self) -> float:
        """``fitstats(res)["AICc", ]``: AIC corrected for small samples."""
        return self._fit_stat("AICc")

    def _shown(self) -> tuple[str, ...]:
        if self.int_only:
            return _UNI_DICT[:12] + ("k", "method", "test", "level", "dfs", "converged")
        return (
            COEF_FIELDS
            + ("coef_names", "vb")
            + tuple(
                "tau2 se_tau2 I2 H2 R2 QE QEp QM QMp QMdf k p method test level dfs converged "
                "btt intercept".split()
            )
        )

    def __repr__(self) -> str:
        body = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._shown())
        return f"{type(self).__name__}({body})"

    def to_dict(self) -> dict[str, Any]:
        """The numeric results and settings as a JSON-ready dict (arrays become lists)."""
        if self.int_only:
            return {k: getattr(self, k) for k in _UNI_DICT}
        out: dict[str, Any] = {q: np.asarray(getattr(self, q)).tolist() for q in COEF_FIELDS}
        out["coef_names"] = list(self.coef_names)
        out["vb"] = None if self.vb is None else self.vb.tolist()
        for q in "tau2 se_tau2 I2 H2 R2 QE QEp QM QMp dfs".split():
            out[q] = float(getattr(self, q))
        out["QMdf"] = list(self.QMdf)
        out["btt"] = [i + 1 for i in self.btt]  # 1-based, as metafor
        for q in ("k", "p", "method", "test", "level", "converged", "intercept"):
            out[q] = getattr(self, q)
        return out

    def predict(
        self, transf: Any = None, level: float | None = None, targs: dict | None = None,
        newmods: Any = None, intercept: bool = True,
    ) -> Any:  # fmt: skip
        """Pooled estimate with CI and prediction interval (``metafor::predict.rma``): a
        :class:`~metaparity.models.predict.Prediction` for the intercept-only model; with
        moderators the fitted values or the predictions at ``newmods``, a
        :class:`~metaparity.models.predict.Predictions` (one row each)."""
        if self.int_only and newmods is None:
            return predict(self, transf=transf, level=level, targs=targs)
        return predict_mods(self, newmods, intercept, transf=transf, level=level, targs=targs)

    def confint(self, level: float | None = None) -> ConfInt:
        """Q-profile CI for tau^2, tau, I^2, H^2 (``metafor::confint.rma.uni``)."""
        return confint(self, level=level)

    def profile(self, xlim: Any = None, steps: Any = 20, lltol: float = 1e-3) -> Any:
        """Profile of the (restricted) log-likelihood in tau^2 (``metafor::profile.rma.uni``):
        :func:`metaparity.models.profile_uni.profile_uni`; draw with
        :func:`metaparity.plots.profile_plot`."""
        return profile_uni(self, xlim=xlim, steps=steps, lltol=lltol)

    def blup(self, level: float | None = None, transf: Any = None,
             targs: dict | None = None) -> pd.DataFrame:  # fmt: skip
        """BLUPs of the true effects (``metafor::blup.rma.uni``): :func:`metaparity.models.blup.blup`."""
        return blup(self, level=level, transf=transf, targs=targs)

    def ranef(self, level: float | None = None, transf: Any = None,
              targs: dict | None = None) -> pd.DataFrame:  # fmt: skip
        """BLUPs of the random effects (``metafor::ranef.rma.uni``): :func:`metaparity.models.blup.ranef`."""
        return ranef(self, level=level, transf=transf, targs=targs)


#: the meta-regression result is the same class (kept as a name for existing code)
RmaModsResult = RmaResult


@dataclass(frozen=True)
class BatchResult:
    """Results of :func:`metaparity.rma_batch`: every field an array shaped ``Y.shape[:-1]``.

    The field names are :class:`RmaResult`'s (``engine.facts.BATCH_FIELDS``), plus
    per-row ``converged`` and ``iterations``.
    """

    b: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    tau2: np.ndarray
    se_tau2: np.ndarray
    I2: np.ndarray
    H2: np.ndarray
    QE: np.ndarray
    QEp: np.ndarray
    k: np.ndarray
    dfs: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    method: MethodName
    test: TestName
    level: float

    def to_dict(self) -> dict[str, Any]:
        """Fields as a plain dict (arrays stay arrays)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_frame(self) -> pd.DataFrame:
        """Fields as a pandas DataFrame, one row per meta-analysis (flattened)."""
        return pd.DataFrame({n: np.ravel(getattr(self, n)) for n in BATCH_FIELDS})


assert tuple(f.name for f in fields(BatchResult))[: len(BATCH_FIELDS)] == BATCH_FIELDS


@dataclass(frozen=True)
class DaskBatchResult(BatchResult):
    """:class:`BatchResult` whose array fields are dask arrays (lazy).

    ``compute()`` runs the graph once and returns an ordinary, numpy-backed
    :class:`BatchResult`; ``persist()`` keeps the fitted chunks in (cluster)
    memory; ``to_npy_stack(dirname)`` streams every field to disk.  Computing
    fields one by one (``res.b.compute()``, then ``res.se.compute()``) fits
    every chunk again each time -- compute them together.
    """

    def _arrays(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if is_dask(getattr(self, f.name))
        }

    def _replace(self, values: dict[str, Any], cls: type) -> Any:
        out = self.to_dict()
        out.update(values)
        return cls(**out)

    def compute(self, **kwargs: Any) -> BatchResult:
        """Every field as numpy arrays, computed in one pass (``dask.compute(**kwargs)``)."""
        import dask  # optional heavy dependency (only for dask inputs)

        arrays = self._arrays()
        values = dask.compute(*arrays.values(), **kwargs)
        return self._replace(dict(zip(arrays, values, strict=True)), BatchResult)

    def persist(self, **kwargs: Any) -> DaskBatchResult:
        """Fit now and keep the results in memory (with distributed: on the workers)."""
        import dask  # optional heavy dependency (only for dask inputs)

        arrays = self._arrays()
        values = dask.persist(*arrays.values(), **kwargs)
        return self._replace(dict(zip(arrays, values, strict=True)), type(self))

    def to_npy_stack(self, dirname: str, **kwargs: Any) -> None:
        """Write each field to ``dirname/<field>/`` in :func:`dask.array.to_npy_stack`'s
        layout (read back with :func:`dask.array.from_npy_stack`), all fields in one
        pass over the data: one fit per chunk, nothing held in memory."""
        import dask  # optional heavy dependency (only for dask inputs)

        writes = []
        for name, arr in self._arrays().items():
            arr = arr.reshape(1) if arr.ndim == 0 else arr
            sub = os.path.join(dirname, name)
            os.makedirs(sub, exist_ok=True)
            with open(os.path.join(sub, "info"), "wb") as f:
                pickle.dump({"chunks": arr.chunks, "dtype": arr.dtype, "axis": 0}, f)
            arr = arr.rechunk({i: -1 for i in range(1, arr.ndim)})
            # optimize_graph=False: one graph for all fields, so each chunk is fitted once
            for i, block in enumerate(arr.to_delayed(optimize_graph=False).ravel()):
                writes.append(dask.delayed(np.save)(os.path.join(sub, f"{i}.npy"), block))
        dask.compute(*writes, **kwargs)

    def to_frame(self) -> pd.DataFrame:
        """Computes, then :meth:`BatchResult.to_frame` (pandas: must fit in memory)."""
        return self.compute().to_frame()
