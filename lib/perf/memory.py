"""Process memory: resident set, its peak, and resetting the peak so one phase is measured alone.

Standard library only, on purpose: the benchmark's workers in side environments (``bench/protocol.py``
in the sentence-transformers and IPEX venvs) import this module from the checkout without ``lib``'s
dependencies, so every engine's memory is read the same way.
"""

from __future__ import annotations

import resource
from pathlib import Path

STATUS = Path("/proc/self/status")


def _status_mb(field: str, status: Path = STATUS) -> float | None:
    """A ``kB`` field of ``/proc/self/status`` in MiB, or None where /proc is missing."""
    try:
        for line in status.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mb(status: Path = STATUS) -> float:
    """Resident set of this process (VmRSS), MiB; NaN where /proc is missing."""
    v = _status_mb("VmRSS", status)
    return float("nan") if v is None else v


def peak_rss_mb(status: Path = STATUS) -> float:
    """Peak resident set of this process (VmHWM; ``ru_maxrss`` where /proc is missing), MiB."""
    v = _status_mb("VmHWM", status)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if v is None else v


def reset_peak_rss(clear_refs: Path = Path("/proc/self/clear_refs")) -> bool:
    """Reset the kernel's peak-RSS mark (``echo 5 > /proc/self/clear_refs``) so a phase is measured
    alone; False where the kernel does not allow it (then the peak includes what came before)."""
    try:
        clear_refs.write_text("5")
        return True
    except OSError:
        return False
