"""The import-layers contract of ``lib`` (docs/ARCHITECTURE.md): no upward import, no cycle.

Every import counts, deferred ones inside functions included: a deferred import only postpones a
cycle, it does not remove it. Written over the AST (no dependency); ``LAYERS`` is the picture.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "lib"

# bottom -> top; a module may import modules of lower layers and of its own subpackage (acyclic)
LAYERS: list[tuple[str, ...]] = [
    ("lib.errors", "lib.paths", "lib.atomic", "lib.text", "lib.quiet"),
    ("lib.fingerprint", "lib.params", "lib.nbclean"),
    ("lib.results",),
    ("lib.data", "lib.evaluate", "lib.plots"),
    ("lib.engines",),
    ("lib.perf",),
    ("lib.compress",),
    ("lib.formats",),
    ("lib.search",),
    ("lib.gate", "lib.analysis", "lib.train"),
    ("lib.rerank",),
    ("lib.report",),
    ("lib.cli",),
    ("lib.__main__",),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(LIB.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in LIB.rglob("*.py") if "__pycache__" not in p.parts}


def imports(path: Path, known: set[str]) -> set[str]:
    """lib modules imported anywhere in ``path`` (``from lib.x import y`` counts lib.x.y if it is a module)."""
    name = module_name(path)
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.add(full if full in known else base)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m in known and m != name and m != "lib"}


def layer_of(mod: str) -> int:
    for i, layer in enumerate(LAYERS):
        if any(mod == top or mod.startswith(top + ".") for top in layer):
            return i
    raise KeyError(mod)


def unit_of(mod: str) -> str:
    """The subpackage (or top-level module) a module belongs to."""
    for layer in LAYERS:
        for top in layer:
            if mod == top or mod.startswith(top + "."):
                return top
    return mod


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: imports(p, set(mods)) for m, p in mods.items()}


def test_every_module_has_a_layer():
    missing = [m for m in modules() if m != "lib" and _no_layer(m)]
    assert missing == [], f"add these modules to LAYERS (and docs/ARCHITECTURE.md): {missing}"


def _no_layer(m: str) -> bool:
    try:
        layer_of(m)
        return False
    except KeyError:
        return True


def violations(g: dict[str, set[str]]) -> list[str]:
    """Edges that go up a layer, or sideways into another unit of the same layer."""
    bad = []
    for mod, deps in g.items():
        if mod == "lib" or _no_layer(mod):
            continue
        for dep in deps:
            if _no_layer(dep):
                continue
            same_unit = unit_of(dep) == unit_of(mod)
            if layer_of(dep) > layer_of(mod) or (layer_of(dep) == layer_of(mod) and not same_unit):
                bad.append(f"{mod} -> {dep}")
    return sorted(bad)


def cycles(g: dict[str, set[str]]) -> list[str]:
    colour: dict[str, int] = defaultdict(int)
    stack: list[str] = []
    found: list[str] = []

    def visit(m: str) -> None:
        colour[m] = 1
        stack.append(m)
        for d in sorted(g.get(m, ())):
            if colour[d] == 1:
                found.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif colour[d] == 0:
                visit(d)
        stack.pop()
        colour[m] = 2

    for m in sorted(g):
        if colour[m] == 0:
            visit(m)
    return found


def test_no_upward_or_sideways_import():
    bad = violations(graph())
    assert bad == [], "imports against the layers:\n" + "\n".join(bad)


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_the_contract_can_fail():
    """An upward edge, a sideways edge and a cycle inside one subpackage are all reported."""
    fake = {"lib.paths": {"lib.report"}, "lib.report": set(), "lib.data.a": {"lib.evaluate.x"},
            "lib.evaluate.x": set(), "lib.compress.a": {"lib.compress.b"}, "lib.compress.b": {"lib.compress.a"}}
    assert violations(fake) == ["lib.data.a -> lib.evaluate.x", "lib.paths -> lib.report"]
    assert cycles(fake) == ["lib.compress.a -> lib.compress.b -> lib.compress.a"]


@pytest.mark.parametrize("bench_import", ["from bench", "import bench"])
def test_lib_never_imports_the_benchmark(bench_import):
    offenders = [str(p) for p in LIB.rglob("*.py")
                 if any(bench_import + sep in p.read_text(encoding="utf-8") for sep in (".", " "))]
    assert offenders == []
