"""regplot(): the bubble plot's numbers live against metafor's regplot() (point sizes, order,
fitted line, labels) on four data sets with continuous and categorical moderators and an
interaction; the drawing; bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import metaparity as mp
from metaparity.analysis.regplot import regplot_data
from metaparity.plots import regplot

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from metareg_cases import REGPLOT as CASES  # noqa: E402
from metareg_cases import case  # noqa: E402


def _case(name):
    return case(CASES, name)


@pytest.mark.r
@pytest.mark.parametrize("name", list(CASES))
def test_regplot_numbers_agree_with_metafor(metafor, name):
    from metaparity.parity.regplot_uni import compare_regplot_uni, metafor_regplot_uni

    res, kw = _case(name)
    d = regplot_data(res, **kw)
    kw.pop("mod", None)
    ref = metafor_regplot_uni(res, d, bridge=metafor, **kw)
    assert ref["ok"], ref.get("error")
    bad = [c for c in compare_regplot_uni(res, d, ref) if not c.ok]
    assert not bad, "\n".join(f"{c.quantity}: {c.ours!r} vs {c.ref!r}" for c in bad[:5])


def test_the_line_is_predict_with_the_other_moderators_at_their_means():
    res, _ = _case("bcg ~ablat*alloc mod=ablat ciout")
    d = regplot_data(res, mod="ablat", xvals=[10.0, 40.0])
    X = np.asarray(res.X)
    rows = np.tile(X.mean(axis=0), (2, 1))
    rows[:, 1] = [10.0, 40.0]
    p = res.predict(newmods=rows)
    np.testing.assert_allclose(d.pred, p.pred, rtol=1e-14)
    np.testing.assert_allclose(d.ci_ub, p.ci_ub, rtol=1e-14)
    assert d.mod_name == "ablat" and d.xs.tolist() == [10.0, 40.0]


def test_the_drawing(tmp_path):
    res, _ = _case("bcg ~ablat")
    fig = regplot(res, pi=True, refline=0, label="piout", path=tmp_path / "bubble.png",
                  title="dat.bcg")  # fmt: skip
    ax = fig.axes[0]
    assert ax.get_xlabel() == "ablat" and ax.get_ylabel() == "Log Risk Ratio"
    assert (tmp_path / "bubble.png").stat().st_size > 10_000
    texts = [t.get_text() for t in ax.texts]
    d = regplot_data(res, label="piout")
    assert sorted(texts) == sorted(np.asarray(d.slab)[d.label].tolist())
    assert len(ax.collections) >= 3  # the two bands and the points


@pytest.mark.parametrize(("kw", "match"), [
    ({}, "name the moderator to plot with mod="),
    ({"mod": "lat"}, "does not name one coefficient"),
    ({"mod": 7}, "out of range"),
    ({"mod": "ablat", "psize": "big"}, "psize='big'"),
    ({"mod": "ablat", "label": "all"}, "label='all'"),
])  # fmt: skip
def test_bad_input(kw, match):
    res, _ = _case("bcg ~ablat*alloc mod=ablat ciout")
    with pytest.raises(ValueError, match=match):
        regplot_data(res, **kw)


def test_an_intercept_only_model_is_refused():
    with pytest.raises(ValueError, match="needs a meta-regression"):
        regplot_data(mp.rma([0.1, 0.2, 0.4], [0.01, 0.02, 0.01]))
