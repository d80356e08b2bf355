"""Engine facts, defined once: field lists, method and test codes, iteration constants.

The numpy reference (:mod:`metaparity.engine.reference`, :mod:`metaparity.engine.estimators`)
and the compiled engine (:mod:`metaparity.engine.numba`) import these; numba freezes the
module-level constants into its kernels at compile time.
"""

from __future__ import annotations

from metaparity._core.names import METHODS, TESTS

__all__ = [
    "FLOAT_FIELDS", "BATCH_FIELDS", "SCALAR_FIELDS", "COEF_FIELDS", "FIT_FIELDS", "METHOD_CODES", "TEST_CODES",
    "EPS", "MAXIT", "MAXIT_FS",
]  # fmt: skip

#: float outputs of one fitted row, in the order of the compiled engine's output matrix
FLOAT_FIELDS: tuple[str, ...] = tuple(
    "b se zval pval ci_lb ci_ub tau2 se_tau2 I2 H2 QE QEp dfs".split()
)
#: every per-row field of :class:`metaparity.BatchResult` (floats, then counts and flags)
BATCH_FIELDS: tuple[str, ...] = (
    FLOAT_FIELDS[:12] + ("k",) + FLOAT_FIELDS[12:] + ("converged", "iterations")
)  # b ... QEp, k, dfs, converged, iterations
#: the coefficient fields (one entry per coefficient with moderators)
COEF_FIELDS: tuple[str, ...] = FLOAT_FIELDS[:6]
#: an intercept-only fit's results as reported by ``to_dict()`` and compared with metafor
FIT_FIELDS: tuple[str, ...] = FLOAT_FIELDS[:12] + ("k",)
#: float fields of a single intercept-only fit (:class:`metaparity.RmaResult`)
SCALAR_FIELDS: tuple[str, ...] = FLOAT_FIELDS + ("s2typ",)

#: tau^2 estimator codes of the compiled engine (metafor's names)
#: (PM, EB and SJIT share one root problem: sum w r^2 = k - p, as in the reference)
METHOD_CODES: dict[str, int] = {
    "EE": 0, "FE": 0, "DL": 1, "HE": 2, "GENQ": 3, "HS": 4, "HSk": 5, "SJ": 6,
    "PM": 7, "EB": 7, "SJIT": 7, "PMM": 8, "DLIT": 9, "ML": 10, "REML": 11,
    "CE": 0, "MP": 7, "CO": 2, "VC": 2,  # metafor's aliases
}  # fmt: skip
#: test codes of the compiled engine (metafor's ``test=``)
TEST_CODES: dict[str, int] = {"z": 0, "t": 1, "knha": 2, "adhoc": 3, "hksj": 2}

#: relative convergence target on tau^2 of the root finders
EPS = 1e-15
#: iterations of the root finders (bracketing, bisection, Newton)
MAXIT = 200
#: Fisher-scoring iterations (ML/REML) before the root is polished
MAXIT_FS = 100

assert set(METHOD_CODES) == set(METHODS), "every estimator has a compiled-engine code"
assert set(TEST_CODES) == set(TESTS), "every test has a compiled-engine code"
