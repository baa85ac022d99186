"""Prepare the sentence-transformers OpenVINO peer in its side venv (requirements/st-openvino.txt), offline.

From a *copy* of the local model folder: ``SentenceTransformer(folder, backend="openvino")`` exports the
FP32 IR itself (optimum-intel, from the PyTorch weights), saved as ``openvino/openvino_model.xml``; and our
``ov-int8`` IR (lib.compress.openvino, NNCF static INT8 on the project's calibration set) is copied beside
it, so the peer runs the very INT8 model our engine runs. Why not the peer's own
``export_static_quantized_openvino_model``: its calibration set is a Hugging Face hub dataset (unreachable
offline) and a second INT8 model would mix two questions (calibration and runtime) into one comparison.
Usage: python bench/st_ov_export.py <source model folder> <work folder> <our ov-int8 model.xml> <int8 file name>
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def main(src: str, work: str, int8_xml: str, int8_file: str) -> None:
    src_p, work_p, xml = Path(src), Path(work), Path(int8_xml)
    ov_dir = work_p / "openvino"
    if not (ov_dir / "openvino_model.xml").exists():
        if work_p.exists():
            shutil.rmtree(work_p)
        shutil.copytree(src_p, work_p)
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(work_p), backend="openvino", device="cpu", local_files_only=True)
        model.save_pretrained(str(work_p))  # writes openvino/openvino_model.xml + .bin beside the weights
    target = ov_dir / int8_file
    for suffix in (".bin", ".xml"):  # weights first: an XML is never there without them
        shutil.copy2(xml.with_suffix(suffix), target.with_suffix(suffix + ".tmp"))
        target.with_suffix(suffix + ".tmp").replace(target.with_suffix(suffix))
    print(sorted(p.name for p in ov_dir.iterdir()))


if __name__ == "__main__":
    main(*sys.argv[1:5])
