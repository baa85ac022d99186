"""Result files read back (lib.results.io): where they live, the errors naming the file and the make target,
the 04-align runs found, and the format x metric frame with its intervals."""

from __future__ import annotations

import json
import re

import pytest

from lib import results
from lib.errors import ResultFileError
from lib.results import io


def test_result_path_and_missing_result_names_the_make_target(results_dir):
    assert io.result_path("tiny", "04-align") == results_dir / "tiny" / "04-align.json"
    with pytest.raises(FileNotFoundError, match=r"04-align.json does not exist: run `make results/tiny/04-align.json`"):
        results.read_result("tiny", "04-align")


@pytest.mark.parametrize("text,reason", [('{"notebook": "04-al', "not a readable result file (JSONDecodeError"),
                                         ("[1, 2]", "not a readable result file (a JSON list, not an object)")])
def test_torn_or_non_object_result_is_a_result_file_error(results_dir, text, reason):
    path = results_dir / "tiny" / "04-align.json"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(ResultFileError, match=re.escape(reason)) as err:
        results.read_result("tiny", "04-align")
    assert err.value.path == path and err.value.notebook == "04-align"


def test_models_with_alignment_lists_params_names_with_a_04_result(results_dir):
    assert io.models_with_alignment() == []                           # no results folder yet
    for name, nb in (("m1", "04-align"), ("m0", "04-align"), ("m2", "03-quantize")):
        (results_dir / name).mkdir(parents=True)
        (results_dir / name / f"{nb}.json").write_text(json.dumps({}))
    assert io.models_with_alignment() == ["m0", "m1"]


def test_metrics_frame_puts_each_interval_beside_its_metric():
    frame = io.metrics_frame({"fp32": {"acc": 0.5, "mrr": 0.6, "ci": {"acc": (0.4, 0.6)}},
                              "int8": {"acc": 0.45, "other": 1}}, ["acc", "mrr"])
    assert frame.index.tolist() == ["fp32", "int8"]
    assert frame.columns.tolist() == ["acc", "mrr", "acc_lo", "acc_hi", "mrr_lo", "mrr_hi"]
    assert frame.loc["fp32", ["acc", "acc_lo", "acc_hi", "mrr"]].tolist() == [0.5, 0.4, 0.6, 0.6]
    assert frame.loc["int8", ["mrr", "acc_lo", "acc_hi"]].isna().all() and frame.loc["int8", "acc"] == 0.45
