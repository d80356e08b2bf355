"""``permutest()`` against metafor's: the model refitted in metafor on the same rows
(``fam_metareg.R``) and its permutation test run there.

* An exact test is compared number for number: the p-values, ``QMp``, the number of
  permutations, and the whole permutation distribution of every coefficient's z (or t) and
  estimate and of QM (each sorted: the same multiset of refits), at the tolerance table's row
  of the estimator.
* An approximate test draws other permutations than R's ``sample()``; its p-values are
  compared within Monte-Carlo error: ``|p - p_metafor| <= 4.5 sqrt(2 p (1 - p) / iter) +
  2 / iter`` (both tests estimate the same p with ``iter`` draws each; 4.5 standard errors
  of the difference), reported with ``Comparison.tol.reason`` saying so.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from metaparity.analysis.permutest import PermutestResult
from metaparity.models.results import RmaResult
from metaparity.parity.rbridge import get_bridge
from metaparity.parity.tolerances import Comparison, Tolerance, compare_values
from metaparity.parity.uni_spec import uni_spec

__all__ = ["metafor_permutest_uni", "compare_permutest_uni", "permutest_call_args"]


def metafor_permutest_uni(
    res: RmaResult, exact: bool = False, iter: int = 1000, seed: int = 1, btt: Any = None,
    alternative: str = "two.sided", p2defn: str = "abs", stat: str = "test", bridge: Any = None,
) -> dict[str, Any]:  # fmt: skip
    """metafor's ``permutest()`` of ``res`` refitted in metafor (``set.seed(seed)`` first)."""
    bridge = get_bridge() if bridge is None else bridge
    return bridge.call("mp_permutest_uni", **permutest_call_args(
        res, exact, iter, seed, btt, alternative, p2defn, stat))  # fmt: skip


def permutest_call_args(
    res: RmaResult, exact: bool = False, iter: int = 1000, seed: int = 1, btt: Any = None,
    alternative: str = "two.sided", p2defn: str = "abs", stat: str = "test",
) -> dict[str, Any]:  # fmt: skip
    """The arguments of ``mp_permutest_uni`` (``btt`` 0-based, sent 1-based)."""
    bt = None if btt is None else [float(b + 1) for b in np.atleast_1d(btt)]
    return dict(uni_spec(res), exact=bool(exact), iter=float(iter), seed=float(seed), btt=bt,
                alternative=alternative, p2defn=p2defn, stat=stat)  # fmt: skip


def _vec(v: Any) -> np.ndarray:
    return np.asarray([np.nan if x is None else x for x in np.atleast_1d(v)], dtype=float)


def _mc(q: str, ours: float, ref: float, n: int) -> Comparison:
    p = min(max(ref, 1.0 / n), 1 - 1.0 / n)
    atol = 4.5 * math.sqrt(2 * p * (1 - p) / n) + 2.0 / n
    tol = Tolerance(0.0, atol, f"Monte-Carlo: two approximate permutation tests of {n} draws "
                    "each estimate the same p; 4.5 standard errors of their difference")  # fmt: skip
    d = abs(ours - ref)
    return Comparison(q, ours, ref, d, d / abs(ref) if ref else math.inf, tol, d <= atol)


def compare_permutest_uni(
    res: RmaResult, ours: PermutestResult, ref: dict[str, Any]
) -> list[Comparison]:
    """Our permutation test against metafor's record (exact: everything; else the p-values
    within Monte-Carlo error)."""
    m = res.method
    pv = np.atleast_1d(np.asarray(ours.pval, dtype=float))
    rp = _vec(ref["pval"])
    exact = int(_vec(ref["iter"])[0]) == int(_vec(ref["exact_iter"])[0])
    out = []
    if exact and ours.exact:
        out.append(compare_values("k", float(ours.iter), float(_vec(ref["iter"])[0]), "EE"))
        for j, (a, b) in enumerate(zip(pv, rp, strict=True)):
            out.append(replace(compare_values("pval", a, b, "EE"), quantity=f"pval[{j + 1}]"))
        out.append(compare_values("QMp", ours.QMp, float(_vec(ref["QMp"])[0]), "EE"))
        for q, mine, theirs in (("zval", ours.zval_perm, ref["zval_perm"]),
                                ("b", ours.beta_perm, ref["beta_perm"])):  # fmt: skip
            cols = theirs if isinstance(theirs, list) and isinstance(theirs[0], list) else [theirs]
            for j, col in enumerate(cols):
                a = np.sort(np.asarray(mine)[:, j])
                for i, (x, y) in enumerate(zip(a, _vec(col), strict=True)):
                    c = compare_values(q, float(x), float(y), m)
                    out.append(replace(c, quantity=f"{q}_perm[{i + 1},{j + 1}]"))
        for i, (x, y) in enumerate(zip(np.sort(ours.QM_perm), _vec(ref["QM_perm"]), strict=True)):
            out.append(replace(compare_values("QM", float(x), float(y), m),
                               quantity=f"QM_perm[{i + 1}]"))  # fmt: skip
        return out
    n = min(ours.iter, int(_vec(ref["iter"])[0]))
    for j, (a, b) in enumerate(zip(pv, rp, strict=True)):
        out.append(_mc(f"pval[{j + 1}]", float(a), float(b), n))
    out.append(_mc("QMp", ours.QMp, float(_vec(ref["QMp"])[0]), n))
    return out
