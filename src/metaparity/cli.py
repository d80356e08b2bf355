"""Command line: thin wrapper over the library (parse, call, print).

``metaparity demo | reproduce | parity | goldens regenerate | version | simulate | bench``;
each subcommand is a ``cmd_*`` function taking the parsed arguments and returning the
exit code (0: done and agrees with metafor; 1: a difference; 2: bad input or R missing).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from metaparity._core.io import InputError, atomic_write
from metaparity._core.version import __version__
from metaparity.bench import add_arguments as _bench_arguments
from metaparity.bench import run_from_args as _bench_run
from metaparity.demo import selinexor_demo
from metaparity.engine.control import parse_control
from metaparity.parity import rbridge, reports
from metaparity.parity.goldens import regenerate
from metaparity.parity.harness import compare
from metaparity.reproduce.pipeline import ZeroEvents, reproduce
from metaparity.reproduce.report import header_lines, write_report
from metaparity.simulate import save_normal_npz

__all__ = ["main", "cmd_demo", "cmd_reproduce", "cmd_parity", "cmd_goldens_regenerate",
           "cmd_version", "cmd_simulate"]  # fmt: skip


def _fmt(t: tuple[float, float, float] | None) -> str:
    if t is None:
        return "-"
    return f"{t[0]:6.2f} [{t[1]:6.2f}, {t[2]:6.2f}]"


def _paper(t: tuple[float, float, float]) -> str:
    return f"{t[0]:3.0f} [{t[1]:3.0f}, {t[2]:3.0f}]"


def cmd_demo(args: argparse.Namespace) -> int:
    """``metaparity demo``: the bundled selinexor pooling next to live metafor ``rma()``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments (none are used).

    Returns
    -------
    int
        0 when every analysis agrees with metafor (or R is unavailable), 1 otherwise.
    """
    bridge = None
    try:
        bridge = rbridge.get_bridge()
        v = bridge.versions()
        print(f"metafor {v['metafor']} on {v['R']} (live, through rpy2)")
    except rbridge.RUnavailable as err:
        print(f"R/metafor unavailable -- showing metaparity only. Reason: {err}")
    rows = selinexor_demo(bridge)
    print(
        "\nSelinexor meta-analysis (Tao, Zhou & Niu 2021): raw proportions (PR), "
        "DL random effects or EE where the paper pooled with a fixed effect; percent [95% CI]\n"
    )
    head = (
        f"{'outcome':26s} {'subgroup':11s} {'model':5s} {'k':>2s}  {'metaparity':24s} "
        f"{'metafor':24s} {'max rel diff':>12s}  {'paper':15s} status"
    )
    print(head)
    print("-" * len(head))
    bad = 0
    for r in rows:
        name = r.outcome + ("" if r.grade == "na" else f" ({r.grade})")
        agree = r.agrees
        status = "-" if agree is None else ("agrees" if agree else "DIFFERS")
        if agree is False:
            bad += 1
        rounded = tuple(round(x) for x in r.ours)
        note = "" if rounded == tuple(round(x) for x in r.paper) else "  (paper differs at whole %)"
        print(
            f"{name:26s} {r.subgroup:11s} {r.method:5s} {r.k:2d}  {_fmt(r.ours):24s} "
            f"{_fmt(r.metafor):24s} {r.max_rel:12.1e}  {_paper(r.paper):15s} {status}{note}"
        )
    n_cmp = sum(len(r.comparisons) for r in rows)
    if bridge is not None:
        print(
            f"\n{len(rows)} analyses, {n_cmp} quantities compared with metafor: "
            f"{'all agree' if bad == 0 else f'{bad} analyses differ'}"
        )
    return 1 if bad else 0


class _Progress:
    """A one-line progress indicator on stderr (redrawn on a terminal, a line per 10 % else)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.tty = sys.stderr.isatty()
        self.last = -1

    def __call__(self, i: int, n: int, label: str) -> None:
        pct = 100 * i // max(n, 1)
        if self.tty:
            bar = "#" * (pct // 5)
            sys.stderr.write(f"\r{self.what} [{bar:20s}] {i}/{n} {label[:40]:40s}")
            if i >= n:
                sys.stderr.write("\n")
            sys.stderr.flush()
        elif pct // 10 != self.last // 10 or i >= n:
            print(f"{self.what}: {i}/{n} ({pct}%) {label}", file=sys.stderr, flush=True)
        self.last = pct


def cmd_reproduce(args: argparse.Namespace) -> int:
    """``metaparity reproduce``: every printed figure of a paper, with a verdict.

    Parameters
    ----------
    args : argparse.Namespace
        ``data``, ``published``, ``claims``, ``out``, ``measure``, ``policy``, ``zero``,
        ``add``, ``no_r``, ``require_r``, ``backend``, ``no_figures`` (see ``--help``).

    Returns
    -------
    int
        0: done and every metafor comparison agrees; 1: a quantity differs from metafor;
        2: bad input, or R required (``--require-r``) but unavailable.
    """
    if (args.data is None) != (args.published is None):
        print("metaparity reproduce: give both --data and --published (or neither, for the "
              "bundled selinexor case)", file=sys.stderr)  # fmt: skip
        return 2
    bridge = None
    if not args.no_r:
        try:
            bridge = rbridge.get_bridge(args.backend)
        except rbridge.RUnavailable as err:
            if args.require_r:
                print(f"metaparity reproduce: R/metafor unavailable: {err}", file=sys.stderr)
                return 2
            print(f"R/metafor unavailable -- metaparity only. Reason: {err}", file=sys.stderr)
    try:
        rep = reproduce(
            args.data, args.published, measure=args.measure, policy=args.policy,
            zero=ZeroEvents(args.zero, args.add), bridge=bridge,
            progress=_Progress("asking metafor"), claims=args.claims,
        )  # fmt: skip
        paths = write_report(rep, args.out, figures=not args.no_figures)
    except (InputError, ValueError) as err:
        print(f"metaparity reproduce: {err}", file=sys.stderr)
        return 2
    except ImportError as err:
        print(f"metaparity reproduce: {err} (or run with --no-figures)", file=sys.stderr)
        return 2
    print(f"Reproduction: {rep.title}")
    for k, v in header_lines(rep):
        print(f"  {k:18s} {v}")
    flagged = [f for f in rep.figures if f.verdict.kind == "discrepancy"]
    if flagged:
        print("\nDiscrepancies (likely cause):")
        for f in flagged:
            name = f.outcome + ("" if f.grade == "na" else f" ({f.grade})")
            print(
                f"  line {f.line:3d}  {name[:34]:34s} {f.subgroup[:11]:11s} {f.verdict.cause[:150]}"
            )
    print("\nReport: " + ", ".join(str(p) for p in paths.values()))
    n, bad, _ = rep.parity
    return 1 if bad else 0


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for it in items:
        if "=" not in it:
            raise ValueError(f"{flag} {it!r}: expected NAME=VALUE")
        k, v = it.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _write_text(text: str) -> Callable[[Any], None]:
    def write(fh: Any) -> None:
        fh.write(text)

    return write


def cmd_parity(args: argparse.Namespace) -> int:
    """``metaparity parity``: metafor ``escalc()`` + ``rma()`` vs metaparity on a user's file.

    Parameters
    ----------
    args : argparse.Namespace
        ``file``, ``measure``, ``method``, ``test``, ``level``, ``by``, ``slab``, ``col``,
        ``filter``, ``weights``, ``json``, ``junit``, ``markdown``, ``golden``, ``backend``,
        ``brief`` (see ``--help``).

    Returns
    -------
    int
        0: every quantity agrees; 1: something differs; 2: bad input, R unavailable
        without ``--golden``, or metafor failed on an analysis.
    """
    try:
        rep = compare(
            args.file,
            measure=args.measure,
            method=args.method,
            test=args.test,
            level=args.level,
            by=args.by,
            columns=_pairs(args.col, "--col"),
            slab=args.slab,
            filters=_pairs(args.filter, "--filter"),
            weights=args.weights,
            bridge=lambda: rbridge.get_bridge(args.backend),  # started only when needed
            golden_dir=args.golden,
            control=_control_option(args.control),
            decimal=args.decimal,
            record=args.record,
            accept=args.accept,
            max_memory_gb=args.max_memory,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except (InputError, ValueError, rbridge.RUnavailable) as err:
        print(f"metaparity parity: {err}", file=sys.stderr)
        return 2
    print(reports.to_text(rep, color=sys.stdout.isatty(), verbose=not args.brief))
    outputs = [
        (args.json, reports.to_json),
        (args.junit, reports.to_junit),
        (args.markdown, reports.to_markdown),
    ]
    for path, render in outputs:
        if path:
            text = render(rep)  # rendered in full before anything is written
            atomic_write(path, _write_text(text))
    if rep.failure_message:
        print(f"metaparity parity: {rep.failure_message}", file=sys.stderr)
    return rep.exit_code


def _control_option(text: str | None) -> Any:
    """``--control``: None, ``metafor``, or a JSON object of metafor's control settings."""
    if text is None or text == "metafor":
        return text
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise InputError(
            f"--control {text!r}: give 'metafor' (metafor's default control) or a JSON object "
            'of metafor\'s settings, e.g. \'{"maxiter": 500, "threshold": 1e-8}\''
        )
    parse_control(value)  # unknown keys and bad values: the same errors as rma(control=)
    return value


def cmd_goldens_regenerate(args: argparse.Namespace) -> int:
    """``metaparity goldens regenerate``: re-run the R producers of a source checkout.

    Parameters
    ----------
    args : argparse.Namespace
        ``root`` (the checkout), ``accept``, ``only`` (see ``--help``).

    Returns
    -------
    int
        0: nothing moved (or ``--accept`` replaced the files); 1: values moved and the
        recorded files were left unchanged; 2: not a source checkout, no R, or a
        producer failed.
    """
    root = Path(args.root).resolve()
    if not (root / "r_scripts").is_dir():
        print(
            f"metaparity goldens: {root} has no r_scripts/ (use --root REPO): regenerating "
            "goldens needs a source checkout of metaparity",
            file=sys.stderr,
        )
        return 2
    try:
        drifts = regenerate(root, accept=args.accept, only=args.only)
    except RuntimeError as err:
        print(f"metaparity goldens: {err}", file=sys.stderr)
        return 2
    moved = False
    for d in drifts:
        for path, old, new in d.provenance:
            print(f"{d.target}: provenance {path}: {old} -> {new}")
        if d.clean:
            print(f"{d.target}: no value moved (rtol 1e-10)")
            continue
        moved = True
        print(f"{d.target}: {len(d.moved)} values moved")
        for path, old, new in d.moved[:20]:
            print(f"   {path}: {old!r} -> {new!r}")
        if len(d.moved) > 20:
            print(f"   ... and {len(d.moved) - 20} more")
    if moved and not args.accept:
        print("recorded files left unchanged; rerun with --accept to replace them")
        return 1
    if args.accept:
        print("recorded files replaced where anything changed")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the subcommand (the ``metaparity`` console script).

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The subcommand's exit code.
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args))


def _build_parser() -> argparse.ArgumentParser:
    """The ``metaparity`` parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="metaparity", description="Meta-analysis pooling that agrees with R's metafor."
    )
    parser.add_argument("--version", action="version", version=f"metaparity {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="pool the bundled selinexor data next to live metafor")
    p.set_defaults(func=cmd_demo)
    _add_reproduce_parser(sub)
    _add_parity_parser(sub)
    _add_goldens_parser(sub)
    p = sub.add_parser("version", help="print versions (metaparity, and R/metafor if reachable)")
    p.set_defaults(func=cmd_version)
    _add_simulate_parser(sub)
    p = sub.add_parser("bench", help="benchmark rma_batch against metafor, PyMARE, statsmodels")
    _bench_arguments(p)
    p.set_defaults(func=_bench_run)
    return parser


def _add_reproduce_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``metaparity reproduce`` and its options."""
    p = sub.add_parser(
        "reproduce",
        help="reproduce a published meta-analysis figure by figure (default: the selinexor paper)",
        description="Pool every analysis a paper reports (each subgroup and all studies), test "
        "subgroup differences as RevMan does, ask live metafor the same, and give every printed "
        "figure a verdict: reproduced, within rounding, discrepancy (likely cause) or not "
        "reproducible (which data are missing). Writes report.md, report.html (self-contained), "
        "report.json and figures/*.png. Exit 0: done, every metafor comparison agrees; 1: a "
        "quantity differs from metafor; 2: bad input or R required but missing.",
    )
    p.add_argument("--data", metavar="FILE",
                   help="per-study counts: study, outcome, events, n [, subgroup, grade, source, "
                        "note, included]; empty events = unknown")  # fmt: skip
    p.add_argument("--published", metavar="FILE",
                   help="printed figures: outcome, subgroup ('overall' for all studies), "
                        "estimate_pct, ci_low_pct, ci_high_pct [, grade, k_studies, model, "
                        "p_subgroup_diff, location, typo_note]")  # fmt: skip
    p.add_argument("--claims", metavar="FILE",
                   help="optional 'a vs b' pairs quoted in the text: outcome, grade, first, "
                        "second, p, first_group, second_group, location, quote")  # fmt: skip
    p.add_argument("--out", default="reproduction", metavar="DIR",
                   help="output folder (default: ./reproduction)")  # fmt: skip
    p.add_argument("--measure", default="PR", help="PR (default), PLO, PAS, PFT or PLN")
    p.add_argument("--policy", default="i2>50",
                   help="model rule: 'i2>50' (default: DL if I2 > 50%%, else EE, decided on all "
                        "studies of the outcome), 'i2>50:analysis', 'stated', or an estimator")  # fmt: skip
    p.add_argument("--zero", default="drop", choices=["drop", "cc"],
                   help="studies with 0 (or all) events: drop them (default; what reproduces the "
                        "seed) or add a continuity correction; the other is shown alongside")  # fmt: skip
    p.add_argument("--add", type=float, default=0.5, help="continuity correction (default 0.5)")
    p.add_argument("--no-r", action="store_true", help="do not call R (metaparity only)")
    p.add_argument("--require-r", action="store_true",
                   help="fail (exit 2) when R/metafor is unavailable")  # fmt: skip
    p.add_argument("--backend", default="auto", choices=["auto", "rpy2", "rscript"])
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.set_defaults(func=cmd_reproduce)


def _add_parity_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``metaparity parity`` and its options."""
    p = sub.add_parser(
        "parity",
        help="compare metaparity with metafor on your data, quantity by quantity",
        description="Pool FILE (CSV/TSV, one row per study) in metaparity and in metafor and "
        "compare every quantity. Exit 0: all agree; 1: something differs; 2: bad input or R failure.",
    )
    p.add_argument("file", help="CSV/TSV with one row per study")
    p.add_argument("--measure", required=True, help="metafor measure: PR, OR, SMD, GEN, ...")
    p.add_argument("--method", default="REML", help="estimator(s): DL,REML,PM or 'all'")
    p.add_argument("--test", default="z", help="z, t, knha or adhoc")
    p.add_argument("--level", type=float, default=95)
    p.add_argument("--by", help="column defining subgroups")
    p.add_argument("--slab", help="column with study labels (default: 'study' if present)")
    p.add_argument("--col", action="append", default=[], metavar="ARG=COLUMN",
                   help="map a metafor argument to a column, e.g. --col xi=events")  # fmt: skip
    p.add_argument("--filter", action="append", default=[], metavar="COLUMN=VALUE",
                   help="keep only rows where COLUMN equals VALUE (repeatable)")  # fmt: skip
    p.add_argument("--weights", metavar="COLUMN",
                   help="user weights (metafor weights=); needed for --method GENQ")  # fmt: skip
    p.add_argument("--json", metavar="FILE")
    p.add_argument("--junit", metavar="FILE")
    p.add_argument("--markdown", metavar="FILE")
    p.add_argument("--golden", metavar="DIR",
                   help="compare with metafor's results recorded in DIR for this call and input "
                   "(R not used); with --record, run metafor and record them there")  # fmt: skip
    p.add_argument("--record", action="store_true",
                   help="with --golden DIR: run metafor (needs R) and record its results")  # fmt: skip
    p.add_argument("--accept", action="store_true",
                   help="with --record: replace a recording of this call made for other input")  # fmt: skip
    p.add_argument("--decimal", choices=[".", ","], default=None,
                   help="decimal mark of the numbers (default: detected; ',' for European "
                   "Excel files with ';' separators)")  # fmt: skip
    p.add_argument("--max-memory", type=float, metavar="GB",
                   help="memory metafor may use (default: what is available, or "
                   "METAPARITY_R_MEMORY_GB); larger analyses are refused before R")  # fmt: skip
    p.add_argument("--backend", default="auto", choices=["auto", "rpy2", "rscript"])
    p.add_argument("--brief", action="store_true",
                   help="tables only for analyses that differ (default: every quantity)")  # fmt: skip
    p.add_argument("--control", metavar="metafor|JSON",
                   help="'metafor': compare metaparity's control='metafor' with metafor's default "
                   "run (its own stopping rules) instead of both at the root; or a JSON object "
                   "of metafor control settings used on both sides")  # fmt: skip
    p.set_defaults(func=cmd_parity)


def _add_goldens_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``metaparity goldens regenerate`` and its options."""
    p = sub.add_parser("goldens", help="golden files recorded with metafor")
    gsub = p.add_subparsers(dest="goldens_command", required=True)
    g = gsub.add_parser(
        "regenerate",
        help="re-run r_scripts/ producers and report what moved (write only with --accept)",
    )
    g.add_argument("--accept", action="store_true", help="replace the recorded files")
    g.add_argument("--only", action="append", help="only producers whose path contains this")
    g.add_argument("--root", default=".", help="repository root (default: current folder)")
    g.set_defaults(func=cmd_goldens_regenerate)


def _add_simulate_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``metaparity simulate`` and its options."""
    p = sub.add_parser("simulate", help="simulate meta-analyses (normal-normal model) into an .npz")
    p.add_argument("out", help="output .npz with arrays Y and V, shaped (M, k); NaN pads")
    p.add_argument("--M", type=float, default=1e5, help="meta-analyses (default 1e5)")
    p.add_argument("--k", type=int, default=10, help="studies per meta-analysis (array width)")
    p.add_argument("--k-min", type=int, help="draw k_i uniformly from k-min..k (ragged)")
    p.add_argument("--mu", type=float, default=0.0)
    p.add_argument("--tau2", type=float, default=0.1)
    p.add_argument("--vi", default="uniform:0.01:0.2", help="uniform:LO:HI or loguniform:LO:HI")
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(func=cmd_simulate)


def cmd_version(args: argparse.Namespace) -> int:
    """``metaparity version``: metaparity's version, and R/metafor's when reachable.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments (none are used).

    Returns
    -------
    int
        Always 0.
    """
    ok, why = rbridge.r_status()
    print(f"metaparity {__version__}; R: {why if ok else 'unavailable (' + why + ')'}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """``metaparity simulate``: normal-normal meta-analyses into an ``.npz`` (Y, V).

    Parameters
    ----------
    args : argparse.Namespace
        ``out``, ``M``, ``k``, ``k_min``, ``mu``, ``tau2``, ``vi``, ``seed`` (see ``--help``).

    Returns
    -------
    int
        Always 0 (bad arguments raise).
    """
    kind, lo, hi = args.vi.split(":")
    bar = _Progress(f"simulate {int(args.M):,} x {args.k}")
    M, k = save_normal_npz(
        args.out, int(args.M), args.k, mu=args.mu, tau2=args.tau2, vi=(kind, float(lo), float(hi)),
        k_dist=None if args.k_min is None else (args.k_min, args.k), seed=args.seed,
        progress=lambda i, n: bar(i, n, f"{i:,} rows"),
    )  # fmt: skip
    print(f"wrote {args.out}: Y, V with shape ({M}, {k})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
