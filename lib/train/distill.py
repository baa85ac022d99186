"""BioLORD's self-distillation (phase 2) as a recipe: a small student learns to reproduce a bigger teacher's
vectors of the training strings, so the default model keeps the student's speed.

The teacher (``training.teacher``, e.g. ``mpnet-base-sap``) embeds the distinct strings of the recipe's
training pairs, never a lay term or a dev query (those pairs were dropped before). Its unit vectors become
regression targets of the student's width in two steps that each keep every cosine between them:

- a truncated SVD (scikit-learn ``TruncatedSVD``), *not* a centred PCA. The teacher's vectors share a large
  mean direction (its norm is 0.47 for MPNet-base-SAP on 30,816 training strings, mean pairwise cosine 0.22);
  centring removes it and changes the geometry the student should learn: the pairwise cosines of the
  centred 384-d PCA correlate 0.83 with the teacher's, those of the uncentred SVD 0.9998. Stop 32's
  PCA targets took the student's dev Acc@1 from 0.645 to 0.495.
- an orthogonal Procrustes rotation (``scipy.linalg.orthogonal_procrustes``) onto the student's own start
  vectors. Any rotation of the targets is an equally good teacher (cosines unchanged), and the one
  closest to where the student stands leaves it the least to unlearn: for MiniLM-L6 against MPNet-base-SAP
  the mean cosine between the student's start vectors and the targets goes from 0.01 to 0.56.

The student, with a ``Normalize`` module on top, regresses the targets with sentence-transformers'
``MSELoss`` (on unit vectors: a cosine distillation).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from lib.engines.batching import normalize

log = logging.getLogger("lib.train.distill")


def training_strings(pairs: pd.DataFrame) -> list[str]:
    """The distinct strings of the training pairs, sorted (anchors and positives; definitions included)."""
    return sorted(set(pairs.anchor) | set(pairs.positive))


def reduce_targets(vectors: np.ndarray, dim: int, seed: int = 0) -> tuple[np.ndarray, dict]:
    """Teacher vectors (unit-normalised first) reduced to ``dim`` by an uncentred truncated SVD and
    re-normalised: the projection that keeps the teacher's dot products best. Kept as they are when the
    teacher is not wider; zero-padded when there are fewer strings than dimensions (tiny tests).
    Returns the targets and what was done (explained variance of the kept components)."""
    from sklearn.decomposition import TruncatedSVD

    vectors = normalize(np.asarray(vectors, dtype=np.float32))
    info = {"teacher_dim": int(vectors.shape[1]), "student_dim": int(dim)}
    if vectors.shape[1] > dim:
        k = min(dim, len(vectors) - 1, vectors.shape[1] - 1)  # TruncatedSVD needs k < both sides
        svd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=7, random_state=seed)
        reduced = svd.fit_transform(vectors)
        info["explained_variance"] = float((reduced ** 2).sum() / (vectors ** 2).sum())
        vectors = np.pad(reduced, ((0, 0), (0, dim - k))) if k < dim else reduced
    return normalize(vectors), info


def rotate_onto(targets: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, dict]:
    """``targets`` rotated (an orthogonal map: cosines unchanged) as close as possible to the student's
    ``start`` vectors of the same strings; returns them and the mean cosine to ``start`` before and after."""
    from scipy.linalg import orthogonal_procrustes

    start = normalize(np.asarray(start, dtype=np.float32))
    rotation, _ = orthogonal_procrustes(targets, start)
    rotated = normalize(targets @ rotation)
    return rotated, {"cosine_to_start_before": float((targets * start).sum(1).mean()),
                     "cosine_to_start_after": float((rotated * start).sum(1).mean())}


def distill_frame(P, pairs: pd.DataFrame, student) -> tuple[pd.DataFrame, dict]:
    """[text, label] rows for ``MSELoss``: each training string and its target, the teacher's vector
    (``P.training.teacher``'s fp32 encoder, through the embedding cache) reduced to the student's width and
    rotated onto the ``student``'s (a SentenceTransformer) current vectors of the same strings."""
    from lib import params
    from lib.engines.cache import embed
    from lib.formats import load_encoder

    teacher = params.load(P.training.teacher)
    texts = training_strings(pairs)
    vectors = embed(load_encoder(teacher, "fp32-torch"), texts)
    targets, info = reduce_targets(vectors, student.get_embedding_dimension(), P.seed)
    start = student.encode(texts, batch_size=128, convert_to_numpy=True, show_progress_bar=True)
    targets, rotation = rotate_onto(targets, start)
    info.update(rotation, teacher=teacher.name, strings=len(texts))
    log.info("distillation targets: %s", info)
    return pd.DataFrame({"text": texts, "label": list(targets)}), info


def build_distill_loss(model):
    """sentence-transformers' ``MSELoss`` between the student's (normalised) vectors and the targets."""
    from sentence_transformers.sentence_transformer.losses import MSELoss

    return MSELoss(model)
