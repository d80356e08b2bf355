"""RevMan-style forest and Galbraith plots (metaparity.plots): they render, save, and reject bad input."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import metaparity as mp  # noqa: E402
from metaparity.plots import (  # noqa: E402
    ForestPooled,
    ForestStudy,
    encode_png,
    forest_plot,
    galbraith_plot,
)

NAN = float("nan")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# the selinexor ORR counts (Tao, Zhou & Niu 2021)
ORR = [
    ("Jakubowiak 2019", "SEL+DEX+PI", 14, 21),
    ("Bahlis 2018", "SEL+DEX+PI", 25, 40),
    ("Grosicki 2020", "SEL+DEX+PI", 149, 195),
    ("Salcedo 2020", "SEL+DEX+PI", 9, 18),
    ("Chari 2019", "SEL+DEX", 39, 122),
    ("Vogl 2018", "SEL+DEX", 16, 78),
]


def _pooled(res, label: str) -> ForestPooled:
    return ForestPooled(
        label,
        100 * res.b,
        100 * res.ci_lb,
        100 * res.ci_ub,
        "DL random effects",
        f"Heterogeneity: Tau\u00b2 = {res.tau2:.4f}; I\u00b2 = {res.I2:.0f}%",
        f"Test for overall effect: Z = {abs(res.zval):.2f} (P = {res.pval:.2g})",
    )


def _analysis(rows, *, grouped: bool = True):
    """Studies, subtotals and total pooled with metaparity (DL), on the percent scale."""
    groups = list(dict.fromkeys(g for _, g, _, _ in rows)) if grouped else [None]
    studies, subtotals = [], {}
    for g in groups:
        sel = [r for r in rows if not grouped or r[1] == g]
        dat = mp.escalc("PR", xi=[r[2] for r in sel], ni=[r[3] for r in sel])
        res = mp.rma(data=dat, method="DL")
        w = 1 / (np.asarray(dat["vi"]) + res.tau2)
        w = 100 * w / w.sum()
        for (lab, _, ev, n), yi, vi, wi in zip(sel, dat["yi"], dat["vi"], w, strict=True):
            se = math.sqrt(vi)
            studies.append(
                ForestStudy(
                    lab,
                    g,
                    100 * yi,
                    100 * (yi - 1.96 * se),
                    100 * (yi + 1.96 * se),
                    float(wi),
                    ev,
                    n,
                )
            )
        if grouped:
            subtotals[g] = _pooled(res, "Subtotal (95% CI)")
    dat = mp.escalc("PR", xi=[r[2] for r in rows], ni=[r[3] for r in rows])
    total = _pooled(mp.rma(data=dat, method="DL"), "Total (95% CI)")
    return studies, subtotals, total


def _many(k: int, n_groups: int):
    rng = np.random.default_rng(k)
    rows = []
    for i in range(k):
        n = int(rng.integers(15, 250))
        ev = int(rng.integers(1, n))
        rows.append((f"Study {i + 1} 20{10 + i % 14}", f"Group {i % max(n_groups, 1)}", ev, n))
    return rows


def _is_png(path) -> bool:
    data = path.read_bytes()
    return len(data) > 1000 and data.startswith(PNG_MAGIC)


# ----------------------------------------------------------------------------- rendering


def test_selinexor_orr_with_published_overlay(tmp_path):
    studies, subtotals, total = _analysis(ORR)
    out = tmp_path / "sub" / "dir" / "orr.png"
    fig = forest_plot(
        studies,
        subtotals,
        total,
        title="ORR",
        subgroup_test="Test for subgroup differences: Chi\u00b2 = 25.87, df = 1 (P < 0.00001)",
        published={"SEL+DEX+PI": (54, 31, 76), "SEL+DEX": (24, 18, 30), "overall": (43, 18, 67)},
        path=out,
    )
    assert _is_png(out)  # parent folders created
    texts = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert "SEL+DEX+PI" in texts and "SEL+DEX" in texts
    assert "published (paper)" in texts
    legend = fig.axes[1].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        "pooled (this analysis)",
        "published (paper)",
    ]
    # the graph column shows every bound, and the table the Wald numbers
    lo, hi = fig.axes[1].get_xlim()
    assert lo <= min(s.lb for s in studies) and hi >= max(s.ub for s in studies)


@pytest.mark.parametrize("k,n_groups", [(1, 0), (2, 0), (2, 2), (6, 2), (6, 0), (40, 6)])
def test_renders_for_various_sizes(tmp_path, k, n_groups):
    rows = ORR[:k] if k <= 6 else _many(k, n_groups)
    studies, subtotals, total = _analysis(rows, grouped=n_groups > 0)
    path = tmp_path / f"f{k}_{n_groups}.png"
    fig = forest_plot(studies, subtotals, total, title=f"k={k}", path=path)
    assert _is_png(path)
    # the figure grows with the number of rows
    assert fig.get_figheight() > 1.0 + 0.15 * k


def test_height_scales_with_rows():
    small = forest_plot(*_analysis(ORR[:2], grouped=False), title="2")
    big = forest_plot(*_analysis(_many(40, 0), grouped=False), title="40")
    assert big.get_figheight() > small.get_figheight() + 38 * 0.15


def test_single_study_without_total_or_subtotals(tmp_path):
    s = ForestStudy("Chari 2019", None, 32.0, 23.7, 40.2, 100.0, 39, 122)
    fig = forest_plot([s], {}, None, title="one", path=tmp_path / "one.png")
    assert _is_png(tmp_path / "one.png")
    assert fig.axes[1].get_lines()  # the CI line and square are drawn


def test_total_none_with_subgroups_and_narrow_xlim(tmp_path):
    studies, subtotals, _ = _analysis(ORR)
    extra = ForestStudy("Odd 2021", "SEL+DEX", 50, 10, float("inf"), NAN, note="not pooled")
    forest_plot(
        [*studies, extra],
        subtotals,
        None,
        title="no total",
        xlim=(10, 80),
        path=tmp_path / "x.png",
    )
    assert _is_png(tmp_path / "x.png")


def test_negative_bounds_and_not_pooled_studies(tmp_path):
    # sCR: zero-event studies are not pooled; the Wald CI of the total goes below 0 %
    studies = [
        ForestStudy("Jakubowiak 2019", "SEL+DEX+PI", 0, 0, 0, NAN, 0, 21, "0 events: not pooled"),
        ForestStudy("Grosicki 2020", "SEL+DEX+PI", 9.74, 5.58, 13.91, 100.0, 19, 195),
        ForestStudy("Chari 2019", "SEL+DEX", 1.64, -0.61, 3.89, 100.0, 2, 122),
        ForestStudy("Vogl 2018", "SEL+DEX", NAN, NAN, NAN, NAN, 0, 78),
    ]
    subtotals = {
        "SEL+DEX+PI": ForestPooled("Subtotal (95% CI)", 9.74, 5.58, 13.91, "DL random effects"),
        "SEL+DEX": ForestPooled("Subtotal (95% CI)", 1.64, -0.61, 3.89, "DL random effects"),
    }
    total = ForestPooled("Total (95% CI)", 5.5, -2.4, 13.4, "DL random effects", "H", "Z")
    path = tmp_path / "scr.png"
    fig = forest_plot(
        studies,
        subtotals,
        total,
        title="sCR",
        published={"SEL+DEX": (2, -1, 4), "overall": (5, -2, 13)},
        path=path,
    )
    assert _is_png(path)
    assert fig.axes[1].get_xlim()[0] < -2.4
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "[\u22122.4," in texts  # a proper minus sign in the table
    assert "0 events: not pooled" in texts
    assert "not pooled" in texts  # default note for NaN weight


def test_subtotal_none_is_not_estimable():
    s = ForestStudy("A", "g", 10, 5, 15, NAN, 1, 10, "not pooled")
    fig = forest_plot([s], {"g": None}, None, title="t")
    assert "not estimable" in [t.get_text() for t in fig.axes[0].texts]


def test_saving_does_not_leave_pyplot_figures(tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    forest_plot(*_analysis(ORR), title="t", path=tmp_path / "a.png")
    galbraith_plot([0.1, 0.3], [0.01, 0.02], ["a", "b"], b=0.2, title="g", path=tmp_path / "g.png")
    assert plt.get_fignums() == before


# ----------------------------------------------------------------------------- Galbraith


def test_galbraith_plot(tmp_path):
    dat = mp.escalc("PR", xi=[r[2] for r in ORR], ni=[r[3] for r in ORR])
    res = mp.rma(data=dat, method="DL")
    path = tmp_path / "g" / "galbraith.png"
    fig = galbraith_plot(
        dat["yi"],
        dat["vi"],
        [r[0] for r in ORR],
        tau2=res.tau2,
        b=res.b,
        groups=[r[1] for r in ORR],
        title="ORR",
        path=path,
    )
    assert _is_png(path)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "1 / SE"
    assert ax.get_ylabel() == "standardised estimate (y / SE)"
    offsets = ax.collections[0].get_offsets()
    prec = 1 / np.sqrt(np.asarray(dat["vi"]) + res.tau2)
    np.testing.assert_allclose(offsets[:, 0], prec)
    np.testing.assert_allclose(offsets[:, 1], np.asarray(dat["yi"]) * prec)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["SEL+DEX+PI", "SEL+DEX"]
    labelled = {t.get_text() for t in ax.texts}
    assert {r[0] for r in ORR} <= labelled


def test_galbraith_many_points_without_groups():
    rows = _many(40, 0)
    dat = mp.escalc("PR", xi=[r[2] for r in rows], ni=[r[3] for r in rows])
    fig = galbraith_plot(dat["yi"], dat["vi"], [r[0] for r in rows], b=0.4, title="40")
    assert fig.axes[0].get_legend() is None


# ----------------------------------------------------------------------------- encoding


def test_encode_png_figure_and_path(tmp_path):
    import base64

    fig = forest_plot(*_analysis(ORR[:2], grouped=False), title="t", path=tmp_path / "p.png")
    for src in (fig, tmp_path / "p.png", str(tmp_path / "p.png")):
        uri = encode_png(src)
        assert uri.startswith("data:image/png;base64,")
        assert base64.b64decode(uri.split(",", 1)[1]).startswith(PNG_MAGIC)
    (tmp_path / "x.txt").write_text("no png")
    with pytest.raises(ValueError, match="not a PNG"):
        encode_png(tmp_path / "x.txt")
    with pytest.raises(ValueError, match="no such file"):
        encode_png(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="Figure or a PNG path"):
        encode_png(42)


# ----------------------------------------------------------------------------- errors

GOOD = ForestStudy("Chari 2019", "SEL+DEX", 32.0, 23.7, 40.2, 100.0, 39, 122)
SUB = {"SEL+DEX": ForestPooled("Subtotal (95% CI)", 32.0, 23.7, 40.2, "DL random effects")}


@pytest.mark.parametrize(
    "change,match",
    [
        ({"est": NAN}, r"'Chari 2019'.*est is nan"),
        ({"lb": NAN}, r"'Chari 2019'.*lb is nan"),
        ({"weight": -3.0}, r"'Chari 2019'.*weight.*-3\.0"),
        ({"weight": 130.0}, r"'Chari 2019'.*weight.*130\.0"),
        ({"weight": float("inf")}, r"'Chari 2019'.*weight.*inf"),
        ({"lb": 50.0}, r"'Chari 2019'.*lb <= est <= ub.*lb=50\.0"),
        ({"events": 200}, r"'Chari 2019'.*events \(200\) exceed n \(122\)"),
        ({"n": -1}, r"'Chari 2019'.*n must be.*-1"),
    ],
)
def test_bad_study_names_label_and_value(change, match):
    bad = ForestStudy(**{**GOOD.__dict__, **change})
    with pytest.raises(ValueError, match=match):
        forest_plot([GOOD, bad], SUB, None, title="t")


def test_bad_pooled_and_published():
    with pytest.raises(ValueError, match=r"total 'Total \(95% CI\)': est is nan"):
        forest_plot([GOOD], SUB, ForestPooled("Total (95% CI)", NAN, 1, 2, "DL"), title="t")
    with pytest.raises(ValueError, match=r"'SEL\+DEX'.*lb <= est <= ub"):
        forest_plot([GOOD], {"SEL+DEX": ForestPooled("S", 5, 6, 7, "DL")}, None, title="t")
    with pytest.raises(ValueError, match=r"published: key 'SEL\+DEX\+PI'"):
        forest_plot([GOOD], SUB, None, title="t", published={"SEL+DEX+PI": (1, 0, 2)})
    with pytest.raises(ValueError, match=r"'overall' given but total is None"):
        forest_plot([GOOD], SUB, None, title="t", published={"overall": (1, 0, 2)})
    with pytest.raises(ValueError, match=r"published\['SEL\+DEX'\].*\(1, 2\)"):
        forest_plot([GOOD], SUB, None, title="t", published={"SEL+DEX": (1, 2)})
    with pytest.raises(ValueError, match=r"studies\[0\] is dict"):
        forest_plot([{"label": "x"}], {}, None, title="t")
    with pytest.raises(ValueError, match="xlim"):
        forest_plot([GOOD], SUB, None, title="t", xlim=(5, 5))


def test_galbraith_bad_input_names_label():
    with pytest.raises(ValueError, match=r"mismatched lengths: yi has 2, vi has 1, labels has 2"):
        galbraith_plot([0.1, 0.2], [0.01], ["a", "b"], b=0.1, title="t")
    with pytest.raises(ValueError, match=r"groups has 1"):
        galbraith_plot([0.1, 0.2], [0.01, 0.02], ["a", "b"], b=0.1, groups=["g"], title="t")
    with pytest.raises(ValueError, match=r"study 'b': vi must be finite and >= 0, got -0\.02"):
        galbraith_plot([0.1, 0.2], [0.01, -0.02], ["a", "b"], b=0.1, title="t")
    with pytest.raises(ValueError, match=r"study 'a': yi is nan"):
        galbraith_plot([NAN, 0.2], [0.01, 0.02], ["a", "b"], b=0.1, title="t")
    with pytest.raises(ValueError, match=r"study 'a': vi \+ tau2 is 0"):
        galbraith_plot([0.1], [0.0], ["a"], b=0.1, title="t")
    with pytest.raises(ValueError, match=r"tau2 must be finite and >= 0, got -1"):
        galbraith_plot([0.1], [0.01], ["a"], b=0.1, tau2=-1, title="t")


# ----------------------------------------------------------------------------- imports


def test_importing_metaparity_does_not_import_matplotlib():
    code = (
        "import sys, metaparity, metaparity.plots; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_missing_matplotlib_gives_install_hint():
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from metaparity.plots import ForestStudy, forest_plot\n"
        "s = ForestStudy('A', None, 1.0, 0.0, 2.0, 100.0)\n"
        "try:\n"
        "    forest_plot([s], {}, None, title='t')\n"
        "except ImportError as e:\n"
        "    print(e); sys.exit(0 if str(e) == \"plots need matplotlib: pip install 'metaparity[plot]'\" else 3)\n"
        "sys.exit(2)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
