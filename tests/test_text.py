from lib import text


def test_normalise_lowercases_and_strips_symbols():
    assert text.normalise("  Héart-Rate (HR)  ") == "héart rate hr"


def test_clean_english_removes_stopwords_and_lemmatises():
    out, info = text.clean(["The hearts were beating", "of the"], "en", progress=False)
    assert out[0] == "heart beat"
    assert out[1] == "of the"  # only stopwords: kept normalised, and counted
    assert info["only_stopwords_kept_normalised"] == 1 and "lemmatiser" in info["lemmatiser"]


def test_clean_french_uses_french_pipeline():
    out, info = text.clean(["Les enfants avaient des douleurs"], "fr", progress=False)
    assert "enfant" in out[0] and "fr" in info["lemmatiser"]
