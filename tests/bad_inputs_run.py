"""Run and grade the cases of ``tests/bad_inputs.py`` (shared by the tests and
``scripts/bad_input_audit.py``).

:func:`run_case` runs one case against a source tree (``PYTHONPATH=SRC``) in a fresh
folder and returns what happened; :func:`grade` sorts it into ``good`` (the contract:
right exit code / exception, a one-line message naming the row, the value and the fix, no
traceback, no file left), ``weak`` (right code, message lacks some keywords or is not one
line) or ``bad`` (traceback, wrong code, NaN without a warning, file left behind).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

#: runs one API case in a fresh interpreter; prints a JSON outcome on its last line
API_RUNNER = r"""
import json, sys, traceback, warnings
import numpy as np
case = json.loads(sys.argv[1])
out = {"exc": None, "bases": [], "msg": "", "warnings": [], "nan": False, "traceback": ""}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        import metaparity as mp
        from metaparity.parity import rbridge
        res = eval(case["call"], {"mp": mp, "np": np, "inf": np.inf, "nan": np.nan,
                                  "rbridge": rbridge})
        try:
            import pandas as pd
            if isinstance(res, pd.DataFrame):
                res = res.select_dtypes("number").to_numpy()
        except ImportError:
            pass
        if hasattr(res, "to_dict"):
            res = list(res.to_dict().values())
        def nan_in(x):
            if isinstance(x, dict):
                return any(nan_in(v) for v in x.values())
            if isinstance(x, (list, tuple)):
                return any(nan_in(v) for v in x)
            try:
                a = np.asarray(x, dtype=float)
            except (TypeError, ValueError):
                return False
            return bool(np.isnan(a).any())
        out["nan"] = nan_in(res)
    except Exception as err:
        out["exc"] = type(err).__name__
        out["bases"] = [c.__name__ for c in type(err).__mro__]
        out["msg"] = str(err)
        out["traceback"] = traceback.format_exc()
out["warnings"] = [str(w.message) for w in caught]
print(json.dumps(out))
"""


#: a process that imports metaparity once, then forks a child per case: the child takes the
#: case's cwd and environment and runs ``python -m metaparity.cli`` (runpy, as ``-m`` does)
#: or the API runner, with stdout/stderr to files -- a fresh process per case without the
#: interpreter's and the package's start-up each time.  R is never started in the parent.
FORK_SERVER = r"""
import json, os, runpy, sys, traceback
import metaparity.cli  # noqa: F401  (the import is what is shared)
for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        try:
            os.chdir(req["cwd"])
            os.environ.clear()
            os.environ.update(req["env"])
            fd = os.open(req["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            fe = os.open(req["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fe, 2)
            sys.stdin = open(os.devnull)
            code = 0
            try:
                if "api" in req:
                    sys.argv = ["-c", req["api"]]
                    exec(compile(req["runner"], "<api-runner>", "exec"), {"__name__": "__main__"})
                else:
                    sys.argv = ["metaparity", *req["argv"]]
                    sys.modules.pop("metaparity.cli", None)  # runpy runs it afresh as __main__
                    runpy.run_module("metaparity.cli", run_name="__main__", alter_sys=True)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                if not isinstance(e.code, int) and e.code is not None:
                    print(e.code, file=sys.stderr)
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(locals().get("code", 1) or 0)
    _, status = os.waitpid(pid, 0)
    rc = os.waitstatus_to_exitcode(status)
    print(json.dumps({"exit": rc}), flush=True)
"""


class ForkServer:
    """Runs cases in forked children of one process that imported metaparity from ``src``
    (see :data:`FORK_SERVER`); use as a context manager."""

    def __init__(self, src: Path, python: str = sys.executable) -> None:
        env = dict(os.environ, PYTHONPATH=str(src))
        self.proc = subprocess.Popen([python, "-c", FORK_SERVER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip

    def run(self, req: dict[str, Any], folder: Path) -> tuple[int, str, str]:
        """``(exit code, stdout, stderr)`` of one request run in ``folder``."""
        out, err = folder.parent / (folder.name + ".stdout"), folder.parent / (folder.name + ".err")
        req = dict(req, cwd=str(folder), out=str(out), err=str(err))
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        rc = json.loads(self.proc.stdout.readline())["exit"]
        return rc, out.read_text(errors="replace"), err.read_text(errors="replace")

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _expand(text: str, folder: Path) -> str:
    return text.replace("{dir}", str(folder)).replace("{path}", os.environ.get("PATH", ""))


def _write_files(folder: Path, files: dict[str, Any], exe: list[str]) -> None:
    for name, content in files.items():
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
        if name in exe:
            p.chmod(0o755)


def _env(case: dict[str, Any], src: Path, folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(src)
    env.pop("METAPARITY_RSCRIPT", None)
    for k, v in case.get("env", {}).items():
        if v == "":
            env[k] = ""
            if k == "METAPARITY_RSCRIPT":
                env.pop(k)
        else:
            env[k] = _expand(v, folder)
    return env


def run_case(case: dict[str, Any], src: Path, folder: Path, python: str = sys.executable,
             timeout: float = 300, server: ForkServer | None = None) -> dict[str, Any]:  # fmt: skip
    """Run ``case`` with the package at ``src`` in ``folder`` (created, should be empty);
    with ``server``, in a forked child of it instead of a fresh interpreter.

    Returns a dict: ``kind`` (``cli``/``api``), ``exit`` (CLI), ``stdout``, ``stderr``
    (CLI), ``exc``/``bases``/``msg``/``warnings``/``nan``/``traceback`` (API), ``left``
    (the case's ``outputs`` that exist afterwards).
    """
    folder.mkdir(parents=True, exist_ok=True)
    env = _env(case, src, folder)
    exe = case.get("exec", [])

    def cli(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
        if server is not None:
            return server.run({"argv": argv, "env": env}, folder)
        proc = subprocess.run([python, "-m", "metaparity.cli", *argv], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip
        return proc.returncode, proc.stdout, proc.stderr

    if "before" in case:
        _write_files(folder, case["files"], exe)
        cli(case["before"]["argv"], _env({}, src, folder))
        _write_files(folder, case["before"]["files"], exe)
    else:
        _write_files(folder, case.get("files", {}), exe)
    if "call" in case:
        if server is not None:
            _, stdout, stderr = server.run(
                {"api": json.dumps(case), "runner": API_RUNNER, "env": env}, folder
            )
        else:
            proc = subprocess.run([python, "-c", API_RUNNER, json.dumps(case)], cwd=folder,
                                  env=env, capture_output=True, text=True, timeout=timeout)  # fmt: skip
            stdout, stderr = proc.stdout, proc.stderr
        lines = stdout.strip().splitlines()
        try:
            out = json.loads(lines[-1])
        except (IndexError, ValueError):
            out = {"exc": "crash", "bases": [], "msg": stderr[-500:], "warnings": [],
                   "nan": False, "traceback": stderr}  # fmt: skip
        out.update(kind="api", stderr=stderr)
    else:
        rc, stdout, stderr = cli([_expand(a, folder) for a in case["argv"]], env)
        out = dict(kind="cli", exit=rc, stdout=stdout, stderr=stderr)
    out["left"] = [o for o in case.get("outputs", []) if (folder / o).exists()]
    return out


def message_lines(stderr: str) -> list[str]:
    """stderr's lines without argparse's usage block (``usage: ...`` and its indented
    continuation) and blank lines."""
    out, in_usage = [], False
    for ln in stderr.splitlines():
        if ln.startswith("usage:"):
            in_usage = True
            continue
        if in_usage and ln.startswith(" "):
            continue
        in_usage = False
        if ln.strip():
            out.append(ln)
    return out


def missing_keywords(text: str, keywords: list[Any]) -> list[Any]:
    """The entries of ``keywords`` (a string, or a list of alternatives) not in ``text``."""
    low = text.lower()
    miss = []
    for kw in keywords:
        alts = kw if isinstance(kw, list) else [kw]
        if not any(str(a).lower() in low for a in alts):
            miss.append(kw if isinstance(kw, str) else "|".join(map(str, kw[:4])))
    return miss


def grade(case: dict[str, Any], out: dict[str, Any]) -> tuple[str, list[str]]:
    """``("good" | "weak" | "bad", problems)`` for a case and its :func:`run_case` outcome."""
    bad: list[str] = []
    weak: list[str] = []
    if out["left"]:
        bad.append(f"left behind: {', '.join(out['left'])}")
    if out["kind"] == "cli":
        # a refusal is judged by its stderr line; a run that completes (exit 0/1), by what
        # it reports on stdout
        text = out["stderr"] if case["exit"] == 2 else out["stdout"] + out["stderr"]
        if "Traceback" in out["stderr"] or "Traceback" in out["stdout"]:
            bad.append("traceback")
        if out["exit"] != case["exit"]:
            bad.append(f"exit {out['exit']} (expected {case['exit']})")
        lines = message_lines(out["stderr"])
        if case["exit"] != 0 and not lines:
            weak.append("no message on stderr")
        elif len(lines) > 2:
            weak.append(f"{len(lines)} lines on stderr")
    else:
        text = out["msg"] if case.get("raises") else " ".join(out["warnings"])
        if case.get("raises"):
            if out["exc"] is None:
                bad.append("no exception" + (" (silent NaN)" if out["nan"] else ""))
            elif case["raises"] not in out["bases"]:
                bad.append(f"raised {out['exc']} (expected {case['raises']})")
            if len(out["msg"].splitlines()) > 1:
                weak.append("multi-line message")
        else:
            if out["exc"] is not None:
                bad.append(f"raised {out['exc']}: {out['msg'][:80]} (expected a warning)")
            elif not out["warnings"]:
                bad.append("silent NaN" if out["nan"] else "no warning")
        if "Traceback" in out.get("stderr", ""):
            bad.append("traceback on stderr")
    miss = missing_keywords(text, case.get("keywords", []))
    if miss:
        weak.append("message lacks " + ", ".join(map(str, miss)))
    if bad:
        return "bad", bad + weak
    return ("weak", weak) if weak else ("good", [])


def summary_line(out: dict[str, Any]) -> str:
    """The message a case produced, on one line (for tables)."""
    if out["kind"] == "cli":
        lines = message_lines(out["stderr"])
        text = lines[-1] if lines else (out["stdout"].strip().splitlines() or [""])[-1]
        return f"exit {out['exit']}: {text}"
    if out["exc"]:
        return f"{out['exc']}: {out['msg'].splitlines()[0] if out['msg'] else ''}"
    return "warned: " + " | ".join(out["warnings"])[:200] if out["warnings"] else "no warning"
