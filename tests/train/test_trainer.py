"""Training on the tiny model: a few steps, the loss falls, the dev metric is computed, an interrupted run
resumes, the soup interpolates, and a trained model never shares a cache key or folder with its start."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lib import params
from lib.engines import hub
from lib.errors import ModelNotAvailableError
from lib.fingerprint import model_fingerprint
from lib.train import trainer


def tiny_recipe(**training) -> params.Params:
    recipe = {"base": "tiny", "max_steps": 24, "eval_steps": 8, "save_steps": 8, "dev_concepts": 30,
              "dev_distractors": 200, "batch_size": 32, "learning_rate": 1e-3, "max_seq_length": 24,
              "max_pairs_per_concept": 5, "device": "cpu", **training}
    return params.validate({"name": "tiny-sap", "model": "trained", "max_length": 32, "training": recipe})


@pytest.fixture(scope="module")
def trained(session_dirs):
    import os
    os.environ["COMPENDIUM_CACHE"] = str(session_dirs["cache"])
    P = tiny_recipe()
    return P, trainer.train(P)


def test_a_few_steps_lower_the_loss_and_log_the_dev_metric(trained):
    P, out = trained
    record = json.loads((out / trainer.RECORD).read_text())
    losses = [r["loss"] for r in record["history"] if "loss" in r]
    assert len(losses) >= 3 and losses[-1] < losses[0]
    devs = [r for r in record["history"] if "dev_acc@1" in r]
    assert devs[0]["step"] == 0 and devs[0]["phase"] == "start"  # the start model is scored too
    assert {r["step"] for r in devs} >= {8, 16, 24}
    assert 0.0 <= record["final_dev"]["dev_acc@1"] <= 1.0
    assert record["stopped_by"] == "max_steps" and record["steps"] == 24
    assert record["counts"]["pairs_dropped_lay"] >= 0 and record["phases"][0]["steps"] == 24


def test_trained_model_resolves_like_any_model_and_never_shares_the_base_key(trained):
    P, out = trained
    assert hub.resolve_model_dir(P) == out
    base_dir = hub.resolve_model_dir(params.load("tiny"))
    assert model_fingerprint(out) != model_fingerprint(base_dir)
    # a changed recipe, seed or pooling is another folder
    keys = {hub.trained_model_dir(p).name for p in
            (P, tiny_recipe(max_steps=25), tiny_recipe(objective="multisim"),
             params.validate({**P.model_dump(), "seed": 1}))}
    assert len(keys) == 4


def test_the_trained_folder_loads_in_the_study_engine(trained):
    from lib.formats import load_encoder

    P, _ = trained
    vectors = load_encoder(P, "fp32-torch").encode(["abnormal heart", "skin rash"])
    assert vectors.shape[0] == 2 and np.isfinite(vectors).all()


def test_an_unbuilt_trained_model_names_the_make_target():
    P = tiny_recipe(max_steps=3)
    with pytest.raises(ModelNotAvailableError, match="make models-trained"):
        hub.resolve_model_dir(P)


def test_soup_interpolates_between_start_and_trained(trained):
    from transformers import AutoModel

    P, out = trained
    base_dir = hub.resolve_model_dir(params.load("tiny"))
    start = AutoModel.from_pretrained(str(base_dir)).state_dict()
    end = AutoModel.from_pretrained(str(out)).state_dict()
    half = trainer.start_model(out, "mean", 24, "cpu")
    trainer.soup(half, base_dir, 0.5)
    key = "encoder.layer.0.attention.self.query.weight"
    got = half[0].auto_model.state_dict()[key]
    assert torch.allclose(got, 0.5 * (start[key] + end[key]), atol=1e-6)
    assert not torch.allclose(start[key], end[key])


def test_a_souped_recipe_reuses_the_trained_run(trained):
    P, out = trained
    souped = tiny_recipe(soup=0.5)
    path = trainer.train(souped)
    record = json.loads((path / trainer.RECORD).read_text())
    assert path != out and record["souped_from"] == str(out) and record["recipe"]["soup"] == 0.5


def test_an_interrupted_run_resumes_from_its_checkpoint(monkeypatch):
    P = tiny_recipe(max_steps=16, eval_steps=4, save_steps=4, learning_rate=5e-4)
    real = trainer._callback

    def crashing(history, phase, step0, max_minutes, stopped):
        cb = real(history, phase, step0, max_minutes, stopped)
        inner = cb.on_step_end

        def on_step_end(args, state, control, **kw):
            if state.global_step == 10:
                raise KeyboardInterrupt("simulated interruption")
            return inner(args, state, control, **kw)
        cb.on_step_end = on_step_end
        return cb

    monkeypatch.setattr(trainer, "_callback", crashing)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(P)
    out = hub.trained_model_dir(P)
    assert not out.exists()  # nothing that looks finished
    work = out.parent / ".work" / out.name / "phase-0"
    assert (work / "checkpoint-8").is_dir()
    monkeypatch.setattr(trainer, "_callback", real)
    trainer.train(P)
    record = json.loads((out / trainer.RECORD).read_text())
    steps = [r["step"] for r in record["history"] if "loss" in r]
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # no step logged twice after resuming
    assert record["steps"] == 16


def test_phases_split_the_budget_by_pair_count():
    import pandas as pd

    from lib.train.pairs import TrainingSet

    pairs = pd.DataFrame({"anchor": list("abcd"), "positive": list("efgh"), "concept": list("wxyz"),
                          "kind": ["synonym"] * 3 + ["definition"], "source": "hpo"})
    ts = TrainingSet(pairs, pd.DataFrame())
    assert [(n, len(p), s) for n, p, s in trainer.phases(ts, "second-phase", 100)] == \
        [("synonyms", 3, 75), ("definitions", 1, 25)]
    assert [(n, s) for n, _, s in trainer.phases(ts, "mixed", 100)] == [("all", 100)]


def test_distillation_targets_keep_the_teachers_cosines_where_a_centred_pca_would_not():
    """Teacher vectors sharing a mean direction (as sentence encoders' do): the uncentred SVD keeps their
    dot products, a centred PCA (stop 32's targets) shifts them all towards 0."""
    from sklearn.decomposition import PCA

    from lib.train.distill import reduce_targets
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 24)) * np.linspace(2, 0.1, 24) + 3.0 * rng.normal(size=24)  # anisotropic
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    ref = (unit @ unit.T)[np.triu_indices(300, 1)]
    t, info = reduce_targets(x, 8)
    assert t.shape == (300, 8) and np.allclose(np.linalg.norm(t, axis=1), 1, atol=1e-5)
    assert 0.9 < info["explained_variance"] <= 1
    ours = (t @ t.T)[np.triu_indices(300, 1)]
    pca = PCA(8).fit_transform(unit)
    pca /= np.linalg.norm(pca, axis=1, keepdims=True)
    centred = (pca @ pca.T)[np.triu_indices(300, 1)]
    assert np.abs(ours - ref).mean() < 0.5 * np.abs(centred - ref).mean()
    same, info = reduce_targets(x, 24)
    assert "explained_variance" not in info and np.allclose(same, unit, atol=1e-6)
    padded, _ = reduce_targets(x[:5], 8)  # fewer strings than dimensions (tiny tests)
    assert padded.shape == (5, 8) and np.allclose(np.linalg.norm(padded, axis=1), 1, atol=1e-5)


def test_targets_are_rotated_onto_the_student_without_changing_their_cosines():
    from scipy.stats import ortho_group

    from lib.train.distill import rotate_onto
    rng = np.random.default_rng(1)
    start = rng.normal(size=(200, 16))
    start /= np.linalg.norm(start, axis=1, keepdims=True)
    targets = (start @ ortho_group.rvs(16, random_state=2)).astype(np.float32)  # the same geometry, turned
    rotated, info = rotate_onto(targets, start)
    assert info["cosine_to_start_before"] < 0.3 and info["cosine_to_start_after"] > 0.999
    assert np.allclose(rotated @ rotated.T, targets @ targets.T, atol=1e-4)


def test_self_distillation_student_moves_towards_the_teacher_on_training_strings_only(trained):
    """BioLORD's phase 2 on the tiny models: the student (tiny) learns tiny-SAP's vectors of the training
    strings; no lay term is ever embedded for it."""
    from lib.data.hpo import load_hpo
    from lib.formats import load_encoder
    from lib.text import match_key
    from lib.train.distill import training_strings
    from lib.train.pairs import training_set

    teacher = params.load("tiny-sap")
    trainer.train(teacher)
    P = tiny_recipe(objective="distill", teacher="tiny-sap", learning_rate=2e-3)
    ts = training_set(P)
    texts = training_strings(ts.pairs)
    lay = {match_key(s) for s in list(ts.dev["query"]) + load_hpo().lexicon.Terme.tolist()}
    assert {match_key(t) for t in texts}.isdisjoint(lay)
    out = trainer.train(P)
    record = json.loads((out / trainer.RECORD).read_text())
    losses = [r["loss"] for r in record["history"] if "loss" in r]
    assert losses[-1] < losses[0] and record["recipe"]["teacher"] == "tiny-sap"
    targets = record["distillation"]["all"]
    assert targets["strings"] == len(texts) and targets["teacher"] == "tiny-sap"
    probe = texts[:200]
    iu = np.triu_indices(len(probe), 1)

    def gap(model) -> float:  # the student learns the teacher's cosines (its frame is rotated, not the same)
        v = load_encoder(model, "fp32-torch").encode(probe)
        return float(np.abs((v @ v.T)[iu] - (t @ t.T)[iu]).mean())
    t = load_encoder(teacher, "fp32-torch").encode(probe)
    assert gap(P) < gap(params.load("tiny"))


def test_the_distillation_code_keys_only_the_models_with_a_teacher(monkeypatch):
    """An edit of lib/train/distill.py retrains the distilled models and no self-aligned one."""
    from lib import fingerprint
    P, sap = tiny_recipe(objective="distill", teacher="tiny-sap"), params.load("tiny-sap")
    assert "code:distill" in hub.training_inputs(P) and "code:distill" not in hub.training_inputs(sap)
    before = hub.trained_model_dir(sap), hub.trained_model_dir(P)
    monkeypatch.setitem(fingerprint.CODE_KEYS, "distill", ("lib/train/pairs.py",))  # as if distill.py changed
    assert hub.trained_model_dir(sap) == before[0] and hub.trained_model_dir(P) != before[1]
