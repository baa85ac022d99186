"""Training a residual reranker: score = w x prior cosine + b + f(term, candidate), f zero at step 0.

f is the cross-encoder scorer of :mod:`lib.engines.cross` (the start encoder, its zero-initialised
token head, a read-out of the candidate's tokens). At step 0 every f is 0, so the reranked order *is*
the prior's (the retriever's at scoring time): training moves it only where the loss says. ``w`` and
``b`` start from a fit of the prior alone on the miner's dev lists (:func:`fit_prior`) and are learned
with the rest (``residual_weight: learned``) or kept (``fixed``). In training the prior is the miner's
cosine (its lists, :mod:`lib.rerank.data`); at scoring, the retriever's, its weight chosen on the dev
queries (:func:`lib.rerank.evaluate.choose_weight`).

Two training paths, one model and one loss per objective:

* **base** (one row per pair): a sentence-transformers ``CrossEncoder`` trained by ``CrossEncoderTrainer``
  with its losses: ``listwise`` = ``MultipleNegativesRankingLoss`` over the gold and C-1 hard negatives
  (softmax cross-entropy, no in-batch negatives, raw scores), ``bce`` = ``BinaryCrossEntropyLoss`` on
  labelled pairs. The model's one module, :class:`PairModule`, is hand-written: sentence-transformers'
  ``Transformer`` module has neither attention groups, nor a read-out over one segment, nor a prior
  added to the score (its losses hand the model texts only, so the prior is looked up by the pair's
  texts);
* **paper** (one row per term, candidates attending to each other, order shuffled each step): a plain
  loop, because every sentence-transformers loss scores one pair per forward pass; the same two losses
  written on the (terms x C) score matrix.

The shared-prefix layout is never trained: it is base's model, scored with the term computed once.

Budget: ``train_steps`` optimizer steps cut by ``max_minutes``; every ``eval_steps`` the dev queries are
scored and the best step is kept (steps chosen on dev); the learning rate is chosen among
``learning_rates`` on the same dev queries (:func:`train_chosen`). AdamW, the encoder at the learning
rate, the head and (w, b) at ``head_learning_rate`` (a zero head at the encoder's rate leaves the
encoder without gradient for hundreds of steps), linear warm-up then decay, gradients clipped at 1.
The finished model is a reranker folder under a content key (start model, lists, dev lists, recipe,
learning rate, seed, code); it is written whole (:func:`lib.atomic.atomic_dir`), so an interrupted run
leaves nothing a later run trusts, and restarts.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from lib import atomic, paths
from lib.engines.torch import device_of
from lib.fingerprint import code_digest, engine_versions, model_fingerprint, settings_key
from lib.params import Rerank
from lib.rerank.candidates import Candidates
from lib.rerank.data import Examples
from lib.rerank.inputs import (Inputs, Special, build, candidate_tokens, collate, pool_spans, records_of_rows,
                               special_tokens, text_tokenizer, token_ids)
from lib.train.pairs import normalise

log = logging.getLogger("lib.rerank.train")

RECORD = "training.json"
# recipe fields that shape the weights (max_minutes, device and the 04 switches do not)
RECIPE_FIELDS = ("objective", "readout", "definition_tokens", "residual_weight", "train_candidates", "train_steps",
                 "eval_steps", "head_learning_rate", "warmup_ratio", "batch_size", "max_seq_length",
                 "max_term_tokens", "max_candidate_tokens")
KEY_SEP = "\x1f"   # joins a candidate's string and concept into the one text a sentence-transformers column holds
MAX_PRIOR_WEIGHT = 200.0


@dataclass(frozen=True)
class Variant:
    """What is trained: the ``layout`` (base or paper) and whether candidates show their definition."""

    layout: str
    definitions: bool

    def name(self, readout: str) -> str:
        return f"{self.layout}{'+def' if self.definitions else ''} [{readout}]"


class Texts:
    """Token ids of terms and candidates for one start model and variant, computed once each."""

    def __init__(self, model_dir: Path, R: Rerank, definitions: dict[str, str] | None):
        self.tokenizer = text_tokenizer(model_dir)
        self.special: Special = special_tokens(model_dir, self.tokenizer)
        self.R = R
        self.definitions = definitions
        self._terms: dict[str, list[int]] = {}
        self._cands: dict[tuple[str, str], list[int]] = {}

    def terms(self, texts: Sequence[str]) -> list[list[int]]:
        new = sorted({normalise(t) for t in texts} - set(self._terms))
        self._terms.update(zip(new, token_ids(self.tokenizer, new, self.R.max_term_tokens)))
        return [self._terms[normalise(t)] for t in texts]

    def candidates(self, strings: Sequence[str], concepts: Sequence[str]) -> list[list[int]]:
        keys = [(normalise(str(s)), str(c) if self.definitions else "") for s, c in zip(strings, concepts)]
        new = sorted(set(keys) - set(self._cands))
        if new:
            defs = [self.definitions.get(c, "") for _, c in new] if self.definitions else None
            ids = candidate_tokens(self.tokenizer, [s for s, _ in new], defs, self.R.max_candidate_tokens,
                                   self.R.definition_tokens)
            self._cands.update(zip(new, ids))
        return [self._cands[k] for k in keys]

    def inputs(self, terms: Sequence[str], cands: Candidates, layout: str,
               order: Sequence[Sequence[int]] | None = None) -> Inputs:
        """Rows of ``layout`` for terms and their candidates (empty slots skipped)."""
        flat = self.candidates(cands.strings[cands.valid], cands.concepts[cands.valid])
        it = iter(flat)
        rows = [[next(it) if v else None for v in vrow] for vrow in cands.valid]
        return build(self.terms(terms), rows, self.special, self.R.max_seq_length, layout, self.R.readout, order)


# ---------------------------------------------------------------------------------------------
# The prior alone, fitted on dev lists


def prior_loss(w: float, b: float, scores: np.ndarray, labels: np.ndarray, objective: str) -> float:
    """Mean loss of ``w x score + b`` alone on lists (NaN / -inf scores: empty slots)."""
    ok = np.isfinite(scores)
    z = np.where(ok, w * np.where(ok, scores, 0) + b, -np.inf)
    if objective == "bce":
        zz, y = z[ok], labels[ok].astype(float)
        return float(np.mean(np.logaddexp(0, zz) - y * zz))
    top = np.max(z, axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.sum(np.exp(z - top), axis=1))
    pos = np.where(labels & ok, z, -np.inf)
    ptop = np.max(pos, axis=1, keepdims=True)
    lse_pos = ptop[:, 0] + np.log(np.sum(np.exp(pos - ptop), axis=1))
    keep = np.isfinite(lse_pos)
    return float(np.mean(lse[keep] - lse_pos[keep]))


def fit_prior(cands: Candidates, gold: Sequence, objective: str) -> tuple[float, float]:
    """(w, b) minimising the objective of ``w x cosine + b`` on lists (the miner's dev lists): the
    residual prior's starting scale (scipy's L-BFGS-B; w bounded: a prior that separates every list
    perfectly would grow without end)."""
    from scipy.optimize import minimize

    labels = np.array([[c in (g if isinstance(g, (tuple, list)) else (g,)) for c in row]
                       for row, g in zip(cands.concepts, gold)], dtype=bool)
    scores = np.where(cands.valid, cands.scores, np.nan).astype(np.float64)
    if not labels.any():
        return 20.0, 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        res = minimize(lambda x: prior_loss(x[0], x[1], scores, labels, objective), x0=np.array([20.0, -10.0]),
                       method="L-BFGS-B", bounds=[(0.0, MAX_PRIOR_WEIGHT), (-MAX_PRIOR_WEIGHT, MAX_PRIOR_WEIGHT)])
    w, b = float(res.x[0]), float(res.x[1]) if objective == "bce" else 0.0
    return max(w, 0.0), b


# ---------------------------------------------------------------------------------------------
# The training lists as batches


def lists_of(ex: Examples, c: int) -> tuple[np.ndarray, np.ndarray]:
    """Per usable training query, the slots of one gold and its ``c - 1`` hardest negatives (miner order):
    (query rows, (rows x c) slots, the gold first). Queries with fewer negatives are left out."""
    rows, slots = [], []
    for i in range(len(ex.queries)):
        valid = ex.candidates.valid[i]
        golds = np.flatnonzero(ex.labels[i] & valid)
        negs = np.flatnonzero(~ex.labels[i] & valid)[:c - 1]
        if len(golds) and len(negs) == c - 1:
            rows.append(i)
            slots.append(np.concatenate([[golds[0]], negs]))
    return np.asarray(rows, dtype=np.int64), np.asarray(slots, dtype=np.int64).reshape(len(rows), c)


def cand_key(string: str, concept: str) -> str:
    return f"{string}{KEY_SEP}{concept}"


# ---------------------------------------------------------------------------------------------
# base: a sentence-transformers CrossEncoder


def pair_module(scorer, texts: Texts, priors: dict[tuple[str, str], float]):
    """The one module of the base CrossEncoder (see the module docstring for why it is hand-written)."""
    import torch
    from sentence_transformers.base.modules.input_module import InputModule

    from lib.engines.cross import INPUTS, save_scorer

    class PairModule(InputModule):
        def __init__(self):
            super().__init__()
            self.scorer = scorer

        def preprocess(self, inputs, prompt=None, **kwargs):
            terms = [a for a, _ in inputs]
            parts = [str(b).split(KEY_SEP) for _, b in inputs]
            cands = texts.candidates([p[0] for p in parts], [p[1] for p in parts])
            inp = build(texts.terms(terms), [[c] for c in cands], texts.special, texts.R.max_seq_length, "base",
                        texts.R.readout)
            feats = {k: torch.from_numpy(v) for k, v in collate(inp, range(len(inp.ids)), texts.special.pad).items()}
            feats.update(read_row=torch.from_numpy(inp.row), read_start=torch.from_numpy(inp.start),
                         read_stop=torch.from_numpy(inp.stop))
            feats["prior"] = torch.tensor([priors[(a, b)] for a, b in inputs], dtype=torch.float32)
            return feats

        def forward(self, features, **kwargs):
            tok = self.scorer(**{k: features[k] for k in INPUTS if k in features})
            f = pool_spans(tok, features["read_row"], features["read_start"], features["read_stop"])
            features["scores"] = (f + self.scorer.weight * features["prior"] + self.scorer.bias).unsqueeze(1)
            return features

        def save(self, output_path: str, *args, **kwargs) -> None:
            save_scorer(self.scorer, Path(output_path), {})

    return PairModule()


def _st_dataset(ex: Examples, R: Rerank, c: int):
    """(dataset, priors): listwise rows (query, positive, negative_1..c-1) or bce rows (query, candidate,
    label); candidates as ``string<US>concept`` texts; priors: the miner's cosine of every pair."""
    from datasets import Dataset

    rows, slots = lists_of(ex, c)
    key = np.vectorize(cand_key, otypes=[object])(ex.candidates.strings, ex.candidates.concepts)
    priors = {(ex.queries[i], key[i, j]): float(ex.candidates.scores[i, j]) for i, s in zip(rows, slots) for j in s}
    q = [ex.queries[i] for i in rows]
    if R.objective == "listwise":
        cols = {"query": q, "positive": [key[i, s[0]] for i, s in zip(rows, slots)]}
        cols.update({f"negative_{k}": [key[i, s[k]] for i, s in zip(rows, slots)] for k in range(1, c)})
    else:
        cols = {"query": [ex.queries[i] for i, s in zip(rows, slots) for _ in s],
                "candidate": [key[i, j] for i, s in zip(rows, slots) for j in s],
                "label": [float(k == 0) for _, s in zip(rows, slots) for k in range(len(s))]}
    return Dataset.from_dict(cols), priors, len(rows)


# ---------------------------------------------------------------------------------------------
# Shared by both paths


def optimizer(model, R: Rerank, lr: float, steps: int):
    """AdamW (encoder at ``lr``, head and prior at ``head_learning_rate``) and a linear warm-up/decay."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    fast = [p for n, p in model.named_parameters() if not n.startswith("encoder.") and p.requires_grad]
    body = [p for n, p in model.named_parameters() if n.startswith("encoder.")]
    opt = torch.optim.AdamW([{"params": body, "lr": lr}, {"params": fast, "lr": R.head_learning_rate,
                                                           "weight_decay": 0.0}], weight_decay=0.01)
    return opt, get_linear_schedule_with_warmup(opt, int(R.warmup_ratio * steps), steps)


@dataclass
class DevLists:
    """Held-out lists (the retriever's, for the dev queries) on which steps and learning rates are chosen."""

    queries: list[str]
    gold: list[tuple[str, ...]]
    candidates: Candidates


def dev_lists_of(dev: DevLists, R: Rerank) -> DevLists:
    """The dev lists a training run is selected on: the first ``rerank.candidates`` slots."""
    return DevLists(dev.queries, dev.gold, dev.candidates.head(min(R.candidates, dev.candidates.width)))


@dataclass
class Curve:
    """The dev curve of one run and the best state seen (kept in memory: a small encoder)."""

    points: list[dict] = field(default_factory=list)
    best: dict | None = None
    state: dict | None = None

    def add(self, step: int, acc: float, weight: float, model) -> None:
        self.points.append({"step": step, "dev_acc@1": acc, "weight": weight})
        if self.best is None or acc > self.best["dev_acc@1"]:
            self.best = self.points[-1]
            self.state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def dev_accuracy(model, texts: Texts, dev: DevLists, layout: str, device: str,
                 token_budget: int = 4096) -> tuple[float, float]:
    """Dev Acc@1 of ``w x cosine + f`` with w chosen on these lists, and that w."""
    from lib.rerank.evaluate import choose_weight
    from lib.rerank.model import TorchCross, score_inputs

    was = model.training
    model.eval()
    f = score_inputs(TorchCross(model, device=device), texts.inputs(dev.queries, dev.candidates, layout),
                     texts.special.pad, token_budget, token_budget)
    model.train(was)
    w, acc = choose_weight(dev.candidates, f, dev.gold, trained=float(model.weight.detach()))
    return float(acc[w]), w


def run_dir(start_dir: Path, ex: Examples, dev: DevLists, R: Rerank, variant: Variant, lr: float, seed: int,
            prior: tuple[float, float], definitions: dict[str, str] | None = None) -> Path:
    """Content-keyed folder of one trained reranker (under ``.cache/models/rerankers``)."""
    recipe = {k: getattr(R, k) for k in RECIPE_FIELDS}
    dev = dev_lists_of(dev, R)
    dev_key = settings_key(q=dev.queries, c=dev.candidates.concepts.tolist(), s=dev.candidates.strings.tolist())
    shown = shown_definitions(variant, R, definitions)
    defs_key = settings_key(d=sorted(shown.items())) if shown else None
    key = settings_key(model=model_fingerprint(start_dir), examples=ex.key(), dev=dev_key, recipe=recipe, lr=lr,
                       layout=variant.layout, definitions=defs_key, seed=seed,
                       prior=[round(p, 6) for p in prior], code=code_digest("rerank"), versions=engine_versions())
    name = f"{variant.layout}{'-def' if variant.definitions else ''}-{R.objective}-{key}"
    return paths.models_dir() / "rerankers" / name


def training_record(model_path: Path) -> dict:
    """The record written beside a finished model folder."""
    return json.loads((Path(model_path).parent / RECORD).read_text(encoding="utf-8"))


def train(start_dir: Path, ex: Examples, dev: DevLists, R: Rerank, variant: Variant, lr: float, work: Path,
          prior: tuple[float, float], definitions: dict[str, str] | None = None, seed: int = 0,
          threads: int | None = None, progress: bool = True) -> Path:
    """Train (or find) one reranker into ``work/model``; ``work/training.json`` holds the record (the dev
    curve, the best step kept, timing). Returns the model folder."""
    import torch

    from lib.engines.cross import load_scorer, model_kind, new_scorer, save_scorer
    from lib.rerank.model import quiet_load

    if (work / "model" / "config.json").exists() and (work / RECORD).exists():
        return work / "model"
    dev = dev_lists_of(dev, R)
    if min(R.train_candidates) < 2:
        raise ValueError(f"rerank.train_candidates must be >= 2 (a gold and at least one negative), got "
                         f"{R.train_candidates}")
    if variant.layout not in ("base", "paper"):
        raise ValueError(f"only base and paper layouts are trained (shared-prefix scores base's model), "
                         f"got {variant.layout!r}")
    device = device_of(R.device)
    if device == "cpu":
        torch.set_num_threads(threads or os.cpu_count() or 1)
    torch.manual_seed(seed)
    if model_kind(start_dir) == "reranker":   # fine-tuning a trained reranker (the supervised cross-fit)
        model = quiet_load(load_scorer, start_dir, "sdpa")
        model.weight.requires_grad_(R.residual_weight == "learned")
        model.bias.requires_grad_(R.residual_weight == "learned")
    else:
        model = quiet_load(new_scorer, start_dir, prior[0], prior[1], R.residual_weight == "learned")
    model = model.to(device).train()
    texts = Texts(start_dir, R, shown_definitions(variant, R, definitions))
    curve = Curve()
    curve.add(0, *dev_accuracy(model, texts, dev, variant.layout, device), model)
    t0 = time.perf_counter()
    run = _train_st if variant.layout == "base" else _train_paper
    history, stopped_by, pairs = run(model, texts, ex, dev, R, lr, seed, device, curve, progress)
    seconds = time.perf_counter() - t0
    model.load_state_dict(curve.state)
    record = {"variant": variant.name(R.readout), "layout": variant.layout, "definitions": variant.definitions,
              "readout": R.readout, "objective": R.objective, "learning_rate": lr, "steps": len(history),
              "train_steps": R.train_steps, "stopped_by": stopped_by, "best_step": curve.best["step"],
              "best_dev_acc@1": curve.best["dev_acc@1"], "dev_curve": curve.points, "seconds": seconds,
              "minutes": seconds / 60, "pairs": pairs, "pairs_per_s": pairs / seconds if seconds else None,
              "device": device, "threads": torch.get_num_threads() if device == "cpu" else None, "seed": seed,
              "queries": len(ex.queries), "prior_start": {"weight": prior[0], "bias": prior[1]},
              "prior_trained": {"weight": float(model.weight.detach()), "bias": float(model.bias.detach())},
              "start_model": str(start_dir), "recipe": {k: getattr(R, k) for k in RECIPE_FIELDS},
              "history": history}
    work.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_dir(work / "model") as tmp:
        save_scorer(model.eval(), tmp, {k: record[k] for k in ("variant", "layout", "definitions", "readout",
                                                                 "objective", "learning_rate", "best_step")}
                    | {"learn_weight": R.residual_weight == "learned"}, start_dir)
    atomic.write_json(work / RECORD, record)
    return work / "model"


def shown_definitions(variant: Variant, R: Rerank, definitions: dict[str, str] | None) -> dict[str, str] | None:
    """The definitions a variant shows with its candidates (None: names only)."""
    return definitions if variant.definitions and R.definition_tokens > 0 and definitions else None


def _out_of_time(R: Rerank, t0: float) -> bool:
    return R.max_minutes is not None and time.perf_counter() - t0 > 60 * R.max_minutes


def _train_st(model, texts: Texts, ex: Examples, dev: DevLists, R: Rerank, lr: float, seed: int, device: str,
              curve: Curve, progress: bool) -> tuple[list[dict], str, int]:
    """The base layout through sentence-transformers (CrossEncoder, CrossEncoderTrainer, its losses)."""
    import tempfile

    from sentence_transformers.cross_encoder import (CrossEncoder, CrossEncoderTrainer,
                                                     CrossEncoderTrainingArguments)
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss, MultipleNegativesRankingLoss
    from transformers import TrainerCallback

    c = max(R.train_candidates)
    dataset, priors, n_lists = _st_dataset(ex, R, c)
    if n_lists == 0:
        raise ValueError(f"no training query has a gold and {c - 1} negatives: cannot train")
    ce = CrossEncoder(modules=[pair_module(model, texts, priors)], device=device)
    class HardNegativesOnly(MultipleNegativesRankingLoss):
        def get_in_batch_negatives(self, anchors, candidates):
            """None: each list holds C-1 hard negatives already; another query's candidates are easy ones
            and have no prior (``num_negatives=0`` is refused by the sampler, hence this override)."""
            return iter(())

    loss = HardNegativesOnly(ce, num_negatives=None, scale=1.0, activation_fn=None) \
        if R.objective == "listwise" else BinaryCrossEntropyLoss(ce)
    per_step = R.batch_size if R.objective == "listwise" else R.batch_size * c
    history: list[dict] = []
    state = {"stopped_by": "steps", "t0": time.perf_counter(), "last": time.perf_counter()}

    class Budget(TrainerCallback):
        """Dev curve every ``eval_steps``, the time cap, and the per-step history."""

        def on_step_end(self, args, st, control, **kw):
            now = time.perf_counter()
            history.append({"step": st.global_step, "seconds": now - state["last"], "pairs": per_step * c
                            if R.objective == "listwise" else per_step})
            state["last"] = now
            if st.global_step % R.eval_steps == 0 or st.global_step == R.train_steps:
                curve.add(st.global_step, *dev_accuracy(model, texts, dev, "base", device), model)
            if _out_of_time(R, state["t0"]):
                state["stopped_by"] = "minutes"
                control.should_training_stop = True
            return control

        def on_log(self, args, st, control, logs=None, **kw):
            if logs and "loss" in logs and history:
                history[-1]["loss"] = float(logs["loss"])

    class Trainer(CrossEncoderTrainer):
        def add_model_card_callback(self, default_args_dict):
            """No model card (its column statistics tokenize single texts): the model is saved as a reranker
            folder, not a sentence-transformers one (the override sentence-transformers documents)."""

    with tempfile.TemporaryDirectory(prefix="rerank-st-") as out:
        args = CrossEncoderTrainingArguments(
            output_dir=out, max_steps=R.train_steps, per_device_train_batch_size=per_step, learning_rate=lr,
            max_grad_norm=1.0, seed=seed, data_seed=seed, save_strategy="no",
            logging_steps=1, report_to="none", use_cpu=device == "cpu", disable_tqdm=not progress,
            dataloader_drop_last=True)
        trainer = Trainer(model=ce, args=args, train_dataset=dataset, loss=loss,
                                      optimizers=optimizer(model, R, lr, R.train_steps), callbacks=[Budget()])
        trainer.train()
    if history and history[-1]["step"] % R.eval_steps and curve.points[-1]["step"] != history[-1]["step"]:
        curve.add(history[-1]["step"], *dev_accuracy(model, texts, dev, "base", device), model)
    return history, state["stopped_by"], sum(h["pairs"] for h in history)


def paper_loss(scores, labels, objective: str):
    """The sentence-transformers losses' math on a (terms x C) score matrix whose column 0 is the gold:
    softmax cross-entropy (``MultipleNegativesRankingLoss``) or per-slot BCE (``BinaryCrossEntropyLoss``)."""
    import torch.nn.functional as F

    if objective == "listwise":
        return F.cross_entropy(scores, labels.argmax(1))
    return F.binary_cross_entropy_with_logits(scores, labels.float())


def _train_paper(model, texts: Texts, ex: Examples, dev: DevLists, R: Rerank, lr: float, seed: int, device: str,
                 curve: Curve, progress: bool) -> tuple[list[dict], str, int]:
    """The paper's packed layout: one row per query, its C candidates in a shuffled order each step."""
    import torch

    lists = {c: lists_of(ex, c) for c in sorted(set(R.train_candidates))}
    rows = lists[max(lists)][0]          # queries with the most negatives: every C can be drawn for them
    if len(rows) == 0:
        raise ValueError(f"no training query has a gold and {max(lists) - 1} negatives: cannot train")
    opt, sched = optimizer(model, R, lr, R.train_steps)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(rows))
    history, stopped_by, t0, at = [], "steps", time.perf_counter(), 0
    for step in tqdm(range(1, R.train_steps + 1), desc="train paper", disable=not progress, mininterval=5.0):
        s0 = time.perf_counter()
        if at + R.batch_size > len(perm):
            perm, at = rng.permutation(len(rows)), 0
        take = perm[at:at + R.batch_size]
        at += R.batch_size
        c = int(rng.choice(sorted(lists)))
        q = rows[take]
        slots = lists[max(lists)][1][:, :c]      # the gold and the c-1 hardest negatives
        sub = Candidates(np.take_along_axis(ex.candidates.concepts[q], slots[take], 1),
                         np.take_along_axis(ex.candidates.strings[q], slots[take], 1),
                         np.take_along_axis(ex.candidates.scores[q], slots[take], 1))
        order = [list(rng.permutation(c)) for _ in q]
        inp = texts.inputs([ex.queries[i] for i in q], sub, "paper", order)
        loss = paper_loss(_residual_scores(model, inp, sub, texts, device), _gold_first(len(q), c, device),
                          R.objective)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        history.append({"step": step, "loss": float(loss.detach()), "c": c, "pairs": len(q) * c,
                        "seconds": time.perf_counter() - s0})
        if step % R.eval_steps == 0 or step == R.train_steps:
            curve.add(step, *dev_accuracy(model, texts, dev, "paper", device), model)
        if _out_of_time(R, t0):
            stopped_by = "minutes"
            break
    if history and curve.points[-1]["step"] != history[-1]["step"]:
        curve.add(history[-1]["step"], *dev_accuracy(model, texts, dev, "paper", device), model)
    return history, stopped_by, sum(h["pairs"] for h in history)


def _gold_first(n: int, c: int, device: str):
    import torch
    y = torch.zeros((n, c), dtype=torch.long, device=device)
    y[:, 0] = 1
    return y


def _residual_scores(model, inp: Inputs, cands: Candidates, texts: Texts, device: str, token_budget: int = 4096):
    """w x prior + b + f as a (terms x slots) torch matrix (every slot filled), rows run in length-sorted
    calls under ``token_budget`` padded tokens."""
    import torch

    from lib.rerank.inputs import row_batches

    parts, which = [], []
    for rows in row_batches(inp, token_budget, token_budget):
        idx, local = records_of_rows(inp, rows)
        feeds = {k: torch.from_numpy(v).to(device) for k, v in collate(inp, rows, texts.special.pad).items()}
        tok = model(**feeds)
        parts.append(pool_spans(tok, torch.from_numpy(local).to(device), torch.from_numpy(inp.start[idx]).to(device),
                                torch.from_numpy(inp.stop[idx]).to(device)))
        which.append(idx)
    order = np.concatenate(which)
    f = torch.zeros((inp.n_terms, inp.n_slots), device=device, dtype=parts[0].dtype)
    f = f.index_put((torch.from_numpy(inp.term[order]).to(device), torch.from_numpy(inp.slot[order]).to(device)),
                    torch.cat(parts))
    prior = torch.from_numpy(np.asarray(cands.scores, dtype=np.float32)).to(device)
    return f + model.weight * prior + model.bias


def train_chosen(start_dir: Path, ex: Examples, dev: DevLists, R: Rerank, variant: Variant,
                 prior: tuple[float, float], definitions: dict[str, str] | None = None, seed: int = 0,
                 threads: int | None = None, learning_rates: Sequence[float] | None = None, progress: bool = True,
                 on_done: Callable[[Path], None] | None = None) -> tuple[Path, list[dict]]:
    """Train one reranker per learning rate (``learning_rates``, default ``R.learning_rates``) and keep the
    one with the best dev Acc@1 (ties: the first). Returns (its folder, every run's record)."""
    runs = []
    for lr in (learning_rates or R.learning_rates):
        work = run_dir(start_dir, ex, dev, R, variant, lr, seed, prior, definitions)
        path = train(start_dir, ex, dev, R, variant, lr, work, prior, definitions, seed, threads, progress)
        runs.append((path, training_record(path)))
        if on_done:
            on_done(path)
    best = max(range(len(runs)), key=lambda i: (runs[i][1]["best_dev_acc@1"], -i))
    return runs[best][0], [r for _, r in runs]
