"""Case diagnostics: leave-one-out, influence, residuals, cumulative meta-analysis, Baujat.

Every refit goes through a batch engine (batch first): the ``k`` leave-one-out models of
a meta-analysis are the rows of a NaN-padded ``(k, k)`` batch of
:func:`metaparity.rma_batch`, the ``k`` cumulative models the rows of a lower-triangular
one; a meta-regression's ``k`` deleted fits are one batch of the meta-regression engine
(:mod:`metaparity.analysis.deletion`).  The definitions are those of metafor
(``?influence.rma.uni``, ``?rstudent.rma.uni``, ``?leave1out``, ``?cumul``, ``?baujat``;
unchanged from 3.8 to 5.1) and Viechtbauer & Cheung (2010).  The formulas below are for a
model without moderators; with moderators (``influence``, ``rstudent``, ``rstandard``,
``baujat``, ``hatvalues``, ``cooks_distance``, ``dfbetas``) the pooled estimate becomes
the fitted value ``x_i' b``, ``vb`` a matrix, ``hat`` the diagonal of
``X (X'WX)^-1 X'W``, Cook's distance ``(b - b_(i))' vb^-1 (b - b_(i))`` over the
coefficients of ``btt`` (all by default), ``cov.r`` a ratio of determinants, and the
flags use ``p`` coefficients (``3 sqrt(p/(k-p))``, ``chi2_m``, ``3p/k``); ``leave1out``
and ``cumul`` stop for meta-regressions, as metafor.  With ``w_i = 1/(v_i + tau2)`` of the full model, ``b``, ``vb``
its estimate and variance, and ``b_(i)``, ``vb_(i)``, ``tau2_(i)``, ``s2_(i)`` those of
the fit without study ``i`` (``s2`` is the Knapp-Hartung factor, 1 for tests z and t):

* ``hat_i = w_i / sum(w)``, ``weight_i = 100 hat_i`` (percent);
* ``rstandard``: ``e_i = y_i - b`` over ``sqrt(v_i + tau2 - 1/sum(w))``;
* ``rstudent``: ``y_i - b_(i)`` over ``sqrt(s2_(i) (v_i + tau2_(i)) + vb_(i))``;
* ``dffits_i = (b - b_(i)) / sqrt(s2_(i) hat_i (v_i + tau2_(i)))``;
* ``cook.d_i = (b - b_(i))^2 / vb`` (the full model's ``vb``);
* ``cov.r_i = vb_(i) / vb``;
* ``dfbs_i = (b - b_(i)) / sqrt(s2_(i) / sum_j 1/(v_j + tau2_(i)))`` (the sum over
  all ``k`` studies, with the deleted fit's ``tau2``);
* ``inf``: ``|dffits| > 3 sqrt(1/(k-1))``, or ``P(chi2_1 <= cook.d) > 0.5``, or
  ``hat > 3/k``, or ``|dfbs| > 1``;
* Baujat: ``x_i = (y_i - b)^2 / (v_i + tau2)`` (the squared Pearson residual; for an
  equal-effects model the study's contribution to QE), ``y_i = (b - b_(i))^2 / vb_(i)``.

As in metafor, ``leave1out``, ``influence``, ``rstudent`` and ``baujat`` stop for
``k = 1``; models fitted with user ``weights`` are supported by ``leave1out`` and
``cumul`` only.

This module is the facade; each diagnostic lives in its own module:
:mod:`~metaparity.analysis.leave1out` (``leave1out``, ``leave1out_batch``),
:mod:`~metaparity.analysis.cumul`, :mod:`~metaparity.analysis.residuals`
(``rstandard``, ``rstudent``), :mod:`~metaparity.analysis.influence` and
:mod:`~metaparity.analysis.baujat`.
"""

from __future__ import annotations

from metaparity.analysis.baujat import Baujat, baujat
from metaparity.analysis.cumul import Cumul, cumul
from metaparity.analysis.influence import (
    Influence,
    cooks_distance,
    dfbetas,
    hatvalues,
    influence,
)
from metaparity.analysis.leave1out import Leave1Out, leave1out, leave1out_batch
from metaparity.analysis.residuals import Residuals, rstandard, rstudent

__all__ = [
    "Leave1Out",
    "Cumul",
    "Influence",
    "Residuals",
    "Baujat",
    "leave1out",
    "leave1out_batch",
    "influence",
    "cooks_distance",
    "dfbetas",
    "hatvalues",
    "rstandard",
    "rstudent",
    "cumul",
    "baujat",
]
