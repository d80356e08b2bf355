"""forest(res) as metafor::forest(res) draws it, saving by suffix, and the plot names.

The metafor numbers quoted below come from R 4.x with metafor 3.8-1::

    dat <- escalc("RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg,
                  slab=paste(author, year))
    res <- rma(yi, vi, data=dat)                   # REML
    predict(res, transf=exp)
    #   pred  ci.lb  ci.ub  pi.lb  pi.ub
    # 0.4894 0.3441 0.6962 0.1546 1.5490
    weights(res)[c(1, 6, 8, 12)]
    # Aronson 1948  Stein & Aronson 1953  TPT Madras 1980  Comstock & Webster 1969
    #     5.059483             10.095738        10.189439                 3.821629
    forest(res, atransf=exp, header=TRUE, showweights=TRUE)
    # headings "Study" / "Risk Ratio [95% CI]", x label "Risk Ratio (log scale)",
    # model row "RE Model  100.00%  0.49 [0.34, 0.70]"
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")

import metaparity as mp  # noqa: E402
from metaparity import plots  # noqa: E402
from metaparity.plots import forest  # noqa: E402

BCG = Path(__file__).resolve().parents[2] / "fixtures" / "metadat" / "dat.bcg.csv"
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF"}


def _bcg(method: str = "REML"):
    b = pd.read_csv(BCG)
    dat = mp.escalc("RR", ai=b.tpos, bi=b.tneg, ci=b.cpos, di=b.cneg, data=b)
    return mp.rma(data=dat, slab=b.study, method=method), b


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def _simulated(k: int, long_label: bool = False):
    rng = np.random.default_rng(k)
    vi = rng.uniform(0.005, 0.2, k)
    yi = rng.normal(0.2, np.sqrt(vi + 0.04))
    slab = [f"Author{i} et al. {1990 + i % 30}" for i in range(k)]
    if long_label:
        slab[0] = "The Extraordinarily Long Collaborative Trial Group Investigators (ELCTGI) 2021"
    return mp.rma(yi, vi, slab=slab)


def _outside(fig) -> list[str]:
    """Texts (table, tick labels, axis label) whose extent leaves the figure."""
    fig.canvas.draw()  # axis labels are placed at draw time
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    out = []
    for ax in fig.axes:
        items = [*ax.texts] + ([*ax.get_xticklabels(), ax.xaxis.label] if ax.axison else [])
        for t in items:
            if not t.get_visible() or not t.get_text():
                continue
            bb = t.get_window_extent(renderer)
            if bb.x0 < box.x0 - 0.5 or bb.x1 > box.x1 + 0.5 or bb.y0 < box.y0 - 0.5 \
                    or bb.y1 > box.y1 + 0.5:  # fmt: skip
                out.append(t.get_text())
    return out


# ----------------------------------------------------------------------------- dat.bcg


def test_bcg_labels_annotations_and_back_transformed_axis():
    res, b = _bcg()
    fig = forest(res, atransf=np.exp, showweights=True)
    texts = _texts(fig)
    assert texts[:2] == ["Study", "Risk Ratio [95% CI]"]
    assert set(b.study) <= set(texts)
    assert texts.index("Aronson 1948") < texts.index("Comstock et al 1976")  # data order
    # the model row as metafor prints it: RE Model  100.00%  0.49 [0.34, 0.70]
    i = texts.index("RE Model")
    assert texts[i + 1 : i + 5] == ["100.00%", "0.49", "[0.34,", "0.70]"]
    for w in ("5.06%", "10.10%", "10.19%", "3.82%"):  # weights(res), rounded
        assert w in texts
    gax = fig.axes[1]
    assert gax.get_xlabel() == "Risk Ratio (log scale)"
    # the axis stays on the log scale, labelled in risk ratios
    ticks = gax.get_xticks()
    labels = [t.get_text() for t in gax.get_xticklabels()]
    assert labels == [f"{v:.2f}".rstrip("0").rstrip(".") for v in np.exp(ticks)]
    assert "1" in labels and ticks[labels.index("1")] == 0.0
    # the diamond spans the pooled CI on the log scale
    (poly,) = gax.patches
    xs = poly.get_xy()[:, 0]
    np.testing.assert_allclose([xs.min(), xs.max()], np.log([0.34407430610677714,
                               0.6961660667154266]), rtol=1e-12)  # fmt: skip


def test_bcg_prediction_interval_only_for_random_effects():
    res, _ = _bcg()
    fig = forest(res, atransf="exp", addpred=True)
    pi = [ln for ln in fig.axes[1].lines if ln.get_gid() == "pi"]
    assert len(pi) == 1
    np.testing.assert_allclose(pi[0].get_xdata(), np.log([0.15463431340090722,
                               1.5490278391134205]), rtol=1e-12)  # fmt: skip
    ee, _ = _bcg("EE")
    fig = forest(ee, atransf="exp", addpred=True)
    assert not [ln for ln in fig.axes[1].lines if ln.get_gid() == "pi"]
    assert "EE Model" in _texts(fig)


def test_transf_puts_the_axis_in_transformed_units():
    res, _ = _bcg()
    fig = forest(res, transf=np.exp, refline=1)
    assert fig.axes[1].get_xlabel() == "Risk Ratio"
    assert _texts(fig)[1] == "Risk Ratio [95% CI]"
    (poly,) = fig.axes[1].patches
    assert poly.get_xy()[:, 0].max() == pytest.approx(0.6961660667154266, rel=1e-12)
    plain = forest(res, header=True)
    assert plain.axes[1].get_xlabel() == "Log Risk Ratio"
    assert _texts(plain)[1] == "Log[RR] [95% CI]"
    with pytest.raises(ValueError, match="either transf= or atransf="):
        forest(res, transf=np.exp, atransf=np.exp)
    with pytest.raises(ValueError, match="unknown transf"):
        forest(res, atransf="sqrt")


def test_selinexor_proportions(tmp_path):
    from metaparity.effects.datasets import selinexor_counts

    sc = selinexor_counts()
    o = sc[(sc.outcome == "ORR") & sc.events.notna()]
    res = mp.rma(data=mp.escalc("PR", xi=o.events, ni=o.n), method="DL", slab=o.study)
    fig = forest(res, level=90, path=tmp_path / "orr.png")
    assert _texts(fig)[1] == "Proportion [90% CI]"
    assert fig.axes[1].get_xlabel() == "Proportion"
    assert set(o.study) <= set(_texts(fig))
    assert not _outside(fig)


def test_default_labels_and_generic_measure():
    res = mp.rma([0.1, 0.3, 0.2], [0.01, 0.02, 0.03], method="EE")
    fig = forest(res)
    texts = _texts(fig)
    assert texts[:2] == ["Study", "Estimate [95% CI]"]
    assert {"Study 1", "Study 2", "Study 3", "EE Model"} <= set(texts)
    assert fig.axes[1].get_xlabel() == "Observed Outcome"
    with pytest.raises(ValueError, match="slab has 2 labels for k = 3"):
        forest(res, slab=["a", "b"])


# ----------------------------------------------------------------------------- options


def test_order():
    res, b = _bcg()
    yi = np.asarray(res.yi)
    labels = list(b.study)

    def shown(fig):
        return [t for t in _texts(fig) if t in labels]

    assert shown(forest(res, order="obs")) == [labels[i] for i in np.argsort(yi, kind="stable")]
    assert shown(forest(res, order="yi")) == shown(forest(res, order="obs"))
    by_prec = [labels[i] for i in np.argsort(np.asarray(res.vi), kind="stable")]
    assert shown(forest(res, order="prec")) == by_prec
    assert by_prec[0] == "TPT Madras 1980"  # the most precise study on top
    perm = list(range(12, -1, -1))
    assert shown(forest(res, order=perm)) == labels[::-1]
    with pytest.raises(ValueError, match="order='size'"):
        forest(res, order="size")
    with pytest.raises(ValueError, match=r"each of 0\.\.12 once"):
        forest(res, order=[0, 0, 1])


def test_header():
    res, _ = _bcg()
    assert "Study" not in _texts(forest(res, header=False))
    assert _texts(forest(res, header="Author(s) and Year"))[:2] == [
        "Author(s) and Year",
        "Log[RR] [95% CI]",
    ]
    assert _texts(forest(res, header=("Trial", "RR [95% CI]"), atransf=np.exp))[:2] == [
        "Trial",
        "RR [95% CI]",
    ]
    with pytest.raises(ValueError, match="header"):
        forest(res, header=("a", "b", "c"))


def test_limits_ticks_and_digits():
    res, _ = _bcg()
    at = np.log([0.05, 0.25, 1, 4])
    fig = forest(res, atransf=np.exp, at=at, digits=(3, 2))
    gax = fig.axes[1]
    assert [t.get_text() for t in gax.get_xticklabels()] == ["0.05", "0.25", "1", "4"]
    assert "0.489" in _texts(fig)
    assert gax.get_xlim() == pytest.approx((at[0], at[-1]))
    # a CI beyond alim ends in an arrow
    fig = forest(res, alim=(-2, 1))
    markers = {ln.get_marker() for ln in fig.axes[1].lines}
    assert {"<", ">"} <= markers
    with pytest.raises(ValueError, match="alim must be two finite increasing numbers"):
        forest(res, alim=(1, 1))
    with pytest.raises(ValueError, match="level"):
        forest(res, level=120)


# ----------------------------------------------------------------------------- sizes


@pytest.mark.parametrize("k", [2, 200])
def test_nothing_clipped(k):
    res = _simulated(k, long_label=True)
    fig = forest(res, showweights=True, addpred=True, title=f"k = {k}", dpi=72)
    assert not _outside(fig)
    assert fig.get_figheight() > 0.2 * k
    wrapped = [t for t in _texts(fig) if t.startswith("The Extraordinarily")]
    assert wrapped and "\n" in wrapped[0]  # the long label is wrapped, not cut


def test_height_scales_with_rows():
    small = forest(_simulated(2))
    big = forest(_simulated(40))
    assert big.get_figheight() > small.get_figheight() + 38 * 0.2


# ----------------------------------------------------------------------------- saving


@pytest.mark.parametrize("ext", ["png", "svg", "pdf"])
def test_save_by_suffix(tmp_path, ext):
    res, _ = _bcg()
    path = tmp_path / "sub" / f"bcg.{ext.upper() if ext == 'pdf' else ext}"
    forest(res, atransf=np.exp, path=path)
    data = path.read_bytes()
    if ext == "svg":
        head = data[:300].decode()
        assert head.lstrip().startswith("<?xml") and "<svg" in data.decode()
    else:
        assert data.startswith(MAGIC[ext])


@pytest.mark.parametrize(
    "draw",
    [
        lambda p: forest(mp.rma([0.1, 0.2], [0.01, 0.02]), path=p),
        lambda p: plots.revman_forest(
            [plots.ForestStudy("A", None, 1.0, 0.0, 2.0, 100.0)], {}, None, title="t", path=p
        ),
        lambda p: plots.revman_galbraith(
            [0.1, 0.2], [0.01, 0.02], ["a", "b"], b=0.1, title="t", path=p
        ),  # fmt: skip
        lambda p: plots.galbraith(mp.rma([0.1, 0.2], [0.01, 0.02]), path=p),
        lambda p: plots.baujat_plot(mp.rma([0.1, 0.2, 0.5], [0.01, 0.02, 0.03]), p),
        lambda p: plots.leave1out_plot(mp.rma([0.1, 0.2, 0.5], [0.01, 0.02, 0.03]), p),
    ],
)
def test_every_format_and_a_clear_error(tmp_path, draw):
    for ext in ("png", "svg", "pdf"):
        fig = draw(tmp_path / f"x.{ext}")
        assert fig is not None and fig.axes
    assert (tmp_path / "x.png").read_bytes().startswith(MAGIC["png"])
    assert (tmp_path / "x.pdf").read_bytes().startswith(MAGIC["pdf"])
    assert b"<svg" in (tmp_path / "x.svg").read_bytes()
    with pytest.raises(ValueError, match=r"x\.gif: unknown figure format '\.gif'; use \.png"):
        draw(tmp_path / "x.gif")
    assert not (tmp_path / "x.gif").exists()


def test_revman_forest_svg_is_svg(tmp_path):
    # the old forest_plot wrote PNG bytes whatever the suffix
    s = plots.ForestStudy("Chari 2019", None, 32.0, 23.7, 40.2, 100.0, 39, 122)
    plots.forest_plot([s], {}, None, title="one", path=tmp_path / "one.svg")
    assert (tmp_path / "one.svg").read_text()[:200].lstrip().startswith("<?xml")


# ----------------------------------------------------------------------------- names


def test_names_and_aliases():
    assert plots.forest_plot is plots.revman_forest
    assert plots.galbraith_plot is plots.revman_galbraith
    assert plots.plot_baujat is plots.baujat_plot
    assert plots.plot_leave1out is plots.leave1out_plot
    public = {"forest", "funnel", "radial", "galbraith", "labbe", "baujat_plot",
              "leave1out_plot", "revman_forest", "revman_galbraith", "ForestStudy",
              "ForestPooled", "encode_png", "forest_plot", "galbraith_plot", "plot_baujat",
              "plot_leave1out", "profile_plot", "regplot", "regplot_data"}  # fmt: skip
    assert set(plots.__all__) == public
    assert all(hasattr(plots, n) for n in public)
    res, b = _bcg()
    ax = plots.galbraith(res).axes[0]
    shown = {t.get_text() for t in ax.texts} & set(b.study)
    left_out = [t.get_text() for t in ax.texts if "labels left out" in t.get_text()]
    assert len(shown) + (int(left_out[0].split()[0]) if left_out else 0) == res.k


def test_import_does_not_load_matplotlib():
    code = (
        "import sys, metaparity.plots; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
