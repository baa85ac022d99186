"""Export the peer engine's ONNX files in the sentence-transformers side venv, offline.

From a *copy* of the local model folder (exports are written into ``<folder>/onnx``): ``model.onnx``
(FP32, backend="onnx" export) and the dynamic INT8 model of this CPU's recipe,
``export_dynamic_quantized_onnx_model(model, quantization_config=<recipe>, ...)`` with ``<recipe>`` one of
``arm64`` / ``avx2`` / ``avx512`` / ``avx512_vnni`` as the sentence-transformers docs say to pick by CPU
(the coordinator detects it: ``bench.engines.this_cpu_st_recipe``).
Usage: python bench/st_export.py <source model folder> <work folder> [<recipe> <INT8 file name>]
(without a recipe: the FP32 export only).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def main(src: str, work: str, recipe: str | None = None, int8_file: str | None = None) -> None:
    src_p, work_p = Path(src), Path(work)
    onnx_dir = work_p / "onnx"
    if (onnx_dir / "model.onnx").exists() and (not recipe or (onnx_dir / str(int8_file)).exists()):
        print(f"ST exports present in {work_p}")
        return
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model

    if not (onnx_dir / "model.onnx").exists():
        if work_p.exists():
            shutil.rmtree(work_p)
        shutil.copytree(src_p, work_p)
    model = SentenceTransformer(str(work_p), backend="onnx", device="cpu", local_files_only=True)
    model.save_pretrained(str(work_p))  # writes onnx/model.onnx beside the weights
    if recipe:
        export_dynamic_quantized_onnx_model(model, quantization_config=recipe, model_name_or_path=str(work_p))
    files = sorted(p.name for p in onnx_dir.iterdir())
    if recipe and int8_file not in files:
        raise SystemExit(f"export_dynamic_quantized_onnx_model({recipe!r}) wrote {files}, not {int8_file}")
    print(files)


if __name__ == "__main__":
    main(*sys.argv[1:5])
