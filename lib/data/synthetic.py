"""Synthetic MRCONSO.RRF of any size in the exact 18-field layout, streamed to disk (constant memory).

Why: the real file is licensed, so the scale-out path (16M rows, all languages) is measured and tested
on an invented one with UMLS's shape: several strings per CUI in several languages, language-specific
sources and term types, suppressible rows, string lengths with a long tail, non-ASCII letters and the
odd ``"`` (MRCONSO is not quoted). Rows are generated column-wise with numpy and joined by pyarrow,
one chunk at a time; the same seed gives the same bytes. Nothing here is UMLS content.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lib import atomic
from lib.data.umls import MRCONSO_COLUMNS

CHUNK_ROWS = 100_000

# language -> (share of rows, sources, letters the invented words are made of)
LANGUAGES: dict[str, tuple[float, tuple[str, ...], str]] = {
    "ENG": (0.62, ("SNOMEDCT_US", "MSH", "NCI", "MDR", "LNC", "RXNORM", "MTH", "MEDCIN", "ICD10CM"),
            "abcdefghiklmnoprstuvy"),
    "SPA": (0.10, ("SCTSPA", "MSHSPA", "MDRSPA", "LNC-ES-ES"), "abcdefgilmnoprstuáéíóñ"),
    "FRE": (0.05, ("MSHFRE", "MDRFRE", "LNC-FR-FR"), "abcdeilmnoprstuàéèêç"),
    "GER": (0.04, ("MSHGER", "MDRGER", "LNC-DE-DE"), "abcdefghiklmnoprstuzäöüß"),
    "DUT": (0.04, ("MSHDUT", "MDRDUT"), "abdeghijklmnoprstuvz"),
    "JPN": (0.06, ("MSHJPN", "MDRJPN"), "アイウエオカキクケコサシスセソタチツテトナニヌネノ"),
    "POR": (0.03, ("MSHPOR", "MDRPOR", "LNC-PT-BR"), "abcdeilmnoprstuãçéó"),
    "ITA": (0.03, ("MSHITA", "MDRITA", "LNC-IT-IT"), "abcdeilmnoprstuvzà"),
    "CZE": (0.03, ("MSHCZE", "MDRCZE"), "abcdeiklmnoprstuvyzčěřšž"),
}
TTYS = ("PT", "SY", "FN", "MH", "ET", "LLT", "PN", "EN", "LN", "SCD")
TTY_SHARES = (0.28, 0.25, 0.12, 0.08, 0.08, 0.07, 0.04, 0.03, 0.03, 0.02)
SUPPRESS = ("N", "O", "E", "Y")
SUPPRESS_SHARES = (0.90, 0.05, 0.01, 0.04)
STT = ("PF", "VO", "VC", "VCW", "VW")
CVF = ("", "", "", "", "256", "4096", "8192")
WORDS_PER_LANGUAGE = 4_000


def _vocabulary(rng: np.random.Generator, letters: str) -> pa.Array:
    """Invented words of 2-12 letters (a few carry a '"', a '-' or a digit, as real terms do)."""
    chars = np.array(list(letters))
    lengths = rng.integers(2, 13, WORDS_PER_LANGUAGE)
    words = ["".join(rng.choice(chars, n)) for n in lengths]
    for j in rng.choice(WORDS_PER_LANGUAGE, WORDS_PER_LANGUAGE // 50, replace=False):
        words[j] = words[j] + rng.choice(['"', "-2", ",", "(s)", "/"])
    return pa.array(words, pa.large_string())


def _code(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Identifiers such as C0012345: a letter and zero-padded digits."""
    digits = pc.utf8_lpad(pa.array(numbers.astype(np.int64)).cast(pa.large_string()), width, "0")
    return pc.binary_join_element_wise(_large(prefix), digits, _large(""))


def _large(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


def _pick(rng: np.random.Generator, values: tuple[str, ...], n: int, shares=None) -> np.ndarray:
    return np.asarray(values, dtype=object)[rng.choice(len(values), n, p=shares)]


class _Generator:
    """Row state carried across chunks (CUI groups may straddle a chunk boundary)."""

    def __init__(self, seed: int):
        self.seed = seed
        rng = np.random.default_rng([seed, 0])
        self.langs = list(LANGUAGES)
        self.lang_shares = np.array([LANGUAGES[x][0] for x in self.langs])
        self.lang_shares /= self.lang_shares.sum()
        self.vocab = {lat: _vocabulary(rng, LANGUAGES[lat][2]) for lat in self.langs}
        self.next_cui, self.left_in_cui, self.row = 0, 0, 0

    def chunk(self, index: int, n: int) -> pa.Table:
        rng = np.random.default_rng([self.seed, index + 1])
        cuis = np.empty(n, dtype=np.int64)
        at = 0
        while at < n:  # each CUI groups 1..~25 strings (geometric, mean ~3.5)
            if self.left_in_cui == 0:
                self.next_cui += 1
                self.left_in_cui = int(min(rng.geometric(0.28), 25))
            take = min(self.left_in_cui, n - at)
            cuis[at:at + take] = self.next_cui
            at, self.left_in_cui = at + take, self.left_in_cui - take
        rows = np.arange(self.row + 1, self.row + n + 1)
        self.row += n
        lat = _pick(rng, tuple(self.langs), n, self.lang_shares)
        sab = np.empty(n, dtype=object)
        strings = np.empty(n, dtype=object)
        # words per string: mostly 1-8, a long tail up to 60 (lognormal), like MRCONSO's STR lengths
        n_words = np.clip(np.rint(rng.lognormal(1.35, 0.65, n)), 1, 60).astype(np.int64)
        for name in self.langs:
            mask = lat == name
            k = int(mask.sum())
            if not k:
                continue
            sab[mask] = _pick(rng, LANGUAGES[name][1], k)
            counts = n_words[mask]
            offsets = np.concatenate([[0], np.cumsum(counts)])
            flat = self.vocab[name].take(pa.array(rng.integers(0, WORDS_PER_LANGUAGE, int(offsets[-1]))))
            joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), flat), _large(" "))
            strings[mask] = np.asarray(joined.to_numpy(zero_copy_only=False), dtype=object)
        ispref = rng.random(n) < 0.4
        source_code = rng.integers(10_000, 99_999_999, n)
        is_msh = np.char.startswith(sab.astype(str), "MSH")
        sdui = np.where(is_msh, np.char.add("D", np.char.zfill((source_code % 1_000_000).astype(str), 6)), "")
        scui = np.where(is_msh, "", source_code.astype(str))
        columns = {
            "CUI": _code("C", cuis, 7), "LAT": lat, "TS": np.where(ispref, "P", "S"),
            "LUI": _code("L", rows // 2 + 1, 7), "STT": _pick(rng, STT, n, (0.6, 0.2, 0.1, 0.05, 0.05)),
            "SUI": _code("S", rows, 7), "ISPREF": np.where(ispref, "Y", "N"), "AUI": _code("A", rows, 8),
            "SAUI": np.where(rng.random(n) < 0.3, rng.integers(1, 9_999_999, n).astype(str), ""),
            "SCUI": scui, "SDUI": sdui, "SAB": sab, "TTY": _pick(rng, TTYS, n, TTY_SHARES),
            "CODE": np.where(is_msh, sdui, scui), "STR": strings,
            "SRL": _pick(rng, ("0", "0", "0", "1", "3", "4"), n),
            "SUPPRESS": _pick(rng, SUPPRESS, n, SUPPRESS_SHARES), "CVF": _pick(rng, CVF, n)}
        return pa.table({c: pa.array(columns[c], pa.large_string()) if isinstance(columns[c], np.ndarray)
                         else columns[c].cast(pa.large_string()) for c in MRCONSO_COLUMNS})


def _rrf_bytes(table: pa.Table) -> bytes:
    """Rows as RRF lines: fields joined by '|', a trailing '|', '\\n' line ends."""
    lines = pc.binary_join_element_wise(*[table[c] for c in MRCONSO_COLUMNS], _large(""), _large("|"))
    text = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()),
                                                   lines.combine_chunks()), _large("\n"))
    return text[0].as_py().encode("utf-8") + b"\n"


def write_synthetic_mrconso(path: str | Path, n_rows: int, seed: int = 0) -> Path:
    """Write ``n_rows`` invented MRCONSO rows to ``path`` (atomically), one chunk in memory at a time."""
    if n_rows < 1:
        raise ValueError(f"n_rows must be >= 1, got {n_rows}")
    gen = _Generator(seed)
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as f:
        for index, start in enumerate(range(0, n_rows, CHUNK_ROWS)):
            f.write(_rrf_bytes(gen.chunk(index, min(CHUNK_ROWS, n_rows - start))))
    return Path(path)
