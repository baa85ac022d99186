"""BioLORD's self-distillation (phase 2) as a recipe: a small student learns to reproduce a bigger teacher's
vectors of the training strings, so the default model keeps the student's speed.

The teacher (``training.teacher``, e.g. ``mpnet-base-sap``) embeds the distinct strings of the recipe's
training pairs, never a lay term or a dev query (those pairs were dropped before); the vectors are reduced
by PCA to the student's dimension (BioLORD reduces to 64; here the student's own width, so its vectors
replace its old ones one for one) and L2-normalised; the student, with a ``Normalize`` module on top,
regresses them with sentence-transformers' ``MSELoss`` (on unit vectors: a cosine distillation).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

log = logging.getLogger("lib.train.distill")


def training_strings(pairs: pd.DataFrame) -> list[str]:
    """The distinct strings of the training pairs, sorted (anchors and positives; definitions included)."""
    return sorted(set(pairs.anchor) | set(pairs.positive))


def pca_targets(vectors: np.ndarray, dim: int, seed: int = 0) -> tuple[np.ndarray, dict]:
    """Teacher vectors reduced to ``dim`` by PCA (scikit-learn) and L2-normalised; kept as they are when
    the teacher is not wider. Returns the targets and what was done (explained variance)."""
    from sklearn.decomposition import PCA

    info = {"teacher_dim": int(vectors.shape[1]), "student_dim": int(dim)}
    if vectors.shape[1] > dim:
        pca = PCA(n_components=min(dim, len(vectors)), random_state=seed).fit(vectors)
        vectors = pca.transform(vectors)
        if vectors.shape[1] < dim:  # fewer strings than dimensions (tiny tests): pad with zeros
            vectors = np.pad(vectors, ((0, 0), (0, dim - vectors.shape[1])))
        info["explained_variance"] = float(pca.explained_variance_ratio_.sum())
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32), info


def distill_frame(P, pairs: pd.DataFrame, dim: int) -> tuple[pd.DataFrame, dict]:
    """[text, label] rows for ``MSELoss``: each training string and its teacher target (teacher vectors
    from ``P.training.teacher``'s fp32 encoder, through the embedding cache)."""
    from lib import params
    from lib.engines.cache import embed
    from lib.formats import load_encoder

    teacher = params.load(P.training.teacher)
    texts = training_strings(pairs)
    vectors = embed(load_encoder(teacher, "fp32-torch"), texts)
    targets, info = pca_targets(np.asarray(vectors, dtype=np.float32), dim, P.seed)
    info.update(teacher=teacher.name, strings=len(texts))
    log.info("distillation targets: %s", info)
    return pd.DataFrame({"text": texts, "label": list(targets)}), info


def build_distill_loss(model):
    """sentence-transformers' ``MSELoss`` between the student's (normalised) vectors and the targets."""
    from sentence_transformers.sentence_transformer.losses import MSELoss

    return MSELoss(model)
