"""Train a params file's ``training`` recipe into a model folder the rest of the study uses like any other.

sentence-transformers' trainer does the work (its losses, evaluator, batch-sampler hook, checkpoints);
this module only assembles the recipe: the start model with the params' pooling, the pair table of
each phase (``definitions: second-phase`` trains synonyms, then definitions), the one-concept-per-batch
sampler, the dev evaluator every ``eval_steps``, a wall-clock cap, the soup with the start model, and
an atomic save under :func:`lib.engines.hub.trained_model_dir` (written beside, renamed into place:
an interrupted run never leaves a folder that looks finished). Checkpoints go to a work folder keyed
like the model, so an interrupted run resumes where it stopped (optimizer, scheduler and sampler
position included).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import pandas as pd

from lib import atomic
from lib.engines import hub
from lib.engines.torch import device_of
from lib.params import Params, load as load_params
from lib.train.evaluation import dev_evaluator, dev_scores
from lib.train.pairs import TrainingSet, training_set

DEF_NAME = "dev-def"  # the definition -> concept proxy's evaluator

log = logging.getLogger("lib.train.trainer")

RECORD = "training.json"  # what a trained folder was made from, and how training went


def start_model(model_dir: Path, pooling: str, max_seq_length: int, device: str, normalize: bool = False):
    """A SentenceTransformer over ``model_dir`` with the study's pooling (built from modules, not from any
    sentence-transformers config the folder may ship, so training and the engines pool alike); ``normalize``
    adds the L2 normalisation the engines apply anyway (distillation regresses unit vectors)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

    if pooling not in ("mean", "cls"):
        raise ValueError(f"training supports pooling 'mean' or 'cls', not {pooling!r}")
    first = Transformer(str(model_dir), max_seq_length=max_seq_length)
    modules = [first, Pooling(first.get_embedding_dimension(), pooling)] + ([Normalize()] if normalize else [])
    return SentenceTransformer(modules=modules, device=device)


def phases(ts: TrainingSet, definitions: str, max_steps: int) -> list[tuple[str, pd.DataFrame, int]]:
    """(name, pairs, steps) per phase; a second phase gets the definition pairs and its share of the
    step budget in proportion to its pair count."""
    if definitions != "second-phase":
        return [("all", ts.pairs, max_steps)]
    is_def = ts.pairs.kind == "definition"
    first, second = ts.pairs[~is_def], ts.pairs[is_def]
    steps2 = max(1, round(max_steps * len(second) / max(1, len(ts.pairs)))) if len(second) else 0
    out = [("synonyms", first, max_steps - steps2)]
    if steps2:
        out.append(("definitions", second, steps2))
    return out


class _History:
    """Training loss and dev scores by step, with training minutes; persisted beside the checkpoints so
    a resumed run keeps the curve (rows past the checkpoint it resumes from are dropped)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict] = json.loads(path.read_text()) if path.exists() else []
        self.offset_min = self.rows[-1]["minutes"] if self.rows else 0.0
        self.t0 = time.perf_counter()

    def minutes(self) -> float:
        return self.offset_min + (time.perf_counter() - self.t0) / 60

    def add(self, step: int, phase: str, **values: float) -> None:
        self.rows.append({"step": int(step), "phase": phase, "minutes": round(self.minutes(), 4), **values})

    def truncate(self, step: int) -> None:
        self.rows = [r for r in self.rows if r["step"] <= step]

    def save(self) -> None:
        atomic.write_text(self.path, json.dumps(self.rows))


def _callback(history: _History, phase: str, step0: int, max_minutes: float | None, stopped: dict):
    from transformers import TrainerCallback

    class Log(TrainerCallback):
        """Loss and dev scores into the history; stop at the wall-clock cap; persist on save."""

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                history.add(step0 + state.global_step, phase, loss=float(logs["loss"]),
                            learning_rate=float(logs.get("learning_rate", 0.0)))

        def on_evaluate(self, args, state, control, metrics=None, **kw):
            if metrics:
                history.add(step0 + state.global_step, phase, **dev_scores(metrics))

        def on_step_end(self, args, state, control, **kw):
            if max_minutes is not None and history.minutes() >= max_minutes:
                stopped.update(by="max_minutes", step=step0 + state.global_step)
                control.should_training_stop = True
            return control

        def on_save(self, args, state, control, **kw):
            history.save()

    return Log()


def _train_phase(model, pairs: pd.DataFrame, steps: int, name: str, step0: int, P: Params, work: Path,
                 evaluator, history: _History, stopped: dict, device: str) -> dict:
    """Train one phase in place; returns what the phase's data step did (the distillation targets' record,
    or {})."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from transformers.trainer_utils import get_last_checkpoint

    from lib.train.losses import build_loss
    from lib.train.samplers import OneConceptPerBatchSampler, with_labels

    T = P.training
    if T.objective == "distill":  # strings -> the teacher's vectors; no concept labels, no concept sampler
        from lib.train.distill import build_distill_loss, distill_frame
        frame, info = distill_frame(P, pairs, model)
        sampler, loss = None, build_distill_loss(model)
    else:
        frame, _ = with_labels(pairs)
        info = {}
        sampler, loss = OneConceptPerBatchSampler, build_loss(model, T.objective)
    work.mkdir(parents=True, exist_ok=True)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(work), max_steps=steps, per_device_train_batch_size=T.batch_size,
        learning_rate=T.learning_rate, warmup_steps=int(T.warmup_ratio * steps), lr_scheduler_type="linear",
        seed=P.seed, data_seed=P.seed, **({"batch_sampler": sampler} if sampler else {}),
        eval_strategy="steps", eval_steps=T.eval_steps, logging_steps=max(1, min(25, T.eval_steps)),
        save_strategy="steps", save_steps=T.save_steps, save_total_limit=1, report_to="none",
        use_cpu=device == "cpu", dataloader_num_workers=0, disable_tqdm=False)
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=Dataset.from_pandas(frame, preserve_index=False),
        loss=loss, evaluator=evaluator,
        callbacks=[_callback(history, name, step0, T.max_minutes, stopped)])
    last = get_last_checkpoint(str(work))
    if last:
        done = int(Path(last).name.split("-")[-1])
        history.truncate(step0 + done)
        log.info("phase %s: resuming from %s (step %d of %d)", name, last, done, steps)
    trainer.train(resume_from_checkpoint=last)
    return info


def soup(model, base_dir: Path, ratio: float) -> None:
    """Weights = ratio x trained + (1 - ratio) x start model (a two-model uniform-ratio soup). A linear
    interpolation of state dicts, written here because sentence-transformers' ``merge_models`` needs
    mergekit, a heavy dependency for one line of arithmetic."""
    import torch
    from transformers import AutoModel

    if ratio >= 1.0:
        return
    trained = model[0].auto_model
    start = AutoModel.from_pretrained(str(base_dir)).state_dict()
    with torch.no_grad():
        for key, value in trained.state_dict().items():
            if value.is_floating_point() and key in start:
                value.copy_(ratio * value + (1.0 - ratio) * start[key].to(value.device, value.dtype))


def train(P: Params, force: bool = False) -> Path:
    """Build the trained model of ``P`` (``model: trained``) unless its folder exists; returns the folder.

    The record (``training.json`` inside it) holds the recipe, what the key was made of, the pair counts,
    the loss / dev curve, the final dev scores, minutes and whether the wall-clock cap stopped it.
    """
    if P.training is None:
        raise ValueError(f"params/{P.name}.yaml has no training block (model: trained)")
    T = P.training
    out = hub.trained_model_dir(P)
    if (out / "config.json").exists() and not force:
        log.info("trained model %s exists: %s", P.name, out)
        return out
    import torch

    torch.manual_seed(P.seed)
    base = load_params(T.base)
    base_dir = hub.resolve_model_dir(base)
    device = device_of(T.device)
    if T.soup < 1.0:  # the soup is the unsouped run's weights averaged with the start model: never retrain
        whole = P.model_copy(update={"training": T.model_copy(update={"soup": 1.0})})
        trained_dir = train(whole)
        model = start_model(trained_dir, P.pooling, T.max_seq_length, device)
        soup(model, base_dir, T.soup)
        record = json.loads((trained_dir / RECORD).read_text())
        record.update(params=P.name, recipe=T.model_dump(), inputs=hub.training_inputs(P), souped_from=str(trained_dir))
        return _save(model, out, record)
    ts = training_set(P)
    evaluator = dev_evaluator(ts.strings, ts.dev, T.dev_distractors, P.seed)
    work = out.parent / ".work" / out.name
    history = _History(work / "history.json")
    stopped: dict = {}
    model = start_model(base_dir, P.pooling, T.max_seq_length, device, normalize=T.objective == "distill")
    if not history.rows:
        history.add(0, "start", **dev_scores(evaluator(model)))
    step0 = 0
    plan = phases(ts, T.definitions, T.max_steps)
    targets: dict[str, dict] = {}
    for i, (name, pairs, steps) in enumerate(plan):
        done = work / f"phase-{i}-{name}.done"
        if done.exists():  # a finished phase of an interrupted run: continue from its weights
            model = start_model(done.with_suffix(""), P.pooling, T.max_seq_length, device)
        elif not stopped:
            info = _train_phase(model, pairs, steps, name, step0, P, work / f"phase-{i}", evaluator, history, stopped,
                                device)
            if info:
                targets[name] = info
            model.save(str(done.with_suffix("")), create_model_card=False)
            done.touch()
        step0 += steps
    final = dev_scores(evaluator(model))
    final.update(definition_proxy(ts, T.dev_distractors, P.seed, model))
    history.add(step0 if not stopped else stopped["step"], "final", **final)
    history.save()
    record = {"params": P.name, "recipe": T.model_dump(), "inputs": hub.training_inputs(P),
              "base_model_dir": str(base_dir), "device": device, "counts": ts.counts,
              "phases": [{"name": n, "pairs": len(p), "steps": s} for n, p, s in plan],
              "history": history.rows, "final_dev": final, "minutes": history.minutes(),
              "stopped_by": stopped.get("by", "max_steps"), "steps": stopped.get("step", step0),
              **({"distillation": targets} if targets else {})}
    _save(model, out, record)
    shutil.rmtree(work, ignore_errors=True)
    log.info("trained %s in %.1f min (%s): dev %s -> %s", P.name, record["minutes"], record["stopped_by"],
             history.rows[0], final)
    return out


def definition_proxy(ts: TrainingSet, distractors: int, seed: int, model) -> dict[str, float]:
    """The unsupervised dev proxy: the dev concepts' held-out definitions retrieved among the dev corpus
    (``dev-def_acc@1`` ...); empty when the corpus has no definitions (MRCONSO)."""
    if ts.dev_definitions is None or not len(ts.dev_definitions):
        return {}
    evaluator = dev_evaluator(ts.strings, ts.dev, distractors, seed, queries=ts.dev_definitions, name=DEF_NAME)
    return dev_scores(evaluator(model), DEF_NAME)


def _save(model, out: Path, record: dict) -> Path:
    """The model and its record, written beside ``out`` and renamed into place whole."""
    with atomic.atomic_dir(out) as tmp:
        model.save(str(tmp), create_model_card=False)
        (tmp / RECORD).write_text(json.dumps(record, indent=1, default=str))
    return out


def training_record(P: Params) -> dict:
    """The ``training.json`` of a built trained model (raises when it is not built)."""
    path = hub.resolve_model_dir(P) / RECORD
    return json.loads(path.read_text())
