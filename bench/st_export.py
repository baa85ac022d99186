"""Export the peer engine's ONNX files in the sentence-transformers side venv, offline.

From a *copy* of the local model folder (exports are written into ``<folder>/onnx``):
``model.onnx`` (FP32, backend="onnx" export) and ``model_qint8_avx512_vnni.onnx``
(``export_dynamic_quantized_onnx_model(..., "avx512_vnni")``), as the sentence-transformers docs show.
Usage: python bench/st_export.py <source model folder> <work folder>
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def main(src: str, work: str) -> None:
    src_p, work_p = Path(src), Path(work)
    if (work_p / "onnx" / "model_qint8_avx512_vnni.onnx").exists():
        print(f"ST exports present in {work_p}")
        return
    if work_p.exists():
        shutil.rmtree(work_p)
    shutil.copytree(src_p, work_p)
    from sentence_transformers import (
        SentenceTransformer,
        export_dynamic_quantized_onnx_model,
    )

    model = SentenceTransformer(str(work_p), backend="onnx", device="cpu", local_files_only=True)
    model.save_pretrained(str(work_p))  # writes onnx/model.onnx beside the weights
    export_dynamic_quantized_onnx_model(model, "avx512_vnni", str(work_p))
    print(sorted(p.name for p in (work_p / "onnx").iterdir()))


if __name__ == "__main__":
    main(*sys.argv[1:3])
