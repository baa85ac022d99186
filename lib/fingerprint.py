"""Content identities of models and artifacts: the keys of every cache, so no cache can lie.

Why content and not names: a fine-tuned checkpoint has the same file names and sizes as the model it
started from, and a params name can be pointed at another model. Keys built from names or sizes
handed one model's vectors and ONNX files to another (issue 12). Here a model folder is identified
by the SHA-256 of the bytes of its weights, config and tokenizer files; hashing is streamed and each
file's digest is remembered on disk (:func:`file_digest` says when that memo is trusted), so a large
weights file is hashed in full once, not on every run.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as _md
import json
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from lib import atomic, paths

log = logging.getLogger("lib.fingerprint")


# Files that define what a model computes: weights, config, tokenizer (vocab, merges, special tokens).
MODEL_FILE_SUFFIXES = {".safetensors", ".bin", ".json", ".txt", ".model", ".onnx", ".data", ".pt"}


# Library versions that change exported graphs, quantized weights or vectors.
ENGINE_PACKAGES = ("torch", "transformers", "tokenizers", "onnx", "onnxruntime", "onnxruntime-gpu",
                   "neural-compressor", "olive-ai", "torchao")


_CHUNK = 1 << 22
PROBE_BYTES = 1 << 20  # the memo's spot check reads this much at each end of a file


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, streamed: the one file digest (checksums of downloads and pinned data,
    model files through :func:`file_digest`'s memo)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# Source files whose *code* decides what a trained model computes: a trained model's key digests them
# (:func:`code_digest`). Declared here, at the bottom, because the key is computed where a params file is
# resolved to a model folder (lib.engines.hub), below the code it digests (lib.train, lib.rerank); the
# layer contract test reads this table (tests/test_layers.py) and the Makefile reads the file lists
# (tools/nbdeps.py --code-key) so a training-code edit retrains exactly the models it shapes.
CODE_KEYS: dict[str, tuple[str, ...]] = {
    # lib/text.py holds the key of the leakage filter and of the cross-ontology merge
    "training": ("lib/train/pairs.py", "lib/train/samplers.py", "lib/train/losses.py", "lib/train/trainer.py",
                 "lib/text.py"),
    # the distillation targets: only a model with a teacher digests it (an edit retrains no SAP model)
    "distill": ("lib/train/distill.py",),
    "rerank": ("lib/rerank/inputs.py", "lib/rerank/model.py", "lib/rerank/data.py", "lib/rerank/train.py",
               "lib/rerank/candidates.py", "lib/engines/cross.py"),
}


def code_digest(key: str) -> str:
    """Digest of the syntax trees of the files of ``CODE_KEYS[key]`` without docstrings: a changed line of
    code changes it (and retrains), an edited comment or docstring does not (the AST has no comments)."""
    import ast

    h = hashlib.sha256()
    for rel in CODE_KEYS[key]:
        tree = ast.parse((paths.ROOT / rel).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                    and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
        h.update(Path(rel).name.encode() + b"\0" + ast.dump(tree).encode())
    return h.hexdigest()[:16]


def _digest_cache_file(path: Path) -> Path:
    return paths.cache_dir() / "fingerprints" / f"{hashlib.sha1(str(path).encode()).hexdigest()}.json"


def probe_digest(path: str | os.PathLike, size: int | None = None) -> str:
    """SHA-256 of a file's size and of its first and last MiB (the whole file when it is 2 MiB or less).

    The cheap part of the memo check in :func:`file_digest`: 2 MiB read whatever the file's size."""
    size = Path(path).stat().st_size if size is None else size
    h = hashlib.sha256(f"{size}\0".encode())
    with open(path, "rb") as fh:
        if size <= 2 * PROBE_BYTES:
            h.update(fh.read())
        else:
            h.update(fh.read(PROBE_BYTES))
            fh.seek(size - PROBE_BYTES)
            h.update(fh.read(PROBE_BYTES))
    return h.hexdigest()


@lru_cache(maxsize=4096)
def _file_digest(path: str, size: int, mtime_ns: int, ctime_ns: int, probe: str) -> str:
    record = _digest_cache_file(Path(path))
    stamp = {"path": path, "size": size, "mtime_ns": mtime_ns, "ctime_ns": ctime_ns, "probe_sha256": probe}
    try:
        saved = json.loads(record.read_text(encoding="utf-8"))
        if all(saved.get(k) == v for k, v in stamp.items()):
            return saved["sha256"]
        log.info("fingerprint memo of %s is stale (%s changed): hashing the file again", path,
                 ", ".join(k for k, v in stamp.items() if saved.get(k) != v))
    except (OSError, ValueError, KeyError, AttributeError):
        pass  # missing or unreadable record: recompute (the record is only a memo)
    digest = sha256_file(path)
    try:
        atomic.write_json(record, {**stamp, "sha256": digest})
    except OSError as err:  # a read-only cache still gives correct (uncached) digests
        log.debug("could not remember the digest of %s: %s", path, err)
    return digest


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, hashed in full once and then remembered (``.cache/fingerprints/``).

    The memo is trusted only when all of these still match what was recorded with it:

    * the absolute path, the size and the mtime (what a rewrite normally changes);
    * the ctime, which the kernel sets on every write, rename or metadata change and which no tool can
      set back: ``cp -p``, ``unzip``, ``rsync -t`` or ``touch -d`` restore an old mtime, never an old ctime;
    * a digest of the first and last MiB and the size (:func:`probe_digest`): the whole file for
      config and tokenizer files, the header and the first and last tensors of a weights file.

    Why not re-hash every time: MiniLM's weights are 90 MB, MPNet's 440 MB, SapBERT-large's 2.2 GB, and
    the fingerprint is taken on every run (a full hash of the last costs seconds). The spot check reads
    2 MiB. Weights swapped for another model's file of equal size with the mtime restored (issue 25)
    change the ctime and, for any two different checkpoints, their first or last MiB; what it would
    still miss is a same-size file whose ends are byte-identical *and* whose ctime was kept (a disk image
    or snapshot restored under the same path): delete ``.cache/fingerprints/`` after such a restore.
    """
    p = Path(path).resolve()
    st = p.stat()
    return _file_digest(str(p), st.st_size, st.st_mtime_ns, st.st_ctime_ns, probe_digest(p, st.st_size))


def model_files(model_dir: Path) -> list[Path]:
    """The files of a model folder that define what it computes (sorted, top level and subfolders
    such as sentence-transformers' ``1_Pooling``; hidden files and caches left out)."""
    out = []
    for f in sorted(Path(model_dir).rglob("*")):
        rel = f.relative_to(model_dir)
        if f.is_file() and f.suffix in MODEL_FILE_SUFFIXES and not any(
                part.startswith(".") or part == "__pycache__" for part in rel.parts):
            out.append(f)
    return out


def model_fingerprint(model_dir: str | os.PathLike) -> str:
    """Identity of a model folder: the digest of (relative name, content digest) of its files."""
    model_dir = Path(model_dir)
    files = model_files(model_dir)
    if not files:
        raise FileNotFoundError(f"{model_dir}: no model files (config, weights, tokenizer) to fingerprint")
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.relative_to(model_dir).as_posix()}\0{file_digest(f)}\n".encode())
    return h.hexdigest()[:16]


def installed_versions(packages: Iterable[str]) -> dict[str, str]:
    """Installed version of each package that is installed (the one reader of package versions)."""
    out = {}
    for pkg in packages:
        try:
            out[pkg] = _md.version(pkg)
        except _md.PackageNotFoundError:
            continue
    return out


def engine_versions() -> dict[str, str]:
    """Versions of the libraries that shape exported graphs and vectors (part of artifact keys)."""
    return installed_versions(ENGINE_PACKAGES)


def settings_key(**settings: Any) -> str:
    """Short stable digest of settings (format options, opset, library versions)."""
    blob = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def hub_commit(model_dir: Path) -> str | None:
    """The commit of a Hugging Face hub snapshot folder (``.../snapshots/<commit>``), else None."""
    parts = Path(model_dir).resolve().parts
    if len(parts) >= 2 and parts[-2] == "snapshots" and len(parts[-1]) == 40:
        return parts[-1]
    return None
