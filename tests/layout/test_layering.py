"""The package's shape, enforced: layers, no cycles, lazy imports only for heavy extras.

Layers, lowest first (a module may import its own layer's package and lower layers)::

    _core -> effects | engine -> models -> analysis -> plots | parity -> reproduce -> top

``top`` is the facade and the tools at the package root (``__init__``, ``cli``, ``bench``,
``simulate``, ``demo``, ``testing``, ``strategies``).  Packages on one layer (``effects``
and ``engine``; ``plots`` and ``parity``) do not import each other.  Imports inside
functions are kept only for optional heavy dependencies (matplotlib, rpy2, numba, dask
...), each with a comment; no private name (``_x``) is imported across packages.
Imports under ``if TYPE_CHECKING:`` are annotations only and are not counted.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import metaparity

PKG = Path(metaparity.__file__).resolve().parent
LAYERS = {
    "_core": 0, "effects": 1, "engine": 1, "models": 2, "analysis": 3,
    "plots": 4, "parity": 4, "reproduce": 5, "": 6,
}  # fmt: skip
#: optional heavy dependencies that may be imported inside a function
LAZY_OK = ("matplotlib", "rpy2", "numba", "llvmlite", "dask", "distributed", "pymare",
           "statsmodels", "hypothesis", "mpmath", "metaparity.engine.numba")  # fmt: skip


@dataclass(frozen=True)
class Imp:
    module: str  # importing module (dotted)
    target: str  # imported module (dotted; for "from a import b": a, and a.b if a module)
    names: tuple[str, ...]
    line: int
    lazy: bool  # inside a function
    commented: bool


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        rel = p.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _package(mod: str) -> str:
    """Top-level subpackage of a metaparity module ("" for the package root)."""
    parts = mod.split(".")
    if len(parts) == 1:
        return ""
    if (
        f"metaparity.{parts[1]}" in MODULES
        and MODULES[f"metaparity.{parts[1]}"].name == "__init__.py"
    ):
        return parts[1]
    return ""


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(mod: str, path: Path) -> list[Imp]:
    src = path.read_text()
    lines = src.splitlines()
    tree = ast.parse(src)
    out: list[Imp] = []
    is_pkg = path.name == "__init__.py"

    def resolve(node: ast.ImportFrom) -> str:
        if node.level == 0:
            return node.module or ""
        base = mod.split(".") if is_pkg else mod.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))

    def note(node: ast.stmt, lazy: bool) -> None:
        text = " ".join(lines[node.lineno - 2 : node.end_lineno])
        commented = "#" in text
        if isinstance(node, ast.Import):
            for a in node.names:
                out.append(Imp(mod, a.name, (), node.lineno, lazy, commented))
        else:
            target = resolve(node)
            names = tuple(a.name for a in node.names)
            out.append(Imp(mod, target, names, node.lineno, lazy, commented))
            for n in names:
                if f"{target}.{n}" in MODULES:
                    out.append(Imp(mod, f"{target}.{n}", (), node.lineno, lazy, commented))

    def walk(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                note(child, lazy)
            inner = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            walk(child, inner)

    walk(tree, False)
    return out


IMPORTS = [i for m, p in MODULES.items() for i in _imports(m, p)]
INTERNAL = [i for i in IMPORTS if i.target == "metaparity" or i.target.startswith("metaparity.")]


def test_modules_found():
    assert "metaparity.models.uni" in MODULES and len(MODULES) > 40


def test_no_upward_or_sideways_import():
    bad = []
    for i in INTERNAL:
        src, dst = _package(i.module), _package(i.target)
        if i.target == "metaparity":
            dst = ""
        if src == dst:
            continue
        if LAYERS[dst] > LAYERS[src] or (LAYERS[dst] == LAYERS[src]):
            bad.append(f"{i.module}:{i.line} imports {i.target} ({dst or 'top'} above or beside "
                       f"{src or 'top'})")  # fmt: skip
    assert not bad, "layering violations:\n" + "\n".join(bad)


def test_no_import_cycle():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for i in INTERNAL:
        if i.target in MODULES and i.target != i.module:
            graph[i.module].add(i.target)
    # a package's __init__ importing its own submodules is not a cycle of the layout
    for m in MODULES:
        graph[m] = {t for t in graph[m] if not m.startswith(t + ".") or t == "metaparity"}
        graph[m] = {t for t in graph[m] if t != "metaparity" or m == "metaparity"}
    seen: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        seen[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if seen.get(t) == 1:
                cycles.append(stack[stack.index(t) :] + [t])
            elif t not in seen:
                visit(t)
        stack.pop()
        seen[m] = 2

    for m in sorted(graph):
        if m not in seen:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_imports_inside_functions_only_for_heavy_optional_dependencies():
    bad = [
        f"{i.module}:{i.line} imports {i.target} inside a function"
        for i in IMPORTS
        if i.lazy and not any(i.target == d or i.target.startswith(d + ".") for d in LAZY_OK)
    ]
    assert not bad, "\n".join(bad)
    silent = [f"{i.module}:{i.line} ({i.target})" for i in IMPORTS if i.lazy and not i.commented]
    assert not silent, "lazy imports need a comment saying why:\n" + "\n".join(silent)


def test_no_private_name_crosses_a_package_boundary():
    bad = []
    for i in INTERNAL:
        src, dst = _package(i.module), _package(i.target)
        if i.target == "metaparity" or src == dst:
            continue
        private_mod = any(p.startswith("_") and p != "_core" for p in i.target.split(".")[1:])
        private_names = [n for n in i.names if n.startswith("_") and n != "__version__"]
        if private_mod or private_names:
            bad.append(f"{i.module}:{i.line} imports {i.target} {private_names or ''}")
    assert not bad, "\n".join(bad)


def test_facade_exports_exactly_the_public_api():
    exported = {
        n
        for n, v in vars(metaparity).items()
        if not n.startswith(("_", "@")) and not isinstance(v, ModuleType)
    }
    assert set(metaparity.__all__) - {"__version__"} == exported
    assert metaparity.__all__ == PUBLIC_API


PUBLIC_API = [
    "escalc", "MEASURES", "study_labels", "study_sizes", "vcalc", "blsplit",
    "rma", "rma_batch", "rma_mods", "rma_glmm", "rma_mh", "rma_mh_batch", "rma_peto", "rma_mv",
    "ModelResult", "RmaResult", "RmaModsResult", "BatchResult", "DaskBatchResult", "GlmmResult",
    "MhResult", "PetoResult", "MvResult", "RobustResult", "AnovaWald", "AnovaLRT",
    "Prediction", "ConfInt",
    "leave1out", "leave1out_batch", "influence", "rstandard", "rstudent", "cumul", "baujat",
    "cooks_distance", "dfbetas", "hatvalues", "blup", "ranef",
    "ranktest", "regtest", "trimfill", "fsn", "hc", "HcResult",
    "robust", "anova", "permutest", "PermutestResult", "vif", "VifResult",
    "forest", "funnel", "radial", "galbraith", "labbe", "baujat_plot", "leave1out_plot", "profile_plot",
    "regplot",
    "set_metafor_version", "get_metafor_version", "metafor_version",
    "__version__",
]  # fmt: skip
