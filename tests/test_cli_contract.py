"""The command line's exit-code contract: 0 agree, 1 a real disagreement with metafor, 2
everything else -- with one line on stderr naming the problem and the fix, no traceback
unless --debug, and no output file left behind.  Output paths and options are checked
before R is started (``get_bridge`` is replaced by a function that fails the test)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from metaparity import cli
from metaparity._core import io
from metaparity.cli import main
from metaparity.parity import rbridge, reports

ROOT = Path(__file__).resolve().parents[1]
BCG = ROOT / "fixtures" / "metadat" / "dat.bcg.csv"
DATA = "study,xi,ni\nA,3,10\nB,4,12\nC,5,9\n"


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line(err: str) -> str:
    """The failure message: one line, the last of stderr (progress lines may come before)."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    failures = [ln for ln in lines if ln.startswith("metaparity ")]
    assert len(failures) == 1 and failures[0] == lines[-1], err
    return lines[-1]


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture
def no_r(monkeypatch):
    """R must not be started: every check here happens before."""

    def started(backend="auto"):
        raise AssertionError("R was started before the options were checked")

    monkeypatch.setattr(rbridge, "get_bridge", started)


@pytest.fixture
def data(tmp_path):
    f = tmp_path / "data.csv"
    f.write_text(DATA)
    return f


def _read_only_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in (as root, chmod does not stop writes)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/sys")  # root: sysfs refuses new files (EACCES)
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    return d


# ------------------------------------------------------------ output paths (checked first)
@pytest.mark.parametrize("flag", ["--json", "--junit", "--markdown"])
def test_parity_output_is_a_folder(tmp_path, capsys, no_r, data, flag):
    (tmp_path / "out").mkdir()
    code, _, err = _run(capsys, "parity", data, "--measure", "PR", flag, tmp_path / "out")
    assert code == 2
    assert _one_line(err) == (
        f"metaparity parity: {flag} {tmp_path / 'out'}: is a folder; give a file name"
    )


def test_parity_output_parent_missing(tmp_path, capsys, no_r, data):
    target = tmp_path / "nowhere" / "r.json"
    code, _, err = _run(capsys, "parity", data, "--measure", "PR", "--json", target)
    assert code == 2
    line = _one_line(err)
    assert f"--json {target}: folder {tmp_path / 'nowhere'} does not exist" in line
    assert "create it or choose another path" in line
    assert not (tmp_path / "nowhere").exists()


def test_parity_output_parent_is_a_file(tmp_path, capsys, no_r, data):
    code, _, err = _run(capsys, "parity", data, "--measure", "PR", "--junit", data / "r.xml")
    assert code == 2
    assert f"--junit {data / 'r.xml'}: {data} is a file, not a folder" in _one_line(err)


def test_parity_output_folder_not_writable(tmp_path, capsys, no_r, data):
    ro = _read_only_folder(tmp_path)
    target = ro / "metaparity-test-r.json"
    code, _, err = _run(capsys, "parity", data, "--measure", "PR", "--json", target)
    assert code == 2
    line = _one_line(err)
    assert f"--json {target}: cannot write to {ro} (permission denied)" in line
    assert line.endswith("choose a writable folder")
    assert not target.exists()


def test_os_access_refusal_is_enough(tmp_path, capsys, no_r, data, monkeypatch):
    monkeypatch.setattr(io.os, "access", lambda path, mode: False)
    code, _, err = _run(capsys, "parity", data, "--measure", "PR", "--json", tmp_path / "r.json")
    assert code == 2
    assert f"cannot write to {tmp_path} (permission denied)" in _one_line(err)


def test_parity_outputs_must_differ(tmp_path, capsys, no_r, data):
    a = tmp_path / "r.txt"
    code, _, err = _run(capsys, "parity", data, "--measure", "PR", "--json", a, "--markdown", a)
    assert code == 2
    assert "--json and --markdown both name" in _one_line(err)


def test_golden_pointing_at_a_file(tmp_path, capsys, no_r, data):
    code, _, err = _run(capsys, "parity", data, "--measure", "PR", "--golden", data)
    assert code == 2
    assert _one_line(err) == f"metaparity parity: --golden {data} is a file; give a folder"


@pytest.mark.parametrize("level", ["0", "-5", "100", "150", "nan"])
def test_level_is_checked(capsys, no_r, data, level):
    code, _, err = _run(capsys, "parity", data, "--measure", "PR", "--level", level)
    assert code == 2
    assert f"--level {float(level):g}" in _one_line(err)


def test_level_as_metafor_reads_it():
    assert cli._level_option(95) == 95 and cli._level_option(0.9) == pytest.approx(90)
    assert cli._level_option(1) == 1  # metafor: level >= 1 is a percentage
    assert cli._level_option(0.05) == pytest.approx(95)  # metafor: level <= 0.5 is alpha


def test_reproduce_out_is_a_file(tmp_path, capsys, no_r):
    f = tmp_path / "rep"
    f.write_text("x")
    code, _, err = _run(capsys, "reproduce", "--out", f, "--no-figures")
    assert code == 2
    assert _one_line(err) == f"metaparity reproduce: --out {f} is a file; give a folder"
    assert f.read_text() == "x"


def test_reproduce_out_parent_missing(tmp_path, capsys, no_r):
    out = tmp_path / "a" / "b"
    code, _, err = _run(capsys, "reproduce", "--out", out, "--no-figures")
    assert code == 2
    assert f"folder {tmp_path / 'a'} does not exist" in _one_line(err)
    assert not (tmp_path / "a").exists()


def test_reproduce_out_not_writable(tmp_path, capsys, no_r):
    ro = _read_only_folder(tmp_path)
    code, _, err = _run(capsys, "reproduce", "--out", ro / "metaparity-test-rep", "--no-figures")
    assert code == 2
    assert f"cannot write to {ro} (permission denied)" in _one_line(err)


def test_simulate_out_checks(tmp_path, capsys):
    (tmp_path / "d.npz").mkdir()
    cases = {
        tmp_path / "d.npz": "OUT {p}: is a folder; give a file name",
        tmp_path / "no" / "s.npz": "OUT {p}: folder {d} does not exist; create it",
    }
    for p, want in cases.items():
        code, _, err = _run(capsys, "simulate", p, "--M", "10")
        assert code == 2
        assert want.format(p=p, d=p.parent) in _one_line(err)
    assert _files(tmp_path) == {"d.npz"}


# ------------------------------------------------------------ simulate options
@pytest.mark.parametrize(
    "extra,match",
    [
        (["--k", "0"], "--k 0: give the number of studies per meta-analysis, >= 1"),
        (["--k", "-2"], "--k -2:"),
        (["--M", "0"], "--M 0: give the number of meta-analyses as a whole number >= 1"),
        (["--M", "-5"], "--M -5:"),
        (["--M", "1.5"], "--M 1.5: give the number of meta-analyses as a whole number"),
        (["--M", "inf"], "--M inf:"),
        (["--k", "5", "--k-min", "6"], "--k-min 6: give a value from 1 to --k 5"),
        (["--k-min", "0"], "--k-min 0: give a value from 1 to --k 10"),
        (["--tau2", "-0.1"], "--tau2 -0.1: the between-study variance must be a finite number >= 0"),
        (["--mu", "nan"], "--mu nan: give a finite number"),
        (["--vi", "normal:0.1:0.2"], "--vi 'normal:0.1:0.2': give uniform:LO:HI or loguniform"),
        (["--vi", "uniform:0.1"], "--vi 'uniform:0.1': give uniform:LO:HI"),
        (["--vi", "uniform:a:0.2"], "--vi 'uniform:a:0.2': LO and HI must be numbers"),
        (["--vi", "uniform:0.2:0.1"], "--vi 'uniform:0.2:0.1': LO=0.2 must be < HI=0.1"),
        (["--vi", "uniform:0.1:0.1"], "LO=0.1 must be < HI=0.1"),
        (["--vi", "loguniform:0:1"], "--vi 'loguniform:0:1': LO=0 must be > 0"),
        (["--vi", "uniform:-1:1"], "LO=-1 must be > 0"),
    ],
)  # fmt: skip
def test_simulate_bad_options(tmp_path, capsys, extra, match):
    out = tmp_path / "sim.npz"
    code, _, err = _run(capsys, "simulate", out, *extra)
    assert code == 2
    line = _one_line(err)
    assert line.startswith("metaparity simulate: ") and match in line, line
    assert _files(tmp_path) == set()


def test_simulate_writes_atomically(tmp_path, capsys, monkeypatch):
    out = tmp_path / "sim"
    code, stdout, _ = _run(capsys, "simulate", out, "--M", "20", "--k", "3", "--seed", "1")
    assert code == 0 and f"wrote {out}.npz" in stdout
    assert _files(tmp_path) == {"sim.npz"}
    with np.load(tmp_path / "sim.npz") as z:
        assert z["Y"].shape == (20, 3)

    def interrupted(fh, **arrays):
        fh.write(b"PK partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    code, _, err = _run(capsys, "simulate", tmp_path / "again.npz", "--M", "20")
    assert code == 2
    assert _one_line(err) == "metaparity simulate: interrupted; no output was written"
    assert _files(tmp_path) == {"sim.npz"}  # neither again.npz nor its temporary file


def test_library_simulate_refuses_fractional_m():
    from metaparity.simulate import save_normal_npz, simulate_normal

    with pytest.raises(ValueError, match=r"M=1.5 must be a whole number"):
        simulate_normal(1.5, 3)
    with pytest.raises(ValueError, match=r"tau2=-1: the between-study variance must be >= 0"):
        save_normal_npz("never.npz", 3, 3, tau2=-1)
    assert not Path("never.npz").exists()


# ------------------------------------------------------------ the wrapper
def test_unexpected_exception_is_an_internal_error(tmp_path, capsys, monkeypatch):
    def boom(args):
        raise RuntimeError("something broke\nover two lines")

    monkeypatch.setattr(cli, "cmd_simulate", boom)
    code, _, err = _run(capsys, "simulate", tmp_path / "s.npz")
    assert code == 2
    assert _one_line(err) == (
        "metaparity simulate: internal error: RuntimeError: something broke over two lines "
        "(rerun with --debug for the traceback and report it)"
    )


@pytest.mark.parametrize("where", ["before", "after", "env"])
def test_debug_shows_the_traceback(tmp_path, capsys, monkeypatch, where):
    def boom(args):
        raise RuntimeError("something broke")

    monkeypatch.setattr(cli, "cmd_simulate", boom)
    argv = ["simulate", str(tmp_path / "s.npz")]
    if where == "before":
        argv.insert(0, "--debug")
    elif where == "after":
        argv.append("--debug")
    else:
        monkeypatch.setenv("METAPARITY_DEBUG", "1")
    code, _, err = _run(capsys, *argv)
    assert code == 2  # a traceback never changes the exit code
    assert "Traceback (most recent call last)" in err and "RuntimeError: something broke" in err
    assert err.strip().splitlines()[-1].startswith("metaparity simulate: internal error:")


def test_debug_env_zero_is_off(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("METAPARITY_DEBUG", "0")
    code, _, err = _run(capsys, "simulate", tmp_path / "s.npz", "--k", "0")
    assert code == 2 and _one_line(err)


def test_keyboard_interrupt(tmp_path, capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_reproduce", interrupted)
    code, _, err = _run(capsys, "reproduce", "--out", tmp_path / "rep")
    assert code == 2
    assert _one_line(err) == "metaparity reproduce: interrupted; no output was written"
    assert _files(tmp_path) == set()


@pytest.mark.parametrize(
    "exc,match",
    [
        (ValueError("study 'B' has xi=14 > ni=12"), "study 'B' has xi=14 > ni=12"),
        (rbridge.RUnavailable("R is not installed: run setup"),
         "R/metafor unavailable: R is not installed: run setup"),
        (PermissionError(13, "Permission denied", "/x/r.json"),
         "cannot access /x/r.json (permission denied)"),
        (IsADirectoryError(21, "Is a directory", "out"), "out is a folder; give a file name"),
        (ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib"),
         "No module named 'matplotlib'; install the optional dependency (pip install matplotlib)"),
        (MemoryError(), "out of memory"),
        (BrokenPipeError(32, "Broken pipe"), "the output pipe was closed (broken pipe)"),
        (OSError(28, "No space left on device", "r.json"),
         "No space left on device: r.json; check the path and the free space"),
        (type("RRuntimeError", (RuntimeError,), {"__module__": "rpy2.rinterface_lib.embedded"})(
            "Error in rma(): fisher scoring did not converge"),
         "R/metafor failed: RRuntimeError: Error in rma(): fisher scoring did not converge"),
    ],
)  # fmt: skip
def test_known_failures_are_one_line(tmp_path, capsys, monkeypatch, exc, match):
    def fails(args):
        raise exc

    monkeypatch.setattr(cli, "cmd_parity", fails)
    code, _, err = _run(capsys, "parity", "x.csv", "--measure", "PR")
    assert code == 2
    line = _one_line(err)
    assert line.startswith("metaparity parity: ") and match in line, line
    assert "internal error" not in line


def test_runtime_error_raised_by_the_bridge_is_an_r_failure():
    def raise_in_bridge():
        # compiled with rbridge's file name: the frame the wrapper looks at
        code = compile("raise RuntimeError('metafor::escalc failed: x')", rbridge.__file__, "exec")
        exec(code, {})

    try:
        raise_in_bridge()
    except RuntimeError as err:
        assert cli._describe(err).startswith("R/metafor failed: RuntimeError: metafor::escalc")
    try:
        raise RuntimeError("elsewhere")
    except RuntimeError as err:
        assert cli._describe(err) == ""  # an internal error


def test_r_unavailable_without_golden(tmp_path, capsys, monkeypatch, data):
    def unavailable(backend="auto"):
        raise rbridge.RUnavailable("R is not installed (test); run scripts/setup.sh")

    monkeypatch.setattr(rbridge, "get_bridge", unavailable)
    json_out = tmp_path / "r.json"
    code, _, err = _run(capsys, "parity", data, "--measure", "PR", "--json", json_out)
    assert code == 2
    assert _one_line(err) == (
        "metaparity parity: R/metafor unavailable: R is not installed (test); run scripts/setup.sh"
    )
    assert not json_out.exists()


def test_goldens_outside_a_checkout(tmp_path, capsys, no_r):
    code, _, err = _run(capsys, "goldens", "regenerate", "--root", tmp_path)
    assert code == 2
    assert _one_line(err) == (
        f"metaparity goldens: --root {tmp_path.resolve()} has no r_scripts/: regenerating "
        "goldens needs a source checkout of metaparity; give it with --root REPO"
    )


def test_no_subcommand_and_version(capsys):
    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("metaparity ")


def test_console_exit_codes(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("METAPARITY_DEBUG", None)
    run = [sys.executable, "-m", "metaparity.cli"]
    assert subprocess.run(run, env=env, capture_output=True).returncode == 2
    p = subprocess.run([*run, "simulate", str(tmp_path / "s.npz"), "--k", "0"], env=env,
                       capture_output=True, text=True)  # fmt: skip
    assert p.returncode == 2 and _one_line(p.stderr).startswith("metaparity simulate: --k 0")


# ------------------------------------------------------------ parity writes all or none
class _Report:
    exit_code = 0
    failure_message = ""


def test_parity_reports_all_or_none(tmp_path, capsys, monkeypatch, data):
    monkeypatch.setattr(rbridge, "get_bridge", lambda backend="auto": None)
    monkeypatch.setattr(cli, "compare_model", lambda *a, **kw: _Report())
    monkeypatch.setattr(reports, "to_text", lambda rep, **kw: "text")
    for name in ("to_json", "to_junit", "to_markdown"):
        monkeypatch.setattr(reports, name, lambda rep, name=name: name)
    outs = [tmp_path / "r.json", tmp_path / "r.xml", tmp_path / "r.md"]
    argv = ["parity", data, "--measure", "PR", "--json", outs[0], "--junit", outs[1],
            "--markdown", outs[2]]  # fmt: skip
    real = os.replace
    calls = []

    def second_rename_fails(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(io.os, "replace", second_rename_fails)
    code, _, err = _run(capsys, *argv)
    assert code == 2 and "interrupted; no output was written" in _one_line(err)
    assert _files(tmp_path) == {"data.csv"}  # the first one was renamed, then removed

    monkeypatch.setattr(io.os, "replace", real)
    code, out, _ = _run(capsys, *argv)
    assert code == 0 and out.strip() == "text"
    assert [p.read_text() for p in outs] == ["to_json", "to_junit", "to_markdown"]
    assert _files(tmp_path) == {"data.csv", "r.json", "r.xml", "r.md"}


def test_atomic_write_all_failing_writer(tmp_path):
    def bad(fh):
        fh.write("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        io.atomic_write_all({tmp_path / "a": lambda fh: fh.write("a"), tmp_path / "b": bad})
    assert _files(tmp_path) == set()


# ------------------------------------------------------------ reproduce --strict / --title
def test_reproduce_strict(tmp_path, capsys):
    code, out, _ = _run(capsys, "reproduce", "--out", tmp_path / "a", "--no-r", "--no-figures")
    assert code == 0 and "Discrepancies" in out  # the bundled case has 13
    code, out, err = _run(
        capsys, "reproduce", "--out", tmp_path / "b", "--no-r", "--no-figures", "--strict"
    )
    assert code == 1 and "--strict: 13 printed figure(s) are discrepancies (exit 1)" in err


def test_reproduce_title_follows_the_report_writer(tmp_path, capsys, monkeypatch):
    import inspect

    from metaparity.reproduce import report

    argv = ["reproduce", "--out", tmp_path / "a", "--no-r", "--no-figures", "--title", "Mine"]
    if "title" in inspect.signature(report.write_report).parameters:
        seen = {}

        def write_report(rep, out, *, figures=True, title=None):
            seen["title"] = title
            return {}

        monkeypatch.setattr(cli, "write_report", write_report)
        code, _, _ = _run(capsys, *argv)
        assert code == 0 and seen["title"] == "Mine"
    else:
        code, _, err = _run(capsys, *argv)
        assert code == 2 and "--title 'Mine'" in _one_line(err)
        assert _files(tmp_path) == set()


# ------------------------------------------------------------ --help
def _parsers(parser: argparse.ArgumentParser, name: str = "metaparity"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, p in action.choices.items():
                yield from _parsers(p, f"{name} {sub}")


def test_every_option_has_help_and_shows_its_default():
    for name, parser in _parsers(cli._build_parser()):
        for action in parser._actions:
            assert action.help, f"{name} {action.option_strings or action.dest}: no help"
            default = action.default
            if (
                action.option_strings
                and default not in (None, [], argparse.SUPPRESS)
                and default is not False
                and not isinstance(action, argparse._HelpAction | argparse._VersionAction)
            ):
                text = parser._get_formatter()._get_help_string(action) or ""
                assert "default" in text.lower(), f"{name} {action.option_strings}: {text}"
                if "default" in action.help.lower():
                    assert text == action.help  # not said twice


@pytest.mark.parametrize(
    "sub", [["demo"], ["reproduce"], ["parity"], ["explain"], ["goldens", "regenerate"], ["version"],
            ["simulate"], ["bench"]],
)  # fmt: skip
def test_help_of_each_subcommand(capsys, sub):
    with pytest.raises(SystemExit) as e:
        main([*sub, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--debug" in out
    if sub not in (["demo"], ["version"]):  # these take no options with a default
        assert "default" in out


# ------------------------------------------------------------ live metafor
@pytest.mark.r
def test_parity_live_writes_every_report_and_nothing_else(tmp_path, capsys):
    outs = tmp_path / "reports"
    outs.mkdir()
    code, _, err = _run(
        capsys, "parity", BCG, "--measure", "RR", "--col", "ai=tpos", "--col", "bi=tneg",
        "--col", "ci=cpos", "--col", "di=cneg", "--method", "DL", "--json", outs / "r.json",
        "--junit", outs / "r.xml", "--markdown", outs / "r.md", "--brief",
    )  # fmt: skip
    assert code == 0, err
    assert _files(outs) == {"r.json", "r.xml", "r.md"}
