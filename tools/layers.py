"""The layers of ``lib``: the contract (which unit sits on which layer) and the picture drawn from the
real import graph, for docs/ARCHITECTURE.md.

Why generated: a hand-drawn picture drifted from the code (``report`` was drawn at layer 11 while the
result writer it held sat at 5). Here the picture lists, for every unit, the lower units it really
imports (read from every module's syntax tree, deferred imports included); tests/test_layers.py checks
the contract and that the document shows this picture. Standard library only.

    python tools/layers.py            # print the picture
    python tools/layers.py --write    # rewrite the block between the markers in docs/ARCHITECTURE.md
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "lib"
DOC = ROOT / "docs" / "ARCHITECTURE.md"
BEGIN, END = "<!-- layers:begin (tools/layers.py --write) -->", "<!-- layers:end -->"

# bottom -> top: unit -> what it holds. A module may import modules of lower layers and of its own
# subpackage (acyclically); adding a module means placing its unit here.
LAYERS: list[dict[str, str]] = [
    {"lib.errors": "errors naming file, line and field", "lib.paths": "the one folder map",
     "lib.atomic": "atomic writes; load, else rebuild", "lib.text": "text normalisation",
     "lib.machine": "the CPU and its INT8-relevant ISA flags", "lib.quiet": "known third-party messages silenced"},
    {"lib.fingerprint": "content digests, model fingerprints, code keys", "lib.params": "the params schema",
     "lib.nbclean": "notebooks saved clean (Jupyter pre-save hook)"},
    {"lib.results": "typed result records, their files, the one table writer"},
    {"lib.data": "loaders, tiers, pinned public files, the sharded store",
     "lib.evaluate": "metrics on arrays, the gate rule", "lib.plots": "one function per figure"},
    {"lib.engines": "model folders and identity; PyTorch and ONNX Runtime engines; embedding cache"},
    {"lib.perf": "the one timing harness; memory, energy, size, GEMM ceiling, op profile"},
    {"lib.compress": "export, calibration, one static and one dynamic INT8 recipe, fallback, Olive"},
    {"lib.formats": "format -> artifact builder + engine"},
    {"lib.search": "exact top-k, alignment tables, store partitions, Dask"},
    {"lib.evaluators": "STS, alignment and agreement evaluators over encoders"},
    {"lib.gate": "the 03 quality gate", "lib.analysis": "outliers, ratings, DEFT runs, general semantics",
     "lib.train": "self-alignment training and its study"},
    {"lib.rerank": "cross-encoder rerankers"},
    {"lib.report": "the paper's tables, the summary, README sections"},
    {"lib.cli": "`python -m lib align`"},
    {"lib.__main__": "`python -m lib`"},
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


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: imports(p, set(mods)) for m, p in mods.items()}


def unit_of(mod: str) -> str | None:
    for layer in LAYERS:
        for top in layer:
            if mod == top or mod.startswith(top + "."):
                return top
    return None


def layer_of(mod: str) -> int:
    for i, layer in enumerate(LAYERS):
        if any(mod == top or mod.startswith(top + ".") for top in layer):
            return i
    raise KeyError(mod)


def unit_imports(g: dict[str, set[str]] | None = None) -> dict[str, set[str]]:
    """For each unit, the other units its modules import."""
    g = graph() if g is None else g
    out: dict[str, set[str]] = {u: set() for layer in LAYERS for u in layer}
    for mod, deps in g.items():
        u = unit_of(mod)
        if u is None:
            continue
        out[u] |= {d for d in (unit_of(x) for x in deps) if d is not None and d != u}
    return out


def _short(unit: str) -> str:
    return unit.removeprefix("lib.")


def render(g: dict[str, set[str]] | None = None) -> str:
    """The picture: one line per unit, top layer first, with what it holds and what it imports."""
    uses = unit_imports(g)
    lines = []
    for i in range(len(LAYERS) - 1, -1, -1):
        for j, (unit, what) in enumerate(LAYERS[i].items()):
            deps = ", ".join(_short(d) for d in sorted(uses[unit], key=lambda d: (-layer_of(d), d)))
            lines.append(f"{i if j == 0 else '':>3}  {_short(unit):<12} {what}" + (f"  <- {deps}" if deps else ""))
    return "```\n" + "\n".join(lines) + "\n```"


def write_doc() -> None:
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n" + render() + "\n" + text[end:], encoding="utf-8")


def doc_block() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text[text.index(BEGIN) + len(BEGIN):text.index(END)].strip()


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_doc()
    print(render())
