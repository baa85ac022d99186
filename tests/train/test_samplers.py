"""lib.train.samplers: one pair per concept per batch, every pair once per epoch, drops reported."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch
from pytorch_metric_learning.utils import loss_and_miner_utils as lmu

from lib.data.hpo import load_hpo
from lib.train import pairs as tp
from lib.train.samplers import OneConceptPerBatchSampler, metric_labels, plan_batches, with_labels


def skewed_labels(n_concepts: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    counts = np.minimum(rng.geometric(0.3, n_concepts), 12)
    return [f"C{c}" for c, k in enumerate(counts) for _ in range(k)]


def check_plan(labels, batches, report, batch_size):
    flat = [i for b in batches for i in b]
    assert len(flat) == len(set(flat))                                   # no pair twice
    assert len(flat) == report["pairs"] - report["dropped_over_cap"] - report["dropped_last"]
    for b in batches:
        assert len({labels[i] for i in b}) == len(b)                     # no concept twice in a batch
    assert all(len(b) == batch_size for b in batches[:-1]) and len(batches[-1]) <= batch_size


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("batch_size", [8, 32, 100])
def test_plan_has_one_pair_per_concept_and_covers_every_pair(seed, batch_size):
    labels = skewed_labels(400, seed)
    batches, report = plan_batches(labels, batch_size, seed)
    check_plan(labels, batches, report, batch_size)
    assert report["dropped_over_cap"] == 0 and sorted(i for b in batches for i in b) == list(range(len(labels)))


def test_plan_is_seeded_and_changes_with_the_seed():
    labels = skewed_labels(200, 0)
    assert plan_batches(labels, 16, 1)[0] == plan_batches(labels, 16, 1)[0]
    assert plan_batches(labels, 16, 1)[0] != plan_batches(labels, 16, 2)[0]


def test_a_concept_with_more_pairs_than_batches_is_capped_and_reported():
    labels = ["big"] * 30 + [f"c{i}" for i in range(50)]                 # 80 pairs, batch 16 -> 5 batches
    batches, report = plan_batches(labels, 16, 0)
    check_plan(labels, batches, report, 16)
    assert report["dropped_over_cap"] > 0 and report["concepts_over_cap"] == 1
    assert len(batches[-1]) < 16                                          # short last batch: cap = full batches
    assert Counter(labels[i] for b in batches for i in b)["big"] == len(batches) - 1


def test_drop_last_drops_the_short_batch_and_says_so():
    labels = [f"c{i}" for i in range(50)]
    batches, report = plan_batches(labels, 16, 0, drop_last=True)
    assert [len(b) for b in batches] == [16, 16, 16] and report["dropped_last"] == 2


class Rows:
    """The two things the sampler reads from a datasets.Dataset."""

    def __init__(self, columns: dict):
        self.columns = columns
        self.column_names = list(columns)

    def __getitem__(self, key):
        return self.columns[key]

    def __len__(self):
        return len(next(iter(self.columns.values())))


def test_sentence_transformers_sampler_reads_labels_and_reseeds_per_epoch():
    labels = [int(x[1:]) for x in skewed_labels(300, 1)]
    rows = Rows({"anchor": ["a"] * len(labels), "positive": ["p"] * len(labels), "label": labels})
    sampler = OneConceptPerBatchSampler(rows, batch_size=32, drop_last=False, valid_label_columns=["label", "score"])
    first = list(sampler)
    check_plan(labels, first, sampler.report, 32)
    assert len(first) == len(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first
    with pytest.raises(ValueError):
        OneConceptPerBatchSampler(rows, 32, False, valid_label_columns=["score"])


def test_metric_learning_labels_make_each_anchor_positive_only_with_its_pair():
    labels = [int(x[1:]) for x in skewed_labels(300, 2)]
    batch = plan_batches(labels, 24, 0)[0][0]
    y = torch.from_numpy(metric_labels([labels[i] for i in batch]))
    a1, p, a2, _ = lmu.get_all_pairs_indices(y)
    n = len(batch)
    expected = [(i, i + n) for i in range(n)] + [(i + n, i) for i in range(n)]
    assert sorted(zip(a1.tolist(), p.tolist())) == sorted(expected)
    assert len(a2) == 2 * n * (2 * n - 2)


def test_with_labels_codes_concepts():
    pairs = tp.concept_pairs(pd.DataFrame({"concept": ["B", "B", "A", "A"],
                                          "string": ["x", "y", "z", "w"]}), None)
    frame, concepts = with_labels(pairs)
    assert frame.columns.tolist() == ["anchor", "positive", "label"]
    assert [concepts[c] for c in frame.label] == pairs.concept.tolist()


def test_embedded_pairs_batch_without_drops():
    ts = tp.embedded_training_set(load_hpo())
    frame, _ = with_labels(ts.pairs)
    labels = frame.label.tolist()
    for seed in range(3):
        batches, report = plan_batches(labels, 64, seed)
        check_plan(labels, batches, report, 64)
        assert report["dropped_over_cap"] == 0 and report["batches"] == -(-len(labels) // 64)
