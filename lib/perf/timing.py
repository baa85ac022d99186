"""The interleaved latency harness: every engine timed round by round on the same texts.
"""

from __future__ import annotations

import logging
import time
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm
from lib.perf.energy import Rapl

log = logging.getLogger("lib.perf.timing")


def latency_batches(texts: Sequence[str], batch_size: int) -> list[list[str]]:
    """Rows of ``batch_size`` strings sorted by character length: the paper's latency is per batch of
    ``batch_size`` sentences, and sorting before tokenising gives every format (whatever its
    tokenizer) the same batches. Each ``encode`` call then forms its own token batches inside."""
    from lib.engines.encoder import length_sorted_batches
    texts = list(texts)
    return [[texts[i] for i in idx] for idx in length_sorted_batches(texts, batch_size)]


def benchmark(encoders: Mapping[str, object], texts: Sequence[str], batch_size: int, rounds: int = 3,
              warmup: int = 2) -> tuple[pd.DataFrame, dict]:
    """Interleaved rounds (the format order rotates each round) of per-batch wall times.

    Returns one row per (format, round, batch) with ``ms``, and the energy (J) per format when RAPL
    is readable. Interleaving shares any background load of this machine across formats.
    """
    batches = latency_batches(texts, batch_size)
    names = list(encoders)
    rapl = Rapl()
    energy = {n: 0.0 for n in names}
    for n in names:  # warm-up: session initialisation, allocator growth
        for b in batches[:warmup]:
            encoders[n].encode(b, progress=False)
    rows = []
    for r in tqdm(range(rounds), desc="latency rounds"):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            e0 = rapl.read()
            for i, b in enumerate(batches):
                t0 = time.perf_counter()
                encoders[n].encode(b, progress=False)
                rows.append({"format": n, "round": r, "batch": i, "n": len(b),
                             "ms": 1000 * (time.perf_counter() - t0)})
            if e0 is not None:
                energy[n] += rapl.joules(e0, rapl.read())
    info = {"energy_available": rapl.available, "energy_reason": rapl.reason, "rounds": rounds,
            "batches": len(batches), "sentences": len(texts), "batch_size": batch_size}
    return pd.DataFrame(rows), ({"energy_j": energy, **info} if rapl.available else info)


def latency_summary(times: pd.DataFrame, energy: dict, co2_kg_per_kwh: float) -> pd.DataFrame:
    """avg / max / min ms per batch, sentences per second, energy and CO2 per 1,000 sentences."""
    g = times.groupby("format", sort=False)
    out = pd.DataFrame({"latency_avg_ms": g.ms.mean(), "latency_max_ms": g.ms.max(),
                        "latency_min_ms": g.ms.min(),
                        "sentences_per_s": g.n.sum() / (g.ms.sum() / 1000.0)})
    if energy.get("energy_available"):
        sent = g.n.sum()
        j = pd.Series(energy["energy_j"]).reindex(out.index)
        out["energy_j_per_1k"] = j / sent * 1000
        out["co2_g_per_1k"] = out.energy_j_per_1k / 3.6e6 * co2_kg_per_kwh * 1000
    else:
        out["energy_j_per_1k"] = np.nan
        out["co2_g_per_1k"] = np.nan
    return out.reset_index()
