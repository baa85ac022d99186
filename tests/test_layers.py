"""The import-layers contract of ``lib`` (tools/layers.py, drawn in docs/ARCHITECTURE.md): no upward import,
no cycle.

Every import counts, deferred ones inside functions included: a deferred import only postpones a
cycle, it does not remove it. Written over the AST (no dependency); ``LAYERS`` is the contract.
"""

from __future__ import annotations

import ast
import importlib.util
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("layers", ROOT / "tools" / "layers.py")
layers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(layers)

LIB, LAYERS, module_name, modules, graph = layers.LIB, layers.LAYERS, layers.module_name, layers.modules, layers.graph
layer_of = layers.layer_of


def unit_of(mod: str) -> str:
    """The subpackage (or top-level module) a module belongs to."""
    return layers.unit_of(mod) or mod


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


def test_code_keys_are_declared_and_no_module_names_source_files_elsewhere():
    """A trained model's key digests the source of code above the module that resolves it (lib.engines.hub
    digests lib/train): that dependency by content is declared in one table, ``lib.fingerprint.CODE_KEYS``,
    whose files must exist and have a layer; no other module names a lib source file in a string (a
    dependency this test could not see)."""
    from lib.fingerprint import CODE_KEYS

    for key, files in CODE_KEYS.items():
        for rel in files:
            path = LIB.parent / rel
            assert path.exists(), f"CODE_KEYS[{key!r}] names {rel}, which does not exist"
            layer_of(module_name(path))
    hidden = []
    for path in LIB.rglob("*.py"):
        if path.name == "fingerprint.py" and path.parent == LIB:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and node.value.startswith("lib/") and node.value.endswith(".py"):
                hidden.append(f"{module_name(path)}: {node.value!r}")
    assert hidden == [], f"source files named outside lib.fingerprint.CODE_KEYS: {hidden}"


def test_the_architecture_document_shows_the_real_import_graph():
    """docs/ARCHITECTURE.md's layer picture is the one drawn from the code (`python tools/layers.py --write`)."""
    assert layers.doc_block() == layers.render(), "stale layer picture: run `python tools/layers.py --write`"
