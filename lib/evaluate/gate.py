"""The gate rule, the study's central quality rule: meet every threshold, then take the fastest.

One rule for every place that chooses a model: the 03 gate of the encoders (:mod:`lib.gate`), the goal
flags of Olive's search in 02 (:mod:`lib.compress.olive`), the benchmark's best INT8 engine and the
rerankers' INT8 gate. It works on numbers (a record per candidate and the reference's), so it sits
with the metrics, below everything that produces them.

A criterion is either a floor on a value (``min``: mean cosine to FP32 >= 0.99) or a ceiling on a drop
from the reference (``max_drop``: STS Spearman or Acc@1 at most 0.01 / 0.005 below FP32's). A drop
measured on a few hundred items is noisy: a Spearman on BIOSSES' 100 pairs has a 95% interval about
+-0.05 wide, and ONNX Runtime's INT8 kernels differ by instruction set, so one point threshold let a
reviewer's CPU flip a decision. Where a paired bootstrap interval of the drop is given, the decision
is statistical:

* ``exceeds`` - the interval lies above the threshold: the drop is shown to be too large (fail);
* ``within`` - the interval lies at or below the threshold: the drop is shown to be small enough;
* ``inconclusive`` - the interval straddles the threshold: not shown to exceed it (pass), and the
  record says the margin is not proven.

A criterion without an interval (a mean over thousands of strings, or a caller with no item-level
data) is decided on its point value. Every decision is recorded with its value, threshold and
interval, so a reader sees why a format passed or failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from lib.evaluate.retrieval import bootstrap_ci

Kind = Literal["min", "max_drop"]

DECISIONS = ("within", "inconclusive", "exceeds")


@dataclass(frozen=True)
class Criterion:
    """One threshold: ``metric >= threshold`` (``min``) or ``reference - metric <= threshold``
    (``max_drop``); ``label`` names it in reasons and tables."""

    metric: str
    kind: Kind
    threshold: float
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or (f"{self.metric} drop" if self.kind == "max_drop" else self.metric)


@dataclass(frozen=True)
class Decision:
    """A criterion's outcome: the value it was decided on (the drop for ``max_drop``), its interval
    (None: decided on the point value), ``within`` / ``inconclusive`` / ``exceeds``."""

    criterion: Criterion
    value: float
    ci: tuple[float, float] | None
    decision: str

    @property
    def passed(self) -> bool:
        return self.decision != "exceeds"

    def reason(self) -> str:
        c = self.criterion
        if c.kind == "min":
            return f"{c.name} {self.value:.4f} < {c.threshold}"
        ci = f" (95% CI [{self.ci[0]:.4f}, {self.ci[1]:.4f}])" if self.ci else ""
        return f"{c.name} {self.value:.4f} > {c.threshold}{ci}"

    def record(self) -> dict:
        return {"criterion": self.criterion.name, "metric": self.criterion.metric, "kind": self.criterion.kind,
                "threshold": self.criterion.threshold, "value": self.value,
                "ci": list(self.ci) if self.ci else None, "decision": self.decision}


def decide(c: Criterion, value: float, reference: float | None = None,
           ci: tuple[float, float] | None = None) -> Decision:
    """Decide one criterion (see the module docstring). A NaN value never passes."""
    if c.kind == "min":
        v = float(value)
        ok = v >= c.threshold  # False for NaN
        return Decision(c, v, None, "within" if ok else "exceeds")
    if reference is None:
        raise ValueError(f"criterion {c.name!r} needs the reference's {c.metric}")
    drop = float(reference) - float(value)
    if not np.isfinite(drop):
        return Decision(c, drop, ci, "exceeds")
    if ci is None:
        return Decision(c, drop, None, "within" if drop <= c.threshold else "exceeds")
    lo, hi = float(ci[0]), float(ci[1])
    state = "exceeds" if lo > c.threshold else ("within" if hi <= c.threshold else "inconclusive")
    return Decision(c, drop, (lo, hi), state)


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`check`: passed, and every decision (reasons = the failing ones)."""

    decisions: tuple[Decision, ...]

    @property
    def passed(self) -> bool:
        return all(d.passed for d in self.decisions)

    @property
    def reasons(self) -> list[str]:
        return [d.reason() for d in self.decisions if not d.passed]

    @property
    def unproven(self) -> list[str]:
        """Criteria that passed without their margin being shown (interval straddles the threshold)."""
        return [d.criterion.name for d in self.decisions if d.decision == "inconclusive"]

    def records(self) -> list[dict]:
        return [d.record() for d in self.decisions]


def check(metrics: Mapping[str, float], reference: Mapping[str, float], criteria: Iterable[Criterion],
          drop_cis: Mapping[str, tuple[float, float] | None] | None = None) -> Verdict:
    """Every criterion decided for one candidate's ``metrics`` against the ``reference``'s;
    ``drop_cis[metric]``: a paired interval of that metric's drop, where one was measured."""
    cis = drop_cis or {}
    out = []
    for c in criteria:
        value = metrics.get(c.metric, float("nan"))
        ref = reference.get(c.metric) if c.kind == "max_drop" else None
        out.append(decide(c, value, ref, cis.get(c.metric)))
    return Verdict(tuple(out))


def fastest_passing(table: pd.DataFrame, speed: str, *, higher_is_faster: bool = False, passed: str = "passed",
                    candidates: Sequence | None = None, label: str | None = None):
    """The fastest row that passed (its ``label`` column, else its index), or None: a failing candidate
    is never chosen. ``speed`` is a latency (lower is faster) or, with ``higher_is_faster``, a throughput;
    ``candidates`` restricts the choice to those labels. Ties go to the first row."""
    ok = table[table[passed].astype(bool)]
    if candidates is not None:
        keys = ok[label] if label else ok.index.to_series(index=ok.index)
        ok = ok[keys.isin(list(candidates))]
    ok = ok[ok[speed].notna()]
    if ok.empty:
        return None
    pos = ok[speed].to_numpy(float)
    row = ok.iloc[int(np.argmax(pos) if higher_is_faster else np.argmin(pos))]
    return row[label] if label else row.name


def mean_drop_ci(ref_items: np.ndarray, items: np.ndarray, n: int, seed: int = 0) -> tuple[float, float] | None:
    """Paired percentile interval of mean(ref) - mean(other) over the same items (e.g. per-term hits
    for an Acc@1 drop): the bootstrap of the per-item differences."""
    a, b = np.asarray(ref_items, float), np.asarray(items, float)
    if a.shape != b.shape:
        raise ValueError(f"paired items differ in shape: {a.shape} vs {b.shape}")
    if n <= 0 or len(a) < 2:
        return None
    return bootstrap_ci(a - b, n, seed)


def criteria_from_params(P, sts_keys: Iterable[str] = (), acc1: bool = True, cosine: bool = True) -> list[Criterion]:
    """The encoders' gate criteria from params: mean cosine to FP32 >= ``gate_min_cosine``, HPO Acc@1
    drop <= ``gate_max_acc1_drop``, each STS Spearman drop <= ``gate_max_spearman_drop``."""
    out = []
    if cosine:
        out.append(Criterion("mean_cosine", "min", P.gate_min_cosine, "mean cosine to FP32"))
    if acc1:
        out.append(Criterion("acc1", "max_drop", P.gate_max_acc1_drop, "HPO Acc@1 drop"))
    out += [Criterion(k, "max_drop", P.gate_max_spearman_drop) for k in sts_keys]
    return out
