"""Loaders of every tier: round-trips of the synthetic fixtures and each bad-input case."""

import types

import pandas as pd
import pytest

from lib import params
from lib.data import fixtures, hpo, lexicon, medsts, public, tiers, umls
from lib.errors import DataFormatError, ParamsError


def test_mrconso_roundtrip_and_filters(licensed_fixtures):
    df = umls.read_mrconso(licensed_fixtures["umls_mrconso"], languages=["ENG", "FRE"])
    assert list(df.columns) == umls.MRCONSO_COLUMNS
    assert len(df) == 12 and df.attrs["skipped"] == {"language": 0, "source": 0, "suppressed": 6}
    eng = umls.read_mrconso(licensed_fixtures["umls_mrconso"], languages=["ENG"], sources=["MSH"])
    assert set(eng.LAT) == {"ENG"} and set(eng.SAB) == {"MSH"} and len(eng) == 6
    assert eng.attrs["skipped"]["language"] == 6


def test_mrconso_wrong_field_count_names_file_and_line(tmp_path):
    good = "|".join(["C0000001", "ENG"] + ["x"] * 16) + "|\n"
    bad = tmp_path / "MRCONSO.RRF"
    bad.write_text(good + "C0000002|ENG|too|few|\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"MRCONSO.RRF, line 2: expected 18"):
        umls.read_mrconso(bad)


def test_mrconso_wrong_encoding(tmp_path):
    bad = tmp_path / "MRCONSO.RRF"
    bad.write_bytes(("|".join(["C0000001", "ENG"] + ["x"] * 16) + "|\n").encode() + b"C1|ENG|\xff\n")
    with pytest.raises(DataFormatError, match=r"line 2: not UTF-8"):
        umls.read_mrconso(bad)


def test_missing_file_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="umls_mrconso"):
        umls.read_mrconso(tmp_path / "nope.RRF")


def test_lexicon_roundtrip(licensed_fixtures):
    lex = lexicon.read_lexicon(licensed_fixtures["lay_lexicon"])
    assert len(lex) == len(fixtures.CONCEPTS)
    assert lex.source_text[0].startswith("crise cardiaque : ")
    assert lex["Taux de complexité"].dtype == float


def test_lexicon_non_numeric_score(tmp_path):
    f = tmp_path / "lex.csv"
    f.write_text(";".join(lexicon.LEX_COLUMNS) + "\nmal de dos;abc;1;douleur;0.5;x\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"line 2, field 'Taux de complexité': not a number"):
        lexicon.read_lexicon(f)


def test_lexicon_duplicate_and_missing_column(tmp_path):
    f = tmp_path / "lex.csv"
    f.write_text(";".join(lexicon.LEX_COLUMNS) + "\nfièvre;;;;;x\nfièvre;;;;;y\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="duplicate term 'fièvre'"):
        lexicon.read_lexicon(f)
    g = tmp_path / "lex2.csv"
    g.write_text("Terme;Sources\nx;y\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"line 1: missing columns"):
        lexicon.read_lexicon(g)


def test_lexicon_wrong_field_count_and_empty_lines_counted(tmp_path):
    f = tmp_path / "lex.csv"
    f.write_text(";".join(lexicon.LEX_COLUMNS) + "\nfièvre;;;;;x\n;;;;;\nmal;1\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"line 4: expected 6 fields, got 2"):
        lexicon.read_lexicon(f)
    f.write_text(";".join(lexicon.LEX_COLUMNS) + "\nfièvre;;;;;x\n;;;;;\n", encoding="utf-8")
    assert lexicon.read_lexicon(f).attrs["skipped"] == {"empty_lines": 1}


def test_medsts_roundtrip_and_errors(licensed_fixtures, tmp_path):
    df = medsts.read_medsts(licensed_fixtures["medsts"])
    assert len(df) == 5 and df.score.max() == 4.8
    bad = tmp_path / "m.csv"
    bad.write_text("sentence1,sentence2,score\na,b,3\nc,d,high\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"m.csv, line 3, field 'score': not a number"):
        medsts.read_medsts(bad)
    bad.write_text("a,b,7\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"outside \[0, 5"):
        medsts.read_medsts(bad)


def test_public_checksum_mismatch(tmp_path, monkeypatch):
    (tmp_path / "biosses").mkdir()
    (tmp_path / "biosses" / "pairs.txt").write_text("tampered\n")
    monkeypatch.setenv("COMPENDIUM_DATA_MIRROR", str(tmp_path))
    with pytest.raises(DataFormatError, match="checksum mismatch"):
        public.fetch("biosses/pairs.txt")


def test_public_sets_load_with_expected_sizes(data_mirror):
    assert len(public.load_sts("stsb-fr", "test")) == 1379
    b = public.load_sts("biosses", "all")
    assert len(b) == 100 and b.attrs["score_max"] == 4.0
    parts = [public.load_sts("biosses", s) for s in ("train", "dev", "test")]
    assert sum(map(len, parts)) == 100
    fr = public.load_hpo_fr()
    assert fr.hpo_id.is_unique and (fr.label_fr != "").mean() > 0.9


def test_embedded_hpo_tier():
    h = hpo.load_hpo()
    assert h.version.startswith("20")
    assert list(h.targets.columns) == umls.MRCONSO_COLUMNS
    assert 30_000 < len(h.targets) < 40_000 and set(h.targets.SAB) == {"HPO"}
    assert 6_000 < len(h.lexicon) < 8_000
    assert 900 <= h.lexicon.trivial.sum() <= 1100
    # lay synonyms never leak into the target vocabulary unless they equal a label/synonym (trivial)
    targets = set(h.targets.STR.str.casefold())
    nontriv = h.lexicon[~h.lexicon.trivial]
    assert not nontriv.Terme.str.casefold().isin(targets).any()
    assert h.lexicon.gold_hpo.str.startswith("HP:").all()


def test_obo_bad_synonym_line(tmp_path):
    f = tmp_path / "hp.obo"
    f.write_text('format-version: 1.2\n\n[Term]\nid: HP:1\nname: x\nsynonym: broken line\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"hp.obo, line 6, field 'synonym'"):
        hpo.parse_obo(f)


def test_alignment_data_sampling_keeps_gold_targets():
    P = params.load("tiny")
    d = tiers.alignment_data(P)
    assert d.info["sampled"] and len(d.sources) == P.max_sources and len(d.targets) >= P.max_sources
    gold = {g for gs in d.sources.gold_hpos for g in gs}
    assert gold <= set(d.targets.CODE)


def test_alignment_data_licensed(licensed_fixtures):
    P = params.load("tiny", umls_mrconso=str(licensed_fixtures["umls_mrconso"]),
                    lay_lexicon=str(licensed_fixtures["lay_lexicon"]), max_targets=None, max_sources=None)
    d = tiers.alignment_data(P)
    assert d.tier == "licensed" and d.gold_column == "gold_cui" and len(d.targets) == 6


def test_params_unknown_key_and_wrong_type(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("name: bad\nmodel: tiny\nbatchsize: 3\n")
    with pytest.raises(ParamsError, match=r"bad.yaml: unknown key 'batchsize'"):
        params.load(str(f))
    f.write_text("name: bad\nmodel: tiny\nbatch_size: many\n")
    with pytest.raises(ParamsError, match=r"bad.yaml: key 'batch_size'"):
        params.load(str(f))
    with pytest.raises(ParamsError, match="no such params file"):
        params.load("no-such-model")


def test_every_params_file_is_valid():
    for name in params.available():
        assert params.load(name).name == name


def test_index_definitions_adds_one_target_per_defined_concept():
    P = params.load("tiny", index_definitions=True, max_sources=None, max_targets=None)
    d = tiers.alignment_data(P)
    h = hpo.load_hpo()
    defined = h.terms[h.terms.definition.str.strip() != ""]
    added = d.targets[d.targets.TTY == "DEF"]
    assert d.info["definition_targets"] == len(added) == len(defined) > 10_000
    assert len(d.targets) == len(h.targets) + len(added)
    assert (d.targets.dtypes == h.targets.dtypes).all() and list(d.targets.columns) == umls.MRCONSO_COLUMNS
    # each definition row belongs to its own concept and copies that concept's name row's CUI
    by_id = defined.set_index("hpo_id").definition
    assert (added.STR.to_numpy() == by_id.loc[added.CODE].to_numpy()).all()
    names = h.targets[h.targets.TTY == "PT"].set_index("CODE").CUI
    assert (added.CUI.to_numpy() == names.loc[added.CODE].to_numpy()).all()
    assert d.targets.AUI.is_unique
    # the cached ontology itself is left as it was
    assert "DEF" not in set(hpo.load_hpo().targets.TTY)


def test_no_definition_targets_by_default():
    d = tiers.alignment_data(params.load("tiny", max_sources=None, max_targets=None))
    assert "DEF" not in set(d.targets.TTY) and "definition_targets" not in d.info


def test_index_definitions_refused_on_the_licensed_tier(licensed_fixtures):
    P = params.load("tiny", umls_mrconso=str(licensed_fixtures["umls_mrconso"]),
                    lay_lexicon=str(licensed_fixtures["lay_lexicon"]), index_definitions=True)
    with pytest.raises(ParamsError, match="index_definitions needs HPO definitions.*MRDEF"):
        tiers.alignment_data(P)


def test_alignment_sample_keeps_gold_targets_and_counts_the_rest():
    import pandas as pd

    from lib.data.tiers import sample_alignment
    lex = pd.DataFrame({"source_text": list("abcdef"), "gold_hpos": [("H1",), ("H2",), ("H3",), ("H4",),
                                                                    ("H5",), ("H6",)],
                        "trivial": [False] * 6})
    targets = pd.DataFrame({"STR": [f"s{i}" for i in range(20)], "CODE": [f"H{i % 10}" for i in range(20)]})
    q, t, info = sample_alignment(lex, targets, max_sources=2, max_targets=6, seed=0)
    gold = {g for gs in q.gold_hpos for g in gs}
    assert len(q) == 2 and info["queries_left_out"] == 4
    assert gold <= set(t.CODE) and info["gold_targets"] == 4          # 2 gold codes x 2 strings each
    assert len(t) == 6 and info["targets_left_out"] == 14


def test_alignment_data_with_no_sources_is_an_error(monkeypatch):
    from lib import params

    empty = types.SimpleNamespace(lexicon=pd.DataFrame({"source_id": [], "source_text": [], "gold_hpos": []}),
                                  targets=fixtures.mrconso_frame(), version="test", source="hp.obo", counts={})
    monkeypatch.setattr(tiers, "load_hpo", lambda: empty)  # the name tiers calls
    with pytest.raises(ValueError, match=r"embedded tier.*0 sources"):
        tiers.alignment_data(params.load("tiny"))
