"""Compare a metaparity MhResult with metafor's rma.mh answers (live or golden), the fields
of ``mp_rma_mh`` (src/metaparity/parity/r/fam_mh.R): every quantity to 1e-10 relative, the
leave1out/cumul tables, predict(transf=exp) and the printout."""

from __future__ import annotations

import numpy as np

RTOL = 1e-10

FIELDS = "b se zval pval ci_lb ci_ub QE QEp I2 H2 CO COp MH MHp BD BDp TA TAp".split()


def _close(ours: float, theirs: float | None, what: str) -> float:
    t = np.nan if theirs is None else float(theirs)
    o = float(ours)
    if np.isnan(t) or np.isnan(o):
        assert np.isnan(t) and np.isnan(o), f"{what}: ours {o!r}, metafor {t!r}"
        return 0.0
    if np.isinf(t) or np.isinf(o):
        assert o == t, f"{what}: ours {o!r}, metafor {t!r}"
        return 0.0
    rel = abs(o - t) / max(abs(t), 1e-300) if t != 0 else abs(o)
    assert rel <= RTOL or abs(o - t) <= 1e-15, f"{what}: ours {o!r}, metafor {t!r} (rel {rel:.2g})"
    return rel


def compare(res, r: dict) -> dict[str, float]:
    """Assert agreement; return the largest relative difference per quantity."""
    assert r["ok"], r.get("error")
    worst: dict[str, float] = {}

    def note(key: str, ours: float, theirs: float | None, what: str) -> None:
        worst[key] = max(worst.get(key, 0.0), _close(ours, theirs, what))

    for f in FIELDS:
        note(f, getattr(res, f), r["fit"].get(f), f)
    for f in ("k", "k_yi", "k_pos"):
        theirs = r["fit"][f]
        if theirs is None:  # metafor: NA (k.pos for measures other than OR)
            continue
        assert int(getattr(res, f)) == int(theirs), f
    for q in ("yi", "vi"):
        theirs_v = np.atleast_1d(np.asarray(r[q], dtype=float))
        ours_v = getattr(res, q)
        assert ours_v.shape == theirs_v.shape, q
        for o, t in zip(ours_v, theirs_v, strict=True):
            note(q, o, t, q)
    pt = res.predict(transf=True)
    for ours, q in ((pt.pred, "pred"), (pt.ci_lb, "ci_lb"), (pt.ci_ub, "ci_ub")):
        note("predict", ours, r["predict_transf"][q], f"predict {q}")
    tables = [("leave1out", None), ("leave1out", True), ("cumul", None), ("cumul", True)]
    for name, transf in tables:
        theirs = r[name + ("_transf" if transf else "")]
        if theirs is None:  # k = 1: metafor stops
            continue
        tab = getattr(res, name)(transf=transf)
        for col in ("estimate", "se", "zval", "pval", "ci_lb", "ci_ub", "Q", "Qp", "I2", "H2"):
            vals = np.atleast_1d(np.asarray(theirs[col], dtype=float))
            assert len(vals) == len(tab), f"{name} rows"
            for j, (o, t) in enumerate(zip(tab[col].to_numpy(), vals, strict=True)):
                note(name, o, t, f"{name}(transf={transf})[{j}].{col}")
        assert ("k" in tab.columns) == ("k" in theirs), f"{name}: k column"
        if "k" in theirs:
            assert tab["k"].tolist() == [int(v) for v in np.atleast_1d(theirs["k"])]
        assert [str(x) for x in tab.index] == list(np.atleast_1d(theirs["slab"])), f"{name} slab"
    ours_print = [ln.rstrip() for ln in res.summary().splitlines()]
    theirs_print = [ln.rstrip() for ln in r["print"].strip("\n").splitlines()]
    assert ours_print == theirs_print
    return worst
