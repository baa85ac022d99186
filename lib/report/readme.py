"""Regenerate the README's measured sections from result files (``make readme``): never typed by hand.

Sections are delimited by ``<!-- NAME:start -->`` / ``<!-- NAME:end -->`` markers:
- ``runtimes``: wall time of each notebook of the latest `make paper` (papermill's recorded duration), one
  run only (:func:`last_paper_run`), each model's total and the run's span;
- ``bench``: the benchmark table written by ``make bench`` (results/bench/bench.md);
- ``rerank``: the tables of the latest ``make rerank`` (results/<model>/12-rerank.*), with its run's date and CPU.
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


# The notebooks of `make paper` per model, and the one that assembles them (build/paper/09-paper.ipynb)
PAPER_NOTEBOOKS = ("01-preprocess", "02-optimize", "03-quantize", "04-align", "05-deft-task1-edrm",
                   "06-deft-task2-map", "07-activation-outliers", "08-heatmaps")
RUN_GAP_S = 30 * 60  # executed notebooks further apart than this belong to different runs


def _executed(build: Path) -> list[dict]:
    """Papermill's record (params folder, notebook, start, end, duration) of every executed notebook."""
    from datetime import datetime

    rows = []
    for nb in sorted(build.glob("*/*.ipynb")):
        meta = json.loads(nb.read_text(encoding="utf-8")).get("metadata", {}).get("papermill", {})
        if meta.get("duration") is None or not meta.get("start_time") or not meta.get("end_time"):
            continue
        rows.append({"params": nb.parent.name, "notebook": nb.stem, "duration": float(meta["duration"]),
                     "start": datetime.fromisoformat(meta["start_time"]),
                     "end": datetime.fromisoformat(meta["end_time"])})
    return rows


def last_paper_run(build: Path) -> list[dict]:
    """The executed notebooks of the latest `make paper`: 09-paper's run and every paper notebook that ended
    before it without a gap over :data:`RUN_GAP_S` (so notebooks of an older run, or of `make scale` /
    `train-study` / `rerank`, never enter its table). Empty when 09-paper has not run."""
    rows = _executed(build)
    paper = [r for r in rows if r["notebook"] == "09-paper"]
    if not paper:
        return []
    last = max(paper, key=lambda r: r["end"])
    run = [r for r in rows if r["notebook"] in PAPER_NOTEBOOKS and r["end"] <= last["start"]]
    run.sort(key=lambda r: r["start"])
    kept, edge = [last], last["start"]
    for r in reversed(run):  # walk back while the run is contiguous
        if (edge - r["end"]).total_seconds() > RUN_GAP_S:
            break
        kept.append(r)
        edge = min(edge, r["start"])
    return sorted(kept, key=lambda r: r["start"])


def runtimes_table(build: Path) -> str:
    """Markdown table of the latest `make paper`'s notebook wall times (papermill's record), each model's
    total, and the run's span from its first notebook's start to 09-paper's end (training, `make setup` and
    model assembly run before the first notebook: not in the span). A model with a notebook missing from
    that run is marked incomplete rather than summed with an older run's numbers."""
    run = last_paper_run(build)
    if not run:
        return "(no `make paper` run in build/ yet: run `make paper`, then `make readme`)"
    lines = ["| params | notebook | wall time (s) | finished (UTC) |", "|---|---|---:|---|"]
    lines += [f"| {r['params']} | {r['notebook']} | {r['duration']:.0f} | {r['end'].isoformat()[:19]} |" for r in run]
    for p in dict.fromkeys(r["params"] for r in run if r["notebook"] != "09-paper"):
        have = {r["notebook"]: r["duration"] for r in run if r["params"] == p}
        missing = [nb for nb in PAPER_NOTEBOOKS if nb not in have]
        note = f" (incomplete: {', '.join(missing)} not in this run)" if missing else ""
        total = f"**{sum(have.values()):.0f}**{note}"
        lines.append(f"| {p} | **all notebooks** | {total} | |")
    span = (run[-1]["end"] - run[0]["start"]).total_seconds()
    lines.append(f"| all | **first notebook start -> 09-paper end** | **{span:.0f}** ({span / 60:.1f} min) | |")
    return "\n".join(lines)


# (table stem, heading, the columns the README shows: the CSV keeps every column)
RERANK_TABLES = (
    ("accuracy", "Acc@1 / MRR within C (all lay terms, 95% CI; residual scores; f alone in the CSV)",
     ["system", "format", "candidates", "acc@1", "acc@1_lo", "acc@1_hi", "mrr", "ceiling_acc@C", "wins", "losses",
      "mcnemar_p", "weight", "terms_per_s", "scored"]),
    ("pipeline", "The whole pipeline: definitions as the retriever's targets, then the deployed reranker",
     ["system", "candidates", "acc@1", "acc@1_lo", "acc@1_hi", "mrr", "wins", "losses", "mcnemar_p", "weight"]),
    ("training", "Training runs (learning rate and step chosen on the dev queries)",
     ["variant", "learning_rate", "steps", "stopped_by", "best_step", "best_dev_acc@1", "minutes", "chosen"]),
    ("gate", "INT8 gate against ONNX FP32",
     ["system", "format", "candidates", "passed", "acc@1", "fp32_acc@1", "acc1_drop", "top1_agreement",
      "terms_per_s", "chosen"]),
    ("order", "Order sensitivity (f alone, ONNX FP32)",
     ["system", "candidates", "terms", "trials", "acc1_sd", "acc1_range", "top1_unchanged", "mean_abs_diff"]),
    ("speed", "Speed (interleaved terms/s; ratios)",
     ["format", "candidates", "base", "shared-prefix", "paper", "shared-prefix / base", "paper / base"]),
)


def rerank_section(results: Path) -> str:
    """The README's *Reranking* numbers: the newest ``results/*/12-rerank.json`` (``make rerank``) with its date,
    CPU and retriever, the pipeline's McNemar against the retriever and its end-to-end speed, and the accuracy
    (residual rows), training, gate, order and speed tables in the columns a reader needs (the CSVs beside the
    JSON keep every column). Nothing is typed by hand: a missing run says which target fills it."""
    import pandas as pd

    from lib.results.tables import markdown

    runs = sorted(results.glob("*/12-rerank.json"), key=lambda q: q.stat().st_mtime)
    if not runs:
        return "(no `make rerank` run in results/ yet: run `make rerank`, then `make readme`)"
    folder = runs[-1].parent
    record = json.loads(runs[-1].read_text(encoding="utf-8"))
    m, cpu = record["metrics"], record.get("machine", {}).get("cpu", {})
    mc, e2e = m.get("mcnemar", {}), m.get("end_to_end", {})
    lines = [f"From `results/{folder.name}/12-rerank.json` ({record['created'][:16]} UTC; "
             f"{cpu.get('model', 'CPU ?')}, {record.get('machine', {}).get('cpus', '?')} cores; "
             f"retriever {m.get('retriever')}, miner {m.get('miner')}).", ""]
    if m.get("chosen"):
        lines += [f"* **Chosen on the dev queries** (never lay terms): {m['chosen']}, scored at every C and in INT8; "
                  f"the other systems at C = {m.get('end_to_end', {}).get('candidates', '?')} in ONNX FP32."]
    if mc:
        lines += [f"* **Deployed pipeline** {mc.get('pipeline')}: Acc@1 {mc.get('acc@1', float('nan')):.4f} vs the "
                  f"retriever's {mc.get('retriever_acc@1', float('nan')):.4f}; McNemar {mc.get('only_a')} vs "
                  f"{mc.get('only_b')} terms, p = {mc.get('p', float('nan')):.3g}."]
    if e2e:
        lines += [f"* **End to end** (interleaved): {e2e.get('retrieve+rerank', float('nan')):.1f} terms/s with the "
                  f"reranker vs {e2e.get('retrieve', float('nan')):.1f} for retrieval alone."]
    whole = m.get("definitions_pipeline") or {}
    if whole:
        vs, e = whole["vs_names_retriever"], whole["end_to_end"]
        lines += [f"* **Whole pipeline** (definitions as targets + {e.get('system')} at C = {e.get('candidates')}): "
                  f"{e.get('retrieve+rerank', float('nan')):.1f} terms/s end to end vs "
                  f"{e.get('retrieve', float('nan')):.1f} for its retrieval alone; McNemar against the names-only "
                  f"retriever {vs.get('only_a')} vs {vs.get('only_b')} terms, p = {vs.get('p', float('nan')):.3g}."]
    for stem, title, columns in RERANK_TABLES:
        table = folder / f"12-rerank.{stem}.csv"
        if not table.exists():
            continue
        df = pd.read_csv(table)
        if stem == "accuracy" and "score" in df:
            df = df[df["score"] != "f alone"]
        lines += ["", f"**{title}**", "", markdown(df[[c for c in columns if c in df]].round(4)).rstrip("\n")]
    return "\n".join(lines)


def update(readme: Path = paths.ROOT / "README.md") -> None:
    text = readme.read_text(encoding="utf-8")
    text = replace_section(text, "runtimes", runtimes_table(paths.ROOT / "build"))
    bench = paths.results_dir() / "bench" / "bench.md"
    if "<!-- bench:start -->" in text:
        text = replace_section(text, "bench", bench.read_text(encoding="utf-8") if bench.exists()
                               else "(run `make bench` to fill this table)")
    if "<!-- rerank:start -->" in text:
        text = replace_section(text, "rerank", rerank_section(paths.results_dir()))
    atomic.write_text(readme, text)


if __name__ == "__main__":
    update()
