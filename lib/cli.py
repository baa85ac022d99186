"""Command line for practitioners: align a lay lexicon to a terminology of any size.

    python -m lib align --lexicon LEX.csv --targets MRCONSO.RRF --params minilm-l6 \\
        [--scheduler tcp://host:8786] [--workers N] [--format onnx-int8-dynamic] [--out DIR]

Targets are an MRCONSO file (streamed once into a sharded store under the cache, keyed by the file's
content and the filters, so a rerun reuses it and the vectors already computed) or a store folder
(:mod:`lib.data.store`). The search is the scale-out path (:mod:`lib.search.distributed`): a
LocalCluster of ``--workers`` 1-thread workers (default: one per core), an existing scheduler with
``--scheduler``, or ``--workers 0`` for this process alone; the results are the same.

Writes ``align.main.csv`` (best target per source), ``align.extensive.csv`` (top-k with every target
column) and ``align.json`` (settings, counts, timings, Acc@k when the lexicon has gold concepts) into
``--out``, atomically. Outputs computed from licensed inputs (UMLS, the LEX) carry their text row by
row: keep them out of anything you publish.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Sequence

import pandas as pd

from lib import atomic, paths, results
from lib.data import store as stores
from lib.fingerprint import file_digest, settings_key
from lib.params import Params
from lib.report.tables import markdown
from lib.data.lexicon import read_lexicon
from lib.data.textio import open_text
from lib.errors import DataFormatError
from lib.search import distributed, partitions
from lib import params
from lib.evaluate.retrieval import retrieval_metrics
from lib.search.align import store_tables

PLAIN_GOLD = "gold"  # optional column of a plain lexicon CSV: the gold concept id(s), ';'-separated


def read_sources(path: str | Path) -> tuple[pd.DataFrame, str | None]:
    """Lay terms from the paper's LEX file (``Terme`` ... columns; gold = its ``CUI`` column if any) or
    from a plain CSV whose first column holds the terms (gold = a ``gold`` column if any, several ids
    separated by ';'). Returns (sources with ``source_id``/``source_text``, the gold column or None)."""

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: lexicon not found")
    with open_text(path) as f:
        header = f.readline()
    try:  # sniffed on the header only, among these three (a one-column file has none of them)
        sep = csv.Sniffer().sniff(header.rstrip("\r\n"), delimiters=",;\t").delimiter
    except csv.Error:
        sep = ","
    if "Terme" in header:
        df = read_lexicon(path)
        if "CUI" in df.columns:
            df["gold_cui"] = df["CUI"]
            return df, "gold_cui"
        return df, None
    with open_text(path) as f:
        df = pd.read_csv(f, dtype=str, keep_default_na=False, sep=sep, skip_blank_lines=False)
    df.index = df.index + 2  # the line of each row (header on line 1)
    df = df[(df != "").any(axis=1)]  # empty lines are skipped, a blank term is an error
    if df.empty:
        raise DataFormatError(path, "no data rows (expected a header line, then one term per line)")
    terms = df.iloc[:, 0].str.strip()
    if (terms == "").any():
        raise DataFormatError(path, "empty term", line=int(terms.index[(terms == "").to_numpy().argmax()]),
                              field=str(df.columns[0]))
    out = pd.DataFrame({"source_id": [f"ROW:{i}" for i in df.index], "source_text": terms.to_numpy()})
    if PLAIN_GOLD in df.columns:
        out["gold"] = [tuple(x.strip() for x in g.split(";") if x.strip()) for g in df[PLAIN_GOLD].to_numpy()]
        return out, "gold"
    return out, None


def mrconso_store(path: Path, P: Params) -> stores.Store:
    """The store of an MRCONSO file's rows kept by the params filters, written on first use under
    ``<cache>/stores/`` (resumable) and found again by the file's content and the filters."""
    filters = {"languages": sorted(P.umls_languages), "sources": sorted(P.umls_sources or []),
               "partition_rows": P.partition_rows}
    folder = paths.cache_dir() / "stores" / f"mrconso-{file_digest(path)[:16]}-{settings_key(**filters)}"
    try:
        return stores.open_store(folder)
    except FileNotFoundError:
        stores.write_mrconso_store(path, folder, P.umls_languages, P.umls_sources, partition_rows=P.partition_rows)
        return stores.open_store(folder)


def target_store(targets: Path, P: Params) -> stores.Store:
    """A store folder as it is, or the store of an MRCONSO file (:func:`mrconso_store`)."""
    if targets.is_dir():
        return stores.open_store(targets)
    if not targets.exists():
        raise FileNotFoundError(f"{targets}: no such MRCONSO file or store folder")
    return mrconso_store(targets, P)


def search(P: Params, fmt: str, store: stores.Store, texts: list[str], k: int, workers: int | None,
           scheduler: str | None) -> tuple:
    """(scores, ids, timings): on a Dask cluster, or in this process when ``workers == 0``."""

    spec = distributed.EngineSpec.for_format(P, fmt)
    if workers == 0 and not scheduler:
        encoder = spec.build(P.threads)
        key = partitions.vector_key(encoder.fingerprint, P.fixed_batch_rows)
        t0 = time.perf_counter()
        runs = partitions.embed_store(store, encoder, key, P.fixed_batch_rows)
        t1 = time.perf_counter()
        queries = partitions.embed_fixed(encoder, texts, P.fixed_batch_rows)
        t2 = time.perf_counter()
        scores, ids = partitions.search_store(store, key, queries, k)
        seconds, n_workers = (t1 - t0, t2 - t1, time.perf_counter() - t2), 0
    else:
        with distributed.dask_client(scheduler, workers) as client:
            run = distributed.align_store(client, spec, store, texts, k, P.fixed_batch_rows)
            n_workers = len(client.scheduler_info()["workers"])
        scores, ids, runs = run.scores, run.ids, run.runs
        seconds = (run.embed.seconds, run.queries.seconds, run.search.seconds)
    return scores, ids, {**dict(zip(("embed_seconds", "query_seconds", "search_seconds"), seconds)),
                         "workers": n_workers, "embedded_partitions": sum(not r.reused for r in runs),
                         "reused_partitions": sum(r.reused for r in runs)}


def write_outputs(out: Path, main: pd.DataFrame, extensive: pd.DataFrame, summary: dict) -> list[Path]:
    """``align.main.csv``/``.md``, ``align.extensive.csv`` and ``align.json`` in ``out``, each atomically."""
    written = []
    for stem, df in (("align.main", main), ("align.extensive", extensive)):
        with atomic.atomic_path(out / f"{stem}.csv") as tmp:
            df.to_csv(tmp, index=False)
        written.append(out / f"{stem}.csv")
    written.append(atomic.write_text(out / "align.main.md", markdown(main.head(50))))
    written.append(atomic.write_text(out / "align.json", json.dumps(results.jsonable(summary), indent=2) + "\n"))
    return written


def align(args: argparse.Namespace) -> dict:
    """The ``align`` command: read, search, write; returns the summary written to ``align.json``."""

    P = params.load(args.params)
    k = args.top_k or P.top_k
    sources, gold = read_sources(args.lexicon)
    store = target_store(args.targets, P)
    concept = args.concept_column or ("CUI" if "CUI" in store.manifest.columns else "CODE")
    if concept not in store.manifest.columns:
        raise SystemExit(f"--concept-column {concept!r}: the targets have columns {store.manifest.columns}")
    scores, ids, timings = search(P, args.format, store, sources["source_text"].tolist(), k, args.workers,
                                  args.scheduler or P.dask_scheduler)
    main, extensive, ranks = store_tables(sources, store, scores, ids, concept, gold)
    summary = {"params": P.name, "format": args.format, "lexicon": str(args.lexicon), "targets": str(args.targets),
               "store": str(store.folder), "concept_column": concept, "top_k": k, "n_sources": len(sources),
               "n_targets": len(store), "partitions": len(store.partitions), **timings,
               "metrics": retrieval_metrics(ranks, n_boot=P.bootstrap, seed=P.seed) if gold else None}
    for path in write_outputs(Path(args.out), main, extensive, summary):
        print(f"wrote {path}")
    return summary


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lib", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("align", help="align a lay lexicon to an MRCONSO file or a target store")
    a.add_argument("--lexicon", required=True, type=Path, help="LEX file, or a CSV with one term per line "
                                                                 "(and an optional 'gold' column)")
    a.add_argument("--targets", required=True, type=Path, help="MRCONSO.RRF (plain or .gz) or a store folder")
    a.add_argument("--params", default="minilm-l6", help="params name or YAML path (model, filters, top_k, "
                                                         "partition_rows, fixed_batch_rows)")
    a.add_argument("--scheduler", help="address of a running Dask scheduler (default: params dask_scheduler, "
                                       "else a LocalCluster)")
    a.add_argument("--workers", type=int, help="LocalCluster workers (default: one per core; 0: no Dask, "
                                               "this process)")
    a.add_argument("--format", default="onnx-int8-dynamic",
                   help="format of the encoder: an ONNX one (ONNX Runtime) or ov-fp32 / ov-int8 (OpenVINO)")
    a.add_argument("--out", type=Path, default=Path("align-out"), help="output folder")
    a.add_argument("--top-k", type=int, help="targets per source in the extensive table (default: params)")
    a.add_argument("--concept-column", help="target column naming the concept (default: CUI if the targets "
                                            "have one, else CODE)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "align":
        summary = align(args)
        m = summary["metrics"]
        print(f"{summary['n_sources']} sources x {summary['n_targets']} targets"
              + (f": Acc@1 {m['acc@1']:.4f}, MRR {m['mrr']:.4f}" if m else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
