"""The PyTorch engine: FP32 eager model and torchao dynamic INT8, behind :class:`BatchEncoder`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from lib.engines.encoder import Batching, encode_ids, encoder_fingerprint
from lib.engines.hub import identity, load_tokenizer, resolve_model_dir
from lib.fingerprint import model_fingerprint
from lib.params import Params

log = logging.getLogger("lib.engines.torch")


def torch_batching(P: Params) -> Batching:
    """PyTorch's batching: ``P.token_budget`` padded tokens per call, no row cap beyond it."""
    return Batching(P.token_budget, P.token_budget)


@dataclass
class BatchEncoder:
    """The PyTorch engine's encoder: a transformers tokenizer and a function from tokenised batch to
    token states, batched by params ``token_budget`` (PyTorch is fastest with large calls)."""

    name: str
    fmt: str
    fingerprint: str
    tokenizer: object
    P: Params
    forward: Callable[[dict], np.ndarray]
    info: dict = field(default_factory=dict)

    @property
    def identity(self) -> dict:
        """The model's identity (:func:`lib.engines.hub.identity`), for the result record."""
        return dict(self.info.get("identity") or {})

    @property
    def batching(self) -> Batching:
        return torch_batching(self.P)

    def encode(self, texts: Sequence[str], progress: bool = True) -> np.ndarray:
        """Tokenise everything in one call, then :func:`lib.engines.encoder.encode_ids`."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        ids = self.tokenizer(texts, truncation=True, max_length=self.P.max_length)["input_ids"]
        return encode_ids(ids, self.forward, self.P, self.batching, self.tokenizer.pad_token_id or 0,
                          f"encode {self.name} [{self.fmt}]", progress)


def device_of(setting: str) -> str:
    """The torch device of a ``device`` setting (training, rerank): ``auto`` is CUDA when torch sees a
    GPU, else CPU; ``cuda`` without one is an error."""
    import torch

    if setting == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device is {setting!r} but torch sees no GPU")
    return "cuda" if setting == "cuda" or (setting == "auto" and torch.cuda.is_available()) else "cpu"


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


def torch_int8(model):
    """torchao dynamic INT8 (per-token activations, per-channel weights) on every nn.Linear.

    IPEX's static SmoothQuant cannot import beside torch 2.13 (stack notes); torchao runs here.
    """
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    quantize_(model, Int8DynamicActivationInt8WeightConfig())
    return model


def load_torch_encoder(P: Params, int8: bool = False) -> BatchEncoder:
    """The PyTorch engine for params ``P``: FP32 eager (``fp32-torch``) or torchao INT8 (``torch-int8``).

    Its fingerprint (:func:`lib.engines.encoder.encoder_fingerprint`) holds the model's content, the
    format, the engine library versions and the batching, so the embedding cache can never hand these
    vectors to another model, runtime or batching.
    """
    fmt = "torch-int8" if int8 else "fp32-torch"
    model_dir = resolve_model_dir(P)
    fp = model_fingerprint(model_dir)
    set_threads(P)
    model = load_torch_model(model_dir)
    if int8:
        model = torch_int8(model)
    return BatchEncoder(P.name, fmt, encoder_fingerprint(fp, fmt, torch_batching(P)), load_tokenizer(model_dir),
                        P, torch_forward(model), {"model_dir": str(model_dir), "model_fingerprint": fp,
                       "identity": identity(P, model_dir, fp)})
