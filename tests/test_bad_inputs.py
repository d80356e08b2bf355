"""The bad-input contract, case by case (the corpus is ``tests/bad_inputs.py``).

For every case: the CLI exits 2 (never 0 or 1 on bad input) with a one-line message on
stderr naming the row/study, the value and the fix, no traceback, and no output file left
behind; the API raises the documented exception (message with the same three things) or,
where metafor warns and gives NA, warns -- never a NaN without a warning.

CLI cases run ``python -m metaparity.cli`` in a fresh process in ``tmp_path``: a child
forked from one process that imported metaparity once (``ForkServer``), which runs the
CLI module as ``-m`` does, with the case's environment.  The same
corpus is graded against any source tree by ``scripts/bad_input_audit.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import metaparity
from bad_inputs import CASES
from bad_inputs_run import ForkServer, grade, run_case, summary_line

SRC = Path(metaparity.__file__).resolve().parents[1]


def _param(case: dict) -> object:
    marks = [pytest.mark.r] if case.get("r") else []
    return pytest.param(case, id=f"{case['cls']}:{case['id']}", marks=marks)


def test_the_corpus_is_large_and_covers_every_class():
    assert len(CASES) >= 80
    classes = {c["cls"] for c in CASES}
    for cls in ("data/continuous", "data/binary", "data/proportions", "cli/options",
                "cli/outputs", "goldens", "reproduce/published", "api/rma", "api/batch",
                "api/escalc", "api/confint", "faults/R"):  # fmt: skip
        assert cls in classes
    for c in CASES:  # every case says what must happen
        assert ("argv" in c) != ("call" in c), c["id"]
        # a refusal (2), or a run that mirrors metafor (0) or flags (1) with its report lines
        assert c.get("exit") in (0, 1, 2) or c.get("raises") or c.get("warns"), c["id"]
        assert c["keywords"], c["id"]


@pytest.fixture(scope="module")
def server():
    with ForkServer(SRC) as srv:
        yield srv


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input(case, tmp_path, server):
    out = run_case(case, SRC, tmp_path / "case", server=server)
    verdict, problems = grade(case, out)
    assert verdict == "good", f"{verdict}: {'; '.join(problems)} -- {summary_line(out)}"
