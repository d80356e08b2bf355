"""Command line: thin wrapper over the library (parse, call, print).

``metaparity demo | reproduce | parity | explain | goldens regenerate | version | simulate |
bench``;
each subcommand is a ``cmd_*`` function taking the parsed arguments and returning the
exit code.

The exit-code contract, the same for every subcommand (:func:`main` runs each inside one
wrapper):

* **0** -- done, and everything compared agrees with metafor.
* **1** -- a real disagreement with metafor (``reproduce --strict``: also a printed figure
  with the verdict "discrepancy"; ``goldens regenerate``: recorded values moved).
* **2** -- everything else, always with one line on stderr,
  ``metaparity <command>: <problem>; <fix>``: bad input or options (checked before R is
  started or anything is computed, output paths included), R/metafor unavailable or
  failing, a missing optional dependency, a file that cannot be written, an interruption
  (Ctrl-C: ``interrupted; no output was written``), and an unexpected error
  (``internal error: <type>: <message> (rerun with --debug ...)``).  argparse usage
  errors, and ``metaparity`` without a subcommand, exit 2 too.

No traceback is printed unless ``--debug`` is given (before or after the subcommand) or
``METAPARITY_DEBUG=1`` is set; the exit code stays 2.  Outputs are written only after
everything succeeded, each through a temporary file renamed into place, so a failure
leaves no partial file behind.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import math
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from metaparity._core.io import InputError, atomic_write_all, check_output, read_table
from metaparity._core.validation import check_level
from metaparity._core.version import __version__
from metaparity.analysis.explain import explain, parse_policies
from metaparity.bench import add_arguments as _bench_arguments
from metaparity.bench import run_from_args as _bench_run
from metaparity.demo import selinexor_demo
from metaparity.engine.control import parse_control
from metaparity.models.mv_control import read_control
from metaparity.parity import rbridge, reports
from metaparity.parity.goldens import regenerate
from metaparity.parity.model_compare import compare_model
from metaparity.reproduce.cases import case_names, load_case, reproduce_case
from metaparity.reproduce.pipeline import ZeroEvents, reproduce
from metaparity.reproduce.report import header_lines, write_report
from metaparity.simulate import npz_path, save_normal_npz

__all__ = ["main", "cmd_demo", "cmd_reproduce", "cmd_parity", "cmd_explain",
           "cmd_goldens_regenerate", "cmd_version", "cmd_simulate"]  # fmt: skip


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
        ``add``, ``no_r``, ``require_r``, ``backend``, ``no_figures``, ``strict``,
        ``title`` (see ``--help``).

    Returns
    -------
    int
        0: done and every metafor comparison agrees; 1: a quantity differs from metafor
        (or, with ``--strict``, a printed figure is a discrepancy). Bad input, or R
        required (``--require-r``) but unavailable, raise (exit 2 through :func:`main`).
    """
    if args.list_cases or args.case:
        return _reproduce_cases(args)
    if (args.data is None) != (args.published is None):
        raise InputError("give both --data and --published (or neither, for the bundled "
                         "selinexor case)")  # fmt: skip
    report_kw: dict[str, Any] = {"figures": not args.no_figures}
    if args.title is not None:
        if "title" not in inspect.signature(write_report).parameters:
            raise InputError(f"--title {args.title!r}: this version's report writer takes no "
                             "title; drop --title")  # fmt: skip
        report_kw["title"] = args.title
    if not args.no_figures and importlib.util.find_spec("matplotlib") is None:
        raise InputError("the figures need matplotlib, which is not installed; "
                         "pip install matplotlib, or run with --no-figures")  # fmt: skip
    check_output(args.out, "--out", folder=True)
    bridge = None
    if not args.no_r:
        try:
            bridge = rbridge.get_bridge(args.backend)
        except rbridge.RUnavailable as err:
            if args.require_r:
                raise
            print(f"R/metafor unavailable -- metaparity only. Reason: {err}", file=sys.stderr)
    rep = reproduce(
        args.data, args.published, measure=args.measure, policy=args.policy,
        zero=ZeroEvents(args.zero, args.add), bridge=bridge,
        progress=_Progress("asking metafor"), claims=args.claims,
    )  # fmt: skip
    paths = write_report(rep, args.out, **report_kw)
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
    if args.strict and flagged and not bad:
        print(f"metaparity reproduce: --strict: {len(flagged)} printed figure(s) are "
              "discrepancies (exit 1); see the report", file=sys.stderr)  # fmt: skip
        return 1
    return 1 if bad else 0


def _reproduce_cases(args: argparse.Namespace) -> int:
    """``reproduce --case NAME|all`` / ``--list-cases``: the bundled binary-outcome cases."""
    if args.list_cases:
        for name in case_names():
            print(f"{name:32s} {load_case(name).title}")
        return 0
    if args.data is not None or args.published is not None:
        raise InputError("--case reproduces a bundled analysis; drop --data/--published")
    names = case_names() if args.case == ["all"] else list(args.case)
    for name in names:
        load_case(name)  # every name checked before anything is computed
    out = Path(args.out)
    check_output(out, "--out", folder=True)
    results = [reproduce_case(n) for n in names]
    text = "\n\n".join(r.text() for r in results) + "\n"
    rows = [dict(case=r.case.name, **f.__dict__) for r in results for f in r.figures]
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_all({
        out / "cases.txt": lambda fh: fh.write(text),
        out / "cases.json": lambda fh: json.dump({"cases": [r.case.__dict__ for r in results],
                                                  "figures": rows}, fh, indent=1, default=str),
    })  # fmt: skip
    print(text, end="")
    bad = [r.case.name for r in results if not r.ok]
    n = sum(len(r.figures) for r in results)
    print(
        f"{len(results)} case(s), {n} printed figures; discrepancies in: {', '.join(bad) or 'none'}"
    )
    print(f"Report: {out / 'cases.txt'}, {out / 'cases.json'}")
    if args.strict and bad:
        print(f"metaparity reproduce: --strict: {len(bad)} case(s) have printed figures that are "
              "discrepancies (exit 1); see the report", file=sys.stderr)  # fmt: skip
        return 1
    return 0


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
        ``file``, ``model``, ``measure``, ``method``, ``test``, ``level``, ``by``, ``slab``, ``col``,
        ``filter``, ``weights``, ``json``, ``junit``, ``markdown``, ``golden``, ``backend``,
        ``brief`` (see ``--help``).

    Returns
    -------
    int
        0: every quantity agrees; 1: something differs; 2: metafor failed on an analysis.
        Bad input, unwritable outputs and R unavailable without ``--golden`` raise (exit 2
        through :func:`main`), all checked before R is started.
    """
    level = _level_option(args.level)
    columns = _pairs(args.col, "--col")
    filters = _pairs(args.filter, "--filter")
    control = _control_option(args.control, args.model)
    outputs = _report_outputs(args)
    if args.golden:
        check_output(args.golden, "--golden", folder=True, probe=args.record)
    rep = compare_model(
        args.file,
        model=args.model,
        measure=args.measure,
        method=args.method,
        test=args.test,
        level=level,
        by=args.by,
        columns=columns,
        slab=args.slab,
        filters=filters,
        weights=args.weights,
        bridge=lambda: rbridge.get_bridge(args.backend),  # started only when needed
        golden_dir=args.golden,
        control=control,
        decimal=args.decimal,
        record=args.record,
        accept=args.accept,
        max_memory_gb=args.max_memory,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
        random=args.random,
        struct=args.struct,
        mods=args.mods,
        V=args.V,
        R=_pairs(args.R, "--R") or None,
        Rscale=args.Rscale,
        dfs=args.dfs,
        fixed=_pairs(args.fixed, "--fixed") or None,
    )
    print(reports.to_text(rep, color=sys.stdout.isatty(), verbose=not args.brief))
    if rep.failure_message:
        # metafor failed on an analysis (exit 2): nothing is written, as for any exit 2
        skipped = f" ({', '.join(str(p) for p, _ in outputs)} not written)" if outputs else ""
        print(f"metaparity parity: {rep.failure_message}{skipped}", file=sys.stderr)
        return rep.exit_code
    # every report is rendered in full, then all are written (temporary files, renamed
    # together): a failure leaves none of them
    texts = {path: render(rep) for path, render in outputs}
    atomic_write_all({path: _write_text(text) for path, text in texts.items()})
    return rep.exit_code


def cmd_explain(args: argparse.Namespace) -> int:
    """``metaparity explain``: pool FILE under each tool policy and say which choice causes
    each difference (:func:`metaparity.analysis.explain.explain`).

    Parameters
    ----------
    args : argparse.Namespace
        ``file``, ``measure``, ``col``, ``policies``, ``level``, ``decimal``, ``markdown``.

    Returns
    -------
    int
        0 (nothing is compared with metafor).  Bad input, an unknown policy or an unwritable
        ``--markdown`` raise (exit 2 through :func:`main`), checked before pooling.
    """
    level = _level_option(args.level)
    columns = _pairs(args.col, "--col")
    pols = parse_policies(args.policies)
    if args.markdown:
        check_output(args.markdown, "--markdown")
    data = read_table(args.file, decimal=args.decimal)
    ex = explain(data, args.measure, pols, cols=columns, level=level)
    if not ex.results:
        raise InputError("no policy could be applied: " + "; ".join(ex.errors.values()))
    print(ex.text())
    if args.markdown:
        atomic_write_all({args.markdown: _write_text(ex.markdown() + "\n")})
    return 0


def _report_outputs(args: argparse.Namespace) -> list[tuple[str, Callable[[Any], str]]]:
    """``--json/--junit/--markdown``: checked writable and distinct, with their renderers."""
    given = [
        ("--json", args.json, reports.to_json),
        ("--junit", args.junit, reports.to_junit),
        ("--markdown", args.markdown, reports.to_markdown),
    ]
    seen: dict[str, str] = {}
    out: list[tuple[str, Callable[[Any], str]]] = []
    for flag, path, render in given:
        if not path:
            continue
        check_output(path, flag)
        key = os.path.realpath(path)
        if key in seen:
            raise InputError(f"{seen[key]} and {flag} both name {path}; give different files")
        seen[key] = flag
        out.append((path, render))
    return out


def _level_option(level: float) -> float:
    """``--level``: as metafor reads it (95, 0.95 and 0.05 all mean 95 %)."""
    if not math.isfinite(level) or not 0 < level < 100:
        raise InputError(f"--level {level:g}: give a confidence level between 0 and 100, e.g. 95")
    return check_level(level)


def _control_option(text: str | None, model: str = "uni") -> Any:
    """``--control``: None, ``metafor``, or a JSON object of metafor's control settings
    (rma.mv's with ``--model mv``)."""
    if text is None or (text == "metafor" and model != "mv"):
        return text
    if text == "metafor":
        raise InputError(
            "--control metafor: for --model mv give a JSON object of rma.mv's control settings "
            '(e.g. \'{"tau2.init": 0.1, "REMLf": false}\'); metafor\'s optimiser runs with '
            "metaparity's tight control (docs/mv.md)"
        )
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise InputError(
            f"--control {text!r}: give 'metafor' (metafor's default control) or a JSON object "
            'of metafor\'s settings, e.g. \'{"maxiter": 500, "threshold": 1e-8}\''
        )
    try:
        if model == "mv":
            read_control(value)  # unknown keys and bad values: as rma_mv(control=)
        else:
            parse_control(value)  # unknown keys and bad values: the same errors as rma(control=)
    except ValueError as err:
        raise InputError(f"--control: {err}") from None
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
        recorded files were left unchanged. Not a source checkout, no R, or a failing
        producer raise (exit 2 through :func:`main`).
    """
    root = Path(args.root).resolve()
    if not (root / "r_scripts").is_dir():
        raise InputError(f"--root {root} has no r_scripts/: regenerating goldens needs a "
                         "source checkout of metaparity; give it with --root REPO")  # fmt: skip
    try:
        drifts = regenerate(root, accept=args.accept, only=args.only)
    except rbridge.RUnavailable:
        raise
    except RuntimeError as err:
        raise _Failure(f"{err}; fix the producer (rerun with --debug for details)") from err
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


class _Failure(Exception):
    """A known failure whose message already says the problem and the fix (exit 2)."""


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _is_r_failure(err: BaseException) -> bool:
    """An exception class of the R bridge, an rpy2 error, or a RuntimeError the bridge raised."""
    if type(err).__module__ in (rbridge.__name__,) or type(err).__module__.startswith("rpy2"):
        return True
    if isinstance(err, rbridge.RUnavailable):
        return True
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return (
        isinstance(err, RuntimeError)
        and tb is not None
        and Path(tb.tb_frame.f_code.co_filename).resolve() == Path(rbridge.__file__).resolve()
    )


def _describe(err: BaseException) -> str:
    """The one-line ``<problem>; <fix>`` for an exception, or ``""`` if it is not a known one."""
    msg = _one_line(str(err))
    if isinstance(err, rbridge.RUnavailable):
        return f"R/metafor unavailable: {msg}"
    if _is_r_failure(err):
        return (f"R/metafor failed: {type(err).__name__}: {msg}; check the input, try "
                "--backend rscript, or rerun with --debug")  # fmt: skip
    if isinstance(err, _Failure | ValueError):
        return msg
    if isinstance(err, BrokenPipeError):
        return "the output pipe was closed (broken pipe); read the whole output, or use --json"
    if isinstance(err, OSError):
        where = f" {err.filename}" if err.filename is not None else ""
        if isinstance(err, PermissionError):
            return f"cannot access{where} (permission denied); choose a path you can use"
        if isinstance(err, IsADirectoryError):
            return f"{where.strip()} is a folder; give a file name"
        if isinstance(err, FileNotFoundError):
            return f"{where.strip()}: no such file or folder; check the path"
        return f"{err.strerror or msg}{':' + where if where else ''}; check the path and the free space"
    if isinstance(err, ImportError):
        name = f" {err.name}" if err.name else ""
        return f"{msg}; install the optional dependency (pip install{name or ' <package>'})"
    if isinstance(err, MemoryError):
        return f"out of memory ({msg or type(err).__name__}); ask for less, e.g. a smaller --M"
    return ""


def _debug_requested(args: argparse.Namespace | None) -> bool:
    env = os.environ.get("METAPARITY_DEBUG", "").strip().lower()
    return bool(getattr(args, "debug", False)) or env not in ("", "0", "false", "no")


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the subcommand (the ``metaparity`` console script).

    Every subcommand runs inside one wrapper: a known failure (bad input or options,
    unwritable output, R/metafor unavailable or failing, a missing optional dependency)
    prints ``metaparity <command>: <problem>; <fix>`` on one line of stderr and gives
    exit code 2; an unexpected exception gives 2 and ``internal error: ...``; Ctrl-C
    gives 2 and ``interrupted; no output was written``. ``--debug`` (or
    ``METAPARITY_DEBUG=1``) adds the full traceback.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The subcommand's exit code: 0 agree, 1 a real disagreement with metafor, 2
        anything else.
    """
    parser = _build_parser()
    args = parser.parse_args(argv)  # usage errors: SystemExit(2); --version: SystemExit(0)
    try:
        return int(args.func(args))
    except KeyboardInterrupt as exc:
        failure: BaseException = exc
        problem = "interrupted; no output was written"
    except Exception as exc:  # the one place every failure is reported
        failure = exc
        problem = _describe(exc) or (
            f"internal error: {type(exc).__name__}: {_one_line(str(exc))} "
            "(rerun with --debug for the traceback and report it)"
        )
    if _debug_requested(args):
        traceback.print_exception(failure, file=sys.stderr)
    print(f"metaparity {args.command}: {problem}", file=sys.stderr, flush=True)
    return 2


def _build_parser() -> argparse.ArgumentParser:
    """The ``metaparity`` parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="metaparity",
        description="Meta-analysis pooling that agrees with R's metafor. Exit codes: 0 agree, "
        "1 a real disagreement with metafor, 2 anything else (bad input, unwritable output, "
        "R unavailable or failing, interrupted), with a one-line message.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"metaparity {__version__}",
                        help="print metaparity's version and exit")  # fmt: skip
    parser.add_argument("--debug", action="store_true",
                        help="print the full traceback of a failure (also METAPARITY_DEBUG=1)")  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="metaparity COMMAND --help shows its options")  # fmt: skip
    p = _subparser(sub, "demo", help="pool the bundled selinexor data next to live metafor")
    p.set_defaults(func=cmd_demo)
    _add_reproduce_parser(sub)
    _add_parity_parser(sub)
    _add_explain_parser(sub)
    _add_goldens_parser(sub)
    p = _subparser(sub, "version",
                   help="print versions (metaparity, and R/metafor if reachable)")  # fmt: skip
    p.set_defaults(func=cmd_version)
    _add_simulate_parser(sub)
    p = _subparser(sub, "bench",
                   help="benchmark rma_batch against metafor, PyMARE, statsmodels")  # fmt: skip
    _bench_arguments(p)
    p.set_defaults(func=_bench_run)
    return parser


class _Formatter(argparse.HelpFormatter):
    """Help that shows every default (unless the text already names it)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        unset = default is None or default is False or default == [] or default is argparse.SUPPRESS
        shown = not unset and not isinstance(action, argparse._VersionAction | argparse._HelpAction)
        if shown and "default" not in text.lower():
            text += " (default: %(default)s)"
        return text


def _subparser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, **kw: Any
) -> argparse.ArgumentParser:
    """A subcommand parser with the shared help formatter and ``--debug``."""
    p = sub.add_parser(name, formatter_class=_Formatter, **kw)
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="print the full traceback of a failure (also METAPARITY_DEBUG=1)")  # fmt: skip
    return p


_BACKEND_HELP = ("R bridge: rpy2 (R in-process), rscript (an Rscript subprocess; same numbers) "
                 "or auto (rpy2 if it loads, else rscript)")  # fmt: skip


def _add_reproduce_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``metaparity reproduce`` and its options."""
    p = _subparser(
        sub,
        "reproduce",
        help="reproduce a published meta-analysis figure by figure (default: the selinexor paper)",
        description="Pool every analysis a paper reports (each subgroup and all studies), test "
        "subgroup differences as RevMan does, ask live metafor the same, and give every printed "
        "figure a verdict: reproduced, within rounding, discrepancy (likely cause) or not "
        "reproducible (which data are missing). Writes report.md, report.html (self-contained), "
        "report.json and figures/*.png. Exit 0: done, every metafor comparison agrees; 1: a "
        "quantity differs from metafor (with --strict: also a printed figure that is a "
        "discrepancy); 2: bad input, unwritable --out, R required but missing, or interrupted.",
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
    p.add_argument("--policy", default="i2:50",
                   help="model rule: 'i2:50' (default: DL if I2 > 50%%, else EE, decided on all "
                        "studies of the outcome), 'i2:50:analysis' (each analysis's own I2), "
                        "'stated', or an estimator; 'i2>50' also works if quoted; or a tool "
                        "policy (revman5, revman_web, meta, metafor, stata: its tau2 estimator, "
                        "CI and I2 with the I2 > 50%% rule; 'revman_web:i2:25' for another rule)")  # fmt: skip
    p.add_argument("--zero", default="drop", choices=["drop", "cc"],
                   help="studies with 0 (or all) events: drop them (default; what reproduces the "
                        "seed) or add a continuity correction; the other is shown alongside")  # fmt: skip
    p.add_argument(
        "--add", type=float, default=0.5, help="continuity correction, a number > 0 (default 0.5)"
    )
    p.add_argument("--no-r", action="store_true", help="do not call R (metaparity only)")
    p.add_argument("--require-r", action="store_true",
                   help="fail (exit 2) when R/metafor is unavailable")  # fmt: skip
    p.add_argument("--backend", default="auto", choices=["auto", "rpy2", "rscript"],
                   help=_BACKEND_HELP)  # fmt: skip
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 also when a printed figure is a discrepancy")  # fmt: skip
    p.add_argument("--title", metavar="TEXT", help="title of the report (default: the paper's)")
    p.add_argument("--case", action="append", metavar="NAME",
                   help="reproduce a bundled published binary-outcome analysis instead (Peto, "
                        "Mantel-Haenszel, IV/DL on metadat data sets; repeatable, or 'all'); "
                        "writes OUT/cases.txt and OUT/cases.json")  # fmt: skip
    p.add_argument("--list-cases", action="store_true", help="list the bundled cases and exit")
    p.set_defaults(func=cmd_reproduce)


def _add_parity_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``metaparity parity`` and its options."""
    p = _subparser(
        sub,
        "parity",
        help="compare metaparity with metafor on your data, quantity by quantity",
        description="Pool FILE (CSV/TSV, one row per study) in metaparity and in metafor and "
        "compare every quantity. Exit 0: all agree; 1: something differs; 2: bad input, unwritable "
        "output, R unavailable or failing, or interrupted.",
    )
    p.add_argument("file", help="CSV/TSV with one row per study")
    p.add_argument("--model", default="uni",
                   help="model family: uni (escalc + rma, the default), peto (rma.peto, "
                   "--measure PETO), mh (rma.mh, --measure OR|RR|RD|IRR|IRD), glmm (rma.glmm, "
                   "--measure OR|IRR|PLO|IRLN), glmm:UM.RS|glmm:CM.EL (OR|IRR), glmm:CM.AL "
                   "(OR), mv (rma.mv: --random, --V, --mods; --measure GEN for yi/vi columns)")  # fmt: skip
    p.add_argument("--measure", required=True, help="metafor measure: PR, OR, SMD, GEN, ...")
    p.add_argument("--method", default="REML", help="estimator(s): DL,REML,PM or 'all'")
    p.add_argument("--test", default="z", help="test and CIs of the coefficients: z, t, knha "
                   "(Knapp-Hartung) or adhoc")  # fmt: skip
    p.add_argument("--level", type=float, default=95,
                   help="confidence level in percent, 0 < LEVEL < 100 (metafor's 0.95 is "
                   "read as 95)")  # fmt: skip
    p.add_argument("--by", help="column defining subgroups")
    p.add_argument("--slab", help="column with study labels (default: 'study' if present)")
    p.add_argument("--col", action="append", default=[], metavar="ARG=COLUMN",
                   help="map a metafor argument to a column, e.g. --col xi=events")  # fmt: skip
    p.add_argument("--filter", action="append", default=[], metavar="COLUMN=VALUE",
                   help="keep only rows where COLUMN equals VALUE (repeatable)")  # fmt: skip
    p.add_argument("--weights", metavar="COLUMN",
                   help="user weights (metafor weights=); needed for --method GENQ")  # fmt: skip
    p.add_argument("--json", metavar="FILE", help="write the full comparison as JSON")
    p.add_argument("--junit", metavar="FILE",
                   help="write a JUnit XML file (one test case per quantity) for CI")  # fmt: skip
    p.add_argument("--markdown", metavar="FILE", help="write the tables as Markdown")
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
    p.add_argument("--backend", default="auto", choices=["auto", "rpy2", "rscript"],
                   help=_BACKEND_HELP)  # fmt: skip
    p.add_argument("--brief", action="store_true",
                   help="tables only for analyses that differ (default: every quantity)")  # fmt: skip
    mv = p.add_argument_group("--model mv (rma.mv)")
    mv.add_argument("--random", action="append", metavar="FORMULA",
                    help="random effects as metafor writes them, e.g. '~ 1 | study/esid' or "
                    "'~ outcome | trial' (repeatable)")  # fmt: skip
    mv.add_argument("--struct", action="append", metavar="STRUCT",
                    help="structure of each '~ inner | outer' term: CS (default), HCS, UN, ID, "
                    "DIAG, AR, HAR, CAR")  # fmt: skip
    p.add_argument("--mods", metavar="FORMULA",
                   help="moderators: a meta-regression (--model uni or mv), e.g. "
                   "'~ year + factor(type)'; with --model uni the design is also compared "
                   "with R's model.matrix")  # fmt: skip
    mv.add_argument("--V", metavar="FILE",
                    help="the sampling covariance matrix of all rows of FILE (CSV, e.g. from "
                    "vcalc(); header row and row names optional) instead of a vi column")  # fmt: skip
    mv.add_argument("--R", action="append", default=[], metavar="NAME=FILE",
                    help="a known correlation matrix for '~ 1 | NAME' (CSV, levels as row "
                    "names), e.g. a phylogenetic one")  # fmt: skip
    mv.add_argument("--Rscale", default="cor", choices=["cor", "none"],
                    help="scale --R matrices to correlations (cor, the default) or not")  # fmt: skip
    mv.add_argument("--fixed", action="append", default=[], metavar="NAME=VALUES",
                    help="hold variance components fixed (metafor's sigma2=, tau2=, rho=, "
                    "gamma2=, phi=): e.g. rho=0.5 or sigma2=0.05,NA (NA: estimated)")  # fmt: skip
    mv.add_argument("--dfs", default="residual", choices=["residual", "contain"],
                    help="denominator df with --test t (metafor's dfs=)")  # fmt: skip
    p.add_argument("--control", metavar="metafor|JSON",
                   help="'metafor': compare metaparity's control='metafor' with metafor's default "
                   "run (its own stopping rules) instead of both at the root; or a JSON object "
                   "of metafor control settings used on both sides (--model mv: rma.mv's, e.g. "
                   "'{\"tau2.init\": 0.1, \"REMLf\": false}')")  # fmt: skip
    p.set_defaults(func=cmd_parity)


def _add_explain_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``metaparity explain`` and its options."""
    p = _subparser(
        sub,
        "explain",
        help="pool your data as RevMan 5, RevMan Web, R meta, metafor and Stata would, and "
        "say which choice causes each difference",
        description="Pool FILE (CSV/TSV, one row per study) under each tool policy "
        "(metaparity.analysis.policies) and, for every pair of policies, attribute each "
        "difference in the results to the choice that moves it (switching the differing "
        "choices one at a time). Exit 0: done; 2: bad input, unknown policy, unwritable output.",
    )
    p.add_argument("file", help="CSV/TSV with one row per study")
    p.add_argument("--measure", required=True, help="metafor measure: OR, RR, RD, SMD, ...")
    p.add_argument("--col", action="append", default=[], metavar="ARG=COLUMN",
                   help="map an escalc argument to a column, e.g. --col ai=tpos")  # fmt: skip
    p.add_argument("--policies", metavar="NAME[,NAME...]",
                   help="policies to compare (default: all: revman5, revman_web, meta, metafor, "
                   "stata)")  # fmt: skip
    p.add_argument("--level", type=float, default=95, help="confidence level in percent")
    p.add_argument("--decimal", choices=[".", ","], default=None,
                   help="decimal mark of the numbers (default: detected)")  # fmt: skip
    p.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown")
    p.set_defaults(func=cmd_explain)


def _add_goldens_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``metaparity goldens regenerate`` and its options."""
    p = _subparser(sub, "goldens", help="golden files recorded with metafor")
    gsub = p.add_subparsers(dest="goldens_command", required=True, metavar="ACTION",
                            help="what to do with the golden files")  # fmt: skip
    g = _subparser(
        gsub,
        "regenerate",
        help="re-run r_scripts/ producers and report what moved (write only with --accept)",
    )
    g.add_argument("--accept", action="store_true", help="replace the recorded files")
    g.add_argument("--only", action="append",
                   help="only producers whose path contains this (repeatable; default: all)")  # fmt: skip
    g.add_argument("--root", default=".", help="repository root (default: current folder)")
    g.set_defaults(func=cmd_goldens_regenerate)


def _add_simulate_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``metaparity simulate`` and its options."""
    p = _subparser(sub, "simulate",
                   help="simulate meta-analyses (normal-normal model) into an .npz")  # fmt: skip
    p.add_argument("out", metavar="OUT",
                   help="output .npz with arrays Y and V, shaped (M, k); NaN pads")  # fmt: skip
    p.add_argument("--M", type=float, default=1e5,
                   help="meta-analyses, a whole number >= 1 (default 1e5)")  # fmt: skip
    p.add_argument("--k", type=int, default=10,
                   help="studies per meta-analysis (array width), >= 1")  # fmt: skip
    p.add_argument("--k-min", type=int,
                   help="draw k_i uniformly from k-min..k (ragged; default: every row has k)")  # fmt: skip
    p.add_argument("--mu", type=float, default=0.0, help="true pooled effect")
    p.add_argument("--tau2", type=float, default=0.1, help="true between-study variance, >= 0")
    p.add_argument("--vi", default="uniform:0.01:0.2",
                   help="sampling variances: uniform:LO:HI or loguniform:LO:HI, 0 < LO < HI")  # fmt: skip
    p.add_argument("--seed", type=int, default=None,
                   help="random seed (default: fresh entropy, not reproducible)")  # fmt: skip
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
        0 (bad options and an unwritable ``OUT`` raise before anything is simulated:
        exit 2 through :func:`main`).
    """
    M, vi = _simulate_options(args)
    if Path(args.out).is_dir():
        raise InputError(
            f"OUT {args.out}: is a folder; give a file name, e.g. {Path(args.out) / 'sim.npz'}"
        )
    out = npz_path(args.out)
    check_output(out, "OUT")
    bar = _Progress(f"simulate {M:,} x {args.k}")
    M, k = save_normal_npz(
        out, M, args.k, mu=args.mu, tau2=args.tau2, vi=vi,
        k_dist=None if args.k_min is None else (args.k_min, args.k), seed=args.seed,
        progress=lambda i, n: bar(i, n, f"{i:,} rows"),
    )  # fmt: skip
    print(f"wrote {out}: Y, V with shape ({M}, {k})")
    return 0


def _simulate_options(args: argparse.Namespace) -> tuple[int, tuple[str, float, float]]:
    """``simulate``'s options checked, each error naming the option, the value and the fix."""
    if not (math.isfinite(args.M) and args.M >= 1 and float(args.M).is_integer()):
        raise InputError(f"--M {args.M:g}: give the number of meta-analyses as a whole number "
                         ">= 1, e.g. --M 1e5")  # fmt: skip
    if args.k < 1:
        raise InputError(f"--k {args.k}: give the number of studies per meta-analysis, >= 1")
    if args.k_min is not None and not 1 <= args.k_min <= args.k:
        raise InputError(f"--k-min {args.k_min}: give a value from 1 to --k {args.k} (k_i is "
                         "drawn from k-min..k)")  # fmt: skip
    if not math.isfinite(args.mu):
        raise InputError(f"--mu {args.mu}: give a finite number")
    if not (math.isfinite(args.tau2) and args.tau2 >= 0):
        raise InputError(f"--tau2 {args.tau2:g}: the between-study variance must be a finite "
                         "number >= 0 (0: no heterogeneity)")  # fmt: skip
    return int(args.M), _vi_option(args.vi)


def _vi_option(text: str) -> tuple[str, float, float]:
    """``--vi uniform:LO:HI`` or ``loguniform:LO:HI`` with ``0 < LO < HI``."""
    form = "give uniform:LO:HI or loguniform:LO:HI with 0 < LO < HI, e.g. uniform:0.01:0.2"
    parts = text.split(":")
    if len(parts) != 3 or parts[0].strip() not in ("uniform", "loguniform"):
        raise InputError(f"--vi {text!r}: {form}")
    kind = parts[0].strip()
    try:
        lo, hi = float(parts[1]), float(parts[2])
    except ValueError:
        raise InputError(f"--vi {text!r}: LO and HI must be numbers; {form}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError(f"--vi {text!r}: LO and HI must be finite; {form}")
    if lo <= 0:
        raise InputError(f"--vi {text!r}: LO={lo:g} must be > 0 (sampling variances are "
                         f"positive); {form}")  # fmt: skip
    if lo >= hi:
        raise InputError(f"--vi {text!r}: LO={lo:g} must be < HI={hi:g}; {form}")
    return kind, lo, hi


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
