"""Integrity statistics of a loaded table (lib.data.integrity), hand-computed on five rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.data import integrity


def test_length_outliers_tukey_fences_by_hand():
    # q1 = 2, q3 = 4 (numpy's linear percentiles of 1..4, 100), IQR 2: fences 2 - 3 = -1 and 4 + 3 = 7
    assert integrity.length_outliers(np.array([1, 2, 3, 4, 100])) == (1, -1.0, 7.0)
    # k = 0: the fences are the quartiles themselves, so 1 and 100 fall outside
    assert integrity.length_outliers(np.array([1, 2, 3, 4, 100]), k=0) == (2, 2.0, 4.0)


def test_integrity_counts_missing_blank_duplicates_and_lengths():
    df = pd.DataFrame({"text": pd.Series(["a b", "a b", "", None, "c d e f"], dtype=object),
                       "n": [1.0, np.nan, 3.0, 4.0, 5.0]})
    out = integrity.integrity(df, ["text"])
    assert out["rows"] == 5 and out["columns"] == ["text", "n"]
    assert out["missing"] == {"text": 2, "n": 1}         # None and the blank string; one NaN
    t = out["text"]["text"]                              # lengths of "a b", "a b", "", "", "c d e f"
    assert t["duplicates"] == 2 and t["empty"] == 2      # a second "a b" and a second ""
    assert t["chars_mean"] == pytest.approx(13 / 5) and t["chars_max"] == 7
    assert t["tokens_median"] == 2.0 and t["tokens_max"] == 4
    assert t["tokens_p95"] == pytest.approx(3.6)         # tokens 0 0 2 2 4: 2 + 0.8 * (4 - 2)
    assert t["length_outliers"] == 0 and t["outlier_fences_tokens"] == [-3.0, 5.0]   # q1 0, q3 2


def test_integrity_of_an_empty_text_column_is_zeros():
    out = integrity.integrity(pd.DataFrame({"text": pd.Series([], dtype=object)}), ["text"])
    assert out["rows"] == 0 and out["missing"] == {"text": 0}
    assert out["text"]["text"] == {"duplicates": 0, "empty": 0, "chars_mean": 0.0, "chars_max": 0,
                                   "tokens_median": 0.0, "tokens_p95": 0.0, "tokens_max": 0,
                                   "length_outliers": 0, "outlier_fences_tokens": [0.0, 0.0]}
