"""Caches and artifacts that cannot lie (issue 12): content keys, rebuilds, atomic and self-healing writes."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading

import numpy as np
import pytest

from lib import atomic, fingerprint, formats, params, paths
from lib.compress import export
from lib.engines import cache, hub
from lib.errors import ModelNotAvailableError

TEXTS = ["heart pain", "abnormal skin of the hand", "fever", "small ear with hearing loss", "weak muscle"]


def _model_copy(tmp_path, seed: int, name: str = "model"):
    """A local model folder holding the tiny model of ``seed`` (same file names and sizes for every seed)."""
    src = hub.build_tiny_model(paths.models_dir() / f"tiny-seed{seed}", seed=seed)
    dest = tmp_path / name
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest)
    return dest


def _overwrite_weights(folder, seed: int) -> None:
    """What fine-tuning in place does: new weights, same names and sizes."""
    src = hub.build_tiny_model(paths.models_dir() / f"tiny-seed{seed}", seed=seed)
    shutil.copy2(src / "model.safetensors", folder / "model.safetensors")


def _cos(a, b) -> float:
    return float(np.mean(np.sum(a * b, axis=1)))


# --- the three silent-wrong cases -------------------------------------------------------------


def test_two_models_of_one_architecture_never_share_vectors(tmp_path):
    """Before: seed 1's tiny model got seed 0's cached vectors (fingerprint = file names and sizes)."""
    a, b = _model_copy(tmp_path, 0, "a"), _model_copy(tmp_path, 1, "b")
    assert (a / "model.safetensors").stat().st_size == (b / "model.safetensors").stat().st_size
    assert fingerprint.model_fingerprint(a) != fingerprint.model_fingerprint(b)
    enc_a = formats.load_encoder(params.load("tiny", model=str(a)))
    enc_b = formats.load_encoder(params.load("tiny", model=str(b)))
    va = cache.embed(enc_a, TEXTS)
    vb = cache.embed(enc_b, TEXTS)
    assert cache.cache_key(enc_a, TEXTS) != cache.cache_key(enc_b, TEXTS)
    assert _cos(vb, enc_b.encode(TEXTS, progress=False)) > 0.9999
    assert _cos(va, vb) < 0.99


def test_weights_changed_in_place_give_new_vectors_and_artifacts(tmp_path):
    """Before: a checkpoint rewritten in the same folder kept the old cache entry and ONNX files."""
    folder = _model_copy(tmp_path, 0, "ckpt")
    P = params.load("tiny", model=str(folder))
    old_vec = cache.embed(formats.load_encoder(P), TEXTS)
    old_onnx = export.fused_onnx(P)
    _overwrite_weights(folder, 1)
    new_enc = formats.load_encoder(P)
    new_vec = cache.embed(new_enc, TEXTS)
    assert _cos(new_vec, new_enc.encode(TEXTS, progress=False)) > 0.9999
    assert _cos(old_vec, new_vec) < 0.99
    new_onnx = export.fused_onnx(P)
    assert new_onnx != old_onnx
    onnx_vec = formats.load_encoder(P, "onnx-fp32").encode(TEXTS, progress=False)
    assert _cos(onnx_vec, new_vec) > 0.999


def test_changing_model_behind_a_params_name_rebuilds_every_format(tmp_path):
    """Before: artifacts/<params name>/onnx-fp32 was reused after `model:` changed (cosine -0.10)."""
    a, b = _model_copy(tmp_path, 0, "a"), _model_copy(tmp_path, 1, "b")
    Pa, Pb = params.load("tiny", model=str(a)), params.load("tiny", model=str(b))
    assert Pa.name == Pb.name
    assert export.artifact_dir(Pa, "onnx-fp32") != export.artifact_dir(Pb, "onnx-fp32")
    ref = formats.load_encoder(Pb).encode(TEXTS, progress=False)
    for fmt in ("onnx-fp32", "onnx-int8-dynamic"):
        export.fused_onnx(Pa)
        vec = formats.load_encoder(Pb, fmt).encode(TEXTS, progress=False)
        assert _cos(vec, ref) > (0.999 if fmt == "onnx-fp32" else 0.9), fmt


# --- fingerprints ------------------------------------------------------------------------------


def test_fingerprint_is_computed_once_per_file_version(tmp_path, monkeypatch):
    folder = _model_copy(tmp_path, 0)
    fingerprint._file_digest.cache_clear()
    first = fingerprint.model_fingerprint(folder)
    calls = []
    real_full = fingerprint.sha256_file

    def counting_full(path):
        calls.append(path)
        return real_full(path)

    fingerprint._file_digest.cache_clear()  # the on-disk memo must answer, not a re-hash (the spot check reads 2 MiB)
    monkeypatch.setattr(fingerprint, "sha256_file", counting_full)
    assert fingerprint.model_fingerprint(folder) == first
    assert calls == []


def _swap_weights_keeping_mtime(folder, seed: int) -> None:
    """Another model's weights of equal size copied over, the old mtime restored (as `cp -p` or unzip do)."""
    weights = folder / "model.safetensors"
    st = weights.stat()
    src = hub.build_tiny_model(paths.models_dir() / f"tiny-seed{seed}", seed=seed) / "model.safetensors"
    assert src.stat().st_size == st.st_size
    shutil.copyfile(src, weights)
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert weights.stat().st_mtime_ns == st.st_mtime_ns and weights.stat().st_size == st.st_size


def test_weights_swapped_with_their_mtime_kept_get_a_new_fingerprint_and_new_vectors(tmp_path):
    """Before: the memo (path + size + mtime) kept the old digest: old fingerprint, old cached vectors."""
    folder = _model_copy(tmp_path, 0, "swapped")
    P = params.load("tiny", model=str(folder))
    before_fp = fingerprint.model_fingerprint(folder)
    before = cache.embed(formats.load_encoder(P), TEXTS)
    _swap_weights_keeping_mtime(folder, 1)
    assert fingerprint.model_fingerprint(folder) != before_fp
    enc = formats.load_encoder(P)
    after = cache.embed(enc, TEXTS)
    assert _cos(after, enc.encode(TEXTS, progress=False)) > 0.9999 and _cos(after, before) < 0.99


def test_the_fingerprint_memo_is_checked_against_the_first_and_last_mib(tmp_path):
    """Even with size, mtime and ctime all as recorded (a restored disk image), a memo whose spot check
    of the file's first and last MiB no longer matches is not trusted."""
    folder = _model_copy(tmp_path, 0, "probe")
    weights = (folder / "model.safetensors").resolve()
    fingerprint._file_digest.cache_clear()
    fingerprint.file_digest(weights)
    _swap_weights_keeping_mtime(folder, 1)
    record = fingerprint._digest_cache_file(weights)
    memo = json.loads(record.read_text())
    memo["ctime_ns"] = weights.stat().st_ctime_ns  # as if the kernel had kept the ctime too
    record.write_text(json.dumps(memo))
    fingerprint._file_digest.cache_clear()
    assert fingerprint.file_digest(weights) == hashlib.sha256(weights.read_bytes()).hexdigest()


def test_a_flipped_byte_in_an_embedding_cache_is_logged_removed_and_rebuilt(tmp_path, caplog):
    """Before: a .npy with one flipped byte was returned as valid vectors (no checksum)."""
    enc = formats.load_encoder(params.load("tiny"))
    texts = TEXTS + ["a flipped byte"]
    good = cache.embed(enc, texts)
    path = paths.cache_dir() / "embeddings" / f"{cache.cache_key(enc, texts)}.npy"
    data = bytearray(path.read_bytes())
    data[-7] ^= 0x40  # one bit of one float of the last vector
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="lib.atomic"):
        again = cache.embed(enc, texts)
    assert np.array_equal(again, good)
    assert any("checksum" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records)
    assert np.array_equal(atomic.load_npy_checked(path), good)  # rewritten, with its checksum


def test_checked_arrays_round_trip_and_refuse_what_they_cannot_vouch_for(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = atomic.save_npy_checked(tmp_path / "a.npy", a)
    assert np.array_equal(atomic.load_npy_checked(path), a) and np.array_equal(np.load(path), a)
    f = atomic.save_npy_checked(tmp_path / "f.npy", np.asfortranarray(a))
    assert np.array_equal(atomic.load_npy_checked(f), a)
    for name, arr in (("strided", a[:, ::2]), ("half", a.astype(np.float16)), ("flat", np.arange(5)),
                      ("empty", np.zeros((0, 4), np.float32))):
        saved = atomic.save_npy_checked(tmp_path / f"{name}.npy", arr)
        record = json.loads(atomic.checksum_path(saved).read_text())
        assert record["sha256"] == hashlib.sha256(saved.read_bytes()).hexdigest(), name  # the bytes on disk
        got = atomic.load_npy_checked(saved)
        assert got.dtype == arr.dtype and np.array_equal(got, arr), name
    atomic.checksum_path(path).unlink()
    with pytest.raises(atomic.ChecksumError, match="no checksum record"):
        atomic.load_npy_checked(path)
    atomic.save_npy_checked(path, a)
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(atomic.ChecksumError, match="bytes"):
        atomic.load_npy_checked(path)


def test_tokenizer_or_config_change_changes_the_fingerprint(tmp_path):
    folder = _model_copy(tmp_path, 0)
    before = fingerprint.model_fingerprint(folder)
    cfg = folder / "config.json"
    cfg.write_text(cfg.read_text().replace('"hidden_act": "gelu"', '"hidden_act": "relu"'))
    assert fingerprint.model_fingerprint(folder) != before


# --- model resolution ---------------------------------------------------------------------------


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


# --- atomic, self-healing writes ------------------------------------------------------------------


def test_truncated_embedding_cache_is_logged_removed_and_rebuilt(tmp_path, caplog):
    enc = formats.load_encoder(params.load("tiny"))
    good = cache.embed(enc, TEXTS)
    path = paths.cache_dir() / "embeddings" / f"{cache.cache_key(enc, TEXTS)}.npy"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING):
        again = cache.embed(enc, TEXTS)
    assert np.array_equal(good, again)
    assert str(path) in caplog.text
    assert np.array_equal(np.load(path), good)


def test_truncated_onnx_artifact_is_logged_removed_and_rebuilt(caplog):
    P = params.load("tiny")
    path = export.fused_onnx(P)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with caplog.at_level(logging.WARNING):
        enc = formats.load_encoder(P, "onnx-fp32")
    assert str(path) in caplog.text
    vec = enc.encode(TEXTS, progress=False)
    assert _cos(vec, formats.load_encoder(P).encode(TEXTS, progress=False)) > 0.999


def test_truncated_intermediate_onnx_is_rebuilt(caplog):
    P = params.load("tiny")
    unfused = export.unfused_onnx(P)
    unfused.write_bytes(unfused.read_bytes()[:1000])
    with caplog.at_level(logging.WARNING):
        again = export.unfused_onnx(P)
    export.valid_onnx(again)
    assert str(unfused) in caplog.text


def test_interrupted_write_leaves_nothing_behind(tmp_path):
    dest = tmp_path / "out.npy"
    with pytest.raises(KeyboardInterrupt):
        with atomic.atomic_path(dest) as tmp:
            tmp.write_bytes(b"partial")
            raise KeyboardInterrupt
    assert not dest.exists() and list(tmp_path.iterdir()) == []


def test_a_reader_never_sees_a_torn_file_during_a_rewrite(tmp_path):
    """Before: a reader during an in-place rewrite crashed 18 times in 728 reads."""
    dest = tmp_path / "vec.npy"
    arrays = [np.full((400, 384), i, dtype=np.float32) for i in range(2)]
    atomic.save_npy(dest, arrays[0])
    stop, errors = threading.Event(), []

    def writer():
        i = 0
        while not stop.is_set():
            atomic.save_npy(dest, arrays[i % 2])
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        for _ in range(300):
            try:
                v = np.load(dest)
                assert v.shape == (400, 384) and v.min() == v.max()
            except Exception as err:  # noqa: BLE001 - any failure is the defect under test
                errors.append(err)
    finally:
        stop.set()
        t.join()
    assert errors == []


def test_unreadable_search_record_and_calibration_cache_are_rebuilt(tmp_path, caplog, data_mirror):
    """ORT trusts whatever calibration cache it finds; a torn one is logged, removed and recomputed. A torn
    search record is rebuilt the same way (lib.atomic.load_or_rebuild)."""
    from lib import params
    from lib.compress import calibration, fallback, static

    P = params.load("tiny")
    cal = calibration.prepare_calibration(P)
    cache = cal.unfused.with_name(f"{cal.unfused.stem}.calib-{cal.key}.json")
    cache.write_text('{"smooth_quant": fal')
    with caplog.at_level(logging.WARNING):
        static.static_int8(cal.unfused, tmp_path / "x.onnx", cal.feeds)
    assert str(cache) in caplog.text and json.loads(cache.read_text())        # recomputed, readable
    found, _ = fallback.fallback_for(P, cal, None, "QDQ")
    record = fallback._search_record_path(P, None, "QDQ", cal)
    record.write_text(record.read_text()[:50])
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again, _ = fallback.fallback_for(P, cal, None, "QDQ")
    assert again == found and str(record) in caplog.text


def test_corrupted_public_download_in_the_cache_is_fetched_again(monkeypatch, caplog, tmp_path):
    """Before: a download cut short stayed in the cache and failed every later run on its checksum."""
    import hashlib
    import io

    from lib.data import public

    rel = next(iter(public.SOURCES))
    body = b"sentence1,sentence2,score\n"
    import dataclasses
    monkeypatch.setitem(public.SOURCES, rel, dataclasses.replace(public.SOURCES[rel],
                                                                 sha256=hashlib.sha256(body).hexdigest()))
    monkeypatch.delenv("COMPENDIUM_DATA_MIRROR", raising=False)
    monkeypatch.setattr(public.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(body))
    cached = paths.cache_dir() / "public" / rel
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(body[:5])
    with caplog.at_level(logging.WARNING):
        assert public.fetch(rel).read_bytes() == body
    assert str(cached) in caplog.text


def test_corrupted_mirror_file_is_an_error_never_deleted(monkeypatch, tmp_path):
    from lib.data import public
    from lib.errors import DataFormatError

    rel = next(iter(public.SOURCES))
    mirror = tmp_path / "mirror"
    (mirror / rel).parent.mkdir(parents=True)
    (mirror / rel).write_bytes(b"not the file")
    monkeypatch.setenv("COMPENDIUM_DATA_MIRROR", str(mirror))
    with pytest.raises(DataFormatError, match="checksum mismatch"):
        public.fetch(rel)
    assert (mirror / rel).exists()
