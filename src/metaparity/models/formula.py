"""R model formulas and ``model.matrix``, as R builds them (for ``mods=`` of every model).

A one-sided formula (``"~ ablat * factor(alloc)"``) is read with R's grammar and operator
precedence, expanded into terms as R's ``terms()`` expands it, and coded as R's
``model.matrix`` codes it:

- operators ``+``, ``-`` (removes terms; ``- 1`` / ``0 +`` remove the intercept), ``*``
  (main effects and interactions), ``:`` (interaction), ``^`` (interactions up to an order),
  ``/`` and ``%in%`` (nesting), parentheses;
- terms are ordered by their order (main effects, then two-way interactions …), each kept
  in the order it first appears; the variables of an interaction in the order they first
  appear in the formula (``"alloc:ablat"`` names columns ``allocrandom:ablat``);
- a factor in a term is coded by treatment contrasts when the term without it is empty or
  contained in an earlier term, else by one indicator per level; without an intercept the
  first factor of the first term holding one has indicators (R's rules, model.c); the
  columns of an interaction vary fastest in its first variable;
- variables are data columns or R calls of them: ``I(...)`` with arithmetic, comparisons
  (logicals code as factors, ``I(x > 5)TRUE``), ``factor()``, ``as.factor()``,
  ``relevel(f, ref=)``, ``as.numeric()``, ``poly(x, degree, raw=)`` (orthogonal as R's),
  ``scale()``, and vectorised functions (``log``, ``log2``, ``log10``, ``log1p``, ``exp``,
  ``sqrt``, ``abs``, ``sin``, ``cos``, ``tan``, ``round``, ``floor``, ``ceiling``, ``sign``);
- column names are R's: the call as R deparses it, followed by the level (factors) or the
  column (matrices: ``poly(x, 2)1``), joined by ``:``.

``tests/models/test_formula.py`` checks names and values against R's ``model.matrix`` live.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "parse_r", "model_matrix", "formula_columns", "split_formula", "r_factor", "FUNCTIONS",
]  # fmt: skip

# ----------------------------------------------------------------------------- parsing
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?)
    | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<bq>`[^`]+`)
    | (?P<name>(?:[A-Za-z]|\.(?![0-9]))[\w.]*)
    | (?P<op>%[^%]*%|<=|>=|==|!=|&&|\|\||[-+*/^:(),=<>!&|~])
    )""",
    re.VERBOSE,
)

#: binary operators: (left binding power, right binding power) -- R's precedence (?Syntax)
_BINARY: dict[str, tuple[int, int]] = {
    "^": (140, 139),  # right-associative
    ":": (120, 121),
    "%%": (110, 111),  # every %op%
    "*": (100, 101), "/": (100, 101),
    "+": (90, 91), "-": (90, 91),
    "<": (80, 81), ">": (80, 81), "<=": (80, 81), ">=": (80, 81), "==": (80, 81),
    "!=": (80, 81),
    "&": (60, 61), "&&": (60, 61),
    "|": (50, 51), "||": (50, 51),
}  # fmt: skip
_UNARY_MINUS = 130
_UNARY_NOT = 70


@dataclass(frozen=True)
class Node:
    """An R expression: ``kind`` num, str, name, call, binop, unop, paren."""

    kind: str
    value: Any = None
    args: tuple[Any, ...] = ()


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"cannot read {text[pos:]!r} in {text!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, want: str | None = None) -> tuple[str, str]:
        t = self.peek()
        if t is None or (want is not None and t[1] != want):
            got = "the end" if t is None else repr(t[1])
            raise ValueError(f"{self.text!r}: expected {want or 'more'}, found {got}")
        self.i += 1
        return t

    def expr(self, rbp: int = 0) -> Node:
        kind, tok = self.take()
        left = self.prefix(kind, tok)
        while True:
            t = self.peek()
            if t is None or t[0] != "op":
                break
            op = "%%" if t[1].startswith("%") else t[1]
            if op not in _BINARY or _BINARY[op][0] <= rbp:
                break
            self.take()
            left = Node("binop", t[1], (left, self.expr(_BINARY[op][1])))
        return left

    def prefix(self, kind: str, tok: str) -> Node:
        if kind == "num":
            return Node("num", tok)
        if kind == "str":
            return Node("str", bytes(tok[1:-1], "utf-8").decode("unicode_escape"))
        if kind == "bq":
            return Node("name", tok[1:-1])
        if kind == "name":
            t = self.peek()
            if t is not None and t[1] == "(":
                self.take("(")
                return Node("call", tok, tuple(self.arguments()))
            return Node("name", tok)
        if tok == "(":
            inner = self.expr()
            self.take(")")
            return Node("paren", None, (inner,))
        if tok in ("-", "+"):
            return Node("unop", tok, (self.expr(_UNARY_MINUS),))
        if tok == "!":
            return Node("unop", tok, (self.expr(_UNARY_NOT),))
        raise ValueError(f"{self.text!r}: unexpected {tok!r}")

    def arguments(self) -> list[tuple[str | None, Node]]:
        args: list[tuple[str | None, Node]] = []
        if self.peek() is not None and self.peek()[1] == ")":  # type: ignore[index]
            self.take(")")
            return args
        while True:
            name = None
            t = self.peek()
            if (t is not None and t[0] in ("name", "bq") and self.i + 1 < len(self.toks)
                    and self.toks[self.i + 1][1] == "="):  # fmt: skip
                name = t[1].strip("`")
                self.i += 2
            args.append((name, self.expr()))
            kind, tok = self.take()
            if tok == ")":
                return args
            if tok != ",":
                raise ValueError(f"{self.text!r}: expected ',' or ')' in a call, found {tok!r}")


def parse_r(text: str) -> Node:
    """An R expression (``"I(x^2)"``, ``"a * b"``) as a tree."""
    p = _Parser(text)
    node = p.expr()
    if p.peek() is not None:
        raise ValueError(f"{text!r}: cannot read from {p.peek()[1]!r} on")  # type: ignore[index]
    return node


def _num_text(tok: str) -> str:
    """A number as R deparses it: 15 significant digits, fixed notation unless the
    scientific one is shorter (``2.50`` -> ``2.5``, ``1e-3`` -> ``0.001``, ``1e5`` ->
    ``1e+05``); integer literals keep their ``L``."""
    if tok.endswith("L"):
        return tok
    v = float(tok)
    if v == 0:
        return "0"
    mant, exp = f"{v:.14e}".split("e")
    e = int(exp)
    mant = mant.rstrip("0").rstrip(".")
    nsig = len(mant.replace(".", "").replace("-", ""))
    sci = f"{mant}e{'-' if e < 0 else '+'}{abs(e):02d}"
    fixed = f"{v:.{max(0, nsig - 1 - e)}f}"
    return fixed if len(fixed) <= len(sci) else sci


def deparse(node: Node) -> str:
    """The expression as R's ``deparse`` writes it (column names are built from this)."""
    k = node.kind
    if k == "num":
        return _num_text(node.value)
    if k == "str":
        return '"' + node.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if k == "name":
        return node.value if re.fullmatch(r"(?:[A-Za-z]|\.(?![0-9]))[\w.]*", node.value) \
            else f"`{node.value}`"  # fmt: skip
    if k == "paren":
        return f"({deparse(node.args[0])})"
    if k == "unop":
        return f"{node.value}{deparse(node.args[0])}"
    if k == "call":
        parts = [deparse(a) if n is None else f"{n} = {deparse(a)}" for n, a in node.args]
        return f"{node.value}({', '.join(parts)})"
    op = node.value
    left, right = deparse(node.args[0]), deparse(node.args[1])
    if op in ("^", ":", "/"):
        return f"{left}{op}{right}"
    return f"{left} {op} {right}"


# ----------------------------------------------------------------------------- terms
@dataclass
class _Terms:
    intercept: bool
    variables: list[Node]  # in order of first appearance
    terms: list[tuple[int, ...]]  # each: sorted variable indices


def _expand(node: Node, varindex: dict[str, int], variables: list[Node], formula: str):
    """(terms as a list of frozensets, intercept: True / False / None=unchanged)."""

    def var(n: Node) -> list[frozenset[int]]:
        key = deparse(n)
        if key not in varindex:
            varindex[key] = len(variables)
            variables.append(n)
        return [frozenset([varindex[key]])]

    def go(n: Node) -> tuple[list[frozenset[int]], bool | None]:
        if n.kind == "paren":
            return go(n.args[0])
        if n.kind == "num":
            if n.value in ("0", "1"):
                return [], n.value == "1"
            raise ValueError(f"mods={formula!r}: the number {n.value} is not a term (0 or 1 is)")
        if n.kind == "unop" and n.value == "-":
            terms, icpt = go(n.args[0])
            if terms:
                return [], None  # '- term' at the start removes nothing already there
            return [], (not icpt) if icpt is not None else None
        if n.kind == "unop" and n.value == "+":
            return go(n.args[0])
        if n.kind != "binop" or n.value not in ("+", "-", "*", ":", "^", "/", "%in%"):
            return var(n), None
        op = n.value
        lt, li = go(n.args[0])
        if op == "^":
            r = n.args[1]
            if r.kind != "num":
                raise ValueError(f"mods={formula!r}: '^' takes a number (e.g. (a + b)^2)")
            order = int(float(r.value))
            out = list(lt)
            frontier = list(lt)
            for _ in range(order - 1):
                nxt = []
                for a in frontier:
                    for b in lt:
                        nxt.append(a | b)
                out = _union(out, nxt)
                frontier = nxt
            return out, li
        rt, ri = go(n.args[1])
        if op == "+":
            return _union(lt, rt), ri if ri is not None else li
        if op == "-":
            icpt = li
            if ri is not None:
                icpt = not ri
            return [t for t in lt if t not in rt], icpt
        if op in (":", "%in%"):
            return _union([], [a | b for a in lt for b in rt]), None
        if op == "*":
            return _union(_union(lt, rt), [a | b for a in lt for b in rt]), None
        # '/': a/b = a + (all variables of a):b
        allv = frozenset().union(*lt) if lt else frozenset()
        return _union(lt, [allv | b for b in rt]), li

    return go(node)


def _union(a: list[frozenset[int]], b: list[frozenset[int]]) -> list[frozenset[int]]:
    out = list(a)
    for t in b:
        if t not in out:
            out.append(t)
    return out


def _terms(formula: str) -> _Terms:
    text = formula.strip()
    if not text.startswith("~"):
        raise ValueError(
            f"mods={formula!r}: a formula must be one-sided and start with '~' (e.g. '~ ablat')"
        )
    rhs = text[1:].strip()
    if not rhs:
        raise ValueError(f"mods={formula!r}: the formula has no terms")
    try:
        tree = parse_r(rhs)
    except ValueError as err:
        raise ValueError(f"mods={formula!r}: {err}") from None
    variables: list[Node] = []
    terms, icpt = _expand(tree, {}, variables, formula)
    terms = [t for t in terms if t]
    # R orders by the order of the term, stably
    ordered = sorted(range(len(terms)), key=lambda i: len(terms[i]))
    return _Terms(icpt is not False, variables, [tuple(sorted(terms[i])) for i in ordered])


# ----------------------------------------------------------------------------- evaluation
@dataclass
class _Value:
    """A variable's value: numeric columns (k x m, with column suffixes) or a factor."""

    cols: np.ndarray | None = None  # k x m
    suffixes: tuple[str, ...] = ("",)
    codes: np.ndarray | None = None  # factor: 0-based codes, -1 missing
    levels: tuple[str, ...] = ()

    @property
    def is_factor(self) -> bool:
        return self.codes is not None


_MATH = {
    "log": np.log, "log2": np.log2, "log10": np.log10, "log1p": np.log1p, "exp": np.exp,
    "expm1": np.expm1, "sqrt": np.sqrt, "abs": np.abs, "sin": np.sin, "cos": np.cos,
    "tan": np.tan, "floor": np.floor, "ceiling": np.ceil, "sign": np.sign,
}  # fmt: skip

#: the R functions a formula may call
FUNCTIONS: tuple[str, ...] = (
    "I", "factor", "as.factor", "relevel", "as.numeric", "as.integer", "poly", "scale",
    "round", *_MATH,
)  # fmt: skip


class _Eval:
    def __init__(self, data: pd.DataFrame, formula: str, na_ok: bool) -> None:
        self.data, self.formula, self.na_ok = data, formula, na_ok
        self.k = len(data)

    def fail(self, msg: str) -> ValueError:
        return ValueError(f"mods={self.formula!r}: {msg}")

    # values are numpy arrays (float or bool, NaN = missing) or ('factor', codes, levels)
    def value(self, n: Node) -> Any:
        k = n.kind
        if k == "num":
            return float(n.value.rstrip("L"))
        if k == "str":
            return n.value
        if k == "name":
            if n.value not in self.data.columns and n.value in _CONSTANTS:
                return _CONSTANTS[n.value]
            return self.column(n.value)
        if k == "paren":
            return self.value(n.args[0])
        if k == "unop":
            x = self.value(n.args[0])
            if n.value == "!":
                return ~self.logical(x, n)
            x = self.numeric(x, n)
            return -x if n.value == "-" else x
        if k == "binop":
            return self.binop(n)
        return self.call(n)

    def column(self, name: str) -> Any:
        if name not in self.data.columns:
            near = difflib.get_close_matches(name, [str(c) for c in self.data.columns], n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise self.fail(
                f"{name!r} is not a column of data{hint} (columns: "
                f"{', '.join(map(str, self.data.columns))})"
            )
        s = self.data[name].reset_index(drop=True)
        miss = s.isna().to_numpy()
        if miss.any() and not self.na_ok:
            i = int(np.flatnonzero(miss)[0])
            raise self.fail(
                f"moderator {name!r}: row {i + 1} is missing; metaparity does not drop studies "
                "with missing moderators (metafor does, with a warning): remove the row or "
                "fill it in"
            )
        if pd.api.types.is_bool_dtype(s.dtype) and not miss.any():
            return s.to_numpy(dtype=bool)  # a logical: a factor in model.matrix (variable())
        if _is_categorical(s):  # strings, categoricals and logicals: factors, as in R
            codes, levels = r_factor(s)
            return ("factor", codes, levels)
        try:
            x = s.to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError):
            raise self.fail(f"moderator {name!r} is not numeric") from None
        bad = ~np.isfinite(x) & ~miss
        if bad.any():
            raise self.fail(f"moderator {name!r}: row {int(np.flatnonzero(bad)[0]) + 1} is not "
                            "finite")  # fmt: skip
        return x

    def numeric(self, x: Any, n: Node) -> np.ndarray:
        if isinstance(x, tuple):
            raise self.fail(f"{deparse(n)}: arithmetic on a factor (use as.numeric())")
        if isinstance(x, str):
            raise self.fail(f"{deparse(n)}: arithmetic on a string")
        arr = np.asarray(x)
        if arr.dtype == object:
            arr = arr.astype(float)
        return arr.astype(float) if arr.dtype == bool else arr

    def logical(self, x: Any, n: Node) -> np.ndarray:
        arr = np.asarray(x)
        if arr.dtype == bool:
            return arr
        return self.numeric(x, n) != 0

    def binop(self, n: Node) -> Any:
        op = n.value
        a, b = self.value(n.args[0]), self.value(n.args[1])
        if op in ("==", "!=") and (isinstance(a, tuple) or isinstance(b, (tuple, str))):
            lab = self.labels(a) if isinstance(a, tuple) else a
            other = self.labels(b) if isinstance(b, tuple) else b
            eq = np.asarray(lab, dtype=object) == np.asarray(other, dtype=object)
            return eq if op == "==" else ~eq
        if op in ("&", "&&", "|", "||"):
            la, lb = self.logical(a, n), self.logical(b, n)
            return (la & lb) if op in ("&", "&&") else (la | lb)
        x, y = self.numeric(a, n), self.numeric(b, n)
        with np.errstate(all="ignore"):
            if op == "+":
                return x + y
            if op == "-":
                return x - y
            if op == "*":
                return x * y
            if op == "/":
                return x / y
            if op == "^":
                return np.power(x, y)
            if op == "%%":
                return np.mod(x, y)
            if op == "%/%":
                return np.floor_divide(x, y)
            cmp = {"<": np.less, ">": np.greater, "<=": np.less_equal,
                   ">=": np.greater_equal, "==": np.equal, "!=": np.not_equal}  # fmt: skip
            if op in cmp:
                return cmp[op](x, y)
        raise self.fail(f"the operator {op!r} is not supported inside a term")

    def labels(self, f: tuple) -> np.ndarray:
        _, codes, levels = f
        lv = np.asarray(levels, dtype=object)
        return np.asarray(np.where(codes >= 0, lv[np.maximum(codes, 0)], None))

    def call(self, n: Node) -> Any:
        fname = n.value
        pos = [a for name, a in n.args if name is None]
        kw = {name: a for name, a in n.args if name is not None}
        if fname not in FUNCTIONS:
            near = difflib.get_close_matches(fname, FUNCTIONS, n=1)
            hint = f" (did you mean {near[0]}()?)" if near else ""
            raise self.fail(
                f"the function {fname}() is not supported{hint}; formulas may call "
                f"{', '.join(f + '()' for f in FUNCTIONS)} -- or compute the column in data"
            )
        if not pos:
            raise self.fail(f"{deparse(n)}: give the variable as the first argument")
        x = self.value(pos[0])
        if fname == "I":
            return x
        if fname in ("factor", "as.factor"):
            return self.to_factor(x, kw, n)
        if fname == "relevel":
            f = self.to_factor(x, {}, n)
            ref_node = kw.get("ref", pos[1] if len(pos) > 1 else None)
            if ref_node is None:
                raise self.fail(f"{deparse(n)}: give ref=, the reference level")
            ref = self.value(ref_node)
            ref = _r_level(ref) if not isinstance(ref, str) else ref
            _, codes, levels = f
            if ref not in levels:
                raise self.fail(f"{deparse(n)}: {ref!r} is not a level of "
                                f"{deparse(pos[0])} (levels: {', '.join(levels)})")  # fmt: skip
            j = levels.index(ref)
            order = [j, *[i for i in range(len(levels)) if i != j]]
            remap = np.array([order.index(i) for i in range(len(levels))])
            return ("factor", np.where(codes >= 0, remap[np.maximum(codes, 0)], -1),
                    tuple(levels[i] for i in order))  # fmt: skip
        if fname in ("as.numeric", "as.integer"):
            if isinstance(x, tuple):  # as.numeric(factor): the codes, 1-based
                _, codes, _ = x
                return np.where(codes >= 0, codes + 1.0, np.nan)
            v = self.numeric(x, n)
            return np.trunc(v) if fname == "as.integer" else v
        if fname == "poly":
            return self.poly(self.numeric(x, n), pos[1:], kw, n)
        if fname == "scale":
            v = self.numeric(x, n)
            center = kw.get("center")
            scl = kw.get("scale")
            do_c = True if center is None else bool(self.value(center))
            do_s = True if scl is None else bool(self.value(scl))
            ok = ~np.isnan(v)
            if do_c:
                v = v - v[ok].mean()
            if do_s:
                v = v / np.sqrt(np.sum(v[ok] ** 2) / (ok.sum() - 1))
            return v
        if fname == "round":
            dnode = kw.get("digits", pos[1] if len(pos) > 1 else None)
            digits = 0.0 if dnode is None else self.value(dnode)
            return _r_round(self.numeric(x, n), int(digits))
        v = self.numeric(x, n)
        with np.errstate(all="ignore"):
            out = _MATH[fname](v)
            if fname == "log" and (len(pos) > 1 or "base" in kw):
                bnode = kw["base"] if "base" in kw else pos[1]
                base = self.numeric(self.value(bnode), n)
                out = out / np.log(base)
        return out

    def to_factor(self, x: Any, kw: dict[str, Node], n: Node) -> tuple:
        if isinstance(x, tuple):
            f = x
        else:
            arr = np.asarray(x)
            f = ("factor", *r_factor(pd.Series(arr)))
        if "levels" in kw:
            lv = self.value(kw["levels"])
            want = [_r_level(v) if not isinstance(v, str) else v for v in np.atleast_1d(lv)]
            lab = self.labels(f)
            index = {v: i for i, v in enumerate(want)}
            codes = np.array([index.get(v, -1) if v is not None else -1 for v in lab])
            f = ("factor", codes, tuple(want))
        return f

    def poly(self, x: np.ndarray, pos: list[Node], kw: dict[str, Node], n: Node) -> Any:
        deg_node = kw.get("degree", pos[0] if pos else None)
        degree = 1 if deg_node is None else int(self.value(deg_node))
        raw_node = kw.get("raw", pos[1] if len(pos) > 1 else None)
        raw = False if raw_node is None else bool(self.value(raw_node))
        if np.isnan(x).any():
            raise self.fail(f"{deparse(n)}: missing values are not allowed in 'poly' (as R); "
                            "remove the rows or fill them in")  # fmt: skip
        if degree < 1:
            raise self.fail(f"{deparse(n)}: 'degree' must be at least 1")
        if raw:
            return ("matrix", np.column_stack([x**d for d in range(1, degree + 1)]))
        if degree >= len(np.unique(x)):
            raise self.fail(f"{deparse(n)}: 'degree' must be less than the number of unique "
                            f"points ({len(np.unique(x))})")  # fmt: skip
        xc = x - x.mean()
        Xp = np.vander(xc, degree + 1, increasing=True)
        Q, R = np.linalg.qr(Xp)
        Z = Q * np.diag(R)
        Z = Z / np.sqrt((Z**2).sum(axis=0))
        return ("matrix", Z[:, 1:])

    def variable(self, n: Node) -> _Value:
        v = self.value(n)
        if isinstance(v, tuple) and v[0] == "factor":
            return _Value(codes=v[1], levels=v[2])
        if isinstance(v, tuple) and v[0] == "matrix":
            m = v[1]
            return _Value(cols=m, suffixes=tuple(str(j + 1) for j in range(m.shape[1])))
        if isinstance(v, str):
            raise self.fail(f"{deparse(n)} is a string, not a variable")
        arr = np.asarray(v)
        if arr.ndim == 0:
            arr = np.full(self.k, float(arr))
        if arr.dtype == bool:  # a logical (I(x > 5)): a factor, as model.matrix codes it
            codes, levels = r_factor(pd.Series(arr))
            return _Value(codes=codes, levels=levels)
        return _Value(cols=arr.astype(float)[:, None])


_CONSTANTS: dict[str, Any] = {"TRUE": True, "T": True, "FALSE": False, "F": False, "pi": np.pi}


def _r_round(v: np.ndarray, digits: int) -> np.ndarray:
    return np.round(v, digits)  # IEC 60559 round half to even, as R >= 4.0.0


# ----------------------------------------------------------------------------- factors (R's factor())
def _r_level(x: Any) -> str:
    """A factor level as R prints it (``as.character``): 2.0 -> "2", True -> "TRUE"."""
    if isinstance(x, bool | np.bool_):
        return "TRUE" if x else "FALSE"
    if isinstance(x, int | np.integer):
        return str(int(x))
    if isinstance(x, float | np.floating):
        xf = float(x)
        if xf.is_integer() and abs(xf) < 1e15:
            return str(int(xf))
        return f"{xf:.15g}"
    return str(x)


def _is_categorical(s) -> bool:
    return bool(
        isinstance(s.dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(s.dtype)
        or pd.api.types.is_string_dtype(s.dtype)
        or pd.api.types.is_bool_dtype(s.dtype)
    )


def _r_levels(s, miss: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """The values (object array) and the levels of ``s`` in R's ``factor()`` order: pandas
    categorical order when categorical; else numbers numerically, logicals FALSE < TRUE,
    strings by code point (R's order in the C locale).  Missing values are no level."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.astype(object).to_numpy(), list(s.cat.categories)
    vals = s.to_numpy(dtype=object)
    uniq = {u for u, mm in zip(vals.tolist(), miss, strict=True) if not mm}
    if all(isinstance(u, bool | np.bool_) for u in uniq):
        return vals, sorted(uniq)
    if all(isinstance(u, int | float | np.integer | np.floating) for u in uniq):
        return vals, sorted(uniq, key=float)
    return vals, sorted(uniq, key=str)


def r_factor(s: Any) -> tuple[np.ndarray, tuple[str, ...]]:
    """0-based level codes and level labels of a column as R's ``factor()`` makes them.

    >>> r_factor(pd.Series([3, 1, 3, 10]))
    (array([1, 0, 1, 2]), ('1', '3', '10'))
    """
    s = pd.Series(s).reset_index(drop=True)
    miss = s.isna().to_numpy()
    vals, levels = _r_levels(s, miss)
    index = {lev: i for i, lev in enumerate(levels)}
    codes = np.array([-1 if m else index[v] for v, m in zip(vals.tolist(), miss, strict=True)])
    return codes, tuple(_r_level(lev) for lev in levels)


# ----------------------------------------------------------------------------- model.matrix
def model_matrix(
    formula: str, data: pd.DataFrame, na_ok: bool = False
) -> tuple[np.ndarray, tuple[str, ...]]:
    """R's ``model.matrix(formula, data)``: the matrix and its column names (the intercept
    named ``"intrcpt"``, as metafor names it).  ``na_ok``: missing values give NaN rows
    (R's ``na.pass``)."""
    if data is None:
        raise ValueError(f"mods={formula!r} names columns, but no data= was given")
    data = pd.DataFrame(data).reset_index(drop=True)
    tm = _terms(formula)
    ev = _Eval(data, formula, na_ok)
    values = [ev.variable(v) for v in tm.variables]
    names_v = [deparse(v) for v in tm.variables]
    k = len(data)
    cols: list[np.ndarray] = []
    names: list[str] = []
    if tm.intercept:
        cols.append(np.ones(k))
        names.append("intrcpt")
    earlier: list[frozenset[int]] = []
    # without an intercept, R codes the first factor of the first term holding one by
    # indicators (model.c); every other factor by R's TermCode rule below
    first_factor = None
    if not tm.intercept:
        first_factor = next(((ti, vi) for ti, t in enumerate(tm.terms) for vi in t
                             if values[vi].is_factor), None)  # fmt: skip
    for ti, term in enumerate(tm.terms):
        tset = frozenset(term)
        pieces: list[tuple[np.ndarray, list[str]]] = []
        for vi in term:
            val = values[vi]
            if val.is_factor:
                if len(val.levels) < 2:
                    raise ValueError(
                        f"mods={formula!r}: {names_v[vi]} has a single level "
                        f"({val.levels[0] if val.levels else 'none'}); a categorical moderator "
                        "needs at least two levels (R: 'contrasts can be applied only to "
                        "factors with 2 or more levels')"
                    )
                rest = tset - {vi}
                contrast = (not rest or any(rest <= e for e in earlier)) and (
                    first_factor != (ti, vi)
                )
                lv = val.levels
                use = range(1, len(lv)) if contrast else range(len(lv))
                codes = val.codes
                assert codes is not None
                mat = np.column_stack([np.where(codes < 0, np.nan, (codes == j).astype(float))
                                       for j in use]) if len(use) else np.empty((k, 0))  # fmt: skip
                pieces.append((mat, [f"{names_v[vi]}{lv[j]}" for j in use]))
            else:
                assert val.cols is not None
                sfx = [f"{names_v[vi]}{s}" for s in val.suffixes]
                pieces.append((val.cols, sfx))
        mat, labs = pieces[0][0], pieces[0][1]
        for nxt, nl in pieces[1:]:
            # the first variable varies fastest
            mat = np.column_stack([mat[:, i] * nxt[:, j] for j in range(nxt.shape[1])
                                   for i in range(mat.shape[1])])  # fmt: skip
            labs = [f"{a}:{b}" for b in nl for a in labs]
        for j in range(mat.shape[1]):
            cols.append(mat[:, j])
            names.append(labs[j])
        earlier.append(tset)
    if not cols:
        raise ValueError(f"mods={formula!r} leaves no coefficient in the model")
    return np.column_stack(cols), tuple(names)


def formula_columns(formula: str, data: pd.DataFrame | None) -> list[str]:
    """The columns of ``data`` a formula uses, in order of first use (for missing-value
    handling); names that are not columns are left to :func:`model_matrix` to report."""
    if data is None:
        return []
    try:
        tm = _terms(formula)
    except ValueError:
        return []
    out: list[str] = []

    def walk(n: Node) -> None:
        if n.kind == "name" and n.value in data.columns and n.value not in out:
            out.append(n.value)
        for a in n.args:
            walk(a[1] if isinstance(a, tuple) else a)

    for v in tm.variables:
        walk(v)
    return out


def split_formula(yi: Any, mods: Any) -> tuple[Any, Any]:
    """``yi`` given as a two-sided formula (``"yi ~ ablat + year"``, metafor's
    ``rma(yi ~ mods, vi)``): the column of the estimates and the one-sided moderator
    formula; anything else is returned as it is."""
    if not (isinstance(yi, str) and "~" in yi):
        return yi, mods
    lhs, rhs = yi.split("~", 1)
    lhs = lhs.strip()
    if not lhs:
        raise ValueError(
            f"yi={yi!r}: a one-sided formula; give the moderators as mods={yi!r} or name the "
            "estimates on the left ('yi ~ x')"
        )
    if mods is not None:
        raise ValueError(
            f"yi={yi!r} is a formula with moderators and mods= is given too; give the "
            "moderators once (metafor ignores mods= then)"
        )
    if not re.fullmatch(r"(?:[A-Za-z]|\.(?![0-9]))[\w.]*|`[^`]+`", lhs):
        raise ValueError(f"yi={yi!r}: the left side must name the column of the estimates")
    return lhs.strip("`"), "~" + rhs
