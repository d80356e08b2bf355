"""Golden files: regenerate them with R and report what moved.

``metaparity goldens regenerate`` re-runs every golden producer under
``r_scripts/`` into a temporary folder and compares the new files with the
recorded ones, number by number (the tolerance table's closed-form rtol).
Drift -- e.g. after a metafor upgrade -- is reported; the recorded files are
replaced only with ``--accept``.

Regenerating needs a source checkout of metaparity: the producers (``r_scripts/``) and
the recorded files (``fixtures/``) live in the repository, not in the installed
package, so :func:`regenerate` takes the checkout's root explicitly and raises
:class:`SourceCheckoutRequired` when it is not one.  The comparison helpers
(:func:`diff_json`, :func:`diff_csv`) work anywhere.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from metaparity._core.io import atomic_write

__all__ = ["PRODUCERS", "Drift", "SourceCheckoutRequired", "diff_json", "diff_csv", "regenerate"]

#: producer script -> what it writes (a JSON file or a folder of CSV files), repo-relative;
#: ``{metafor}`` is the installed metafor's version: metafor's answers are kept per version
#: (fixtures/goldens/metafor-3.8.1/, metafor-4.8.0/ ...), each replayed under the behaviour
#: of its version; the metadat export does not depend on metafor.
PRODUCERS: dict[str, str] = {
    "r_scripts/goldens.R": "fixtures/goldens/metafor-{metafor}/rma_grid.json",
    # rma_mods, leave1out/influence/..., regtest/trimfill/..., rma.glmm (issue 8)
    "r_scripts/goldens_diagnostics.R": "fixtures/goldens/metafor-{metafor}/diagnostics.json",
    # tool policies (metaparity.analysis.policies / explain): IV, MH and Peto paths
    "r_scripts/goldens_policies.R": "fixtures/goldens/metafor-{metafor}/policies.json",
    # rma.mh: OR, RR, RD, IRR, IRD with leave1out/cumul/predict (tests/parity/test_goldens_mh.py)
    "r_scripts/goldens_mh.R": "fixtures/goldens/metafor-{metafor}/mh.json",
    # rma.peto and escalc("PETO") (tests/parity/test_goldens_peto.py)
    "r_scripts/goldens_peto.R": "fixtures/goldens/metafor-{metafor}/peto.json",
    # rma.glmm conditional models: OR/CM.EL (slow: BiasedUrn + integrate), OR/CM.AL + IRR
    "r_scripts/goldens_glmm_cm.R": "fixtures/goldens/metafor-{metafor}/glmm_cm.json",
    "r_scripts/goldens_glmm_cm_al.R": "fixtures/goldens/metafor-{metafor}/glmm_cm_al.json",
    # rma.glmm unconditional two-group models (UM.FS / UM.RS)
    "r_scripts/goldens_glmm_um.R": "fixtures/goldens/metafor-{metafor}/glmm_um.json",
    # rma.mv: multilevel / multivariate models (inputs: fixtures/mv_cases.json)
    "r_scripts/goldens_mv.R": "fixtures/goldens/metafor-{metafor}/mv.json",
    # vcalc(): V of dependent estimates (inputs: fixtures/vcalc_cases.json)
    "r_scripts/goldens_vcalc.R": "fixtures/goldens/metafor-{metafor}/vcalc.json",
    # predict/confint/ranef/profile/anova/robust around rma.mv (inputs: fixtures/mv_tools_cases.json)
    "r_scripts/goldens_mv_tools.R": "fixtures/goldens/metafor-{metafor}/mv_tools.json",
    # blup()/ranef() of rma fits (inputs: fixtures/blup_cases.json)
    "r_scripts/goldens_blup.R": "fixtures/goldens/metafor-{metafor}/blup.json",
    # predict/anova/fit statistics/LRT/confint of rma meta-regressions (fixtures/metareg_cases.json)
    "r_scripts/goldens_metareg.R": "fixtures/goldens/metafor-{metafor}/metareg.json",
    "r_scripts/export_metadat.R": "fixtures/metadat",
}

_RTOL, _ATOL = 1e-10, 1e-12
_VOLATILE = {"date", "seconds"}  # provenance entries that change on every run


class SourceCheckoutRequired(RuntimeError):
    """The folder given as the repository root has no golden producers (``r_scripts/``)."""


@dataclass
class Drift:
    """What differs between a recorded golden and a fresh one.

    ``moved`` lists values beyond rtol 1e-10 and ``provenance`` the changed provenance
    entries (R, metafor versions ...), each as ``(path, recorded, fresh)``.
    """

    target: str
    moved: list[tuple[str, Any, Any]] = field(default_factory=list)
    provenance: list[tuple[str, Any, Any]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when no value moved (provenance changes alone do not count)."""
        return not self.moved


def _num_equal(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        fa, fb = float(a), float(b)
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        if math.isinf(fa) or math.isinf(fb):
            return fa == fb
        return abs(fa - fb) <= _ATOL + _RTOL * abs(fb)
    return a == b


def diff_json(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Leaves of two JSON documents that differ (numbers beyond rtol 1e-10).

    Parameters
    ----------
    old, new : Any
        Parsed JSON (dicts, lists, numbers, strings); provenance entries that change on
        every run (``date``, ``seconds``) are skipped.
    path : str, default ""
        Prefix for the reported paths (used in the recursion).

    Returns
    -------
    list of (str, Any, Any)
        ``(path, old, new)`` per differing leaf, e.g. ``("[0].fit.b", 0.5, 0.51)``;
        a missing key is reported as ``"<absent>"``.

    Examples
    --------
    >>> diff_json({"b": 0.5, "k": 3}, {"b": 0.5 + 1e-14, "k": 4})
    [('k', 3, 4)]
    """
    out: list[tuple[str, Any, Any]] = []
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new)):
            if k in _VOLATILE:
                continue
            p = f"{path}.{k}" if path else k
            if k not in old or k not in new:
                out.append((p, old.get(k, "<absent>"), new.get(k, "<absent>")))
            else:
                out += diff_json(old[k], new[k], p)
    elif isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            out.append((f"{path}[len]", len(old), len(new)))
        for i, (a, b) in enumerate(zip(old, new, strict=False)):
            out += diff_json(a, b, f"{path}[{i}]")
    elif not _num_equal(old, new):
        out.append((path, old, new))
    return out


def diff_csv(old: Path, new: Path) -> list[tuple[str, Any, Any]]:
    """Cells of two CSV files that differ (numbers beyond rtol 1e-10).

    Parameters
    ----------
    old, new : Path
        The recorded and the fresh file (e.g. a metadat data set exported by
        ``r_scripts/export_metadat.R``).

    Returns
    -------
    list of (str, Any, Any)
        ``("name.csv:column[row]", old, new)`` per differing cell; one entry naming the
        shapes and columns when those differ.
    """
    a, b = pd.read_csv(old), pd.read_csv(new)
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return [(old.name, f"{a.shape} {list(a.columns)}", f"{b.shape} {list(b.columns)}")]
    out: list[tuple[str, Any, Any]] = []
    for col in a.columns:
        for i, (x, y) in enumerate(zip(a[col], b[col], strict=True)):
            if not _num_equal(x, y) and not (pd.isna(x) and pd.isna(y)):
                out.append((f"{old.name}:{col}[{i}]", x, y))
    return out


def _diff_target(recorded: Path, fresh: Path, name: str) -> Drift:
    d = Drift(name)
    if recorded.is_dir() or fresh.is_dir():
        names = {p.name for p in recorded.glob("*.csv")} | {p.name for p in fresh.glob("*.csv")}
        for n in sorted(names):
            if not (recorded / n).exists() or not (fresh / n).exists():
                d.moved.append((n, "present" if (recorded / n).exists() else "<absent>",
                                "present" if (fresh / n).exists() else "<absent>"))  # fmt: skip
            else:
                d.moved += diff_csv(recorded / n, fresh / n)
        return d
    if not recorded.exists():
        d.moved.append((name, "<absent>", "present"))
        return d
    old, new = json.loads(recorded.read_text()), json.loads(fresh.read_text())
    d.provenance = diff_json(old.get("provenance", {}), new.get("provenance", {}), "provenance")
    old.pop("provenance", None)
    new.pop("provenance", None)
    d.moved = diff_json(old, new)
    return d


def _write_bytes(data: bytes) -> Callable[[Any], None]:
    def write(fh: Any) -> None:
        fh.write(data)

    return write


def regenerate(root: Path, accept: bool = False, only: list[str] | None = None) -> list[Drift]:
    """Re-run the golden producers in R and report what moved.

    The R side of metafor's goldens (``r_scripts/goldens.R`` and friends call metafor's
    ``rma``, ``rma.glmm``, ``leave1out``, ``regtest`` ... with tight ``control=``).

    Parameters
    ----------
    root : Path
        Root of a metaparity source checkout (it holds ``r_scripts/`` and ``fixtures/``).
    accept : bool, default False
        Replace the recorded files where anything (values or provenance) changed.
    only : list of str, optional
        Run only producers whose path contains one of these strings.

    Returns
    -------
    list of Drift
        One per producer run, in the order of :data:`PRODUCERS`.

    Raises
    ------
    SourceCheckoutRequired
        ``root`` has no ``r_scripts/`` (e.g. metaparity installed from a wheel).
    RuntimeError
        Rscript is missing, or a producer failed (the last lines of its stderr).
    """
    root = Path(root)
    if not (root / "r_scripts").is_dir():
        raise SourceCheckoutRequired(
            f"{root} has no r_scripts/: regenerating goldens needs a source checkout of "
            "metaparity (pass its root, e.g. --root REPO)"
        )
    exe = shutil.which("Rscript")
    if exe is None:
        raise RuntimeError("Rscript not found: regenerating goldens needs R with metafor")
    ver = subprocess.run(
        [exe, "-e", 'cat(as.character(packageVersion("metafor")))'],
        capture_output=True,
        text=True,
    )
    if ver.returncode != 0 or not ver.stdout.strip():
        raise RuntimeError(f"R cannot load metafor: {ver.stderr.strip()[-300:]}")
    drifts = []
    for script, pattern in PRODUCERS.items():
        if only and not any(o in script for o in only):
            continue
        target = pattern.format(metafor=ver.stdout.strip())
        rec = root / target
        with tempfile.TemporaryDirectory(prefix="metaparity-goldens-") as tmp:
            fresh = Path(tmp) / Path(target).name
            proc = subprocess.run(
                [exe, str(root / script), str(fresh)], cwd=root, capture_output=True, text=True
            )
            if proc.returncode != 0:
                tail = proc.stderr.strip().splitlines()[-3:]
                raise RuntimeError(f"{script} failed: {' | '.join(tail)}")
            drift = _diff_target(rec, fresh, target)
            drifts.append(drift)
            if accept and (drift.moved or drift.provenance):
                if fresh.is_dir():
                    for f in fresh.glob("*.csv"):
                        atomic_write(rec / f.name, _write_bytes(f.read_bytes()), "wb")
                else:
                    rec.parent.mkdir(parents=True, exist_ok=True)  # a new metafor version
                    atomic_write(rec, _write_bytes(fresh.read_bytes()), "wb")
    return drifts
