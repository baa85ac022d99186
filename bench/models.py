"""Several trained models side by side: their encoders timed interleaved on the same lay terms, beside the
Acc@1 their 04-align run measured and the minutes their training took (issue 22: MiniLM-L6-SAP, MPNet-base-SAP
and the MiniLM distilled from it, each in its INT8 format).

Usage (after `make paper`, `make mpnet-sap` and `make distill`):
    python bench/models.py minilm-l6-sap:gate-chosen mpnet-base-sap:gate-chosen minilm-l6-distill:gate-chosen \
        [--texts 2000] [--rounds 3] [--out results/bench/models]

A spec is ``params-name:format``; ``gate-chosen`` reads the format 03's gate chose on this CPU from the
model's 04-align result. Speeds from separate runs are never compared: every encoder here is timed in the
same rounds by lib.perf.timing's one harness (order rotating each round), on the same length-sorted batches
of each model's ``batch_size`` strings, so the ratio between rows is what to quote, with the CPU this run
names. Writes ``<out>.json`` (every number and the machine) and ``<out>.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
_here = ROOT / "bench"  # import lib.* from the checkout, never a bench/ file as a top-level module
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _here]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from lib import atomic, paths  # noqa: E402
from lib import params as params_mod  # noqa: E402
from lib.data import tiers  # noqa: E402
from lib.formats import load_encoder  # noqa: E402
from lib.params import GATE_CHOSEN, Params  # noqa: E402
from lib.perf.timing import interleaved_rounds, latency_batches, latency_summary, timed_batches  # noqa: E402
from lib.results.io import machine_info, read_result  # noqa: E402
from lib.results.tables import markdown  # noqa: E402

def parse_spec(spec: str) -> tuple[Params, str]:
    """``name:format`` -> (its params, format); a bad spec is refused naming it."""
    name, sep, fmt = spec.partition(":")
    if not sep or not name or not fmt:
        raise ValueError(f"model spec {spec!r} must read params-name:format (e.g. minilm-l6-sap:onnx-int8-dynamic)")
    return params_mod.load(name), fmt  # an unknown params name fails here, naming the file it looked for


def alignment_of(name: str, fmt: str) -> tuple[str, dict[str, Any]]:
    """The format (``gate-chosen`` resolved) and its 04-align Acc@1 / CI / MRR, or no scores when the model
    has no 04 result for it (the speed is still measured)."""
    try:
        metrics = read_result(name, "04-align").model_dump(mode="json", by_alias=True)["metrics"]
    except FileNotFoundError:
        if fmt == GATE_CHOSEN:
            raise FileNotFoundError(f"{name}:{GATE_CHOSEN} needs results/{name}/04-align.json: run "
                                    f"`make results/{name}/04-align.json` first") from None
        return fmt, {}
    if fmt == GATE_CHOSEN:
        chosen = metrics.get("gate_chosen") or {}  # {gate_chosen: format, source, chosen_on}
        if not chosen.get("gate_chosen"):
            raise ValueError(f"results/{name}/04-align.json records no gate-chosen format (its formats lack "
                             f"{GATE_CHOSEN})")
        fmt = chosen["gate_chosen"]
    s = metrics["formats"].get(fmt)
    if s is None:
        return fmt, {}
    return fmt, {"acc@1": s["acc@1"], "acc@1_ci": s.get("ci", {}).get("acc@1"), "mrr": s["mrr"],
                 "n_terms": s.get("n")}


def training_minutes(P: Params) -> float | None:
    """Minutes recorded by the trainer for a trained model (None for a hub model or an untrained one)."""
    from lib.train.trainer import training_record

    if P.training is None:
        return None
    try:
        return float(training_record(P)["minutes"])
    except FileNotFoundError:
        return None


def run(specs: list[str], n_texts: int, rounds: int) -> dict[str, Any]:
    """Time every spec's encoder interleaved on the first ``n_texts`` lay terms (of the first model's data) and
    collect its accuracy and training minutes; returns the record written to disk."""
    models = [parse_spec(s) for s in specs]
    first = models[0][0]
    data = tiers.alignment_data(first)
    texts = data.sources["source_text"].astype(str).tolist()[:n_texts]
    engines, rows = {}, []
    for P, fmt in models:
        name = P.name
        fmt, scores = alignment_of(name, fmt)
        key = f"{name}:{fmt}"
        enc = load_encoder(P, fmt)
        engines[key] = timed_batches(lambda b, e=enc: e.encode(b, progress=False), latency_batches(texts, P.batch_size))
        rows.append({"model": P.display_name or name, "params": name, "format": fmt, **scores,
                     "training_minutes": training_minutes(P)})
    timing = interleaved_rounds(engines, rounds=rounds, warmup_strings=2 * first.batch_size, desc="models")
    speed = latency_summary(timing)
    for row, key in zip(rows, engines):
        row["terms_per_s"] = float(speed.loc[key, "sentences_per_s"])
        row["rounds_s"] = [float(x) for x in speed.loc[key, "rounds_s"]]
    base = rows[0]["terms_per_s"]
    for row in rows:
        row["speed_vs_first"] = row["terms_per_s"] / base
    return {"rows": rows, "texts": len(texts), "rounds": rounds, "timing": timing.info, "machine": machine_info(),
            "command": "python bench/models.py " + " ".join(specs) + f" --texts {n_texts} --rounds {rounds}"}


def table(record: dict[str, Any]) -> pd.DataFrame:
    """The markdown table: one row per spec."""
    out = []
    for r in record["rows"]:
        ci = r.get("acc@1_ci")
        out.append({"model": r["model"], "format": r["format"], "Acc@1 (04)": r.get("acc@1"),
                    "95% CI": f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else None, "MRR": r.get("mrr"),
                    "training min": r["training_minutes"], "terms/s": r["terms_per_s"],
                    "speed vs first": r["speed_vs_first"]})
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("specs", nargs="+", help="params-name:format (format may be gate-chosen)")
    ap.add_argument("--texts", type=int, default=2000, help="lay terms timed per round")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median pass reported)")
    ap.add_argument("--out", type=Path, default=Path("results/bench/models"), help="stem of the .json and .md")
    args = ap.parse_args(argv)
    if args.texts < 1 or args.rounds < 1:
        ap.error("--texts and --rounds must be positive")
    record = run(args.specs, args.texts, args.rounds)
    out = args.out if args.out.is_absolute() else paths.ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out.with_suffix(".json"), json.dumps(record, indent=1, default=str))
    cpu = record["machine"]["cpu"]
    md = (f"{record['texts']} lay terms x {record['rounds']} interleaved rounds on {cpu.get('model', '?')} "
          f"({record['machine']['cpus']} cores; INT8 ISA {cpu.get('int8_isa', '?')}); `{record['command']}`\n\n"
          + markdown(table(record)) + "\n")
    atomic.write_text(out.with_suffix(".md"), md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
