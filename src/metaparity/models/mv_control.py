"""``rma_mv(control=)``: metafor's ``control`` list for ``rma.mv``, read as metafor reads it.

Names are matched as R's ``pmatch`` does (exact, else a unique prefix).  What each does here:

- ``sigma2.init``, ``tau2.init``, ``rho.init``, ``gamma2.init``, ``phi.init``: the starting
  values (one value, or one per component), checked as metafor checks them;
- ``REMLf``: ``False`` drops ``1/2 log|X'X|`` from the restricted log-likelihood (as metafor);
- ``check.k.gtr.1``: ``False`` leaves estimable the variances metafor otherwise fixes to 0
  (single-level factors; ``HCS``/``UN``/``DIAG``/``HAR`` levels seen in one cluster);
- ``cholesky``: ``False`` optimises ``UN`` on variances and correlations instead of on the
  Cholesky factor of ``G`` (one value, or one per ``~ inner | outer`` term);
- iteration limits (``iter.max``, ``eval.max``, ``maxit``, ``maxfun``, ``maxeval``,
  ``iterlim``, ``mfmaxit``): a cap on our optimiser's iterations; reaching it is an error;
- ``verbose``: prints the log-likelihood at each iteration.

metafor's choice of optimiser (``optimizer``, ``optmethod``) and the settings of its
optimisers (``rel.tol``, ``reltol``, ``rhoend`` …) are accepted and have no effect:
metaparity maximises with the exact gradient to a rounding-level projected gradient, the
same optimum or a higher one than any of metafor's optimisers reaches (docs/mv.md).  So are
``nearpd``, ``evtol``, ``hessianCtrl``, ``hesstol``, ``hesspack``, ``parallel``, ``cl``,
``ncpus`` (settings of metafor's Hessian and parallel optimisers).  Any other name is an
error (with a did-you-mean), where metafor would pass it to its optimiser unread.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["MvControl", "read_control", "expand_init", "INIT_NAMES", "OPTIMIZERS"]

#: the starting-value entries, with the component each sets
INIT_NAMES: dict[str, str] = {
    "sigma2.init": "sigma2", "tau2.init": "tau2", "rho.init": "rho",
    "gamma2.init": "gamma2", "phi.init": "phi",
}  # fmt: skip

#: metafor's own control names for rma.mv (matched with pmatch, as metafor does)
_METAFOR_NAMES: tuple[str, ...] = (
    "verbose", "optimizer", "optmethod", "parallel", "cl", "ncpus", "REMLf", "evtol",
    "nearpd", "hessianCtrl", "hesstol", "hesspack", "check.k.gtr.1", "mfmaxit",
    *INIT_NAMES, "cholesky",
)  # fmt: skip

#: metafor's optimisers (control optimizer=, optmethod=)
OPTIMIZERS: tuple[str, ...] = (
    "nlminb", "optim", "uobyqa", "newuoa", "bobyqa", "nloptr", "nlm", "hjk", "nmk", "mads",
    "ucminf", "lbfgsb3c", "subplex", "BBoptim", "optimParallel", "Rcgmin", "Rvmmin",
    "Nelder-Mead", "BFGS", "CG", "L-BFGS-B", "SANN", "Brent",
)  # fmt: skip

#: iteration limits of metafor's optimisers (nlminb, optim, minqa, nloptr, nlm, metafor)
_LIMITS: tuple[str, ...] = ("iter.max", "eval.max", "maxit", "maxfun", "maxeval", "iterlim",
                            "mfmaxit")  # fmt: skip

#: settings of metafor's optimisers that are passed to them (accepted, no effect here)
_OPTIMISER_SETTINGS: tuple[str, ...] = (
    # nlminb
    "trace", "abs.tol", "rel.tol", "x.tol", "xf.tol", "step.min", "step.max", "sing.tol",
    "scale.init", "diff.g",
    # optim
    "fnscale", "parscale", "ndeps", "abstol", "reltol", "alpha", "beta", "gamma", "REPORT",
    "warn.1d.NelderMead", "type", "lmm", "factr", "pgtol", "temp", "tmax",
    # minqa, nloptr, nlm, dfoptim, ucminf, BB
    "npt", "rhobeg", "rhoend", "iprint", "algorithm", "ftol_rel", "ftol_abs", "xtol_rel",
    "xtol_abs", "print_level", "gradtol", "steptol", "stepmax", "ndigit", "print.level",
    "fscale", "typsize", "tol", "maxfeval", "grtol", "xtol",
)  # fmt: skip

_NO_EFFECT: tuple[str, ...] = ("optimizer", "optmethod", "parallel", "cl", "ncpus", "evtol",
                               "nearpd", "hessianCtrl", "hesstol", "hesspack")  # fmt: skip


@dataclass(frozen=True)
class MvControl:
    """The control list as it applies here."""

    #: starting values given, by component (``"sigma2"`` …), as given (expanded later)
    init: dict[str, np.ndarray] = field(default_factory=dict)
    remlf: bool = True
    check_k: bool = True
    #: per ``~ inner | outer`` term: None (metafor's default: True for UN) or a bool
    cholesky: tuple[bool | None, bool | None] = (None, None)
    maxiter: int | None = None
    verbose: bool = False
    #: the entries accepted that have no effect here (metafor's names)
    no_effect: tuple[str, ...] = ()
    #: the control list as given, names completed as metafor completes them
    given: dict[str, Any] = field(default_factory=dict)

    @property
    def for_metafor(self) -> dict[str, Any]:
        """The entries that change metafor's model or start (sent with every optimiser
        setting the parity harness tries): ``REMLf``, ``check.k.gtr.1``, ``cholesky``, the
        starting values."""
        keep = ("REMLf", "check.k.gtr.1", "cholesky", *INIT_NAMES)
        return {k: v for k, v in self.given.items() if k in keep}


def _pmatch(name: str) -> str | None:
    """R's pmatch of one name against metafor's control names."""
    if name in _METAFOR_NAMES:
        return name
    hits = [n for n in _METAFOR_NAMES if n.startswith(name)]
    return hits[0] if len(hits) == 1 else None


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)) or value in (0, 1):
        return bool(value)
    raise ValueError(f"control {name}={value!r}: give True or False")


def _numbers(name: str, value: Any) -> np.ndarray:
    try:
        arr = np.atleast_1d(np.asarray(value, dtype=float)).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"control {name}={value!r}: give a number or a list of numbers") from None
    if arr.size == 0:
        raise ValueError(f"control {name}: give at least one value")
    if np.isnan(arr).any():
        raise ValueError(f"control {name}: no missing values allowed (as metafor)")
    return arr


def read_control(control: dict[str, Any] | None) -> MvControl:
    """metafor's ``control`` list for rma.mv, checked (unknown names, values of the wrong
    type); the starting values are checked against the model in :func:`start_values`."""
    if control is None:
        return MvControl()
    if not isinstance(control, dict):
        raise ValueError(
            f"control must be a dict of metafor's control names (e.g. "
            f"{{'tau2.init': 0.1}}), not {type(control).__name__}"
        )
    given: dict[str, Any] = {}
    init: dict[str, np.ndarray] = {}
    remlf, check_k, verbose = True, True, False
    cholesky: tuple[bool | None, bool | None] = (None, None)
    limits: list[int] = []
    no_effect: list[str] = []
    for raw, value in control.items():
        name = _pmatch(str(raw))
        if name is None:
            name = str(raw)
            if name not in _LIMITS and name not in _OPTIMISER_SETTINGS:
                near = difflib.get_close_matches(
                    name, [*_METAFOR_NAMES, *_LIMITS, *_OPTIMISER_SETTINGS], n=1
                )
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise ValueError(
                    f"control {name!r} is not a control setting of metafor's rma.mv or of its "
                    f"optimisers{hint}; the starting values are sigma2.init, tau2.init, "
                    "rho.init, gamma2.init, phi.init"
                )
        given[name] = value
        if name in INIT_NAMES:
            init[INIT_NAMES[name]] = _numbers(name, value)
        elif name == "REMLf":
            remlf = _flag(name, value)
        elif name == "check.k.gtr.1":
            check_k = _flag(name, value)
        elif name == "verbose":
            verbose = bool(value)
        elif name == "cholesky":
            vals = [_flag(name, v) for v in np.atleast_1d(np.asarray(value, dtype=object))]
            if len(vals) > 2:
                raise ValueError(f"control cholesky={value!r}: one value, or one per term")
            cholesky = (vals[0], vals[-1])
        elif name in _LIMITS:
            lim = float(value)
            if not lim >= 1:
                raise ValueError(f"control {name}={value!r}: give an iteration limit >= 1")
            if np.isfinite(lim):
                limits.append(int(lim))
        elif name in ("optimizer", "optmethod"):
            if str(value) not in OPTIMIZERS:
                raise ValueError(
                    f"control {name}={value!r} is not one of metafor's optimisers "
                    f"({', '.join(OPTIMIZERS)})"
                )
            no_effect.append(name)
        else:
            no_effect.append(name)
    return MvControl(init=init, remlf=remlf, check_k=check_k, cholesky=cholesky,
                     maxiter=min(limits) if limits else None, verbose=verbose,
                     no_effect=tuple(no_effect), given=given)  # fmt: skip


def expand_init(ctl: MvControl, comp: str, n: int, struct: str | None = None) -> np.ndarray | None:
    """The starting values of component ``comp`` (n of them; one value is repeated, as
    metafor's), checked as metafor checks them; None when not given."""
    if comp not in ctl.init:
        return None
    v = ctl.init[comp]
    name = f"{comp}.init"
    if v.size == 1:
        v = np.repeat(v, n)
    elif v.size != n:
        raise ValueError(
            f"control {name} has {v.size} values; the model has {n} {comp} component(s): "
            "give one value or one per component"
        )
    if comp in ("sigma2", "tau2", "gamma2"):
        if (v <= 0).any():
            raise ValueError(f"control {name}={v.tolist()}: value(s) must be > 0 (as metafor)")
    elif struct == "CAR":
        if ((v <= 0) | (v >= 1)).any():
            raise ValueError(f"control {name}={v.tolist()}: value(s) must be in (0,1) for CAR")
    elif ((v <= -1) | (v >= 1)).any():
        raise ValueError(f"control {name}={v.tolist()}: value(s) must be in (-1,1) (as metafor)")
    return v
