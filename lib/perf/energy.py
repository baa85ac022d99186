"""CPU package energy from RAPL counters (when readable).
"""

from __future__ import annotations

import glob
import logging
from pathlib import Path

log = logging.getLogger("lib.perf.energy")


RAPL_GLOB = "/sys/class/powercap/intel-rapl:[0-9]*/energy_uj"


class Rapl:
    """Package energy from /sys/class/powercap (Intel RAPL); ``available`` is False when unreadable.

    RAPL counts the whole package, so on a shared machine other processes' energy is included.
    """

    def __init__(self, pattern: str = RAPL_GLOB):
        self.files = sorted(glob.glob(pattern))
        self.reason = ""
        try:
            self._read()
            self.available = bool(self.files)
            if not self.files:
                self.reason = f"no RAPL counters at {pattern} (not exposed on this machine/VM)"
        except OSError as err:
            self.available, self.reason = False, f"RAPL counters not readable: {err}"

    def _read(self) -> list[int]:
        return [int(Path(f).read_text()) for f in self.files]

    def _max(self) -> list[int]:
        out = []
        for f in self.files:
            p = Path(f).with_name("max_energy_range_uj")
            out.append(int(p.read_text()) if p.exists() else 2**63)
        return out

    def joules(self, start: list[int], end: list[int]) -> float:
        """Energy between two readings, counting a counter wrap-around once."""
        total = 0
        for s, e, m in zip(start, end, self._max()):
            total += e - s if e >= s else e + m - s
        return total / 1e6

    def read(self) -> list[int] | None:
        return self._read() if self.available else None
