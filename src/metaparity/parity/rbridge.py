"""Run the same analysis in R's metafor, in-process through rpy2.

The R side is ``metaparity/r/metaparity.R`` (``mp_rma``, ``mp_escalc``), the very
code that ``r_scripts/goldens.R`` uses for golden files, so live checks and
goldens ask metafor the same question.  rpy2 is imported lazily: importing
metaparity never loads R.

Failures are structured, never a raw R traceback: :class:`RUnavailable` (R, metafor or
a matching rpy2 missing; the message says what to install) and its subclass
:class:`RFailed` (R started but died or errored while running metafor).  What R writes
to its console (warnings, messages) is captured and returned with each call's result,
under ``warnings``, instead of leaking to stderr.

``METAPARITY_RSCRIPT`` (an executable) overrides the ``Rscript`` found on ``PATH``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from importlib import metadata, resources
from pathlib import Path
from typing import Any, cast

import numpy as np

from metaparity._core.mfversion import get_metafor_version, set_metafor_version

__all__ = [
    "RUnavailable",
    "RFailed",
    "control_arg",
    "r_status",
    "get_bridge",
    "mirror_bridge_version",
    "MetaforBridge",
    "RscriptBridge",
    "rpy2_spec_for",
]


class RUnavailable(RuntimeError):
    """R, metafor or a matching rpy2 is missing; ``str(err)`` says how to fix it."""


class RFailed(RUnavailable):
    """R or metafor failed while running (Rscript killed or crashed, an R error outside
    metafor's own handled errors, unreadable output); ``str(err)`` is one line naming
    what died and what to do."""


#: environment variable naming the Rscript executable (default: ``Rscript`` on PATH)
RSCRIPT_ENV = "METAPARITY_RSCRIPT"


def _rscript() -> str | None:
    """The Rscript to run: ``$METAPARITY_RSCRIPT`` when set, else ``Rscript`` on PATH.

    Raises
    ------
    RUnavailable
        ``METAPARITY_RSCRIPT`` is set but is not an executable file.
    """
    env = os.environ.get(RSCRIPT_ENV)
    if env:
        exe = shutil.which(env)
        if exe is None:
            raise RUnavailable(
                f"{RSCRIPT_ENV}={env} is not an executable Rscript: point it at one "
                f"(e.g. /usr/bin/Rscript) or unset it to use Rscript on PATH"
            )
        return exe
    return shutil.which("Rscript")


def _rpy2_version() -> str:
    """The installed rpy2's version (without importing it, which would start R)."""
    try:
        return metadata.version("rpy2")
    except metadata.PackageNotFoundError:
        return "not installed"


def _one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line (lines joined by `` | ``), at most ``limit`` characters."""
    flat = " | ".join(ln.strip() for ln in str(text).splitlines() if ln.strip())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def rpy2_spec_for(r_version: str) -> str:
    """The rpy2 requirement that loads with this R: 3.5.17 for R < 4.4, 3.6.x after.

    Parameters
    ----------
    r_version : str
        R's version, e.g. ``"4.3.3"`` (``getRversion()``).

    Returns
    -------
    str
        A pip requirement, e.g. ``"rpy2==3.5.17"``.

    Examples
    --------
    >>> rpy2_spec_for("4.3.3"), rpy2_spec_for("4.4.1")
    ('rpy2==3.5.17', 'rpy2>=3.6,<3.7')
    """
    major, minor = (int(x) for x in r_version.split(".")[:2])
    return "rpy2==3.5.17" if (major, minor) < (4, 4) else "rpy2>=3.6,<3.7"


@functools.lru_cache(maxsize=1)
def _r_version_from_rscript() -> str | None:
    exe = _rscript()
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "-e", "cat(as.character(getRversion()))"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    # R may print notes first (``WARNING: ignoring environment value of R_HOME``)
    found = re.findall(r"^\d+\.\d+(?:\.\d+)?$", out.stdout, flags=re.M)
    return found[-1] if found else None


@functools.lru_cache(maxsize=1)
def r_status() -> tuple[bool, str]:
    """Whether metafor can be reached (rpy2, else Rscript); cached for the process.

    Returns
    -------
    tuple of (bool, str)
        ``(True, "R version ..., metafor X")`` or ``(False, why)`` -- ``why`` says what
        to install.
    """
    try:
        bridge = get_bridge()
    except RUnavailable as err:
        return False, str(err)
    v = bridge.versions()
    return True, f"{v['R']}, metafor {v['metafor']}"


def _to_py(obj: Any) -> Any:
    """Convert an rpy2 object (named list / vector / NULL) to plain Python."""
    from rpy2 import rinterface as ri  # optional heavy dependency: importing it starts R
    from rpy2.robjects import vectors

    if obj is ri.NULL or obj is None:
        return None
    if isinstance(obj, vectors.ListVector | ri.ListSexpVector):
        names = list(cast(Any, obj.names)) if obj.names is not ri.NULL else None
        vals = [_to_py(x) for x in obj]
        if names and all(n not in ("", None) for n in names):
            return dict(zip(names, vals, strict=True))
        return vals
    if isinstance(obj, vectors.StrVector | ri.StrSexpVector):
        vals = [None if x is ri.NA_Character else str(x) for x in obj]
        return vals[0] if len(vals) == 1 else vals
    if isinstance(obj, vectors.BoolVector | ri.BoolSexpVector):
        vals = [None if x is ri.NA_Logical else bool(x) for x in obj]
        return vals[0] if len(vals) == 1 else vals
    if isinstance(obj, vectors.IntVector | ri.IntSexpVector):
        vals = [None if x == ri.NA_Integer else int(cast(Any, x)) for x in obj]
        return vals[0] if len(vals) == 1 else vals
    if isinstance(obj, vectors.FloatVector | ri.FloatSexpVector):
        arr = np.array(obj, dtype=float)
        vals = [None if np.isnan(x) else float(x) for x in arr]
        return vals[0] if len(vals) == 1 else vals
    return obj


def _no_r_message() -> str:
    return (
        "R is not installed (Rscript not on PATH): run `bash scripts/setup.sh`, which "
        "installs r-base-core r-cran-metafor r-cran-metadat r-cran-jsonlite"
    )


class _RecordLog(logging.Handler):
    """A logging handler that keeps the messages (rpy2's start-up complaints)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _rpy2_mismatch_message(rver: str, err: BaseException, logged: Sequence[str] = ()) -> str:
    """One line: rpy2 could not load R -- which R, which rpy2, why, and the fix."""
    why = _one_line("; ".join([*logged[:1], str(err) or type(err).__name__]), 240)
    home = os.environ.get("R_HOME")
    hint = ""
    if home and not (Path(home) / "lib" / "libR.so").exists():
        hint = f"; R_HOME={home} has no lib/libR.so: unset R_HOME or set it to `R RHOME`"
    return (
        f"rpy2 {_rpy2_version()} failed to load R {rver} ({why}){hint}; run `bash "
        f"scripts/setup.sh` (reinstalls the rpy2 matching this R) or "
        f"`pip install '{rpy2_spec_for(rver)}'`, or use --backend rscript"
    )


@contextlib.contextmanager
def _console() -> Iterator[list[str]]:
    """Capture what the embedded R writes to its console (rpy2's callbacks) while the
    block runs: yields the list the text lines are appended to, nothing reaches
    stdout/stderr."""
    from rpy2.rinterface_lib import callbacks  # optional heavy dependency (R is running)

    lines: list[str] = []

    def write(text: str) -> None:
        lines.extend(ln.rstrip() for ln in text.splitlines() if ln.strip())

    saved = callbacks.consolewrite_print, callbacks.consolewrite_warnerror
    callbacks.consolewrite_print = callbacks.consolewrite_warnerror = write  # type: ignore[assignment,unused-ignore]
    try:
        yield lines
    finally:
        callbacks.consolewrite_print, callbacks.consolewrite_warnerror = saved


def _add_console(res: Any, lines: list[str]) -> Any:
    """Append R's console text to a call result's ``warnings`` (``"R console: ..."``)."""
    if lines and isinstance(res, dict) and "metafor" not in res:
        w = res.get("warnings")
        w = [] if w is None else ([w] if isinstance(w, str) else list(w))
        res["warnings"] = w + [f"R console: {ln}" for ln in lines]
    return res


def _no_metafor_message(rver: str) -> str:
    return (
        f"R {rver} is present but the R package metafor is not: "
        "`apt-get install r-cran-metafor r-cran-metadat r-cran-jsonlite` "
        "(or install.packages('metafor'))"
    )


def _normalise(res: dict[str, Any]) -> dict[str, Any]:
    w = res.get("warnings")
    res["warnings"] = [] if w is None else ([w] if isinstance(w, str) else list(w))
    return res


def control_arg(control: Any) -> str | dict[str, Any] | None:
    """The ``control`` of a bridge call: None (tight), ``"metafor"`` or metafor's settings.

    Parameters
    ----------
    control : None, "metafor", dict or MetaforControl
        None: metafor with metaparity's tight control (iterations stopped at the root);
        ``"metafor"``: metafor's default control (``rma()`` without a control argument);
        a dict of metafor's settings (``{"maxiter": 2}``) or a
        :class:`~metaparity.engine.control.MetaforControl`: ``control = list(...)``.

    Returns
    -------
    None, str or dict
        JSON-ready: a dict maps metafor's names to plain numbers/bools (None values
        dropped, as they mean metafor's default).

    Raises
    ------
    ValueError
        Anything else (a string other than ``"metafor"``, non-numeric values).
    """
    if control is None or control == "metafor":
        return control
    if hasattr(control, "as_metafor"):
        control = control.as_metafor()
    if not isinstance(control, dict):
        raise ValueError(f"control must be None, 'metafor' or a dict; got {control!r}")
    out: dict[str, Any] = {}
    for key, val in control.items():
        if val is None:
            continue
        if isinstance(val, bool | np.bool_):
            out[str(key)] = bool(val)
        elif isinstance(val, int | np.integer):
            out[str(key)] = int(val)
        elif isinstance(val, float | np.floating):
            out[str(key)] = float(val)
        else:
            raise ValueError(f"control {key!r}: a number or a bool is needed; got {val!r}")
    return out


def _rma_call(yi, vi, method, test, level, weights, measure, ni, transf, control=None):
    def vec(x: Any) -> list[float] | None:
        return None if x is None else np.asarray(x, dtype=float).ravel().tolist()

    return dict(
        fn="rma", yi=vec(yi), vi=vec(vi), method=method, test=test, level=float(level),
        weights=vec(weights), measure=measure, ni=vec(ni), transf=transf,
        control=control_arg(control),
    )  # fmt: skip


def _iface_vector(x: Any) -> tuple[str, list[Any]]:
    """An R vector for :meth:`_Bridge.rma_iface`: ``(kind, values)`` with kind ``num``,
    ``lgl`` or ``chr``; NaN, None and pandas NA become None (R's NA)."""
    if hasattr(x, "to_numpy"):
        x = x.to_numpy(dtype=object)
    arr = np.atleast_1d(np.asarray(x, dtype=object)).ravel()
    vals = arr.tolist()

    def na(e: Any) -> bool:
        if e is None:
            return True
        try:
            return bool(e != e)  # NaN, pandas NA raises
        except TypeError:
            return True

    present = [e for e in vals if not na(e)]
    if present and all(isinstance(e, bool | np.bool_) for e in present):
        return "lgl", [None if na(e) else bool(e) for e in vals]
    if all(isinstance(e, int | float | np.integer | np.floating) for e in present) and not any(
        isinstance(e, bool | np.bool_) for e in present
    ):
        return "num", [None if na(e) else float(e) for e in vals]
    return "chr", [None if na(e) else str(e) for e in vals]


class _Bridge:
    """What both backends offer: the same R code (``mp_rma``/``mp_escalc``), same answers."""

    backend = "?"
    _versions: dict[str, str]  # set by each backend's __init__ (R's mp_versions())

    def versions(self) -> dict[str, str]:
        """R and metafor versions of the R behind this bridge (``R``, ``metafor`` ...)."""
        return dict(self._versions)

    def rma(
        self,
        yi: Any,
        vi: Any,
        *,
        method: str = "REML",
        test: str = "z",
        level: float = 95,
        weights: Any = None,
        measure: str = "GEN",
        ni: Any = None,
        transf: str | None = None,
        control: Any = None,
    ) -> dict[str, Any]:
        """``metafor::rma`` (+ predict, transformed predict, confint) with tight control.

        ``control`` (:func:`control_arg`): None is the tight control; ``"metafor"`` runs
        ``rma()`` with metafor's default control, a dict with ``control = list(...)``
        (confint keeps the tight control).  Returns a dict shaped like a golden record:
        ``ok``, ``fit``, ``predict``, ``predict_transf``, ``confint``, ``control``,
        ``warnings`` (or ``error``): R errors and warnings come back as text, never as
        an R traceback.
        """
        call = _rma_call(yi, vi, method, test, level, weights, measure, ni, transf, control)
        return self.run([call])[0]

    def rma_mods(
        self,
        yi: Any,
        vi: Any,
        X: Any,
        *,
        method: str = "REML",
        test: str = "z",
        level: float = 95,
        colnames: Any = None,
        control: Any = None,
        weights: Any = None,
    ) -> dict[str, Any]:
        """``metafor::rma(yi, vi, mods=..., weights=)`` (meta-regression) with tight control
        (``control``: as in :meth:`rma`; ``weights``: user weights, None for none).

        ``X`` is the full design matrix (k x p, intercept column included when the
        model has one).  An all-ones first column is passed to metafor as its own
        intercept (``mods = X[, -1]``, ``intercept = TRUE``), so that ``QM`` and
        ``R2`` are those of the call a user writes.  Returns ``ok``, ``fit`` (``b``,
        ``se``, ... as 1-D lists; ``tau2``, ``se_tau2``, ``I2``, ``H2``, ``R2``,
        ``QE``, ``QEp``, ``QM``, ``QMp``, ``QMdf``, ``k``, ``p``), ``control``,
        ``warnings`` (or ``error``).
        """
        Xa = np.asarray(X, dtype=float)
        if Xa.ndim == 1:
            Xa = Xa[:, None]
        names = (
            [f"X{j + 1}" for j in range(Xa.shape[1])]
            if colnames is None
            else [str(c) for c in colnames]
        )
        call = dict(
            fn="rma_mods", yi=np.asarray(yi, dtype=float).ravel().tolist(),
            vi=np.asarray(vi, dtype=float).ravel().tolist(),
            X=Xa.ravel(order="F").tolist(), nrow=int(Xa.shape[0]), colnames=names,
            method=method, test=test, level=float(level), control=control_arg(control),
        )  # fmt: skip
        if weights is not None:
            call["weights"] = np.asarray(weights, dtype=float).ravel().tolist()
        out = self.run([call])[0]
        fit = out.get("fit")
        if fit:
            _coefficient_arrays(fit)
        return out

    def rma_iface(
        self, args: dict[str, Any], *, data: Any = None, mods: str | None = None
    ) -> dict[str, Any]:
        """``metafor::rma(...)`` called with ``args`` as a user calls it (tight control).

        ``args`` maps rma's argument names to values: numbers, strings, booleans or
        vectors of them (``yi``, ``vi``, ``weights``, ``measure``, ``ai`` ... ``ni``,
        ``subset`` as a logical vector, ``tau2``, ``weighted``, ``add``, ``to``,
        ``drop00``, ``method``, ``test``, ``level``); NaN/None are NA.  ``data`` (a
        DataFrame or dict of columns) becomes rma's ``data=`` and ``mods`` (formula text,
        e.g. ``"~ ablat"``) is evaluated in it.  The control is scaled by the sampling
        variances metafor fits (after escalc, subset and NA removal; zeros left out).

        Returns ``ok``, ``fit`` (``b se zval pval ci_lb ci_ub`` as 1-D arrays, ``tau2
        se_tau2 I2 H2 R2 QE QEp QM QMp QMdf k p coef_names``), ``predict`` (intercept-only
        models), ``yi``/``vi`` (as fitted), ``slab``, ``tau2_fix``, ``weighted``,
        ``int_only``, ``control``, ``warnings`` (or ``error``).
        """
        cols = None
        if data is not None:
            items = data.items() if hasattr(data, "items") else dict(data).items()
            cols = {str(n): _iface_vector(c) for n, c in items}
        call = dict(
            fn="rma_iface",
            args={n: _iface_vector(x) for n, x in args.items() if x is not None},
            data=cols,
            mods=mods,
        )
        out = _normalise(self.run([call])[0])
        fit = out.get("fit")
        if fit:
            _coefficient_arrays(fit)
            for q in ("yi", "vi"):
                out[q] = np.atleast_1d(np.asarray(out[q], dtype=float))
            sl = out.get("slab")
            out["slab"] = (sl,) if isinstance(sl, str) else tuple(sl or ())
        return out

    def influence(
        self, yi: Any, vi: Any, *, method: str = "REML", test: str = "z", level: float = 95
    ) -> dict[str, Any]:
        """metafor's case diagnostics of ``rma(yi, vi)`` (tight control, as :meth:`rma`).

        Returns ``ok``, ``fit`` (``b``, ``tau2``, ``k``), ``control``, ``warnings`` and
        the parts ``leave1out``, ``influence`` (``rstudent`` ... ``weight``, ``inf``
        as bools, ``dfbs``), ``rstudent``, ``rstandard``, ``cumul``, ``baujat``, each
        a dict of 1-D arrays under metafor's names (``ci.lb``, ``cook.d``, ...), or
        ``{"error": msg}`` where metafor stopped (e.g. ``"Stopped because k = 1."``).
        """
        call = dict(
            fn="influence", yi=np.asarray(yi, dtype=float).ravel().tolist(),
            vi=np.asarray(vi, dtype=float).ravel().tolist(), method=method, test=test,
            level=float(level),
        )  # fmt: skip
        out = _normalise(self.run([call])[0])
        for name in ("leave1out", "influence", "rstudent", "rstandard", "cumul", "baujat"):
            part = out.get(name)
            if not isinstance(part, dict) or "error" in part:
                continue
            for q, val in part.items():
                vals = np.atleast_1d(np.asarray(val, dtype=object))
                if q == "inf":
                    part[q] = np.array([bool(x) for x in vals])
                else:
                    part[q] = np.array([np.nan if x is None else float(x) for x in vals])
        return out

    def bias(
        self,
        yi: Any,
        vi: Any,
        *,
        method: str = "REML",
        test: str = "z",
        ni: Any = None,
        level: float = 95,
    ) -> dict[str, Any]:
        """metafor's small-study / publication-bias methods on ``rma(yi, vi)`` (tight control).

        Returns ``ok``, ``fit`` (``b``, ``tau2``, ``k``), ``control``, ``warnings`` and
        ``ranktest`` (``tau``, ``pval``); ``regtest``: a dict keyed ``"rma_sei"``,
        ``"lm_vi"``, ... (``model_predictor``; the ``ni`` predictors only when ``ni`` is
        given) of ``zval``, ``pval``, ``dfs``, ``est``, ``ci_lb``, ``ci_ub``, ``b``, ``tau2``;
        ``trimfill``: keyed ``"L0"``, ``"R0"`` (side chosen by metafor) and ``"L0_left"``,
        ``"L0_right"``, ``"R0_left"``, ``"R0_right"`` of ``k0``, ``side``, ``se_k0``,
        ``p_k0``, ``yi``, ``vi``, ``fill`` and the refit ``b``, ``se``, ``zval``, ``pval``,
        ``ci_lb``, ``ci_ub``, ``tau2``, ``k``; ``fsn``: keyed ``"Rosenthal"``, ``"Orwin"``,
        ``"Orwin_weighted"``, ``"Rosenberg"``, ``"Rosenthal_01"``, ``"Rosenberg_01"``
        (alpha .01) of ``fsnum``, ``pval``, ``meanes``, ``target``, ``alpha``.  A part
        metafor stopped on is ``{"error": msg}``; NA is NaN.
        """
        call = dict(
            fn="bias", yi=np.asarray(yi, dtype=float).ravel().tolist(),
            vi=np.asarray(vi, dtype=float).ravel().tolist(), method=method, test=test,
            ni=None if ni is None else np.asarray(ni, dtype=float).ravel().tolist(),
            level=float(level),
        )  # fmt: skip
        out = _normalise(self.run([call])[0])

        def num(x: Any) -> Any:
            if isinstance(x, list):
                return np.array([np.nan if e is None else float(e) for e in x])
            return np.nan if x is None else x

        for name in ("ranktest", "regtest", "trimfill", "fsn"):
            part = out.get(name)
            if not isinstance(part, dict):
                continue
            subs = [part] if name == "ranktest" else list(part.values())
            for sub in subs:
                if not isinstance(sub, dict) or "error" in sub:
                    continue
                for q, val in sub.items():
                    if q in ("yi", "vi") or (q == "b" and name == "regtest"):
                        sub[q] = np.atleast_1d(num(val if isinstance(val, list) else [val]))
                    elif q == "fill":
                        sub[q] = np.atleast_1d(np.asarray(val, dtype=bool))
                    elif q != "side":
                        sub[q] = num(val)
        return out

    def rma_glmm(
        self,
        xi: Any,
        ni: Any,
        *,
        nAGQ: int = 7,
        level: float = 95,
        test: str = "z",
        at: Any = None,
        tight: bool = True,
    ) -> dict[str, Any]:
        """``metafor::rma.glmm(measure="PLO", xi, ni, nAGQ)`` (lme4::glmer) with tight control.

        ``tight`` asks lme4 for bobyqa with ``rhoend=1e-12`` and PIRLS ``tolPwrss=1e-13``
        (relaxed to 1e-10 / lme4's default when PIRLS cannot reach it); ``tight=False`` is
        rma.glmm's defaults.  Returns ``ok``, ``fit`` (``b se zval pval ci_lb ci_ub tau2 I2
        H2 vt QE_Wld QEp_Wld QE_LRT QEp_LRT logLik deviance AIC BIC AICc k``), ``predict``,
        ``predict_transf`` (ilogit), ``lme4`` (``ll_marg_fit``: lme4's marginal AGQ
        log-likelihood at metafor's optimum; ``ll_marg_at``: at ``at = (mu, tau2)``;
        ``ll_sat``), ``control``, ``warnings`` (or ``error``).
        """
        call = dict(
            fn="rma_glmm", xi=np.asarray(xi, dtype=float).ravel().tolist(),
            ni=np.asarray(ni, dtype=float).ravel().tolist(), nAGQ=int(nAGQ),
            level=float(level), test=test, tight=bool(tight),
            at=None if at is None else [float(a) for a in at],
        )  # fmt: skip
        return _normalise(self.run([call])[0])

    def escalc(
        self,
        measure: str,
        *,
        add: float | None = None,
        to: str = "only0",
        drop00: bool = False,
        **inputs: Any,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``metafor::escalc`` on numeric inputs; returns ``(yi, vi)``.

        ``add=None`` leaves metafor's per-measure default in force.
        """
        call = dict(
            fn="escalc", measure=measure, to=to, drop00=bool(drop00),
            add=None if add is None else float(add),
            inputs={k: np.asarray(v, dtype=float).ravel().tolist() for k, v in inputs.items()},
        )  # fmt: skip
        out = self.run([call])[0]
        if out.get("ok") is False:
            raise RuntimeError(f"metafor::escalc failed: {out.get('error')}")
        return (
            np.atleast_1d(np.asarray(out["yi"], dtype=float)),
            np.atleast_1d(np.asarray(out["vi"], dtype=float)),
        )

    def call(self, rfun: str, **args: Any) -> dict[str, Any]:
        """Call the R function ``rfun`` of the bridge's R library with ``args``.

        The library is ``metaparity.R`` plus every ``fam_*.R`` beside it (one file per model
        family: ``fam_mh.R`` …); ``rfun`` must start with ``mp_``.  Arguments are plain
        Python: ``None`` (R's NULL), bool, int, float, str, a sequence of numbers (``None`` or
        NaN in it is NA), a sequence of str, or a dict of those (an R list).  The R function
        returns a list; it comes back as a dict with ``warnings`` normalised to a list.
        """
        if not (isinstance(rfun, str) and rfun.startswith("mp_")):
            raise ValueError(f"rfun={rfun!r}: only the bridge's mp_* functions can be called")
        call = {"fn": "generic", "rfun": rfun, "args": {k: _plain(v) for k, v in args.items()}}
        return _normalise(self.run([call])[0])

    def run(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:  # pragma: no cover
        raise NotImplementedError


def _plain(x: Any) -> Any:
    """An argument of :meth:`_Bridge.call` as JSON-able plain Python (NaN becomes None)."""
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if math.isnan(float(x)) else float(x)
    seq = list(np.asarray(x, dtype=object).ravel()) if isinstance(x, np.ndarray) else list(x)
    if seq and all(isinstance(e, str) for e in seq):
        return {"__str__": seq}
    return {"__num__": [None if e is None or _isnan(e) else float(e) for e in seq]}


def _isnan(e: Any) -> bool:
    try:
        return math.isnan(float(e))
    except (TypeError, ValueError):
        return False


class MetaforBridge(_Bridge):
    """In-process metafor (rpy2): fast per call; needs an rpy2 built for this R."""

    backend = "rpy2"

    def __init__(self) -> None:
        rver = _r_version_from_rscript()
        if rver is None:
            raise RUnavailable(_no_r_message())
        logged = _RecordLog()
        rpy2_log = logging.getLogger("rpy2")
        saved = rpy2_log.propagate
        rpy2_log.addHandler(logged)
        rpy2_log.propagate = False  # rpy2 logs its start-up trouble: into the message, not stderr
        try:
            import rpy2.robjects as ro  # optional heavy dependency: embeds R in this process
        except ImportError as err:
            if "No module named" in str(err):
                raise RUnavailable(
                    f"rpy2 is not installed in this Python; for R {rver} run `bash "
                    f"scripts/setup.sh` or `pip install '{rpy2_spec_for(rver)}'`"
                ) from None
            raise RUnavailable(_rpy2_mismatch_message(rver, err, logged.lines)) from None
        except Exception as err:  # rpy2 raises assorted errors when libR does not match
            raise RUnavailable(_rpy2_mismatch_message(rver, err, logged.lines)) from None
        finally:
            rpy2_log.removeHandler(logged)
            rpy2_log.propagate = saved
        self._ro = ro
        self._rver = rver
        with _console() as _:
            # warnings printed as they occur (inside each call's console capture), not
            # deferred to a later top-level return where nothing would capture them
            ro.r("options(warn = 1)")
            try:
                ok = bool(
                    ro.r('isTRUE(suppressWarnings(requireNamespace("metafor", quietly = TRUE)))')[0]
                )
            except Exception as err:  # an R error while loading packages
                raise RFailed(
                    f"R {rver} failed while loading metafor through rpy2: {_one_line(str(err))}; "
                    "check the installation with `Rscript -e 'library(metafor)'`"
                ) from None
            if not ok:
                raise RUnavailable(_no_metafor_message(rver))
            for lib in _r_library():
                with resources.as_file(lib) as path:
                    ro.r["source"](str(path))
            self._versions = _to_py(ro.r["mp_versions"]())

    def _vec(self, x: Any) -> Any:
        if x is None:
            return self._ro.NULL
        return self._ro.FloatVector(np.asarray(x, dtype=float).ravel().tolist())

    def _rvec(self, kv: tuple[str, list[Any]]) -> Any:
        """An R vector from :func:`_iface_vector`'s ``(kind, values)`` (None is NA)."""
        ro = self._ro
        kind, vals = kv
        if kind == "num":
            return ro.FloatVector([ro.NA_Real if e is None else e for e in vals])
        if kind == "lgl":
            return ro.BoolVector([ro.NA_Logical if e is None else e for e in vals])
        return ro.StrVector([ro.NA_Character if e is None else e for e in vals])

    def _robj(self, v: Any) -> Any:
        """A :func:`_plain` value as an R object."""
        ro = self._ro
        if v is None:
            return ro.NULL
        if isinstance(v, bool):
            return ro.BoolVector([v])
        if isinstance(v, int):
            return ro.IntVector([v])
        if isinstance(v, float):
            return ro.FloatVector([v])
        if isinstance(v, str):
            return ro.StrVector([v])
        if "__num__" in v:
            return ro.FloatVector([ro.NA_Real if e is None else e for e in v["__num__"]])
        if "__str__" in v:
            return ro.StrVector(v["__str__"])
        return (
            ro.vectors.ListVector({k: self._robj(e) for k, e in v.items()}) if v else ro.r["list"]()
        )

    def _control(self, control: Any) -> Any:
        """A call's ``control`` as R sees it: NULL, "metafor" or a named list."""
        ro = self._ro
        if control is None:
            return ro.NULL
        if isinstance(control, str):
            return control
        items = {}
        for key, val in control.items():
            if isinstance(val, bool):
                items[key] = ro.BoolVector([val])
            elif isinstance(val, int):
                items[key] = ro.IntVector([val])
            else:
                items[key] = ro.FloatVector([float(val)])
        return ro.r["list"]() if not items else ro.ListVector(items)

    def run(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run calls in the embedded R, one after another.

        Parameters
        ----------
        calls : list of dict
            Each with ``fn`` (``"rma"``, ``"rma_mods"``, ``"rma_iface"``, ``"influence"``, ``"bias"``,
            ``"rma_glmm"``, ``"escalc"`` or ``"versions"``) and that function's arguments,
            as built by the methods of this class.

        Returns
        -------
        list of dict
            metafor's answer to each call, as plain Python (see :meth:`rma`).
        """
        out: list[dict[str, Any]] = []
        for c in calls:
            with _console() as lines:
                try:
                    res = self._call(c)
                except Exception as err:  # an R error the R side did not catch, or R aborted
                    raise RFailed(
                        f"R {self._rver} failed while running metafor ({c['fn']}) through rpy2: "
                        f"{_one_line(str(err) or type(err).__name__, 200)}; rerun with "
                        "--backend rscript, or check R with `Rscript -e 'library(metafor)'`"
                    ) from None
            out.append(_add_console(res, lines))
        return out

    def _call(self, c: dict[str, Any]) -> dict[str, Any]:
        """One call of :meth:`run` in the embedded R."""
        ro = self._ro
        out: list[dict[str, Any]] = []
        if c["fn"] == "rma":
            res = ro.r["mp_rma"](
                self._vec(c["yi"]), self._vec(c["vi"]), c["method"], c["test"],
                level=c["level"], weights=self._vec(c["weights"]), measure=c["measure"],
                ni=self._vec(c["ni"]), transf=ro.NULL if c["transf"] is None else c["transf"],
                control=self._control(c.get("control")),
            )  # fmt: skip
            out.append(_normalise(_to_py(res)))
        elif c["fn"] == "rma_mods":
            X = ro.r["matrix"](self._vec(c["X"]), nrow=c["nrow"])
            X = ro.r["colnames<-"](X, ro.StrVector(c["colnames"]))
            res = ro.r["mp_rma_mods"](
                self._vec(c["yi"]),
                self._vec(c["vi"]),
                X,
                c["method"],
                c["test"],
                level=c["level"],
                control=self._control(c.get("control")),
                weights=ro.NULL if c.get("weights") is None else self._vec(c["weights"]),
            )
            out.append(_normalise(_to_py(res)))
        elif c["fn"] == "rma_iface":
            args = ro.vectors.ListVector({n: self._rvec(kv) for n, kv in c["args"].items()})
            data = (
                ro.NULL
                if c["data"] is None
                else ro.vectors.ListVector({n: self._rvec(kv) for n, kv in c["data"].items()})
            )
            res = ro.r["mp_rma_iface"](
                args, data=data, mods=ro.NULL if c["mods"] is None else c["mods"]
            )
            out.append(_to_py(res))
        elif c["fn"] == "influence":
            res = ro.r["mp_influence"](
                self._vec(c["yi"]),
                self._vec(c["vi"]),
                c["method"],
                c["test"],
                level=c["level"],
            )
            out.append(_to_py(res))
        elif c["fn"] == "bias":
            res = ro.r["mp_bias"](
                self._vec(c["yi"]), self._vec(c["vi"]), c["method"], c["test"],
                ni=self._vec(c["ni"]), level=c["level"],
            )  # fmt: skip
            out.append(_to_py(res))
        elif c["fn"] == "rma_glmm":
            res = ro.r["mp_rma_glmm"](
                self._vec(c["xi"]),
                self._vec(c["ni"]),
                nAGQ=c["nAGQ"],
                level=c["level"],
                test=c["test"],
                at=self._vec(c["at"]),
                tight=c["tight"],
            )
            out.append(_normalise(_to_py(res)))
        elif c["fn"] == "generic":
            args = {k: self._robj(v) for k, v in c["args"].items()}
            res = ro.r["do.call"](
                c["rfun"], ro.vectors.ListVector(args) if args else ro.r["list"]()
            )
            out.append(_to_py(res))
        elif c["fn"] == "escalc":
            args = ro.ListVector({k: self._vec(v) for k, v in c["inputs"].items()})
            add = ro.NULL if c["add"] is None else c["add"]
            res = ro.r["mp_escalc"](c["measure"], args, add=add, to=c["to"], drop00=c["drop00"])
            out.append(_to_py(res))
        else:
            out.append(_to_py(ro.r["mp_versions"]()))
        return out[0]


def _r_library() -> list[Any]:
    """The bridge's R library: ``metaparity.R``, then the family files ``fam_*.R``."""
    pkg = resources.files("metaparity.parity") / "r"
    fams = sorted((f for f in pkg.iterdir() if f.name.startswith("fam_") and f.name.endswith(".R")),
                  key=lambda f: f.name)  # fmt: skip
    return [pkg / "metaparity.R", *fams]


def _json_call(c: dict[str, Any]) -> dict[str, Any]:
    """A call as JSON for driver.R: rma_iface's ``(kind, values)`` vectors become plain
    lists (jsonlite simplifies them to numeric/logical/character vectors, null to NA)."""
    if c.get("fn") != "rma_iface":
        return c
    out = dict(c)
    out["args"] = {n: vals for n, (_, vals) in c["args"].items()}
    if c["data"] is not None:
        out["data"] = {n: vals for n, (_, vals) in c["data"].items()}
    return out


class RscriptBridge(_Bridge):
    """metafor in an ``Rscript`` subprocess, exchanging JSON files.

    Robust where rpy2 does not match the installed R; each :meth:`run` starts R
    once, so batch many calls into one ``run`` to amortise the start-up.
    """

    backend = "rscript"

    def __init__(self, timeout: float = 3600.0) -> None:
        exe = _rscript()
        if exe is None:
            raise RUnavailable(_no_r_message())
        self._exe = exe
        self._timeout = timeout
        rver = _r_version_from_rscript() or "?"
        self._rver = rver
        try:
            ok = subprocess.run(
                [exe, "-e", 'quit(status = !requireNamespace("metafor", quietly = TRUE) || '
                 '!requireNamespace("jsonlite", quietly = TRUE))'],
                capture_output=True, timeout=120,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError) as err:
            raise RFailed(f"{exe} could not be run: {_one_line(str(err), 200)}") from None
        if ok.returncode < 0:
            raise RFailed(_killed_message(exe, ok.returncode, "while loading metafor"))
        if ok.returncode != 0:
            raise RUnavailable(_no_metafor_message(rver))
        self._versions = self.run([{"fn": "versions"}])[0]

    def run(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run all calls in one Rscript process (JSON in, JSON out).

        What R writes to stderr (messages, warnings outside metafor's calls) is captured,
        never shown: it is appended to each result's ``warnings`` as ``"R console: ..."``.

        Parameters
        ----------
        calls : list of dict
            As :meth:`MetaforBridge.run`.

        Returns
        -------
        list of dict
            metafor's answer to each call.

        Raises
        ------
        RFailed
            Rscript died (killed by a signal, crashed, timed out) or its output is
            missing or unreadable; the message names the signal / exit status and R's
            last lines of output.
        """
        pkg = resources.files("metaparity.parity") / "r"
        with (
            resources.as_file(pkg / "metaparity.R") as lib,
            resources.as_file(pkg / "driver.R") as driver,
            tempfile.TemporaryDirectory(prefix="metaparity-") as tmp,
        ):
            req, res = Path(tmp) / "request.json", Path(tmp) / "result.json"
            req.write_text(json.dumps([_json_call(c) for c in calls]))
            what = "while running metafor (" + ", ".join(sorted({c["fn"] for c in calls})) + ")"
            try:
                proc = subprocess.run(
                    [self._exe, "--vanilla", str(driver), str(lib), str(req), str(res)],
                    capture_output=True, text=True, timeout=self._timeout,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                raise RFailed(
                    f"Rscript ({self._exe}) took longer than {self._timeout:g} s {what} and "
                    "was stopped: fewer analyses per run, or a larger timeout"
                ) from None
            except OSError as err:
                raise RFailed(f"{self._exe} could not be run: {_one_line(str(err), 200)}") from None
            tail = _one_line("\n".join((proc.stderr or proc.stdout).strip().splitlines()[-3:]))
            if proc.returncode < 0:
                raise RFailed(_killed_message(self._exe, proc.returncode, what, tail))
            if proc.returncode != 0 or not res.exists():
                raise RFailed(
                    f"Rscript ({self._exe}) failed {what} (exit {proc.returncode}"
                    f"{'' if res.exists() else ', no results written'}): {tail or 'no output'}; "
                    "check R with `Rscript -e 'library(metafor)'`"
                )
            try:
                out: list[dict[str, Any]] = json.loads(res.read_text())
            except (ValueError, OSError) as err:
                raise RFailed(
                    f"Rscript ({self._exe}) wrote unreadable results {what} "
                    f"({_one_line(str(err), 120)}); rerun, or check R with "
                    "`Rscript -e 'library(metafor)'`"
                ) from None
        if not isinstance(out, list) or len(out) != len(calls):
            raise RFailed(
                f"Rscript ({self._exe}) returned {len(out) if isinstance(out, list) else 'no'} "
                f"results for {len(calls)} calls {what}; rerun"
            )
        lines = [ln.rstrip() for ln in (proc.stderr or "").splitlines() if ln.strip()]
        return [
            _add_console(_normalise(o) if c["fn"] in ("rma", "rma_mods", "rma_iface") else o, lines)
            for c, o in zip(calls, out, strict=True)
        ]


def _killed_message(exe: str, returncode: int, what: str, tail: str = "") -> str:
    """One line: Rscript died from a signal (``returncode`` is minus the signal number)."""
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    cause = " (out of memory?)" if name == "SIGKILL" else ""
    seen = f"; its last output: {tail}" if tail else ""
    return (
        f"Rscript ({exe}) was killed by {name}{cause} {what}; nothing was written{seen}; "
        "rerun, or with fewer analyses"
    )


def _coefficient_arrays(fit: dict[str, Any]) -> None:
    """A meta-regression fit from R, in place: per-coefficient fields as 1-D arrays,
    ``QMdf`` and ``coef_names`` as tuples (R returns scalars for one coefficient)."""
    for q in ("b", "se", "zval", "pval", "ci_lb", "ci_ub"):
        fit[q] = np.atleast_1d(np.asarray(fit[q], dtype=float))
    fit["QMdf"] = tuple(np.atleast_1d(np.asarray(fit["QMdf"], dtype=float)).tolist())
    cn = fit.get("coef_names")
    fit["coef_names"] = (cn,) if isinstance(cn, str) else tuple(cn or ())


BACKENDS = {"rpy2": MetaforBridge, "rscript": RscriptBridge}


@functools.lru_cache(maxsize=4)
def get_bridge(backend: str = "auto") -> _Bridge:
    """The session-wide bridge to R's metafor; R can be embedded once per process, so
    bridges are cached.

    Parameters
    ----------
    backend : {"auto", "rpy2", "rscript"}
        ``"rpy2"``: in-process (:class:`MetaforBridge`); ``"rscript"``: a subprocess per
        batch of calls (:class:`RscriptBridge`); ``"auto"``: rpy2 when it loads, else Rscript.

    Returns
    -------
    MetaforBridge or RscriptBridge
        Answers ``rma``, ``rma_mods``, ``rma_iface``, ``influence``, ``bias``, ``rma_glmm`` and ``escalc``
        with metafor's functions of the same names.

    Raises
    ------
    RUnavailable
        R, metafor or a matching rpy2 is missing (the message says what to install).
    ValueError
        Unknown ``backend``.
    """
    if backend == "auto":
        try:
            return get_bridge("rpy2")
        except RUnavailable as first:
            try:
                return get_bridge("rscript")
            except RUnavailable:
                raise first from None
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose auto, rpy2 or rscript")
    bridge = BACKENDS[backend]()
    mirror_bridge_version(bridge)
    return bridge


def mirror_bridge_version(bridge: _Bridge) -> str:
    """Select the behaviour of the metafor behind ``bridge`` (library-wide).

    :func:`get_bridge` does this when it starts a bridge, so that metaparity is compared
    with the metafor release it is talking to (``packageVersion("metafor")``); see
    :func:`metaparity.set_metafor_version`.

    Parameters
    ----------
    bridge : MetaforBridge or RscriptBridge
        A started bridge.

    Returns
    -------
    str
        The known metafor release now mirrored (e.g. ``"3.8"`` for metafor 3.8.1).
    """
    set_metafor_version(str(bridge.versions()["metafor"]))
    return get_metafor_version()
