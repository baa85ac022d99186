"""The one latency harness: engines timed round by round on the same texts, interleaved.

Used by the quality gate (``lib.gate``: encoders in this process), Olive's metric
(``lib.compress.olive.search``: a token-state function on prepared batches) and the benchmark
(``bench/run.py``: engines in worker processes). Why interleaved: on a shared CPU the load drifts;
rotating the engine order each round gives every engine the same share of it.

An *engine* is a callable ``engine(limit) -> Pass``: one pass over the texts (``limit=None``) or over
about the first ``limit`` strings (warm-up), returning the per-call seconds it measured. A *call* is
what the consumer calls latency: one ``encode`` of a batch (gate), one model call (Olive, benchmark).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from lib.engines.encoder import length_sorted_batches
from lib.perf.energy import Rapl

log = logging.getLogger("lib.perf.timing")


@dataclass(frozen=True)
class Pass:
    """One pass of an engine: strings encoded, seconds of each call, and the pass's own wall seconds
    when the engine measures it itself (a worker process: its clock leaves out the pipe round trip)."""

    strings: int
    calls: Sequence[float]
    seconds: float | None = None


Engine = Callable[[int | None], Pass]


@dataclass
class Timings:
    """What :func:`interleaved_rounds` measured. ``calls``: engine, round, call, seconds (one row per
    call); ``passes``: engine, round, strings, seconds, energy_j (NaN when RAPL is not readable)."""

    calls: pd.DataFrame
    passes: pd.DataFrame
    energy_available: bool = False
    energy_reason: str = ""
    engines: list[str] = field(default_factory=list)

    @property
    def info(self) -> dict[str, Any]:
        """Run facts for a result file: rounds, energy availability (and joules per engine if measured)."""
        out: dict[str, Any] = {"energy_available": self.energy_available, "energy_reason": self.energy_reason,
                               "rounds": int(self.passes["round"].nunique()) if len(self.passes) else 0}
        if self.energy_available:
            out["energy_j"] = {k: float(v) for k, v in
                               self.passes.groupby("engine", sort=False)["energy_j"].sum().items()}
        return out


def interleaved_rounds(engines: Mapping[str, Engine], rounds: int = 3, warmup_strings: int = 256,
                       desc: str | None = "latency rounds", rapl: Rapl | None = None) -> Timings:
    """Warm every engine up on about ``warmup_strings`` strings (session start, allocator growth, lazy
    imports), then ``rounds`` rounds in which each engine makes one pass, the order rotating each round.

    Energy: the RAPL package counters are read around each pass when readable (the whole package: on a
    shared machine other processes' energy is included, which interleaving spreads evenly).
    """
    names = list(engines)
    rapl = rapl if rapl is not None else Rapl()
    if warmup_strings > 0:
        for n in names:
            engines[n](warmup_strings)
    calls: list[dict] = []
    passes: list[dict] = []
    with tqdm(total=rounds * len(names), desc=desc, disable=desc is None, mininterval=5.0) as bar:
        for r in range(rounds):
            for n in names[r % len(names):] + names[:r % len(names)]:
                e0 = rapl.read()
                t0 = time.perf_counter()
                p = engines[n](None)
                wall = time.perf_counter() - t0
                energy = rapl.joules(e0, rapl.read()) if e0 is not None else float("nan")
                passes.append({"engine": n, "round": r, "strings": int(p.strings),
                               "seconds": wall if p.seconds is None else float(p.seconds), "energy_j": energy})
                calls.extend({"engine": n, "round": r, "call": i, "seconds": float(s)}
                             for i, s in enumerate(p.calls))
                bar.update(1)
    return Timings(pd.DataFrame(calls, columns=["engine", "round", "call", "seconds"]),
                   pd.DataFrame(passes, columns=["engine", "round", "strings", "seconds", "energy_j"]),
                   rapl.available, rapl.reason, names)


def latency_summary(t: Timings, co2_kg_per_kwh: float | None = None) -> pd.DataFrame:
    """One row per engine (index ``engine``, in run order).

    Per call, over every call of every round: ``latency_avg_ms``, ``latency_p50_ms``, ``latency_p95_ms``,
    ``latency_min_ms``, ``latency_max_ms``, ``calls``; ``latency_best_round_ms``: the mean call of the
    fastest round (best-of-r: on a shared CPU the noise is additive, so the minimum is the least biased).
    Per pass: ``strings``, ``rounds_s`` (list), ``median_pass_s`` and ``sentences_per_s`` (strings over
    the median pass); ``energy_j_per_1k`` and ``co2_g_per_1k`` (NaN when energy was not measured or
    ``co2_kg_per_kwh`` is None).
    """
    order = t.engines or list(dict.fromkeys(t.passes["engine"]))
    c = t.calls.groupby("engine", sort=False)["seconds"]
    per_round = t.calls.groupby(["engine", "round"], sort=False)["seconds"].agg(["sum", "mean"])
    best_round = per_round["mean"].loc[per_round.groupby(level="engine", sort=False)["sum"].idxmin()]
    p = t.passes.groupby("engine", sort=False)
    out = pd.DataFrame({
        "latency_avg_ms": c.mean() * 1e3, "latency_p50_ms": c.median() * 1e3,
        "latency_p95_ms": c.quantile(0.95) * 1e3, "latency_min_ms": c.min() * 1e3,
        "latency_max_ms": c.max() * 1e3, "calls": c.size(),
        "latency_best_round_ms": best_round.droplevel("round") * 1e3,
        "strings": p["strings"].last(), "rounds_s": p["seconds"].agg(list),
        "median_pass_s": p["seconds"].median(),
    }).reindex(order)
    out["calls"] = out["calls"].fillna(0).astype(int)
    out["sentences_per_s"] = out["strings"] / out["median_pass_s"]
    energy = p["energy_j"].sum() / p["strings"].sum() * 1000 if t.energy_available else np.nan
    out["energy_j_per_1k"] = energy
    out["co2_g_per_1k"] = (np.nan if co2_kg_per_kwh is None
                           else out["energy_j_per_1k"] / 3.6e6 * co2_kg_per_kwh * 1000)
    out.index.name = "engine"
    return out


def timed_batches(call: Callable[[Any], Any], batches: Sequence[Any], sizes: Sequence[int] | None = None,
                  then: Callable[[int, Any], None] | None = None) -> Engine:
    """An engine over fixed batches in this process: ``call(batch)`` timed alone for each batch.
    ``sizes``: strings per batch (default ``len(batch)``); ``then(i, output)`` runs after each call,
    untimed (Olive pools token states into vectors there). A warm-up pass stops once ``limit`` strings
    are done (at least one batch)."""
    sizes = [len(b) for b in batches] if sizes is None else list(sizes)

    def engine(limit: int | None) -> Pass:
        secs: list[float] = []
        done = 0
        for i, b in enumerate(batches):
            if limit is not None and done >= limit and secs:
                break
            t0 = time.perf_counter()
            out = call(b)
            secs.append(time.perf_counter() - t0)
            if then is not None:
                then(i, out)
            done += sizes[i]
        return Pass(done, secs)
    return engine


def latency_batches(texts: Sequence[str], batch_size: int) -> list[list[str]]:
    """Rows of ``batch_size`` strings sorted by character length: the paper's latency is per batch of
    ``batch_size`` sentences, and sorting before tokenising gives every format (whatever its
    tokenizer) the same batches. Each ``encode`` call then forms its own token batches inside."""
    texts = list(texts)
    return [[texts[i] for i in idx] for idx in length_sorted_batches(texts, batch_size)]
