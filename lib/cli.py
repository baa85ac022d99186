"""Command line for practitioners: align a lay lexicon to a terminology of any size.

    python -m lib align --lexicon LEX.csv --targets MRCONSO.RRF --params minilm-l6 \\
        [--scheduler tcp://host:8786] [--workers N] [--format onnx-int8-dynamic] [--out DIR] [--debug]
        [--index exact|int8|binary]

Targets are an MRCONSO file (streamed once into a sharded store under the cache, keyed by the file's
content and the filters, so a rerun reuses it and the vectors already computed; a cached store found
damaged is rebuilt from the file, logged) or a store folder (:mod:`lib.data.store`). The search is the
scale-out path (:mod:`lib.search.distributed`): a LocalCluster of ``--workers`` 1-thread workers
(default: one per core), an existing scheduler with ``--scheduler``, or ``--workers 0`` for this process
alone; the results are the same.

Every argument is checked before any work (a model export or a store build can take minutes), and paths
are resolved from the working directory as a shell user expects (``--params`` too, when it is a path; a
bare name such as ``minilm-l6`` means ``params/minilm-l6.yaml``). An error prints one line naming the
file, the field and the fix; ``--debug`` shows the traceback instead.

Writes ``align.main.csv`` (best target per source), ``align.extensive.csv`` (top-k with every target
column) and ``align.json`` (settings, counts, timings, Acc@k when the lexicon has gold concepts) into
``--out`` (default ``align-out/`` in the working directory; git-ignored in a checkout), atomically.
Outputs computed from licensed inputs (UMLS, the LEX) carry their text row by row: the folder then
gets a ``NOTICE.md`` saying so; keep it out of anything you publish.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from lib import atomic, paths, results
from lib.data import store as stores
from lib.data.umls import MRCONSO_COLUMNS
from lib.fingerprint import file_digest, settings_key
from lib.formats import ONNX_BUILDERS
from lib.params import Params
from lib.results.tables import markdown
from lib.data.lexicon import read_lexicon
from lib.data.textio import open_text
from lib.errors import (DataFormatError, ModelNotAvailableError, ParamsError, StoreNotWritableError,
                        VectorWidthError)
from lib.search import distributed, partitions
from lib import params
from lib.evaluate.retrieval import retrieval_metrics
from lib.search.align import store_tables

log = logging.getLogger("lib.cli")

PLAIN_GOLD = "gold"  # optional column of a plain lexicon CSV: the gold concept id(s), ';'-separated
# A plain lexicon's first line is a header only when it names one of these columns (any case); any other
# first line is a term, so a term list without a header loses no term (issue 25: it used to lose the first).
TERM_COLUMNS = ("term", "terms", "text", "source_text", "string", "str", "label", "name", "lay_term")
DEFAULT_OUT = Path("align-out")


class UsageError(ValueError):
    """A command-line argument refused before any work; the message names the argument and the fix."""


# -- arguments -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """The ``align`` arguments, checked and resolved from the working directory."""

    P: Params
    params_path: Path
    lexicon: Path
    targets: Path
    out: Path
    fmt: str
    top_k: int
    top_k_given: bool
    workers: int | None
    scheduler: str | None
    concept_column: str | None


def resolve_params(value: str, cwd: Path | None = None) -> Path:
    """The params file an argument names: a bare name (``minilm-l6``) is ``params/<name>.yaml``, anything
    with a ``/`` or a ``.yaml``/``.yml`` suffix is a path from the working directory."""
    cwd = Path.cwd() if cwd is None else cwd
    if "/" not in value and "\\" not in value and Path(value).suffix not in (".yaml", ".yml"):
        path = params.params_file(value)
        if not path.exists():
            raise UsageError(f"--params {value}: no params file {path} (known: {', '.join(params.available())})")
        return path
    path = (cwd / Path(value).expanduser()).resolve()
    if not path.is_file():
        known = paths.PARAMS / Path(value).name
        hint = f"; did you mean --params {known.stem} ({known})?" if known.exists() else ""
        raise UsageError(f"--params {value}: no such file {path} (a path is resolved from the working directory "
                         f"{cwd}; a bare name such as minilm-l6 means params/minilm-l6.yaml){hint}")
    return path


def check_out(out: Path) -> Path:
    """``--out``: a folder (created if absent), never an existing file; refused before any work."""
    out = out.expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: an existing file, not a folder; give a folder (it is created if absent)")
    existing = next(p for p in [out, *out.parents] if p.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: {existing} is not writable; choose a folder you can write to")
    return out


def check_args(args: argparse.Namespace, cwd: Path | None = None) -> Request:
    """Every argument, checked before any work; a :class:`UsageError` (or the params file's own
    :class:`ParamsError`) names the argument and the fix."""
    cwd = Path.cwd() if cwd is None else cwd
    if args.workers is not None and args.workers < 0:
        raise UsageError(f"--workers {args.workers}: must be 0 (no Dask, this process alone) or more")
    if args.top_k is not None and args.top_k < 1:
        raise UsageError(f"--top-k {args.top_k}: must be 1 or more (leave it out for the params file's top_k)")
    if args.format not in ONNX_BUILDERS:
        raise UsageError(f"--format {args.format}: the scale-out path runs ONNX formats only "
                         f"({', '.join(ONNX_BUILDERS)})")
    out = check_out(cwd / args.out)
    params_path = resolve_params(str(args.params), cwd)
    P = params.load(str(params_path))
    lexicon = (cwd / args.lexicon).expanduser().resolve()
    if not lexicon.is_file():
        raise UsageError(f"--lexicon {args.lexicon}: {'a folder' if lexicon.is_dir() else 'no such file'} "
                         f"({lexicon}); give the LEX file or a term list (one term per line)")
    if lexicon.stat().st_size == 0:
        raise DataFormatError(lexicon, "empty file (0 bytes): expected one term per line, optionally under a "
                                       f"header line naming the columns ({TERM_COLUMNS[0]}[,{PLAIN_GOLD}]), or the "
                                       f"LEX columns", field="--lexicon")
    targets = (cwd / args.targets).expanduser().resolve()
    if not targets.exists():
        raise UsageError(f"--targets {args.targets}: no such MRCONSO file or store folder ({targets})")
    columns = stores.open_store(targets).manifest.columns if targets.is_dir() else ["id"] + MRCONSO_COLUMNS
    if args.concept_column is not None and args.concept_column not in columns:
        raise UsageError(f"--concept-column {args.concept_column}: the targets have columns {columns}")
    top_k_given = args.top_k is not None
    return Request(P, params_path, lexicon, targets, out, args.format, args.top_k if top_k_given else P.top_k,
                   top_k_given, args.workers, args.scheduler or P.dask_scheduler, args.concept_column)


# -- inputs --------------------------------------------------------------------------------------


def _header_fields(line: str) -> tuple[list[str], str]:
    """The fields of a first line and its delimiter (sniffed among comma, semicolon and tab)."""
    try:
        sep = csv.Sniffer().sniff(line, delimiters=",;\t").delimiter
    except csv.Error:
        sep = ","
    return [f.strip().strip('"').strip() for f in line.split(sep)], sep


def read_sources(path: str | Path) -> tuple[pd.DataFrame, str | None]:
    """Lay terms from the paper's LEX file (``Terme`` ... columns; gold = its ``CUI`` column if any), from a
    CSV whose header names a term column (:data:`TERM_COLUMNS`; gold = a ``gold`` column if any, several
    ids separated by ';'), or from a term list without a header (one term per line, the whole line).

    Returns (sources with ``source_id``/``source_text``, the gold column or None); ``attrs`` records the
    format read and the blank lines skipped. An empty file is an error naming it.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: lexicon not found")
    with open_text(path) as f:
        header = f.readline()
        rest = header.strip() or f.read().strip()
    if not rest:
        raise DataFormatError(path, "empty file: expected one term per line, optionally under a header line "
                                    f"naming the columns ({TERM_COLUMNS[0]}[,{PLAIN_GOLD}]), or the LEX columns")
    fields, sep = _header_fields(header.rstrip("\r\n"))
    if "Terme" in fields:
        df = read_lexicon(path)
        df.attrs.update(lexicon_format="LEX", skipped_blank_lines=0)
        if "CUI" in df.columns:
            df["gold_cui"] = df["CUI"]
            return df, "gold_cui"
        return df, None
    names = [f.lower() for f in fields]
    if any(n in TERM_COLUMNS or n == PLAIN_GOLD for n in names):
        return _read_with_header(path, sep, names)
    return _read_term_list(path)


def _read_with_header(path: Path, sep: str, names: list[str]) -> tuple[pd.DataFrame, str | None]:
    with open_text(path) as f:
        df = pd.read_csv(f, dtype=str, keep_default_na=False, sep=sep, skip_blank_lines=False)
    df.columns = names[:len(df.columns)] + list(df.columns[len(names):])
    df.index = df.index + 2  # the line of each row (header on line 1)
    blank = (df == "").all(axis=1)
    df = df[~blank]  # empty lines are skipped (and counted), a blank term is an error
    if df.empty:
        raise DataFormatError(path, "no data rows (expected a header line, then one term per line)")
    term_col = next((n for n in names if n in TERM_COLUMNS), df.columns[0])
    terms = df[term_col].str.strip()
    if (terms == "").any():
        raise DataFormatError(path, "empty term", line=int(terms.index[(terms == "").to_numpy().argmax()]),
                              field=str(term_col))
    out = pd.DataFrame({"source_id": [f"ROW:{i}" for i in df.index], "source_text": terms.to_numpy()})
    out.attrs.update(lexicon_format=f"CSV with header ({', '.join(names)})", skipped_blank_lines=int(blank.sum()))
    if PLAIN_GOLD in df.columns:
        out["gold"] = [tuple(x.strip() for x in g.split(";") if x.strip()) for g in df[PLAIN_GOLD].to_numpy()]
        return out, "gold"
    return out, None


def _read_term_list(path: Path) -> tuple[pd.DataFrame, None]:
    """One term per line, the whole line: a first line that names no known column is a term too."""
    ids, terms, blank, with_sep = [], [], 0, 0
    with open_text(path) as f:
        for line_no, line in enumerate(f, start=1):
            term = line.strip()
            if not term:
                blank += 1
                continue
            with_sep += any(c in term for c in ",;\t")
            ids.append(f"ROW:{line_no}")
            terms.append(term)
    log.warning("%s: no header line naming a column (%s): read as a term list, one term per line, %d terms%s",
                path, "/".join(TERM_COLUMNS[:2] + (PLAIN_GOLD,)), len(terms),
                f"; {with_sep} lines hold a ',', ';' or tab and were read whole (a file with columns needs a "
                f"header line: term[,gold])" if with_sep else "")
    out = pd.DataFrame({"source_id": ids, "source_text": terms})
    out.attrs.update(lexicon_format="term list (no header)", skipped_blank_lines=blank)
    return out, None


def mrconso_store(path: Path, P: Params) -> stores.Store:
    """The store of an MRCONSO file's rows kept by the params filters, written on first use under
    ``<cache>/stores/`` (resumable) and found again by the file's content and the filters.

    The CLI owns this store, so it heals it: a manifest or partition found torn or altered is logged and
    the store rewritten from the MRCONSO file (``write_store`` keeps the intact partitions, and the vectors
    of every partition whose bytes come out the same)."""
    filters = {"languages": sorted(P.umls_languages), "sources": sorted(P.umls_sources or []),
               "partition_rows": P.partition_rows}
    folder = paths.cache_dir() / "stores" / f"mrconso-{file_digest(path)[:16]}-{settings_key(**filters)}"
    return stores.cached_store(folder, lambda f: stores.write_mrconso_store(path, f, P.umls_languages, P.umls_sources,
                                                                            partition_rows=P.partition_rows), str(path))


def target_store(targets: Path, P: Params) -> stores.Store:
    """A store folder as it is, or the store of an MRCONSO file (:func:`mrconso_store`)."""
    if targets.is_dir():
        return stores.open_store(targets)
    if not targets.exists():
        raise FileNotFoundError(f"{targets}: no such MRCONSO file or store folder")
    return mrconso_store(targets, P)


def licensed_inputs(sources: pd.DataFrame, targets: Path, store: stores.Store) -> list[str]:
    """The licensed inputs this run read (their rows end up in the outputs): an MRCONSO file or a store
    written from one (UMLS), a LEX file (the lay lexicon)."""
    out = []
    if sources.attrs.get("lexicon_format") == "LEX":
        out.append("the lay lexicon (LEX)")
    source = store.manifest.source or {}
    if not targets.is_dir() or "MRCONSO" in str(source.get("name", "")).upper():
        out.append(f"the UMLS Metathesaurus (MRCONSO{': ' + source['file'] if source.get('file') else ''})")
    return out


def notice_text(licensed: list[str], lexicon: Path, targets: Path) -> str:
    lines = "\n".join(f"- {x}" for x in licensed)
    return (f"# Derived from licensed data: do not publish\n\n"
            f"`python -m lib align` wrote the files in this folder from licensed inputs:\n\n{lines}\n\n"
            f"(lexicon {lexicon}, targets {targets}). `align.main.csv`, `align.main.md` and `align.extensive.csv` "
            f"hold their terms and strings row by row: they must not be published, shared or committed. "
            f"`align.json` holds settings, counts and metrics only.\n")


# -- the command ---------------------------------------------------------------------------------


def search(P: Params, fmt: str, store: stores.Store, texts: list[str], k: int, workers: int | None,
           scheduler: str | None) -> tuple:
    """(scores, ids, timings): on a Dask cluster, or in this process when ``workers == 0``; the index
    is params ``search`` (exact, int8 or binary codes + rescoring)."""

    spec = distributed.EngineSpec.for_format(P, fmt)
    if workers == 0 and not scheduler:
        encoder = spec.build(P.threads)
        key = partitions.vector_key(encoder.fingerprint, P.fixed_batch_rows)
        t0 = time.perf_counter()
        runs = partitions.embed_store(store, encoder, key, P.fixed_batch_rows, codes=partitions.code_kinds(P.search))
        t1 = time.perf_counter()
        queries = partitions.embed_fixed(encoder, texts, P.fixed_batch_rows)
        t2 = time.perf_counter()
        scores, ids = partitions.search_store(store, key, queries, k, search=P.search)
        seconds, n_workers = (t1 - t0, t2 - t1, time.perf_counter() - t2), 0
    else:
        with distributed.dask_client(scheduler, workers) as client:
            run = distributed.align_store(client, spec, store, texts, k, P.fixed_batch_rows, search=P.search)
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
    """The ``align`` command: check, read, search, write; returns the summary written to ``align.json``."""

    req = check_args(args)
    P = req.P
    if args.index:
        P = P.model_copy(update={"search": P.search.model_copy(update={"index": args.index})})
    sources, gold = read_sources(req.lexicon)
    store = target_store(req.targets, P)
    concept = req.concept_column or ("CUI" if "CUI" in store.manifest.columns else "CODE")
    if concept not in store.manifest.columns:
        raise UsageError(f"--concept-column {concept}: the targets have columns {store.manifest.columns}")
    k = min(req.top_k, len(store))
    if k < req.top_k:
        log.warning("top-k %d is more than the %d targets of %s: capped at %d (recorded as top_k_requested / "
                    "top_k_capped in align.json)", req.top_k, len(store), store.folder, k)
    licensed = licensed_inputs(sources, req.targets, store)
    scores, ids, timings = search(P, req.fmt, store, sources["source_text"].tolist(), k, req.workers, req.scheduler)
    main, extensive, ranks = store_tables(sources, store, scores, ids, concept, gold)
    summary = {"params": P.name, "params_file": str(req.params_path), "format": req.fmt,
               "index": P.search.index,
               "rescore_multiplier": P.search.rescore_multiplier if P.search.index != "exact" else None,
               "lexicon": str(req.lexicon), "lexicon_format": sources.attrs.get("lexicon_format"),
               "skipped_blank_lines": sources.attrs.get("skipped_blank_lines", 0), "targets": str(req.targets),
               "store": str(store.folder), "concept_column": concept, "top_k": k, "top_k_requested": req.top_k,
               "top_k_capped": k < req.top_k, "n_sources": len(sources), "n_targets": len(store),
               "partitions": len(store.partitions), "licensed_inputs": licensed, **timings,
               "metrics": retrieval_metrics(ranks, n_boot=P.bootstrap, seed=P.seed) if gold else None}
    written = write_outputs(req.out, main, extensive, summary)
    if licensed:
        written.append(atomic.write_text(req.out / "NOTICE.md", notice_text(licensed, req.lexicon, req.targets)))
    for path in written:
        print(f"wrote {path}")
    return summary


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lib", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("align", help="align a lay lexicon to an MRCONSO file or a target store")
    a.add_argument("--lexicon", required=True, type=Path, help="LEX file, a CSV whose header names a term column "
                                                                 "(and an optional 'gold' column), or a term list "
                                                                 "(one term per line, no header)")
    a.add_argument("--targets", required=True, type=Path, help="MRCONSO.RRF (plain or .gz) or a store folder")
    a.add_argument("--params", default="minilm-l6", help="params name (params/<name>.yaml) or a YAML path from the "
                                                         "working directory (model, filters, top_k, partition_rows, "
                                                         "fixed_batch_rows)")
    a.add_argument("--scheduler", help="address of a running Dask scheduler (default: params dask_scheduler, "
                                       "else a LocalCluster)")
    a.add_argument("--workers", type=int, help="LocalCluster workers, 0 or more (default: one per core; 0: no "
                                               "Dask, this process)")
    a.add_argument("--format", default="onnx-int8-dynamic",
                   help="format of the encoder: an ONNX one (ONNX Runtime) or ov-fp32 / ov-int8 (OpenVINO)")
    a.add_argument("--index", choices=("exact", "int8", "binary"),
                   help="exact (float vectors), int8 or binary codes of the targets + rescoring of "
                        "rescore_multiplier x top-k candidates with the float vectors (default: params search.index)")
    a.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (created if absent; default "
                                                                 "align-out/ in the working directory)")
    a.add_argument("--top-k", type=int, help="targets per source in the extensive table, 1 or more (default: "
                                             "params; capped at the number of targets)")
    a.add_argument("--concept-column", help="target column naming the concept (default: CUI if the targets "
                                            "have one, else CODE)")
    a.add_argument("--debug", action="store_true", help="on an error, show the traceback instead of one line")
    return p


# errors whose message already names the file, the field and the fix: printed as they are
NAMED_ERRORS = (UsageError, DataFormatError, ParamsError, ModelNotAvailableError, StoreNotWritableError,
                VectorWidthError, atomic.ChecksumError)


def one_line(err: BaseException) -> str:
    """An error as one line: its message with line breaks joined; an unexpected type is named."""
    text = "; ".join(part.strip() for part in str(err).splitlines() if part.strip()) or type(err).__name__
    if isinstance(err, NAMED_ERRORS):
        return text
    return f"{type(err).__name__}: {text} (rerun with --debug for the traceback)"


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if args.command == "align":
        try:
            summary = align(args)
        except Exception as err:  # one line naming file, field and fix; the traceback behind --debug
            if getattr(args, "debug", False):
                raise
            print(f"python -m lib align: error: {one_line(err)}", file=sys.stderr)
            return 2 if isinstance(err, UsageError) else 1
        m = summary["metrics"]
        print(f"{summary['n_sources']} sources x {summary['n_targets']} targets"
              + (f": Acc@1 {m['acc@1']:.4f}, MRR {m['mrr']:.4f}" if m else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
