"""Run the same analysis in R's metafor, in-process through rpy2.

The R side is ``metaparity/r/metaparity.R`` (``mp_rma``, ``mp_escalc``), the very
code that ``r_scripts/goldens.R`` uses for golden files, so live checks and
goldens ask metafor the same question.  rpy2 is imported lazily: importing
metaparity never loads R.

Failures are structured (:class:`RUnavailable` with a ``reason`` that says what to
install), never a raw R traceback.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from importlib import resources
from typing import Any

import numpy as np

__all__ = ["RUnavailable", "r_status", "get_bridge", "MetaforBridge", "rpy2_spec_for"]


class RUnavailable(RuntimeError):
    """R, metafor or a matching rpy2 is missing; ``str(err)`` says how to fix it."""


def rpy2_spec_for(r_version: str) -> str:
    """The rpy2 requirement that loads with this R: 3.5.17 for R < 4.4, 3.6.x after."""
    major, minor = (int(x) for x in r_version.split(".")[:2])
    return "rpy2==3.5.17" if (major, minor) < (4, 4) else "rpy2>=3.6,<3.7"


@functools.lru_cache(maxsize=1)
def _r_version_from_rscript() -> str | None:
    exe = shutil.which("Rscript")
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
    return out.stdout.strip() or None


@functools.lru_cache(maxsize=1)
def r_status() -> tuple[bool, str]:
    """``(True, versions)`` when metafor can be reached through rpy2, else ``(False, why)``."""
    try:
        bridge = get_bridge()
    except RUnavailable as err:
        return False, str(err)
    v = bridge.versions()
    return True, f"{v['R']}, metafor {v['metafor']}"


@functools.lru_cache(maxsize=1)
def get_bridge() -> MetaforBridge:
    """The session-wide bridge (R can be embedded once per process)."""
    return MetaforBridge()


def _to_py(obj: Any) -> Any:
    """Convert an rpy2 object (named list / vector / NULL) to plain Python."""
    from rpy2 import rinterface as ri
    from rpy2.robjects import vectors

    if obj is ri.NULL or obj is None:
        return None
    if isinstance(obj, vectors.ListVector | ri.ListSexpVector):
        names = list(obj.names) if obj.names is not ri.NULL else None
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
        vals = [None if x == ri.NA_Integer else int(x) for x in obj]
        return vals[0] if len(vals) == 1 else vals
    if isinstance(obj, vectors.FloatVector | ri.FloatSexpVector):
        arr = np.array(obj, dtype=float)
        vals = [None if np.isnan(x) else float(x) for x in arr]
        return vals[0] if len(vals) == 1 else vals
    return obj


class MetaforBridge:
    """In-process metafor (rpy2)."""

    def __init__(self) -> None:
        rver = _r_version_from_rscript()
        if rver is None:
            raise RUnavailable(
                "R is not installed (Rscript not on PATH): run `bash scripts/setup.sh`, which "
                "installs r-base-core r-cran-metafor r-cran-metadat r-cran-jsonlite"
            )
        try:
            import rpy2.robjects as ro
        except ImportError as err:
            msg = str(err)
            if "No module named" in msg:
                raise RUnavailable(
                    f"rpy2 is not installed in this Python; for R {rver} install "
                    f"`pip install '{rpy2_spec_for(rver)}'` (scripts/setup.sh does this)"
                ) from None
            raise RUnavailable(
                f"rpy2 failed to load against R {rver} ({msg.splitlines()[0]}); this usually means "
                f"an rpy2 built for another R: install `{rpy2_spec_for(rver)}` into a fresh venv"
            ) from None
        except Exception as err:  # rpy2 raises assorted errors when libR does not match
            raise RUnavailable(
                f"rpy2 failed to start R {rver}: {str(err).splitlines()[0]}; install "
                f"`{rpy2_spec_for(rver)}` into a fresh venv"
            ) from None
        self._ro = ro
        ok = bool(ro.r('isTRUE(suppressWarnings(requireNamespace("metafor", quietly = TRUE)))')[0])
        if not ok:
            raise RUnavailable(
                f"R {rver} is present but the R package metafor is not: "
                "`apt-get install r-cran-metafor r-cran-metadat` (or install.packages('metafor'))"
            )
        lib = resources.files("metaparity") / "r" / "metaparity.R"
        with resources.as_file(lib) as path:
            ro.r["source"](str(path))
        self._versions = _to_py(ro.r["mp_versions"]())

    def versions(self) -> dict[str, str]:
        """R and metafor versions of the embedded R."""
        return dict(self._versions)

    def _vec(self, x: Any):
        return self._ro.FloatVector(np.asarray(x, dtype=float).ravel().tolist())

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
    ) -> dict[str, Any]:
        """``metafor::rma`` (+ predict, transformed predict, confint) with tight control.

        Returns a dict shaped like a golden record: ``ok``, ``fit``, ``predict``,
        ``predict_transf``, ``confint``, ``warnings`` (or ``error``).
        """
        ro = self._ro
        out = ro.r["mp_rma"](
            self._vec(yi),
            self._vec(vi),
            method,
            test,
            level=float(level),
            weights=ro.NULL if weights is None else self._vec(weights),
            measure=measure,
            ni=ro.NULL if ni is None else self._vec(ni),
            transf=ro.NULL if transf is None else transf,
        )
        res = _to_py(out)
        w = res.get("warnings")
        res["warnings"] = [] if w is None else ([w] if isinstance(w, str) else list(w))
        return res

    def escalc(
        self,
        measure: str,
        *,
        add: float | None = None,
        to: str = "only0",
        drop00: bool = False,
        **inputs: Any,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``metafor::escalc`` on numeric inputs; returns ``(yi, vi)``."""
        ro = self._ro
        args = ro.ListVector({k: self._vec(v) for k, v in inputs.items()})
        r_add = ro.NULL if add is None else float(add)  # None: metafor's default for the measure
        out = _to_py(ro.r["mp_escalc"](measure, args, add=r_add, to=to, drop00=bool(drop00)))
        return np.atleast_1d(np.asarray(out["yi"], dtype=float)), np.atleast_1d(
            np.asarray(out["vi"], dtype=float)
        )
