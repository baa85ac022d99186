"""Regenerate the README's measured sections from result files (``make readme``): never typed by hand.

Sections are delimited by ``<!-- NAME:start -->`` / ``<!-- NAME:end -->`` markers:
- ``runtimes``: wall time of each executed notebook (papermill's recorded duration) per params file;
- ``bench``: the benchmark table written by ``make bench`` (results/bench/bench.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from lib import atomic, paths


def replace_section(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"README has no <!-- {name}:start --> ... <!-- {name}:end --> markers")
    return pattern.sub(lambda m: m.group(1) + body.rstrip() + "\n" + m.group(2), text)


def runtimes_table(build: Path) -> str:
    """Markdown table of notebook wall times from the executed copies in ``build/``."""
    rows = []
    for nb in sorted(build.glob("*/*.ipynb")):
        meta = json.loads(nb.read_text(encoding="utf-8")).get("metadata", {}).get("papermill", {})
        if meta.get("duration") is not None:
            rows.append((nb.parent.name, nb.stem, float(meta["duration"]), meta.get("end_time", "")[:19]))
    if not rows:
        return "(no executed notebooks in build/ yet: run `make paper`)"
    total: dict[str, float] = {}
    lines = ["| params | notebook | wall time (s) | finished (UTC) |", "|---|---|---:|---|"]
    for p, stem, d, end in rows:
        lines.append(f"| {p} | {stem} | {d:.0f} | {end} |")
        total[p] = total.get(p, 0.0) + d
    lines += [f"| {p} | **all notebooks** | **{t:.0f}** | |" for p, t in total.items()]
    return "\n".join(lines)


def update(readme: Path = paths.ROOT / "README.md") -> None:
    text = readme.read_text(encoding="utf-8")
    text = replace_section(text, "runtimes", runtimes_table(paths.ROOT / "build"))
    bench = paths.results_dir() / "bench" / "bench.md"
    if "<!-- bench:start -->" in text:
        text = replace_section(text, "bench", bench.read_text(encoding="utf-8") if bench.exists()
                               else "(run `make bench` to fill this table)")
    atomic.write_text(readme, text)


if __name__ == "__main__":
    update()
