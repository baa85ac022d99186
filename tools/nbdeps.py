"""The lib files a notebook's results depend on: the modules its code imports, and theirs, transitively.

Why: the Makefile used to make every result depend on every file under lib/, so editing the benchmark
or a figure made ~80 minutes of results stale. This reads the notebook's code cells and follows lib's
imports (deferred ones included) with the standard library only, so make can call it before any venv
exists. ``lib/plots`` is left out on purpose: figures are drawn from results, never change a number,
and a figure edit should not rerun an alignment (redraw one with ``make -B results/<model>/<nb>.json``).

    python tools/nbdeps.py 04-align      # prints the lib files, one per line
    python tools/nbdeps.py --code-key training   # the files a trained model's key digests
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXCLUDED = ("lib.plots",)


def module_file(mod: str) -> Path | None:
    base = ROOT / Path(*mod.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.exists():
            return cand
    return None


def imported_modules(source: str) -> set[str]:
    """lib modules named by the imports of a piece of code (``from lib.x import y`` also tries lib.x.y)."""
    out: set[str] = set()
    try:
        tree = ast.parse(source)
    except SyntaxError:  # notebook magics: keep the lines that parse
        tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "lib":
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "lib")
    return {m for m in out if module_file(m) is not None}


def closure(mods: set[str]) -> set[str]:
    """Every lib module reachable from ``mods`` (parents' ``__init__`` included: Python runs them)."""
    seen: set[str] = set()
    todo = list(mods)
    while todo:
        m = todo.pop()
        if m in seen or m.startswith(EXCLUDED):
            continue
        seen.add(m)
        parts = m.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        todo.extend(imported_modules(module_file(m).read_text(encoding="utf-8")))  # type: ignore[union-attr]
    return seen


def notebook_dependencies(stem: str) -> list[str]:
    """Sorted lib file paths (relative to the project root) that ``notebooks/<stem>.ipynb`` depends on."""
    nb = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8"))
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    files = {module_file(m).relative_to(ROOT).as_posix() for m in closure(imported_modules(code))}  # type: ignore[union-attr]
    data = {p.relative_to(ROOT).as_posix() for f in files for p in (ROOT / f).parent.glob("*.yaml")}
    return sorted(files | data)


def code_key_files(key: str) -> list[str]:
    """The source files of ``lib.fingerprint.CODE_KEYS[key]`` (read from the module's syntax tree, so make
    can call it before any venv exists): the code a trained model's key digests."""
    tree = ast.parse((ROOT / "lib" / "fingerprint.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "CODE_KEYS":
            return list(ast.literal_eval(node.value)[key])
    raise KeyError("CODE_KEYS not found in lib/fingerprint.py")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--code-key"]:
        print("\n".join(code_key_files(sys.argv[2])))
    else:
        for stem in sys.argv[1:]:
            print("\n".join(notebook_dependencies(stem)))
