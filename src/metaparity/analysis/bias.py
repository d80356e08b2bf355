"""Small-study effects and publication bias: rank test, regression test, trim and fill,
fail-safe N -- at parity with metafor 3.8 (``ranktest``, ``regtest``, ``trimfill``, ``fsn``).

This module is the facade; each method lives in its own module:

* :func:`~metaparity.analysis.ranktest.ranktest` -- Begg & Mazumdar (1994): Kendall's
  tau between the standardised deviations from the equal-effects estimate and the
  sampling variances, with R's ``cor.test(method="kendall")`` p-value (exact without
  ties, else the tie-corrected normal approximation).
* :func:`~metaparity.analysis.regtest.regtest` -- Egger et al. (1997), Sterne & Egger
  (2005): a meta-regression of the outcomes on a predictor of precision
  (``model="rma"``, same estimator and test as the fitted model) or a weighted
  least-squares regression with a multiplicative dispersion term (``model="lm"``, the
  classical Egger test); the intercept is the "limit estimate" (PET for ``"sei"``,
  PEESE for ``"vi"``).
* :func:`~metaparity.analysis.trimfill.trimfill` -- Duval & Tweedie (2000a, b): the L0
  or R0 estimator of the number of suppressed studies, iterated to a fixed point; the
  filled (mirrored) studies and the model refitted on the augmented data with the same
  estimator.
* :func:`~metaparity.analysis.fsn.fsn` -- Rosenthal (1979, Stouffer's sum of z), Orwin
  (1983) and Rosenberg (2005).

None of these tests means much with few studies: with k = 2 to 6 (as in many clinical
meta-analyses) their power is negligible and a non-significant result is no evidence
of symmetry; Sterne et al. (2011) recommend k >= 10.  See ``docs/bias.md``.
"""

from __future__ import annotations

from metaparity.analysis.fsn import FsnResult, fsn
from metaparity.analysis.ranktest import RankTestResult, ranktest

# the exact Kendall test stays importable from here (the path the tests use)
from metaparity.analysis.ranktest import _kendall as _kendall
from metaparity.analysis.ranktest import _pkendall as _pkendall
from metaparity.analysis.regtest import PREDICTORS, RegTestResult, regtest
from metaparity.analysis.trimfill import TrimFillResult, trimfill

__all__ = [
    "ranktest",
    "regtest",
    "trimfill",
    "fsn",
    "RankTestResult",
    "RegTestResult",
    "TrimFillResult",
    "FsnResult",
    "PREDICTORS",
]
