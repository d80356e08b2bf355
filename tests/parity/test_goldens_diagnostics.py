"""metaparity vs the issue-8 goldens (fixtures/goldens/diagnostics.json, written by
r_scripts/goldens_diagnostics.R) -- replayed WITHOUT R.

Every record holds the inputs metafor was given (yi, vi, X/colnames or xi, ni; method,
test, level) and metafor's answers from the very R functions the live bridge calls
(mp_rma_mods, mp_influence, mp_bias, mp_rma_glmm).  metaparity is run on the inputs and
every quantity is compared with the tolerance table, as the live tests do
(tests/goldens_replay.py: compare_mods, compare_values, compare_glmm).  The
``r``-marked test checks that the goldens still describe the installed metafor.
Summary: ``.venv/bin/python scripts/parity_summary_diagnostics.py``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from goldens_replay import (
    KINDS,
    RECORDED_METAFOR,
    format_summary,
    label,
    load,
    recorded_as_live,
    replay,
    summarise_replays,
)
from metaparity.parity.goldens import PRODUCERS, diff_json

_G = load()
_RECS = [(kind, i) for kind in KINDS for i in range(len(_G[kind]))]
_IDS = [f"{kind}|{label(kind, _G[kind][i])}" for kind, i in _RECS]


@functools.cache
def _replayed(kind: str, i: int):
    return replay(kind, _G[kind][i], _G["provenance"]["metafor"])


def test_producer_is_registered():
    assert PRODUCERS["r_scripts/goldens_diagnostics.R"] == "fixtures/goldens/diagnostics.json"


def test_provenance_is_complete():
    prov = _G["provenance"]
    assert prov["metafor"] == RECORDED_METAFOR  # replay() mirrors it by default
    for key in ("R", "metafor", "metadat", "lme4", "r_call", "control", "glmm_control", "date",
                "seconds", "generated_by"):  # fmt: skip
        assert prov.get(key), f"golden provenance lacks {key!r}"
    assert set(prov["r_call"]) >= set(KINDS)
    assert prov["generated_by"] == "r_scripts/goldens_diagnostics.R"
    assert {k: len(_G[k]) for k in KINDS} == prov["counts"]


def test_records_cover_data_sets_estimators_and_tests():
    for kind in KINDS:
        recs = _G[kind]
        assert all(r["ok"] for r in recs), [r.get("error") for r in recs if not r["ok"]]
        assert len({r["dataset"] for r in recs}) >= 3, kind
        assert {r["test"] for r in recs} >= ({"z", "t"} if kind == "rma_glmm" else {"z", "knha"})
        if kind != "rma_glmm":
            want = {"EE", "DL", "REML", "PM"} | ({"ML"} if kind == "rma_mods" else set())
            assert {r["method"] for r in recs} == want, kind
            for r in recs:  # every record has the inputs it was computed from
                assert len(r["yi"]) == len(r["vi"]) == r["fit"]["k"]
    mods = {r["mods"] for r in _G["rma_mods"]}
    assert {"~ ablat", "~ alloc", "~ ablat + year", "~ subgroup"} <= mods
    sx = next(r for r in _G["rma_mods"] if r["mods"] == "~ subgroup")
    assert sx["colnames"] == ["intrcpt", "subgroupSEL+DEX+PI"]
    assert any(0 in r["xi"] for r in _G["rma_glmm"])  # studies with no events
    assert {r["nAGQ"] for r in _G["rma_glmm"]} == {1, 7}


@pytest.mark.parametrize("kind,i", _RECS, ids=_IDS)
def test_record_matches_golden(kind, i):
    r = _replayed(kind, i)
    assert len(r.rows) > (20 if kind in ("rma_mods", "rma_glmm") else 200)
    bad = r.failures()
    assert not bad, f"{r.label}:\n" + "\n".join(bad[:20])


def test_beyond_table_only_where_metafor_is_shown_imprecise():
    """Comparisons beyond the tolerance table are accepted only with exact (mpmath)
    evidence, and only for the ill-conditioned design ~ ablat + year (cond(X) ~ 5e5)."""
    accepted = [(kind, i) for kind, i in _RECS if _replayed(kind, i).accepted]
    assert accepted, "expected metafor's ~ ablat + year solves to be shown imprecise"
    for kind, i in accepted:
        rec = _G[kind][i]
        assert (kind, rec["mods"], rec["method"]) == ("rma_mods", "~ ablat + year", "DL")


def test_zz_summary(capsys):
    """Quantities compared and the largest relative difference per function (-s)."""
    stats = summarise_replays([(kind, _replayed(kind, i)) for kind, i in _RECS])
    with capsys.disabled():
        print("\n" + format_summary(stats, _G["provenance"]))
    assert not any(s["failed"] for s in stats.values())
    assert sum(s["n"] for s in stats.values()) > 15000


# --------------------------------------------------------------------------- #
# the goldens still describe the installed metafor (live, through the bridge)
# --------------------------------------------------------------------------- #
def _plain(x):
    """Bridge output as plain JSON-like values (arrays -> lists, None -> NaN)."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple | np.ndarray):
        return [_plain(v) for v in (x.tolist() if isinstance(x, np.ndarray) else x)]
    if x is None:
        return math.nan
    if isinstance(x, np.generic):
        return x.item()
    return x


def _live(metafor, kind, rec):
    if kind == "rma_mods":
        X = np.column_stack([np.asarray(c, dtype=float) for c in rec["X"]])
        return metafor.rma_mods(rec["yi"], rec["vi"], X, method=rec["method"], test=rec["test"],
                                level=rec["level"], colnames=rec["colnames"])  # fmt: skip
    if kind == "influence":
        return metafor.influence(rec["yi"], rec["vi"], method=rec["method"], test=rec["test"],
                                 level=rec["level"])  # fmt: skip
    if kind == "bias":
        return metafor.bias(rec["yi"], rec["vi"], method=rec["method"], test=rec["test"],
                            ni=rec["ni"], level=rec["level"])  # fmt: skip
    return metafor.rma_glmm(rec["xi"], rec["ni"], nAGQ=rec["nAGQ"], level=rec["level"],
                            test=rec["test"], at=rec["at"])  # fmt: skip


_LIVE_SAMPLE = {"rma_mods": slice(None, None, 9), "influence": slice(None, None, 6),
                "bias": slice(None, None, 6), "rma_glmm": slice(None, None, 3)}  # fmt: skip


@pytest.mark.r
@pytest.mark.parametrize("kind", KINDS)
def test_goldens_match_installed_metafor(metafor, kind):
    """Re-ask the installed metafor (same mp_* function, same inputs) a sample of the
    records; nothing may have moved beyond rtol 1e-10 (else regenerate:
    ``metaparity goldens regenerate --only goldens_diagnostics``)."""
    from metaparity.parity.pytest_plugin import r_required

    prov = _G["provenance"]
    moved = []
    sample = _G[kind][_LIVE_SAMPLE[kind]]
    assert len(sample) >= 3
    for rec in sample:
        live = _live(metafor, kind, rec)
        if kind == "rma_glmm" and not live["ok"] and "lme4" in str(live.get("error")):
            if not r_required():
                pytest.skip(f"metafor's rma.glmm needs lme4: {live['error']}")
        assert live["ok"], f"{label(kind, rec)}: metafor failed live: {live.get('error')}"
        stored = recorded_as_live(kind, rec)
        stored = {k: stored[k] for k in live}
        moved += [(label(kind, rec), *d) for d in diff_json(_plain(stored), _plain(live))]
    installed = metafor.versions()["metafor"]
    assert not moved, (
        f"goldens recorded metafor {prov['metafor']} (lme4 {prov['lme4']}), installed "
        f"{installed}; {len(moved)} values moved: {moved[:5]}"
    )
