"""Model resolution (lib.engines.hub): offline hub ids and unassembled part packages fail fast with the fix;
the tiny model's tokenizer knows its vocabulary."""

from __future__ import annotations

import pytest

from lib import params
from lib.engines import hub
from lib.errors import ModelNotAvailableError


def test_offline_hub_model_fails_fast_with_fix():
    P = params.load("krissbert")
    with pytest.raises(ModelNotAvailableError, match=r"set `model: /some/folder` in params/krissbert.yaml"):
        hub.resolve_model_dir(P)


def test_parts_model_missing_says_make_models(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPENDIUM_CACHE", str(tmp_path))
    with pytest.raises(ModelNotAvailableError, match="make models"):
        hub.resolve_model_dir(params.load("mpnet-base"))


def test_tiny_tokenizer_knows_its_vocabulary():
    from transformers import AutoTokenizer
    P = params.load("tiny")
    tok = AutoTokenizer.from_pretrained(str(hub.resolve_model_dir(P)))
    ids = tok("heart pain fever")["input_ids"]
    assert tok.unk_token_id not in ids and len(tok) > 100
