"""Model resolution (lib.engines.hub): offline hub ids and unassembled part packages fail fast with the fix;
a mistyped local path is a folder not found (never a hub lookup); the hub revision is passed and its commit
recorded; the tiny model's tokenizer knows its vocabulary."""

from __future__ import annotations

import shutil

import pytest

from lib import fingerprint, params, paths
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


def test_mistyped_local_path_is_folder_not_found_not_a_hub_lookup(monkeypatch):
    def no_hub(*a, **k):
        raise AssertionError("a path-like model must not be looked up on the hub")
    monkeypatch.setattr(hub, "_hub_snapshot", no_hub)
    for spec in ("./models/my-modle", "/data/models/missing-folder", "models/sub/missing", "~/nothere"):
        with pytest.raises(ModelNotAvailableError, match="not found"):
            hub.resolve_model_dir(params.load("tiny", model=spec))


def test_a_relative_model_path_that_does_not_exist_gets_the_local_folder_message():
    """Before: `models/my-sapbert` (one '/', like a hub id) got only the hub-download advice."""
    with pytest.raises(ModelNotAvailableError, match=r"local folder .*models/my-sapbert was not found .*project root"):
        hub.resolve_model_dir(params.load("tiny", model="models/my-sapbert"))


def test_hub_revision_is_passed_and_the_commit_recorded(monkeypatch, tmp_path):
    commit = "a" * 40
    snap = tmp_path / "hub" / "models--org--m" / "snapshots" / commit
    shutil.copytree(hub.build_tiny_model(paths.models_dir() / "tiny-seed0"), snap)
    seen = {}

    def fake_download(repo_id, **kw):
        seen.update(kw, repo_id=repo_id)
        return str(snap)
    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_download)
    P = params.load("tiny", model="org/m", revision=commit)
    assert hub.resolve_model_dir(P) == snap
    assert seen["repo_id"] == "org/m" and seen["revision"] == commit
    ident = hub.model_identity(P)
    assert ident["resolved_commit"] == commit and ident["revision"] == commit
    assert ident["fingerprint"] == fingerprint.model_fingerprint(snap)
