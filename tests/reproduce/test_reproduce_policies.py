"""``reproduce --policy TOOL``: a tool policy (metaparity.analysis.policies) sets the pooling
choices of the seed pipeline where they apply -- raw proportions are pooled inverse-variance;
the tool sets the tau^2 estimator, the I^2 the model rule looks at, and the CI -- while the
paper's rule (I^2 > 50 %) still picks the model; ``i2:50`` keeps working."""

from __future__ import annotations

import pytest

from metaparity.cli import main
from metaparity.reproduce.pipeline import ModelPolicy, reproduce


@pytest.mark.parametrize(
    "spec,random,test,i2_def,thr,rule",
    [
        ("revman5", "DL", "z", "Q", 50.0, "i2"),
        ("revman_web", "REML", "knha", "tau2", 50.0, "i2"),
        ("metafor", "REML", "z", "tau2", 50.0, "i2"),
        ("revman-web:i2:25", "REML", "knha", "tau2", 25.0, "i2"),
        ("meta:stated", "REML", "z", "Q", 50.0, "stated"),
    ],
)
def test_tool_policy_forms(spec, random, test, i2_def, thr, rule):
    p = ModelPolicy.parse(spec)
    assert (p.random, p.test, p.i2_def, p.threshold, p.rule) == (random, test, i2_def, thr, rule)
    assert "tool policy" in p.name


def test_i2_forms_unchanged():
    p = ModelPolicy.parse("i2:50")
    assert (p.random, p.test, p.i2_def, p.tool) == ("DL", "z", "Q", "")


def test_tool_policy_with_an_estimator_is_refused():
    with pytest.raises(ValueError, match="after a tool policy give a rule"):
        ModelPolicy.parse("revman5:REML")


def test_revman5_is_the_seed_rule():
    """RevMan 5 on raw proportions: DL, Wald CI, I^2 from Q -- the seed's i2:50 exactly."""
    a, b = reproduce(policy="i2:50"), reproduce(policy="revman5")
    assert a.analyses.keys() == b.analyses.keys()
    for k in a.analyses:
        assert a.analyses[k].triple() == b.analyses[k].triple(), k
        assert a.analyses[k].method == b.analyses[k].method
    assert a.verdict_counts() == b.verdict_counts()


def test_revman_web_uses_reml_and_hksj_for_random_effects():
    rep = reproduce(policy="revman_web")
    fitted = [a for a in rep.analyses.values() if a.result is not None]
    random = [a for a in fitted if a.method == "REML"]
    assert random, "some analyses are random effects under I2 > 50 %"
    for a in fitted:
        # k = 1: metafor falls back to z (no df for the t distribution)
        want = "knha" if a.method == "REML" and a.result.k > 1 else "z"
        assert a.result.test == want, a.key
        assert a.method in ("REML", "EE")


def test_cli_reproduce_accepts_a_tool_policy(tmp_path, capsys):
    code = main(["reproduce", "--policy", "revman_web", "--no-r", "--no-figures",
                 "--out", str(tmp_path / "rep")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "tool policy revman_web" in out


@pytest.mark.r
def test_revman_web_reproduction_agrees_with_metafor(metafor):
    rep = reproduce(policy="revman_web", bridge=metafor)
    n, bad, max_rel = rep.parity
    assert n > 0 and bad == 0, max_rel
