"""The model families ``metaparity parity --model`` compares, one registry entry each.

An entry says everything the harness needs to compare a family with metafor: the
measures it takes, the input columns (metafor's argument names) each measure needs, how
to fit it in metaparity, which R function of the bridge fits it in metafor
(``bridge.call("mp_...")``, a ``fam_*.R`` file) with which arguments, and which
quantities to compare.  ``uni`` (``escalc()`` + ``rma()``, the estimators of ``--method``)
is the harness's own path (:func:`metaparity.parity.harness.compare`), ``mv``
(``rma.mv``: random-effect formulas, a V file) that of
:mod:`metaparity.parity.mv_harness`; the other entries run through
:func:`metaparity.parity.model_compare.compare_model`.  A new family (``mh``,
``glmm`` ...) is one more entry here.

>>> get_model("peto").columns("PETO")
[['ai', 'bi', 'ci', 'di'], ['ai', 'n1i', 'ci', 'n2i']]
>>> get_model("pet")
Traceback (most recent call last):
...
metaparity._core.io.InputError: --model 'pet' is not a model metaparity can compare; did you mean 'peto'? (models: uni, peto, mh, glmm, mv, glmm:UM.FS, glmm:UM.RS, glmm:CM.EL, glmm:CM.AL)
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from metaparity._core.io import InputError
from metaparity.effects.escalc import MEASURES
from metaparity.models.glmm import glmm_loglik, rma_glmm
from metaparity.models.mh import MH_MEASURES, rma_mh
from metaparity.models.peto import PETO_FIELDS, rma_peto
from metaparity.parity import compare as pc
from metaparity.parity.harness import required_columns
from metaparity.parity.tolerances import Comparison, compare_values

__all__ = ["ParityModel", "MODELS", "GLMM_MODELS", "get_model", "TABLE_2X2", "PERSON_TIME"]

#: the columns of a 2x2 table (events and non-events, or events and group sizes)
TABLE_2X2: list[list[str]] = [["ai", "bi", "ci", "di"], ["ai", "n1i", "ci", "n2i"]]
#: events and person-times of two groups (IRR, IRD)
PERSON_TIME: list[list[str]] = [["x1i", "t1i", "x2i", "t2i"]]

#: Quantities: ``(name, metaparity's value, metafor's value)``; compared with the tolerance
#: table under a closed-form estimator ("EE") unless the entry says otherwise.
Quantities = list[tuple[str, Any, Any]]


@dataclass(frozen=True)
class ParityModel:
    """One model family ``metaparity parity --model NAME`` can compare.

    Attributes
    ----------
    name : str
        The ``--model`` value.
    title : str
        What metafor function it mirrors (for reports and ``--help``).
    measures : tuple of str
        The ``--measure`` values it takes.
    columns : callable
        ``columns(measure)``: alternative sets of input columns (metafor argument names).
    rfun : str or callable
        The bridge's R function (``mp_...``) that fits it in metafor, or
        ``rfun(measure)`` giving it.
    fit : callable or None
        ``fit(inputs, labels, measure, level)``: metaparity's fit (``inputs`` maps the
        argument names to float arrays); None for ``uni`` (the harness fits it).
    r_args : callable or None
        ``r_args(inputs, measure, level, ours)``: the arguments of ``rfun`` (``ours``:
        metaparity's fit, for models whose likelihood metafor's side evaluates at our
        optimum).
    quantities : callable or None
        ``quantities(ours, ref)``: what to compare (see :data:`Quantities`), each with the
        tolerance table of ``method``.
    comparisons : callable or None
        ``comparisons(ours, ref, inputs, measure)``: the comparisons themselves, each with
        its own tolerance (the GLMMs: :mod:`metaparity.parity.compare`); used instead of
        ``quantities``.
    method : str
        The estimator family that selects tolerances ("EE": closed form).
    iterative : bool
        Fitted by an optimiser (the GLMMs): metaparity's tight control of metafor is used
        and ``--control`` is refused with that reason.
    """

    name: str
    title: str
    measures: tuple[str, ...]
    columns: Callable[[str], list[list[str]]]
    rfun: str | Callable[[str], str]
    fit: Callable[[dict[str, np.ndarray], list[str] | None, str, float], Any] | None = None
    r_args: Callable[[dict[str, np.ndarray], str, float, Any], dict[str, Any]] | None = None
    quantities: Callable[[Any, dict[str, Any]], Quantities] | None = None
    comparisons: Callable[[Any, dict[str, Any], dict[str, np.ndarray], str],
                          list[Comparison]] | None = None  # fmt: skip
    method: str = "EE"
    iterative: bool = False

    def r_function(self, measure: str) -> str:
        """The bridge's R function for ``measure``."""
        return self.rfun if isinstance(self.rfun, str) else self.rfun(measure)

    def compare(self, ours: Any, ref: dict[str, Any], inputs: dict[str, np.ndarray],
                measure: str) -> list[Comparison]:  # fmt: skip
        """Every comparison of metaparity's fit ``ours`` with metafor's record ``ref``."""
        if self.comparisons is not None:
            return list(self.comparisons(ours, ref, inputs, measure))
        assert self.quantities is not None, f"--model {self.name} compares nothing"
        return [compare_values(q, _num(a), _num(b), self.method)
                for q, a, b in self.quantities(ours, ref)]  # fmt: skip


def _num(x: Any) -> float | None:
    return None if x is None else float(x)


def _table(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """ai, bi, ci, di from either column set (bi = n1i - ai, di = n2i - ci)."""
    ai, ci = inputs["ai"], inputs["ci"]
    bi = inputs["bi"] if "bi" in inputs else inputs["n1i"] - ai
    di = inputs["di"] if "di" in inputs else inputs["n2i"] - ci
    return {"ai": ai, "bi": bi, "ci": ci, "di": di}


def _peto_fit(
    inputs: dict[str, np.ndarray], labels: list[str] | None, measure: str, level: float
) -> Any:
    t = _table(inputs)
    return rma_peto(t["ai"], t["bi"], t["ci"], t["di"], slab=labels, level=level)


def _peto_r_args(
    inputs: dict[str, np.ndarray], measure: str, level: float, ours: Any = None
) -> dict[str, Any]:
    return {**_table(inputs), "level": float(level)}


def _rows(prefix: str, ours: Any, ref: Any, names: tuple[str, ...]) -> Quantities:
    """Per-row quantities of a leave1out/cumul table (ours: a table with ``slab``, or a
    DataFrame indexed by label), labelled ``prefix.q[label]``."""
    out: Quantities = []
    if ref is None:
        return out
    frame = isinstance(ours, pd.DataFrame)
    labels = list(ours.index) if frame else list(ours.slab)
    for q in names:
        theirs = np.atleast_1d(
            np.asarray([np.nan if v is None else v for v in np.atleast_1d(ref[q])], float)
        )
        mine = np.atleast_1d(np.asarray(ours[q] if frame else getattr(ours, q), dtype=float))
        if mine.shape != theirs.shape:  # a row count that differs is itself a disagreement
            out.append((f"{prefix}.rows", float(mine.size), float(theirs.size)))
            return out
        out += [
            (f"{prefix}.{q}[{lab}]", m, t) for lab, m, t in zip(labels, mine, theirs, strict=True)
        ]
    return out


def _effects(res: Any, ref: dict[str, Any]) -> Quantities:
    """``yi``/``vi`` study by study (the studies that have one, as metafor's ``res$yi``)."""
    yi, vi = np.atleast_1d(ref["yi"]), np.atleast_1d(ref["vi"])
    if len(yi) != res.yi.size:
        return [("yi.count", float(res.yi.size), float(len(yi)))]
    out: Quantities = [
        (f"yi[{i + 1}]", o, r) for i, (o, r) in enumerate(zip(res.yi, yi, strict=True))
    ]
    out += [(f"vi[{i + 1}]", o, r) for i, (o, r) in enumerate(zip(res.vi, vi, strict=True))]
    return out


_TABLE = ("estimate", "se", "pval", "ci_lb", "ci_ub", "Q", "Qp", "I2", "H2")


def _peto_quantities(res: Any, ref: dict[str, Any]) -> Quantities:
    f = ref["fields"]
    out: Quantities = [(q, getattr(res, q), f[q]) for q in PETO_FIELDS]
    out += _effects(res, ref)
    pt = res.predict(transf="exp")
    out += [
        (f"t_{q}", getattr(pt, q), ref["predict_transf"][q]) for q in ("pred", "ci_lb", "ci_ub")
    ]
    if ref.get("leave1out") is not None and res.k > 1:
        out += _rows("leave1out", res.leave1out(), ref["leave1out"], _TABLE)
    out += _rows("cumul", res.cumul(), ref["cumul"], _TABLE)
    return out


#: the fields of ``mp_rma_mh``'s ``fit`` (metafor's names; NA where metafor has none)
_MH_FIELDS = (
    "b", "se", "zval", "pval", "ci_lb", "ci_ub", "QE", "QEp", "I2", "H2", "CO", "COp", "MH",
    "MHp", "BD", "BDp", "TA", "TAp", "k", "k_yi", "k_pos", "tau2",
)  # fmt: skip


def _mh_columns(measure: str) -> list[list[str]]:
    return [list(c) for c in (PERSON_TIME if measure in ("IRR", "IRD") else TABLE_2X2)]


def _mh_fit(
    inputs: dict[str, np.ndarray], labels: list[str] | None, measure: str, level: float
) -> Any:
    cells = inputs if measure in ("IRR", "IRD") else _table(inputs)
    return rma_mh(**cells, measure=measure, slab=labels, level=level)  # type: ignore[arg-type]


def _mh_r_args(
    inputs: dict[str, np.ndarray], measure: str, level: float, ours: Any = None
) -> dict[str, Any]:
    cells = inputs if measure in ("IRR", "IRD") else _table(inputs)
    return {"measure": measure, "args": dict(cells), "level": float(level)}


def _mh_quantities(res: Any, ref: dict[str, Any]) -> Quantities:
    f = ref["fit"]
    # counts metafor leaves NA (k.pos for measures other than OR) are not compared, as the
    # mh tests do (tests/mh_compare.py)
    out: Quantities = [(q, getattr(res, q), f[q]) for q in _MH_FIELDS
                       if not (q in ("k", "k_yi", "k_pos") and f[q] is None)]  # fmt: skip
    out += _effects(res, ref)
    back = res.measure in ("OR", "RR", "IRR")
    p = res.predict(transf=True if back else None)
    out += [(f"t_{q}", getattr(p, q), ref["predict_transf"][q]) for q in ("pred", "ci_lb", "ci_ub")]
    if ref.get("leave1out") is not None and res.k > 1:
        out += _rows("leave1out", res.leave1out(), ref["leave1out"], _TABLE)
    out += _rows("cumul", res.cumul(), ref["cumul"], _TABLE)
    return out


# --------------------------------------------------------------------------- #
# rma.glmm: --model glmm (metafor's default model, UM.FS) and glmm:UM.FS|UM.RS|CM.EL|CM.AL
# --------------------------------------------------------------------------- #
#: the measures each rma.glmm model takes (PLO, IRLN: one group, model= does not apply)
GLMM_MODELS: dict[str, tuple[str, ...]] = {
    "UM.FS": ("OR", "IRR", "PLO", "IRLN"),
    "UM.RS": ("OR", "IRR"),
    "CM.EL": ("OR", "IRR"),
    "CM.AL": ("OR",),
}
_GLMM_COLUMNS: dict[str, list[list[str]]] = {
    "OR": TABLE_2X2, "IRR": PERSON_TIME, "PLO": [["xi", "ni"]], "IRLN": [["xi", "ti"]],
}  # fmt: skip


def _glmm_cells(inputs: dict[str, np.ndarray], measure: str) -> dict[str, np.ndarray]:
    return _table(inputs) if measure == "OR" else dict(inputs)


def _glmm_rfun(model: str, measure: str) -> str:
    if measure == "PLO":
        return "mp_rma_glmm"
    if model == "CM.EL" and measure == "OR":
        return "mp_rma_glmm_cm"  # BiasedUrn + integrate
    if model in ("CM.EL", "CM.AL"):
        return "mp_rma_glmm_cm_al"  # glmer
    return "mp_rma_glmm_um"


def _glmm_fit(model: str) -> Callable[[dict[str, np.ndarray], list[str] | None, str, float], Any]:
    def fit(inputs: dict[str, np.ndarray], labels: list[str] | None, measure: str,
            level: float) -> Any:  # fmt: skip
        if measure == "PLO":
            return rma_glmm(inputs["xi"], inputs["ni"], measure="PLO", slab=labels, level=level)
        cells: dict[str, Any] = _glmm_cells(inputs, measure)
        return rma_glmm(**cells, measure=measure, model=model, slab=labels, level=level)

    return fit


def _glmm_r_args(model: str) -> Callable[[dict[str, np.ndarray], str, float, Any], dict[str, Any]]:
    def r_args(
        inputs: dict[str, np.ndarray], measure: str, level: float, ours: Any
    ) -> dict[str, Any]:
        rfun = _glmm_rfun(model, measure)
        if rfun == "mp_rma_glmm":  # metafor's side evaluates lme4's likelihood at our optimum
            return {"xi": inputs["xi"], "ni": inputs["ni"], "nAGQ": int(ours.nAGQ),
                    "level": float(level), "at": [float(ours.b), float(ours.tau2)]}  # fmt: skip
        args: dict[str, Any] = {**_glmm_cells(inputs, measure), "level": float(level)}
        if rfun == "mp_rma_glmm_um":
            args |= {"measure": measure, "model": model,
                     "at": {"theta": list(ours.theta), "beta": list(ours.fixef)}}  # fmt: skip
        elif rfun == "mp_rma_glmm_cm_al":
            args["measure"] = measure
        return args

    return r_args


def _glmm_comparisons(
    model: str,
) -> Callable[[Any, dict[str, Any], dict[str, np.ndarray], str], list[Comparison]]:
    def comparisons(res: Any, ref: dict[str, Any], inputs: dict[str, np.ndarray],
                    measure: str) -> list[Comparison]:  # fmt: skip
        rfun = _glmm_rfun(model, measure)
        if rfun == "mp_rma_glmm":
            fit = ref["fit"]
            ll_mf = glmm_loglik(res.xi, res.ni, fit["b"], fit["tau2"], nAGQ=res.nAGQ)
            return [
                *pc.compare_glmm(res, ref),
                pc.optimum_not_below("optimum_not_below_metafor", res.logLik_marginal, ll_mf),
            ]
        if rfun == "mp_rma_glmm_cm":
            return pc.compare_glmm_cm(res, ref, **_table(inputs))
        if rfun == "mp_rma_glmm_cm_al":
            return pc.compare_glmm_cm_al(res, ref)
        cells: dict[str, Any] = _glmm_cells(inputs, measure)
        return pc.compare_glmm_um_fit(res, ref, measure=measure, model=model, **cells)

    return comparisons


def _glmm_entry(name: str, model: str) -> ParityModel:
    return ParityModel(
        name=name, title=f"rma.glmm(model={model!r}): {_GLMM_TITLES[model]}",
        measures=GLMM_MODELS[model], columns=lambda measure: [list(c) for c in _GLMM_COLUMNS[measure]],
        rfun=lambda measure: _glmm_rfun(model, measure), fit=_glmm_fit(model),
        r_args=_glmm_r_args(model), comparisons=_glmm_comparisons(model), method="ML",
        iterative=True,
    )  # fmt: skip


_GLMM_TITLES = {
    "UM.FS": "unconditional model, fixed study effects (also PLO, IRLN)",
    "UM.RS": "unconditional model, random study effects",
    "CM.EL": "conditional model, exact likelihood",
    "CM.AL": "conditional model, approximate likelihood",
}

MODELS: dict[str, ParityModel] = {
    "uni": ParityModel(
        name="uni", title="escalc() + rma() (rma.uni), the estimators of --method",
        measures=tuple(m for m in MEASURES), columns=required_columns, rfun="mp_rma",
    ),
    "peto": ParityModel(
        name="peto", title="rma.peto(): Peto's one-step log odds ratio", measures=("PETO",),
        columns=lambda measure: [list(c) for c in TABLE_2X2], rfun="mp_rma_peto",
        fit=_peto_fit, r_args=_peto_r_args, quantities=_peto_quantities,
    ),
    "mh": ParityModel(
        name="mh", title="rma.mh(): the Mantel-Haenszel method", measures=tuple(MH_MEASURES),
        columns=_mh_columns, rfun="mp_rma_mh", fit=_mh_fit, r_args=_mh_r_args,
        quantities=_mh_quantities,
    ),
    "glmm": _glmm_entry("glmm", "UM.FS"),
    "mv": ParityModel(
        name="mv", title="rma.mv(): multilevel and multivariate models (--random, --V, --mods)",
        measures=tuple(m for m in MEASURES), columns=required_columns, rfun="mp_rma_mv",
        method="REML", iterative=True,
    ),
    **{f"glmm:{m}": _glmm_entry(f"glmm:{m}", m) for m in GLMM_MODELS},
}  # fmt: skip


def get_model(name: str) -> ParityModel:
    """The registry entry for ``--model name``, or a one-line error with a did-you-mean.

    Parameters
    ----------
    name : str
        A key of :data:`MODELS` (case does not matter: ``glmm:um.fs`` is ``glmm:UM.FS``).

    Returns
    -------
    ParityModel

    Raises
    ------
    InputError
        Unknown model.
    """
    if name in MODELS:
        return MODELS[name]
    lower = {k.lower(): k for k in MODELS}
    if str(name).lower() in lower:
        return MODELS[lower[str(name).lower()]]
    close = difflib.get_close_matches(str(name).lower(), list(lower), n=1, cutoff=0.5)
    hint = f"; did you mean {lower[close[0]]!r}?" if close else ""
    raise InputError(
        f"--model {name!r} is not a model metaparity can compare{hint} "
        f"(models: {', '.join(MODELS)})"
    )
