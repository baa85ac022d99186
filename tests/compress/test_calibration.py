"""The calibration set and the one feed builder (lib.compress.calibration)."""

from __future__ import annotations

import numpy as np

from lib.compress import calibration
from lib.engines.hub import load_tokenizer, resolve_model_dir

NAMES = ["input_ids", "attention_mask", "token_type_ids"]


class _Tok:
    """Whitespace 'tokenizer' with the HF call signature the feed builder uses: ids = word lengths."""

    pad_token_id = 0

    def __call__(self, texts, truncation=True, max_length=8):
        return {"input_ids": [[len(w) for w in t.split()][:max_length] for t in texts]}


def test_fixed_shape_feeds_wrap_around_and_keep_shape():
    texts = ["a", "bb cc", "ddd", "e e e", "ffff"]
    feeds = calibration.text_feeds(_Tok(), texts, NAMES, batch_size=2, seq_len=4)
    assert len(feeds) == 3                              # ceil(5 / 2)
    assert {f["input_ids"].shape for f in feeds} == {(2, 4)}
    assert feeds[2]["input_ids"][1].tolist() == [1, 0, 0, 0]   # last batch completed with text 0
    assert feeds[1]["attention_mask"][1].tolist() == [1, 1, 1, 0]
    assert feeds[0]["token_type_ids"].sum() == 0


def test_unpadded_feeds_keep_each_row_its_own_length():
    feeds = calibration.text_feeds(_Tok(), ["a b c", "d"], ["input_ids", "attention_mask"], 1, None)
    assert [f["input_ids"].shape for f in feeds] == [(1, 3), (1, 1)] and set(feeds[0]) == {"input_ids",
                                                                                           "attention_mask"}


def test_row_feeds_use_the_pad_id_and_token_types_given():
    feeds = calibration.row_feeds([[5, 6, 7], [8]], NAMES, 2, 4, pad_id=1, types=[[0, 0, 1], [0]])
    assert feeds[0]["input_ids"].tolist() == [[5, 6, 7, 1], [8, 1, 1, 1]]
    assert feeds[0]["token_type_ids"].tolist() == [[0, 0, 1, 0], [0, 0, 0, 0]]


def test_text_feeds_equal_the_tokenizers_own_max_length_padding(P):
    """The builder pads as the Hugging Face tokenizer does (so calibration keys and ranges are those of
    the tokenizer's padding="max_length" feeds)."""
    tok = load_tokenizer(resolve_model_dir(P))
    texts = ["skin rash", "an abnormality of the heart valves", "fever"]
    ours = calibration.text_feeds(tok, texts, NAMES, 3, 12)[0]
    theirs = tok(texts, padding="max_length", truncation=True, max_length=12, return_tensors="np")
    for k in NAMES:
        np.testing.assert_array_equal(ours[k], np.asarray(theirs[k], dtype=np.int64))


def test_feeds_key_is_content(cal):
    assert calibration.feeds_key(cal.feeds) == cal.key
    other = [dict(f, input_ids=f["input_ids"][::-1].copy()) for f in cal.feeds]
    assert calibration.feeds_key(other) != cal.key


def test_calibration_seq_len_is_longest_capped():
    class Tok:
        def __call__(self, texts, truncation=True, max_length=8):
            return {"input_ids": [t.split()[:max_length] for t in texts]}
    assert calibration.calibration_seq_len(Tok(), ["a b c", "a"], max_length=8) == 3
    assert calibration.calibration_seq_len(Tok(), ["a b c d e f g h i j"], max_length=8) == 8


def test_calibration_and_held_out_are_disjoint(P, cal):
    calib, held, _ = calibration.calibration_split(P)
    assert len(calib) == len(held) == P.calibration_size and not set(calib) & set(held)
    assert cal.held_out == held and cal.n_sentences == len(calib)
