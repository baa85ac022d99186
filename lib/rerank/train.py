"""Training a reranker: base or packed layout, per-[MASK] BCE or listwise softmax, seeded and resumable.

A plain PyTorch loop, on purpose: the packed layout needs its own collation ([MASK] positions per row)
and the listwise loss groups [MASK]s by term, so HF ``Trainer`` would need a custom collator and
``compute_loss`` anyway; the loop is shorter than those overrides and makes the budget and the resume
explicit.

* Batches are a pure function of (seed, step) (:func:`step_batch`): B queries, a C drawn from
  ``train_candidates``, for each query one gold and its C-1 hardest negatives in a shuffled order. Base
  and packed see the same candidates in the same order at the same step; a resumed run sees the batches
  an uninterrupted one would have.
* Objectives on the margins ``m = l1 - l0`` at the [MASK]s: ``bce`` = the paper's 2-class cross-entropy
  per [MASK] (= BCE on m); ``listwise`` = softmax cross-entropy over a query's C margins,
  ``logsumexp(all) - logsumexp(golds)`` (a query may have several gold concepts).
* Budget: ``train_steps`` optimizer steps (deterministic), cut by ``max_minutes`` of wall clock (the
  record says which stopped it). AdamW, linear warm-up then decay, gradients clipped at 1.
* Checkpoints every ``save_steps`` (model, optimizer, scheduler, RNG, history; written whole through
  :func:`lib.atomic.atomic_dir`); the finished model is a plain model folder (with the tokenizer) under
  a content key: the start model's fingerprint, the training examples' digest, the recipe, the code.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from lib import atomic, paths
from lib.fingerprint import code_digest, engine_versions, model_fingerprint, settings_key
from lib.params import Rerank
from lib.perf.timing import Pass
from lib.rerank.data import Examples
from lib.rerank.inputs import (Inputs, Special, build, collate, masks_of_rows, row_batches, special_tokens,
                               text_tokenizer, token_ids)
from lib.engines.torch import device_of
from lib.rerank.model import load_model, mask_logits

log = logging.getLogger("lib.rerank.train")

RECORD = "training.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
                   "merges.txt", "vocab.json", "sentencepiece.bpe.model", "spm.model")
# recipe fields that shape the weights (max_minutes, save_steps, device and the 04 switches do not)
RECIPE_FIELDS = ("packed", "objective", "train_candidates", "train_steps", "learning_rate", "head_learning_rate",
                 "warmup_ratio", "batch_size", "max_seq_length", "max_term_tokens", "max_candidate_tokens")


def variant_name(packed: bool, objective: str) -> str:
    return f"{'packed' if packed else 'base'}-{objective}"


@dataclass
class Tokenized:
    """Token ids of every query and candidate string of the examples, computed once."""

    special: Special
    terms: list[list[int]]
    strings: dict[str, list[int]]


def tokenize_examples(model_dir: Path, ex: Examples, R: Rerank) -> Tokenized:
    tok = text_tokenizer(model_dir)
    uniq = sorted({str(s) for s in ex.candidates.strings[ex.candidates.valid]})
    return Tokenized(special_tokens(model_dir, tok), token_ids(tok, ex.queries, R.max_term_tokens),
                     dict(zip(uniq, token_ids(tok, uniq, R.max_candidate_tokens))))


def step_batch(ex: Examples, step: int, seed: int, batch_size: int,
               train_candidates: Sequence[int]) -> tuple[np.ndarray, int, list[list[int]]]:
    """(query rows, C, the slots placed per query in their shuffled order) of one step: a pure function
    of (seed, step). A query holds one gold (drawn among its golds) and its C-1 best-ranked negatives."""
    rng = np.random.default_rng([seed, step])
    rows = np.sort(rng.choice(len(ex.queries), size=min(batch_size, len(ex.queries)), replace=False))
    c = int(rng.choice(np.asarray(train_candidates)))
    orders = []
    for i in rows:
        valid = ex.candidates.valid[i]
        golds = np.flatnonzero(ex.labels[i] & valid)
        negatives = np.flatnonzero(~ex.labels[i] & valid)[:max(0, c - 1)]
        chosen = np.concatenate([[rng.choice(golds)], negatives]) if len(golds) else negatives
        orders.append([int(j) for j in rng.permutation(chosen)])
    return rows, c, orders


def batch_inputs(tk: Tokenized, ex: Examples, rows: np.ndarray, orders: list[list[int]], packed: bool,
                 max_seq_length: int) -> Inputs:
    """The layout's rows for one step (slots as in ``ex``, placed in ``orders``)."""
    cands = [[tk.strings.get(str(s)) if ex.candidates.valid[i, j] else None
              for j, s in enumerate(ex.candidates.strings[i])] for i in rows]
    return build([tk.terms[i] for i in rows], cands, tk.special, max_seq_length, None if packed else 1, orders)


def loss_of(model, inputs: Inputs, labels: np.ndarray, objective: str, pad_id: int, device: str,
            token_budget: int = 4096):
    """The objective's loss on one step's inputs (``labels``: (queries, slots) bool).

    The rows are run in length-sorted calls of at most ``token_budget`` padded tokens (one padded call
    for all rows wasted up to two thirds of the base layout's tokens on padding); the [MASK] logits of
    all calls are gathered before the loss, so the loss (and the listwise grouping by query) is exactly
    that of one call.
    """
    import torch
    import torch.nn.functional as F

    parts, which = [], []
    for rows in row_batches(inputs, token_budget, token_budget):
        idx, local, pos = masks_of_rows(inputs, rows)
        feeds = {k: torch.from_numpy(v).to(device) for k, v in collate(inputs, rows, pad_id).items()}
        parts.append(mask_logits(model, feeds, torch.from_numpy(local).to(device), torch.from_numpy(pos).to(device)))
        which.append(idx)
    order = np.concatenate(which)
    logits = torch.cat(parts)
    term, slot = inputs.term[order], inputs.slot[order]
    y = torch.from_numpy(labels[term, slot].astype(np.int64)).to(device)
    if objective == "bce":
        return F.cross_entropy(logits, y)
    margin = logits[:, 1] - logits[:, 0]
    grid = torch.full((inputs.n_terms, inputs.n_slots), float("-inf"), device=device, dtype=margin.dtype)
    grid = grid.index_put((torch.from_numpy(term).to(device), torch.from_numpy(slot).to(device)), margin)
    pos = torch.where(torch.from_numpy(labels).to(device), grid, torch.full_like(grid, float("-inf")))
    return (torch.logsumexp(grid, 1) - torch.logsumexp(pos, 1)).mean()


def optimizer(model, R: Rerank):
    """AdamW with the encoder at ``learning_rate`` and the new head (``classifier``) at
    ``head_learning_rate``: a random head at the encoder's small rate leaves the loss at the label prior
    for hundreds of steps."""
    import torch

    head = [p for n, p in model.named_parameters() if n.startswith("classifier.")]
    body = [p for n, p in model.named_parameters() if not n.startswith("classifier.")]
    return torch.optim.AdamW([{"params": body, "lr": R.learning_rate},
                              {"params": head, "lr": R.head_learning_rate}], weight_decay=0.01)


def run_dir(model_dir: Path, ex: Examples, R: Rerank, seed: int, retriever_fp: str) -> Path:
    """Content-keyed folder of one trained reranker (under ``.cache/models/rerankers``)."""
    recipe = {k: getattr(R, k) for k in RECIPE_FIELDS}
    key = settings_key(model=model_fingerprint(model_dir), examples=ex.key(), retriever=retriever_fp, seed=seed,
                       recipe=recipe, code=code_digest("rerank"), versions=engine_versions())
    return paths.models_dir() / "rerankers" / f"{variant_name(R.packed, R.objective)}-{key}"


def _save_checkpoint(work: Path, model, opt, sched, step: int, history: list[dict]) -> None:
    import torch

    with atomic.atomic_dir(work / "checkpoint") as tmp:
        model.save_pretrained(tmp)
        torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "step": step,
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
                   tmp / "trainer.pt")
        (tmp / "history.json").write_text(json.dumps(history), encoding="utf-8")


def _resume(work: Path, model, opt, sched, device: str) -> tuple[int, list[dict]]:
    """Load the last checkpoint into model / optimizer / scheduler; (next step, history). A checkpoint
    that fails to load is logged with its path and removed (training restarts from step 0)."""
    import torch

    ck = work / "checkpoint"
    if not (ck / "trainer.pt").exists():
        return 0, []
    try:
        from safetensors.torch import load_file
        model.load_state_dict(load_file(str(ck / "model.safetensors"), device=device))
        state = torch.load(ck / "trainer.pt", map_location=device, weights_only=False)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"].cpu())
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        history = json.loads((ck / "history.json").read_text(encoding="utf-8"))
    except Exception as err:  # a torn or foreign checkpoint is never trusted
        log.warning("checkpoint %s failed to load (%s: %s): removing it, training from step 0", ck,
                    type(err).__name__, err)
        atomic.remove(ck)
        return 0, []
    log.info("resuming %s at step %d", work, state["step"])
    return int(state["step"]), history


def _save_final(work: Path, model, model_dir: Path, record: dict) -> Path:
    out = work / "model"
    with atomic.atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        for name in TOKENIZER_FILES:
            if (Path(model_dir) / name).exists():
                shutil.copy2(Path(model_dir) / name, tmp / name)
    atomic.write_json(work / RECORD, record)
    atomic.remove(work / "checkpoint")
    return out


def train(model_dir: Path, ex: Examples, R: Rerank, work: Path, seed: int = 0, threads: int | None = None,
          progress: bool = True) -> Path:
    """Train (or resume) one reranker into ``work/model``; ``work/training.json`` holds the record.

    Returns the finished model folder; an existing finished one is returned untouched.
    """
    import torch
    from transformers import get_linear_schedule_with_warmup

    if (work / "model" / "config.json").exists() and (work / RECORD).exists():
        return work / "model"
    if any(c < 1 for c in R.train_candidates):
        raise ValueError(f"rerank.train_candidates must be >= 1, got {R.train_candidates}")
    device = device_of(R.device)
    if device == "cpu":
        torch.set_num_threads(threads or os.cpu_count() or 1)
    work.mkdir(parents=True, exist_ok=True)
    tk = tokenize_examples(model_dir, ex, R)
    model = load_model(model_dir, seed).to(device).train()
    opt = optimizer(model, R)
    sched = get_linear_schedule_with_warmup(opt, int(R.warmup_ratio * R.train_steps), R.train_steps)
    start, history = _resume(work, model, opt, sched, device)
    if start == 0:
        torch.manual_seed(seed)
    spent = sum(h["seconds"] for h in history)
    stopped_by = "steps"
    name = variant_name(R.packed, R.objective)
    bar = tqdm(total=R.train_steps, initial=start, desc=f"train {name}", disable=not progress, mininterval=5.0)
    for step in range(start, R.train_steps):
        if R.max_minutes is not None and spent > 60 * R.max_minutes:
            stopped_by = "minutes"
            break
        t0 = time.perf_counter()
        rows, c, orders = step_batch(ex, step, seed, R.batch_size, R.train_candidates)
        inputs = batch_inputs(tk, ex, rows, orders, R.packed, R.max_seq_length)
        loss = loss_of(model, inputs, ex.labels[rows], R.objective, tk.special.pad, device)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        seconds = time.perf_counter() - t0
        spent += seconds
        history.append({"step": step + 1, "loss": float(loss.detach()), "c": c, "pairs": int(len(inputs.row)),
                        "rows": len(inputs.ids), "tokens": inputs.tokens, "seconds": seconds})
        bar.update(1)
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}")
        if (step + 1) % R.save_steps == 0 and step + 1 < R.train_steps:
            _save_checkpoint(work, model, opt, sched, step + 1, history)
    bar.close()
    pairs = sum(h["pairs"] for h in history)
    record = {"variant": name, "steps": len(history), "train_steps": R.train_steps, "stopped_by": stopped_by,
              "seconds": spent, "pairs": pairs, "pairs_per_s": pairs / spent if spent else None,
              "tokens_per_s": sum(h["tokens"] for h in history) / spent if spent else None,
              "device": device, "seed": seed, "queries": len(ex.queries),
              "recipe": {k: getattr(R, k) for k in RECIPE_FIELDS}, "history": history}
    return _save_final(work, model.eval(), model_dir, record)


def training_record(model_path: Path) -> dict:
    """The record written beside a finished model folder."""
    return json.loads((Path(model_path).parent / RECORD).read_text(encoding="utf-8"))


def training_step_engine(model_dir: Path, ex: Examples, R: Rerank, steps: int, seed: int = 0):
    """A timing engine (:mod:`lib.perf.timing`) that runs ``steps`` training steps of this layout and
    objective on a throwaway model: one pass = ``steps`` steps, ``strings`` = (query, candidate) pairs
    trained, one call per step. For the interleaved training-throughput ratio of packed vs base."""
    tk = tokenize_examples(model_dir, ex, R)
    model = load_model(model_dir, seed).train()
    opt = optimizer(model, R)
    state = {"step": 0}

    def engine(limit: int | None) -> Pass:
        secs, pairs = [], 0
        for _ in range(steps if limit is None else 1):
            t0 = time.perf_counter()
            rows, c, orders = step_batch(ex, state["step"], seed, R.batch_size, R.train_candidates)
            inputs = batch_inputs(tk, ex, rows, orders, R.packed, R.max_seq_length)
            loss = loss_of(model, inputs, ex.labels[rows], R.objective, tk.special.pad, "cpu")
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            secs.append(time.perf_counter() - t0)
            pairs += len(inputs.row)
            state["step"] += 1
        return Pass(pairs, secs)
    return engine
