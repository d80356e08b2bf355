"""metaparity vs the issue-8 goldens (fixtures/goldens/metafor-*/diagnostics.json, one per
metafor version, written by r_scripts/goldens_diagnostics.R) -- replayed WITHOUT R, each
under the behaviour of the metafor version that recorded it.

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
    format_summary,
    label,
    load,
    path_for,
    recorded_as_live,
    replay,
    summarise_replays,
    versions,
)
from metaparity import metafor_version
from metaparity.parity.goldens import PRODUCERS, diff_json

_VERSIONS = versions()
_GS = {v: load(path_for(v)) for v in _VERSIONS}
_RECS = [(v, kind, i) for v in _VERSIONS for kind in KINDS for i in range(len(_GS[v][kind]))]
_IDS = [f"{v}|{kind}|{label(kind, _GS[v][kind][i])}" for v, kind, i in _RECS]
#: the oldest recording (the structure checks below hold for every version's)
_G = _GS[_VERSIONS[0]]


@functools.cache
def _replayed(version: str, kind: str, i: int):
    with metafor_version(version):
        return replay(kind, _GS[version][kind][i])


def test_producer_is_registered():
    target = PRODUCERS["r_scripts/goldens_diagnostics.R"]
    assert target == "fixtures/goldens/metafor-{metafor}/diagnostics.json"
    assert {"3.8.1", "4.8.0"} <= set(_VERSIONS) and any(v.startswith("5.") for v in _VERSIONS)


@pytest.mark.parametrize("version", _VERSIONS)
def test_provenance_is_complete(version):
    prov = _GS[version]["provenance"]
    for key in ("R", "metafor", "metadat", "lme4", "r_call", "control", "glmm_control", "date",
                "seconds", "generated_by"):  # fmt: skip
        assert prov.get(key), f"golden provenance lacks {key!r}"
    assert set(prov["r_call"]) >= set(KINDS)
    assert prov["generated_by"] == "r_scripts/goldens_diagnostics.R"
    assert {k: len(_GS[version][k]) for k in KINDS} == prov["counts"]
    assert prov["metafor"] == version


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


@pytest.mark.parametrize("version,kind,i", _RECS, ids=_IDS)
def test_record_matches_golden(version, kind, i):
    r = _replayed(version, kind, i)
    assert len(r.rows) > (20 if kind in ("rma_mods", "rma_glmm") else 200)
    bad = r.failures()
    assert not bad, f"{r.label}:\n" + "\n".join(bad[:20])


def test_beyond_table_only_where_metafor_is_shown_imprecise():
    """Comparisons beyond the tolerance table are accepted only with exact (mpmath)
    evidence, and only for the ill-conditioned design ~ ablat + year (cond(X) ~ 5e5)."""
    accepted = [(v, kind, i) for v, kind, i in _RECS if _replayed(v, kind, i).accepted]
    assert accepted, "expected metafor's ~ ablat + year solves to be shown imprecise"
    for v, kind, i in accepted:
        rec = _GS[v][kind][i]
        assert (kind, rec["mods"], rec["method"]) == ("rma_mods", "~ ablat + year", "DL")


@pytest.mark.parametrize("version", _VERSIONS)
def test_zz_summary(capsys, version):
    """Quantities compared and the largest relative difference per function (-s)."""
    recs = [(kind, _replayed(v, kind, i)) for v, kind, i in _RECS if v == version]
    stats = summarise_replays(recs)
    with capsys.disabled():
        print("\n" + format_summary(stats, _GS[version]["provenance"]))
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
    records of the golden recorded with the same metafor version; nothing may have moved
    beyond rtol 1e-10 (else regenerate: ``metaparity goldens regenerate --only
    goldens_diagnostics``)."""
    from metaparity.parity.pytest_plugin import r_required

    installed = metafor.versions()["metafor"]
    assert installed in _GS, (
        f"no diagnostics golden recorded with the installed metafor {installed} (recorded: "
        f"{', '.join(_VERSIONS)}); record one with `metaparity goldens regenerate --accept`"
    )
    prov = _GS[installed]["provenance"]
    moved = []
    sample = _GS[installed][kind][_LIVE_SAMPLE[kind]]
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
    assert not moved, (
        f"goldens recorded metafor {prov['metafor']} (lme4 {prov['lme4']}), installed "
        f"{installed}; {len(moved)} values moved: {moved[:5]}"
    )
