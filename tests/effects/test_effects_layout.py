"""The shape of metaparity.effects: one module per family behind escalc, one list of measures."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import numpy as np
import pytest

import metaparity.effects as effects
from metaparity._core.names import Measure
from metaparity.effects import continuous, correlations, generic, proportions, twobytwo
from metaparity.effects.escalc import MEASURES, escalc

FAMILIES = (proportions, twobytwo, continuous, correlations, generic)
PACKAGE = Path(effects.__file__).parent


def test_measure_literal_is_the_list_of_measures():
    assert get_args(Measure) == MEASURES


def test_every_measure_has_exactly_one_family():
    owned = [m for fam in FAMILIES for m in fam.MEASURES]
    assert sorted(owned) == sorted(MEASURES) and len(owned) == len(set(owned))


def test_facade_is_the_public_set():
    assert set(effects.__all__) == {
        "escalc",
        "study_labels",
        "study_sizes",
        "MEASURES",
        "vcalc",
        "blsplit",
    }
    assert callable(effects.escalc) and effects.MEASURES is MEASURES


@pytest.mark.parametrize("fam", FAMILIES, ids=lambda f: f.__name__.rsplit(".", 1)[1])
def test_family_rejects_other_measures(fam):
    other = next(m for m in MEASURES if m not in fam.MEASURES)
    with pytest.raises(ValueError, match=rf"measure='{other}' is not"):
        fam.compute(other, {})


CASES = {
    "PR": dict(xi=[0, 5, 20], ni=[20, 20, 20]),
    "OR": dict(ai=[0, 3, 4], bi=[10, 7, 6], ci=[0, 2, 1], di=[10, 8, 9]),
    "MD": dict(m1i=[10, 11], sd1i=[2, 3], n1i=[20, 30], m2i=[9, 12], sd2i=[2.5, 2], n2i=[25, 30]),
    "ZCOR": dict(ri=[0.5, -0.2], ni=[28, 50]),
    "GEN": dict(yi=[0.2, 0.4], sei=[0.1, 0.3]),
}


@pytest.mark.parametrize("measure", MEASURES)
def test_escalc_is_its_family(measure):
    """escalc reads the arguments and dispatches: the family's compute gives the same arrays."""
    fam = next(f for f in FAMILIES if measure in f.MEASURES)
    case = CASES[next(c for c in CASES if c in fam.MEASURES)]
    if measure == "ROM":
        case = dict(case, m2i=[9, 11])
    inputs = {k: np.asarray(v, dtype=float) for k, v in case.items()}
    dat = escalc(measure, **case, drop00=True)
    e = fam.compute(measure, inputs, add=None, to="only0", drop00=True)
    np.testing.assert_array_equal(dat["yi"].to_numpy(), e.yi)
    np.testing.assert_array_equal(dat["vi"].to_numpy(), e.vi)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names]
    return out


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_effects_imports_only_core_and_itself(path):
    for name in _imports(path):
        if not name.startswith("metaparity"):
            continue
        assert name.startswith(("metaparity._core.", "metaparity.effects")), name
        # no private name of another subpackage
        sub, _, rest = name.removeprefix("metaparity.").partition(".")
        if sub != "effects":
            assert not rest.rsplit(".", 1)[-1].startswith("_"), name
