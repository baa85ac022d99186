"""Partitions kept in memory between searches: the vectors or codes a process searched, by content key.

Why: a search of a store used to read and hash every partition's vectors again (all of UMLS: ~25 GB per
search). A process (a Dask worker, or the one process of the plain path) now keeps what it loaded,
keyed by the checksum of the file in its ``.done`` record, which is the content key of those bytes: a
hit needs only that small record (so a rewritten partition is never served stale), a miss reads the file
and hashes it once (:meth:`lib.data.store.Store.read_vectors`, ``read_codes``), and a second search
reads no vector file. :mod:`lib.search.distributed` sends each partition to the same worker every time.

Memory is bounded by ``cap_mb`` (params ``search.resident_mb``) per process. Eviction is least recently
used, except that what the current search (its ``generation``) has already used is never evicted for
the rest of it: a scan larger than the cap would otherwise evict each partition just before it is
needed again (plain LRU hits nothing on a cyclic scan); this way the partitions that fit stay resident
and only the others are streamed, search after search, while a later search of other data displaces
them. :func:`stats` reports bytes held, their peak, hits, loads and evictions (``make scale`` reads it).
No library offers this policy over checksummed files (functools.lru_cache counts entries, not bytes,
and cannot skip caching), hence this small class.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from lib.data.store import Store
from lib.search.quantize import check_kind

MB = 1 << 20


@dataclass
class _Entry:
    value: Any
    nbytes: int
    generation: str | None


@dataclass
class Resident:
    """A byte-bounded cache of loaded partitions (see the module doc for the policy)."""

    entries: "OrderedDict[tuple, _Entry]" = field(default_factory=OrderedDict)
    bytes: int = 0
    peak_bytes: int = 0
    hits: int = 0
    loads: int = 0
    evictions: int = 0
    uncached: int = 0
    cap_bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(self, key: tuple, load: Callable[[], Any], cap_mb: int, generation: str | None = None) -> Any:
        """The value under ``key``, loaded (and kept, if it fits under ``cap_mb``) on a miss."""
        with self.lock:
            self.cap_bytes = int(cap_mb) * MB
            entry = self.entries.get(key)
            if entry is not None:
                self.entries.move_to_end(key)
                entry.generation = generation
                self.hits += 1
                return entry.value
        value = load()
        nbytes = _nbytes(value)
        with self.lock:
            self.loads += 1
            if key in self.entries:  # loaded by another thread meanwhile
                return self.entries[key].value
            if not self._make_room(nbytes, generation):
                self.uncached += 1
                return value
            self.entries[key] = _Entry(value, nbytes, generation)
            self.bytes += nbytes
            self.peak_bytes = max(self.peak_bytes, self.bytes)
        return value

    def _make_room(self, nbytes: int, generation: str | None) -> bool:
        """Evict least recently used entries of other searches until ``nbytes`` fit; False if they cannot."""
        if nbytes > self.cap_bytes:
            return False
        while self.bytes + nbytes > self.cap_bytes:
            victim = next((k for k, e in self.entries.items() if generation is None or e.generation != generation),
                          None)
            if victim is None:
                return False
            self.bytes -= self.entries.pop(victim).nbytes
            self.evictions += 1
        return True

    def clear(self) -> None:
        """Forget every entry and zero the counters (a fresh process's state)."""
        with self.lock:
            self.entries.clear()
            self.bytes = self.peak_bytes = self.hits = self.loads = self.evictions = self.uncached = 0

    def stats(self) -> dict[str, float]:
        with self.lock:
            return {"entries": len(self.entries), "resident_mb": self.bytes / MB, "peak_mb": self.peak_bytes / MB,
                    "cap_mb": self.cap_bytes / MB, "hits": self.hits, "loads": self.loads,
                    "evictions": self.evictions, "uncached": self.uncached}


def _nbytes(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    raise TypeError(f"resident: cannot size a {type(value).__name__}")


RESIDENT = Resident()  # this process's cache (one per Dask worker process)


def partition_vectors(store: Store, key: str, i: int, cap_mb: int, generation: str | None = None) -> np.ndarray:
    """Partition ``i``'s vectors as float32 (the search's type; float16 on disk doubles in memory), resident."""
    done = store.vector_record(key, i)

    def load() -> np.ndarray:
        return np.ascontiguousarray(store.read_vectors(key, i), dtype=np.float32)
    return RESIDENT.get(("vectors", done["sha256"]), load, cap_mb, generation)


def partition_codes(store: Store, key: str, i: int, kind: str, cap_mb: int,
                    generation: str | None = None) -> dict[str, np.ndarray]:
    """Partition ``i``'s ``kind`` codes (and int8 ranges), resident."""
    done = store.codes_record(key, i, check_kind(kind))
    return RESIDENT.get(("codes", kind, done["sha256"]), lambda: store.read_codes(key, i, kind), cap_mb, generation)


def stats() -> dict[str, float]:
    """This process's resident memory and counters (call it on every worker with ``client.run``)."""
    return RESIDENT.stats()


def clear() -> None:
    """Forget every resident partition of this process and zero its counters."""
    RESIDENT.clear()
