"""The cross-encoder scorer as a model: an encoder, attention groups, and a zero-initialised token head.

A reranker folder is a plain transformers model folder (the encoder, its tokenizer) plus ``head.safetensors``
(the score head and the residual weight) and ``reranker.json`` (what it is: read-out, trained layout,
start model). :func:`model_kind` tells the two kinds of model folder apart, so that export, fusion,
quantization and their artifact keys (:mod:`lib.compress`, :mod:`lib.formats`) serve bi-encoders and
rerankers alike, as sentence-transformers' ``backend/`` does.

The forward pass returns one *token score* per position: ``head(h_t)`` (a linear map of the final
state). Because the head is linear, the mean of a candidate's token scores is the head of its mean state,
so every read-out (the mean of a candidate's own tokens, its first token, an inserted ``[MASK]``) is a
pooling of this one output, done by the caller (:mod:`lib.rerank.model`): one graph serves every layout.

Who attends to whom is given by ``attention_groups`` (int64, one per token): a token sees every real
token of group 0 and of its own group. Group 0 is the shared prefix (the term); a candidate in group k
sees the term and itself only. All zeros is full attention (the paper's packed layout); base rows are
``[0..0, 1..1]``; the shared-prefix layout numbers its candidates 1..C. Hand-written because
transformers' encoders take a ready 4D mask but no rule that builds one from groups; building it inside
the graph keeps every ONNX feed an int64 token array (calibration, the one ORT engine).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

KIND_FILE = "reranker.json"
HEAD_FILE = "head.safetensors"
INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids", "attention_groups")
OUTPUT = "token_scores"


def model_kind(model_dir: Path) -> str:
    """``reranker`` for a folder written by :func:`save_scorer`, else ``encoder``."""
    return "reranker" if (Path(model_dir) / KIND_FILE).exists() else "encoder"


def reranker_config(model_dir: Path) -> dict:
    return json.loads((Path(model_dir) / KIND_FILE).read_text(encoding="utf-8"))


def _module():
    import torch

    class CrossScorer(torch.nn.Module):
        """encoder -> token states -> ``head`` (hidden -> 1) per token; ``weight`` / ``bias``: the residual
        prior's scale and offset (score = weight * retriever cosine + bias + read-out of the head)."""

        def __init__(self, encoder, weight: float = 0.0, bias: float = 0.0, learn_weight: bool = True):
            super().__init__()
            self.encoder = encoder
            hidden = encoder.config.hidden_size
            self.head = torch.nn.Linear(hidden, 1)
            torch.nn.init.zeros_(self.head.weight)   # f = 0 at step 0: the retriever's order
            torch.nn.init.zeros_(self.head.bias)
            self.weight = torch.nn.Parameter(torch.tensor(float(weight)), requires_grad=learn_weight)
            self.bias = torch.nn.Parameter(torch.tensor(float(bias)), requires_grad=learn_weight)
            self.token_types = int(getattr(encoder.config, "type_vocab_size", 0) or 0) >= 2

        def forward(self, input_ids, attention_mask, token_type_ids=None, position_ids=None,
                    attention_groups=None):
            if attention_groups is None:
                attention_groups = torch.zeros_like(input_ids)
            g_q = attention_groups.unsqueeze(2)                       # (B, L, 1)
            g_k = attention_groups.unsqueeze(1)                       # (B, 1, L)
            allowed = ((g_k == 0) | (g_k == g_q)) & (attention_mask.unsqueeze(1) > 0)
            dtype = self.head.weight.dtype
            bias = (1.0 - allowed.to(dtype)).unsqueeze(1) * torch.finfo(dtype).min   # (B, 1, L, L)
            kw = {"input_ids": input_ids, "attention_mask": bias}
            if position_ids is not None:
                kw["position_ids"] = position_ids
            if self.token_types and token_type_ids is not None:
                kw["token_type_ids"] = token_type_ids
            states = self.encoder(**kw).last_hidden_state
            return self.head(states).squeeze(-1)

    return CrossScorer


def new_scorer(encoder_dir: Path, weight: float = 0.0, bias: float = 0.0, learn_weight: bool = True,
               attn_implementation: str = "sdpa"):
    """A scorer over a start encoder folder: its encoder weights, a zero head (f = 0), the prior's
    ``weight`` / ``bias``."""
    from transformers import AutoModel

    enc = AutoModel.from_pretrained(str(encoder_dir), attn_implementation=attn_implementation,
                                    add_pooling_layer=False) if _is_bert(encoder_dir) else \
        AutoModel.from_pretrained(str(encoder_dir), attn_implementation=attn_implementation)
    return _module()(enc, weight, bias, learn_weight)


def _is_bert(model_dir: Path) -> bool:
    cfg = Path(model_dir) / "config.json"
    return cfg.exists() and json.loads(cfg.read_text(encoding="utf-8")).get("model_type") == "bert"


def load_scorer(model_dir: Path, attn_implementation: str = "eager"):
    """A saved reranker (:func:`save_scorer`) in eval mode; eager attention by default (the export's)."""
    from safetensors.torch import load_file

    cfg = reranker_config(model_dir)
    model = new_scorer(model_dir, attn_implementation=attn_implementation,
                       learn_weight=cfg.get("learn_weight", True))
    state = load_file(str(Path(model_dir) / HEAD_FILE))
    model.head.load_state_dict({"weight": state["head.weight"], "bias": state["head.bias"]})
    model.weight.data.fill_(float(state["weight"]))
    model.bias.data.fill_(float(state["bias"]))
    return model.eval()


def head_is_zero(model_dir: Path) -> bool:
    """Whether a saved reranker's score head is all zeros. Then f = 0 for every input in every format (the
    head multiplies each final state by zero), so reranking by ``w x cosine + f`` is the retriever's order:
    a run whose training kept step 0 (dev never preferred a trained step) need not be scored."""
    from safetensors.numpy import load_file

    state = load_file(str(Path(model_dir) / HEAD_FILE))
    return not (np.any(state["head.weight"]) or np.any(state["head.bias"]))


def save_scorer(model, out: Path, config: dict, tokenizer_dir: Path | None = None) -> Path:
    """Write a reranker folder into ``out`` (an existing folder, e.g. an atomic temporary one)."""
    import shutil

    from safetensors.torch import save_file

    out = Path(out)
    model.encoder.save_pretrained(out)
    save_file({"head.weight": model.head.weight.detach().cpu().contiguous(),
               "head.bias": model.head.bias.detach().cpu().contiguous(),
               "weight": model.weight.detach().cpu().reshape(()).contiguous(),
               "bias": model.bias.detach().cpu().reshape(()).contiguous()}, str(out / HEAD_FILE))
    if tokenizer_dir is not None:
        for name in TOKENIZER_FILES:
            if (Path(tokenizer_dir) / name).exists():
                shutil.copy2(Path(tokenizer_dir) / name, out / name)
    (out / KIND_FILE).write_text(json.dumps({"kind": "reranker", **config}, indent=1, default=str), encoding="utf-8")
    return out


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
                   "merges.txt", "vocab.json", "sentencepiece.bpe.model", "spm.model")


def example_feeds(vocab_size: int) -> dict:
    """Two short rows for tracing the export (a base row and a two-candidate shared-prefix row)."""
    import torch

    ids = torch.tensor([[2, 5, 6, 3, 7, 8, 3, 0], [2, 5, 3, 6, 3, 7, 8, 3]], dtype=torch.int64) % vocab_size
    return {"input_ids": ids, "attention_mask": torch.tensor([[1] * 7 + [0], [1] * 8]),
            "token_type_ids": torch.tensor([[0, 0, 0, 0, 1, 1, 1, 0], [0, 0, 0, 1, 1, 1, 1, 1]]),
            "position_ids": torch.tensor([[0, 1, 2, 3, 4, 5, 6, 0], [0, 1, 2, 3, 4, 3, 4, 5]]),
            "attention_groups": torch.tensor([[0, 0, 0, 0, 1, 1, 1, 0], [0, 0, 0, 1, 1, 2, 2, 2]])}
