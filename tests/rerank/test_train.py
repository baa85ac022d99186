"""lib.rerank.train: both layouts and both objectives learn on the tiny model; seeded, resumable."""

from __future__ import annotations

import numpy as np
import pytest

from lib.engines.hub import resolve_model_dir
from lib.rerank import train as rt
from lib.rerank.data import Examples
from lib.rerank.model import load_model


def fixed_loss(model_path, ex, R, steps: int = 4) -> float:
    """Mean loss over the batches of the first ``steps`` steps, dropout off (the same batches for any model)."""
    import torch

    tk = rt.tokenize_examples(model_path, ex, R)
    model = load_model(model_path).eval()
    losses = []
    with torch.no_grad():
        for step in range(steps):
            rows, _, orders = rt.step_batch(ex, step, 0, R.batch_size, R.train_candidates)
            inputs = rt.batch_inputs(tk, ex, rows, orders, R.packed, R.max_seq_length)
            losses.append(float(rt.loss_of(model, inputs, ex.labels[rows], R.objective, tk.special.pad, "cpu")))
    return float(np.mean(losses))


def first_queries(ex: Examples, k: int) -> Examples:
    return Examples(ex.queries[:k], ex.golds[:k], ex.candidates.rows(np.arange(k)), ex.labels[:k],
                    ex.retrieved_rank[:k])


@pytest.mark.parametrize("objective", ["bce", "listwise"])
@pytest.mark.parametrize("packed", [False, True], ids=["base", "packed"])
def test_reranker_trains_and_its_loss_decreases(tiny_setup, tmp_path, packed, objective):
    """60 steps on 8 queries (full batches, C and candidate order drawn anew each step): the random tiny
    model must fit them, measured on the first steps' batches with dropout off."""
    P, _, tr = tiny_setup
    ex = first_queries(tr.examples, 8)
    R = P.rerank.model_copy(update={"packed": packed, "objective": objective, "train_steps": 60,
                                    "learning_rate": 3e-3, "batch_size": 8})
    model_dir = resolve_model_dir(P)
    out = rt.train(model_dir, ex, R, tmp_path / "run", seed=0, threads=1, progress=False)
    rec = rt.training_record(out)
    assert rec["steps"] == R.train_steps and rec["stopped_by"] == "steps"
    assert rec["variant"] == rt.variant_name(packed, objective)
    assert rec["pairs_per_s"] > 0 and (out / "config.json").exists() and (out / "tokenizer.json").exists()
    before, after = fixed_loss(model_dir, ex, R), fixed_loss(out, ex, R)
    assert after < 0.85 * before, (before, after)


def test_a_time_budget_stops_training_and_says_so(tiny_setup, tmp_path):
    P, _, tr = tiny_setup
    R = P.rerank.model_copy(update={"train_steps": 1000, "max_minutes": 1e-6})
    out = rt.train(resolve_model_dir(P), tr.examples, R, tmp_path / "run", threads=1, progress=False)
    rec = rt.training_record(out)
    assert rec["stopped_by"] == "minutes" and 1 <= rec["steps"] < 1000


def test_step_batches_are_seeded_and_shared_by_both_layouts(tiny_setup):
    _, _, tr = tiny_setup
    ex = tr.examples
    a = rt.step_batch(ex, 5, 0, 8, [2, 4])
    b = rt.step_batch(ex, 5, 0, 8, [2, 4])
    assert np.array_equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2]
    rows, c, orders = a
    for i, order in zip(rows, orders):
        assert len(order) == min(c, ex.candidates.valid[i].sum()) and ex.labels[i, order].sum() == 1
    other_rows, _, other_orders = rt.step_batch(ex, 6, 0, 8, [2, 4])
    assert other_orders != orders or not np.array_equal(other_rows, rows)


def test_an_interrupted_run_resumes_to_the_same_weights(tiny_setup, tmp_path, monkeypatch):
    import torch
    from safetensors.torch import load_file

    P, _, tr = tiny_setup
    R = P.rerank.model_copy(update={"train_steps": 6, "save_steps": 3, "packed": True})
    model_dir = resolve_model_dir(P)
    whole = rt.train(model_dir, tr.examples, R, tmp_path / "whole", threads=1, progress=False)

    real, calls = rt.step_batch, {"n": 0}

    def crash_at_step_5(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*args, **kw)
    monkeypatch.setattr(rt, "step_batch", crash_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        rt.train(model_dir, tr.examples, R, tmp_path / "cut", threads=1, progress=False)
    assert (tmp_path / "cut" / "checkpoint" / "trainer.pt").exists() and not (tmp_path / "cut" / "model").exists()
    monkeypatch.setattr(rt, "step_batch", real)
    resumed = rt.train(model_dir, tr.examples, R, tmp_path / "cut", threads=1, progress=False)
    assert [h["step"] for h in rt.training_record(resumed)["history"]] == list(range(1, 7))
    a, b = load_file(str(whole / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_the_run_folder_is_keyed_by_recipe_and_examples(tiny_setup):
    P, enc, tr = tiny_setup
    model_dir = resolve_model_dir(P)
    a = rt.run_dir(model_dir, tr.examples, P.rerank, 0, enc.fingerprint)
    def other(**update):
        return rt.run_dir(model_dir, tr.examples, P.rerank.model_copy(update=update), 0, enc.fingerprint)
    assert a == other(max_minutes=5.0)                                 # the budget is not the recipe
    assert a != other(learning_rate=1e-4)
    assert a != rt.run_dir(model_dir, tr.examples, P.rerank, 1, enc.fingerprint)
    assert a != rt.run_dir(model_dir, tr.examples, P.rerank, 0, "another-retriever")


def test_the_new_head_trains_at_its_own_learning_rate(tiny_setup):
    """The random 2-class head gets ``head_learning_rate``, every encoder weight ``learning_rate``."""
    P, _, _ = tiny_setup
    R = P.rerank.model_copy(update={"learning_rate": 1e-5, "head_learning_rate": 1e-3})
    model = load_model(resolve_model_dir(P))
    body, head = rt.optimizer(model, R).param_groups
    assert (body["lr"], head["lr"]) == (1e-5, 1e-3)
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in head["params"]} == {"classifier.weight", "classifier.bias"}
    assert len(body["params"]) + len(head["params"]) == len(list(model.parameters()))
