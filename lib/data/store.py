"""A sharded on-disk store of a target table and its vectors: parquet partitions of a fixed row count.

Why: the whole UMLS Metathesaurus (~16M strings; 24.6 GB of float32 vectors at 384 dimensions) does
not fit in memory, so a target table is written once as partitions that workers read, embed and
search one at a time. Layout of a store folder::

    manifest.json                          written last: the store exists once it is there
    parts/part-00000.parquet ...           rows in input order, column ``id`` = 0..N-1 first
    vectors/<key>/key.json                 dtype and width of this key's vectors
    vectors/<key>/part-00000.npy           one array per partition, row j = id first_id + j
    vectors/<key>/part-00000.done.json     checksums: the .npy file's and the partition's it encodes
    vectors/<key>/part-00000.int8.npz      codes of those vectors for a quantized index (int8: codes and
    vectors/<key>/part-00000.int8.done.json   the ranges they were calibrated with; binary: sign bits),
                                           their record naming the vectors' checksum they were made from

Every file is written under a temporary name and renamed (:mod:`lib.atomic`), so no reader sees a
torn file. An interrupted :func:`write_store` is rerun with the same input: it recomputes each
partition's parquet bytes (canonical: dictionary columns re-encoded in order of appearance) and keeps
the file already on disk only when its SHA-256 equals them, so an unchanged partition is not
rewritten and a torn, altered or stale one is. Readers check the manifest's SHA-256 before parsing.
Vectors cannot be recomputed cheaply, so each carries a ``.done`` record written after it; a vector
file is trusted only when that record's checksums match the file and the current partition. Who checks
what: a reader (:meth:`Store.read_vectors`, :meth:`Store.read_codes`, the rows of
:meth:`Store.read_vector_rows`) hashes the bytes it loads before using them; a planner deciding what is
left to embed (:meth:`Store.has_vectors` with ``verify=False``) trusts the record, its size and the
file's size, so a driver never reads the vectors only to schedule work on them.

Any table with a text and a concept-id column goes in with ``write_store([df], ...)`` (HPO targets,
MeSH); MRCONSO is streamed in by :func:`write_mrconso_store`. The store knows nothing of encoders:
the caller names vectors by a key (``encoder.fingerprint``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lib import atomic
from lib.data import umls
from lib.errors import DataFormatError, StoreNotWritableError
from lib.fingerprint import sha256_file as file_sha256

log = logging.getLogger("lib.data.store")

FORMAT = 1
MANIFEST = "manifest.json"
ID = "id"
VECTOR_DTYPES = ("float32", "float16")
CODE_KINDS = ("int8", "binary")  # quantized indexes whose codes live beside the vectors (lib.search.quantize)
_PART = re.compile(r"^part-(\d{5})\.parquet$")
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


@dataclass(frozen=True)
class Partition:
    """One parquet partition: rows ``first_id`` .. ``first_id + rows - 1`` of the table."""

    index: int
    file: str  # relative to the store folder
    rows: int
    first_id: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """What a store holds and where it came from (``manifest.json``)."""

    source: dict
    filters: dict
    partition_rows: int
    total_rows: int
    columns: list[str]
    categorical: list[str]
    partitions: list[Partition]
    input_counts: dict = field(default_factory=dict)
    format: int = FORMAT

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict) -> "Manifest":
        return cls(**{**obj, "partitions": [Partition(**p) for p in obj["partitions"]]})


def file_source(path: str | Path, name: str, version: str | None = None) -> dict:
    """A ``source`` record for a manifest: which input file (bytes, SHA-256) and which release."""
    path = Path(path)
    return {"name": name, "version": version, "file": str(path), "bytes": path.stat().st_size,
            "sha256": file_sha256(path)}


def _plain(df: pd.DataFrame) -> tuple[pa.Table, set[str]]:
    """An input frame as Arrow with dictionary columns decoded and strings as large_string.

    Why: pandas encodes categoricals with int8 or int16 codes depending on their count, so two frames
    of one table can have different Arrow schemas; partitions re-encode them canonically instead.
    """
    table = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)
    cats, fields = set(), []
    for f in table.schema:
        t = f.type
        if pa.types.is_dictionary(t):
            cats.add(f.name)
            t = t.value_type
        fields.append(pa.field(f.name, pa.large_string() if pa.types.is_string(t) else t))
    return table.cast(pa.schema(fields)), cats


def _conform(table: pa.Table, schema: pa.Schema, frame: int, first_id: int) -> pa.Table:
    """A later input frame cast to the first frame's schema, or an error naming frame and row id."""
    if table.schema.names != schema.names:
        raise ValueError(f"input frame {frame} (store ids from {first_id}): columns {table.schema.names} "
                         f"differ from the first frame's {schema.names}")
    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise ValueError(f"input frame {frame} (store ids from {first_id}): types {table.schema} do not "
                         f"convert to the first frame's {schema} ({err})") from None


def _parquet_bytes(rows: pa.Table, first_id: int, categorical: set[str], compression: str) -> pa.Buffer:
    """The canonical bytes of a partition: ids first, dictionary columns encoded in order of appearance."""
    cols = [pa.array(np.arange(first_id, first_id + rows.num_rows, dtype=np.int64))]
    for name in rows.schema.names:
        col = rows.column(name).combine_chunks()
        cols.append(col.dictionary_encode() if name in categorical else col)
    table = pa.Table.from_arrays(cols, names=[ID] + rows.schema.names)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=compression, row_group_size=max(1, table.num_rows))
    return sink.getvalue()


def _put_partition(folder: Path, index: int, rows: pa.Table, first_id: int, categorical: set[str],
                   compression: str) -> tuple[Partition, bool]:
    """Write one partition unless the same bytes are already there; (its record, written?)."""
    data = _parquet_bytes(rows, first_id, categorical, compression)
    digest = hashlib.sha256(data).hexdigest()
    rel = f"parts/part-{index:05d}.parquet"
    path = folder / rel
    part = Partition(index, rel, rows.num_rows, first_id, digest)
    if path.exists() and file_sha256(path) == digest:
        return part, False
    if path.exists():
        log.warning("%s: checksum differs from the recomputed partition (torn, altered or stale): rewriting",
                    path)
    atomic.write_bytes(path, data.to_pybytes())
    return part, True


def _remove_leftovers(folder: Path, n_parts: int | None) -> None:
    """Temporary files of a killed writer; with ``n_parts``, also partitions past the new last one."""
    parts = folder / "parts"
    if not parts.is_dir():
        return
    for f in parts.iterdir():
        m = _PART.match(f.name)
        if f.name.startswith(".") or (n_parts is not None and m and int(m.group(1)) >= n_parts):
            atomic.remove(f)


def write_store(frames: Iterable[pd.DataFrame], folder: str | Path, partition_rows: int = 50_000,
                source: dict | None = None, filters: dict | None = None,
                compression: str = "zstd") -> Manifest:
    """Write (or resume writing) a store of the rows of ``frames``, in order, with ids 0..N-1.

    ``frames`` is any iterable of DataFrames with the same columns (e.g. :func:`lib.data.umls.
    iter_mrconso_blocks`, or ``[load_hpo().targets]``); their sizes need not match ``partition_rows``:
    rows are regrouped, so memory holds at most one partition plus one input frame. ``source`` and
    ``filters`` are recorded in the manifest (see :func:`file_source`), as are the last frame's
    ``attrs['skipped']`` (a filtering reader's running counts). The manifest is removed first and
    written last: a store without one is incomplete, and rerunning with the same input resumes it.
    """
    if partition_rows < 1:
        raise ValueError(f"partition_rows must be >= 1, got {partition_rows}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic.remove(folder / MANIFEST)
    _remove_leftovers(folder, None)
    schema: pa.Schema | None = None
    categorical: set[str] = set()
    pending: list[pa.Table] = []
    n_pending, next_id, written, counts = 0, 0, 0, {}
    parts: list[Partition] = []

    def flush(n: int) -> None:
        nonlocal pending, n_pending, next_id, written
        table = pa.concat_tables(pending)
        part, wrote = _put_partition(folder, len(parts), table.slice(0, n), next_id, categorical, compression)
        parts.append(part)
        written += wrote
        pending, n_pending, next_id = [table.slice(n)], n_pending - n, next_id + n

    for k, df in enumerate(frames):
        if ID in df.columns:
            raise ValueError(f"input frame {k} has a column {ID!r}: the store assigns ids itself (rename it)")
        table, cats = _plain(df)
        if schema is None:
            schema = table.schema
        table = _conform(table, schema, k, next_id + n_pending)
        categorical |= cats
        counts = df.attrs.get("skipped", counts)
        pending.append(table)
        n_pending += table.num_rows
        while n_pending >= partition_rows:
            flush(partition_rows)
    if n_pending:
        flush(n_pending)
    if not parts or schema is None:
        raise ValueError(f"{folder}: no rows to store (the input frames were empty)")
    _remove_leftovers(folder, len(parts))
    manifest = Manifest(source=dict(source or {}), filters=dict(filters or {}), partition_rows=partition_rows,
                        total_rows=next_id, columns=[ID] + schema.names, categorical=sorted(categorical),
                        partitions=parts, input_counts=dict(counts))
    atomic.write_json(folder / MANIFEST, manifest.to_json())
    log.info("%s: %d rows in %d partitions (%d written, %d kept from an earlier run)", folder, next_id,
             len(parts), written, len(parts) - written)
    return manifest


def write_mrconso_store(path: str | Path, folder: str | Path, languages: Iterable[str] | None = ("ENG",),
                        sources: Iterable[str] | None = None, keep_suppressed: bool = False,
                        partition_rows: int = 50_000, version: str | None = None) -> Manifest:
    """Stream the filtered rows of an MRCONSO file into a store (resumable; memory flat in the file size).

    The one reader that needs a streaming feed (HPO or MeSH targets fit in memory: ``write_store([df])``).

    The manifest records the file (bytes, SHA-256, ``version`` such as "2025AA"), the filters and the
    skip counts; ids are the kept rows' order in the file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: MRCONSO.RRF not found (set umls_mrconso in params)")
    frames = umls.iter_mrconso_blocks(path, languages, sources, keep_suppressed, block_rows=partition_rows)
    return write_store(frames, folder, partition_rows, file_source(path, "UMLS MRCONSO", version),
                       umls.mrconso_filters(languages, sources, keep_suppressed))


class Store:
    """A written store (see :func:`open_store`): partitions and the vectors computed from them."""

    def __init__(self, folder: Path, manifest: Manifest):
        self.folder, self.manifest = folder, manifest

    @property
    def partitions(self) -> list[Partition]:
        return self.manifest.partitions

    def __len__(self) -> int:
        return self.manifest.total_rows

    def _partition(self, i: int) -> Partition:
        if not 0 <= i < len(self.partitions):
            raise IndexError(f"{self.folder}: partition {i} out of range (0..{len(self.partitions) - 1})")
        return self.partitions[i]

    def partition_path(self, i: int) -> Path:
        return self.folder / self._partition(i).file

    def read_partition(self, i: int, columns: list[str] | None = None) -> pd.DataFrame:
        """Rows of partition ``i`` (``id`` first), after checking the file against the manifest's SHA-256.

        The bytes are read once, checked, then parsed, so a file replaced in between is never parsed.
        """
        part, path = self._partition(i), self.partition_path(i)
        data = _checked_bytes(path, part.sha256, "rerun write_store with the same input to rewrite it")
        try:
            table = pq.read_table(pa.BufferReader(data), columns=columns)
        except (pa.ArrowInvalid, OSError) as err:
            raise DataFormatError(path, f"cannot be read as parquet ({err})") from None
        if table.num_rows != part.rows:
            raise DataFormatError(path, f"{table.num_rows} rows, the manifest says {part.rows}")
        return table.to_pandas()

    # -- vectors -------------------------------------------------------------------------------------

    def _key_dir(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"vector key {key!r}: use letters, digits, '.', '_' and '-' (an encoder fingerprint)")
        return self.folder / "vectors" / key

    def vectors_path(self, key: str, i: int) -> Path:
        self._partition(i)
        return self._key_dir(key) / f"part-{i:05d}.npy"

    def _done_path(self, key: str, i: int) -> Path:
        return self.vectors_path(key, i).with_suffix(".done.json")

    def vector_info(self, key: str) -> dict | None:
        """{'key', 'dtype', 'dim'} fixed by the first vectors written under ``key``, or None."""
        try:
            return json.loads((self._key_dir(key) / "key.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _record_problem(self, key: str, i: int) -> tuple[str | None, dict]:
        """Why the completion record of partition ``i``'s vectors cannot be trusted (None when it can),
        and the record; checks everything but the .npy file's own checksum."""
        path, part = self.vectors_path(key, i), self._partition(i)
        try:
            done = json.loads(self._done_path(key, i).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "no completion record (never written, or the write was interrupted)", {}
        if done.get("partition_sha256") != part.sha256 or done.get("rows") != part.rows:
            return "computed from another version of the partition (the store was rewritten)", done
        if not path.exists():
            return "the .npy file is missing", done
        return None, done

    def _vector_problem(self, key: str, i: int, verify: bool = True) -> str | None:
        """Why the vectors of partition ``i`` cannot be trusted, or None when they can (``verify``: hash
        the file; otherwise compare its size with the record's, where the record has one)."""
        problem, done = self._record_problem(key, i)
        if problem is None:
            problem = _file_problem(self.vectors_path(key, i), done, verify)
        return problem

    def has_vectors(self, key: str, i: int, verify: bool = True) -> bool:
        """True when partition ``i`` has complete, current vectors under ``key``.

        ``verify`` reads and hashes the file; ``verify=False`` trusts the ``.done`` record (checksums of the
        file and of the current partition) and checks the file's size only, for a planner that decides what
        to embed: the reader still hashes what it loads (records written before sizes were recorded are
        hashed either way)."""
        problem = self._vector_problem(key, i, verify)
        if problem:
            log.debug("%s: %s", self.vectors_path(key, i), problem)
        return problem is None

    def vector_record(self, key: str, i: int) -> dict:
        """The ``.done`` record of partition ``i``'s vectors (its ``sha256`` is their content key); an error
        naming the file when it cannot be trusted (checks the record, not the .npy file's bytes)."""
        problem, done = self._record_problem(key, i)
        if problem:
            raise DataFormatError(self.vectors_path(key, i), f"vectors not usable: {problem}; recompute them "
                                                              "(write_vectors)")
        return done

    def write_vectors(self, key: str, i: int, array: np.ndarray, dtype: str | None = None) -> Path:
        """Store the vectors of partition ``i`` (row j = id ``first_id + j``) as float32 or float16.

        ``dtype`` defaults to the key's (float32 for a new key); a key keeps one dtype and width.
        The .npy file is renamed into place before its ``.done`` record, so a crash leaves no trusted
        partial.
        """
        part = self._partition(i)
        info = self.vector_info(key)
        dtype = dtype or (info["dtype"] if info else "float32")
        if dtype not in VECTOR_DTYPES:
            raise ValueError(f"vector dtype {dtype!r}: choose one of {VECTOR_DTYPES}")
        array = np.asarray(array)
        if array.ndim != 2 or array.shape[0] != part.rows:
            raise ValueError(f"partition {i} has {part.rows} rows: expected vectors of shape ({part.rows}, dim), "
                             f"got {array.shape}")
        if info and (info["dtype"], info["dim"]) != (dtype, array.shape[1]):
            raise ValueError(f"vectors {key!r} are stored as {info['dtype']} x {info['dim']}, "
                             f"got {dtype} x {array.shape[1]}: use another key or rewrite them all")
        with np.errstate(over="ignore"):  # an overflow shows as inf, refused just below
            stored = array.astype(dtype, copy=False)
        if not np.isfinite(stored).all():
            raise ValueError(f"partition {i}: vectors are not all finite as {dtype}")
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(stored))
        data = buf.getvalue()
        with self._writing(self._key_dir(key)):
            if not info:
                atomic.write_json(self._key_dir(key) / "key.json", {"key": key, "dtype": dtype, "dim": array.shape[1]})
            path = atomic.write_bytes(self.vectors_path(key, i), data)
            atomic.write_json(self._done_path(key, i), {
                "key": key, "partition": i, "rows": part.rows, "dim": int(array.shape[1]), "dtype": dtype,
                "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                "partition_sha256": part.sha256})
        return path

    @contextlib.contextmanager
    def _writing(self, where: Path):
        """Writes into the store: a folder this process may not write to is a :class:`StoreNotWritableError`
        naming the store and the fix, not a bare ``PermissionError`` on a vectors path."""
        try:
            yield
        except OSError as err:
            if isinstance(err, PermissionError) or err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise StoreNotWritableError(self.folder, err.filename or where, err.strerror or str(err)) from err
            raise

    def read_vectors(self, key: str, i: int) -> np.ndarray:
        """The trusted vectors of partition ``i``; missing, stale or corrupt ones are an error naming the file."""
        path = self.vectors_path(key, i)
        problem, done = self._record_problem(key, i)
        if problem:
            raise DataFormatError(path, f"vectors not usable: {problem}; recompute them (write_vectors)")
        # read once and hash those bytes once (hashing the file, then reading it again, doubled the I/O)
        data = _checked_bytes(path, done["sha256"], "recompute them (write_vectors)")
        return np.load(io.BytesIO(data), allow_pickle=False)

    def read_vector_rows(self, key: str, i: int, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` (positions in partition ``i``) of its vectors, as stored, reading those rows only.

        Why: rescoring a quantized index needs the float vectors of a few candidates, not the partition.
        The file is hashed once per process (streamed, not kept: :func:`verified_file`) and then memory
        mapped, so an altered file is caught on its first use and later reads cost only their rows."""
        path = self.vectors_path(key, i)
        done = self.vector_record(key, i)
        verified_file(path, done["sha256"], "recompute them (write_vectors)")
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
        return np.asarray(mapped[np.asarray(rows, dtype=np.int64)])

    # -- codes of a quantized index (lib.search.quantize computes them; the store keeps them honest) --------

    def codes_path(self, key: str, i: int, kind: str) -> Path:
        if kind not in CODE_KINDS:
            raise ValueError(f"code kind {kind!r}: choose one of {CODE_KINDS}")
        return self.vectors_path(key, i).with_suffix(f".{kind}.npz")

    def _codes_done_path(self, key: str, i: int, kind: str) -> Path:
        return self.codes_path(key, i, kind).with_suffix(".done.json")

    def _codes_problem(self, key: str, i: int, kind: str, verify: bool = False) -> tuple[str | None, dict]:
        """Why the codes of partition ``i`` cannot be trusted (None when they can), and their record.
        Codes are content-keyed by the vectors they were computed from: new vectors make them stale."""
        problem, vdone = self._record_problem(key, i)
        if problem:
            return f"their vectors are not usable ({problem})", {}
        try:
            done = json.loads(self._codes_done_path(key, i, kind).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "no completion record (never written, or the write was interrupted)", {}
        if done.get("vectors_sha256") != vdone.get("sha256") or done.get("kind") != kind:
            return "computed from other vectors (the vectors were rewritten)", done
        return _file_problem(self.codes_path(key, i, kind), done, verify), done

    def has_codes(self, key: str, i: int, kind: str, verify: bool = False) -> bool:
        """True when partition ``i`` has current ``kind`` codes of its ``key`` vectors (record and size;
        ``verify`` hashes the file too)."""
        problem, _ = self._codes_problem(key, i, kind, verify)
        if problem:
            log.debug("%s: %s", self.codes_path(key, i, kind), problem)
        return problem is None

    def write_codes(self, key: str, i: int, kind: str, arrays: dict[str, np.ndarray]) -> Path:
        """Store the ``kind`` codes of partition ``i``'s current vectors (``arrays``: ``codes`` with one row
        per partition row, and whatever they need to be read, e.g. int8 ``ranges``), atomically, then their
        record naming the vectors' checksum."""
        vdone = self.vector_record(key, i)
        codes = np.asarray(arrays["codes"])
        if codes.ndim != 2 or codes.shape[0] != vdone["rows"]:
            raise ValueError(f"partition {i} has {vdone['rows']} rows: codes of shape {codes.shape}")
        buf = io.BytesIO()
        np.savez(buf, **{name: np.ascontiguousarray(a) for name, a in arrays.items()})
        data = buf.getvalue()
        path = atomic.write_bytes(self.codes_path(key, i, kind), data)
        atomic.write_json(self._codes_done_path(key, i, kind), {
            "key": key, "partition": i, "kind": kind, "rows": int(codes.shape[0]), "width": int(codes.shape[1]),
            "dtype": str(codes.dtype), "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
            "vectors_sha256": vdone["sha256"]})
        return path

    def codes_record(self, key: str, i: int, kind: str) -> dict:
        """The record of partition ``i``'s ``kind`` codes (its ``sha256`` is their content key); an error
        naming the file when they are missing or stale (the file's bytes are not read)."""
        problem, done = self._codes_problem(key, i, kind)
        if problem:
            raise DataFormatError(self.codes_path(key, i, kind), f"{kind} codes not usable: {problem}; compute "
                                                                  "them (embed the store with this index)")
        return done

    def read_codes(self, key: str, i: int, kind: str) -> dict[str, np.ndarray]:
        """The trusted ``kind`` codes of partition ``i`` (and their ranges), hashed before they are parsed."""
        done = self.codes_record(key, i, kind)
        data = _checked_bytes(self.codes_path(key, i, kind), done["sha256"], "compute them again (write_codes)")
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}


def _file_problem(path: Path, done: dict, verify: bool) -> str | None:
    """Why a file cannot be trusted against its record: missing, another size, or (``verify``, or a record
    without a size) another SHA-256."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "the file is missing"
    if "bytes" in done and size != done["bytes"]:
        return f"{size} bytes, the record says {done['bytes']} (torn or altered file)"
    if (verify or "bytes" not in done) and file_sha256(path) != done.get("sha256"):
        return "checksum mismatch (torn or altered file)"
    return None


_VERIFIED: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> the SHA-256 this process checked


def verified_file(path: Path, sha256: str, fix: str) -> None:
    """Check a file against its SHA-256 once per process (by path, size and mtime: a rewritten or touched
    file is checked again), streaming it without keeping it; a mismatch is an error naming the file."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DataFormatError(path, f"missing; {fix}") from None
    stamp = (str(path), st.st_size, st.st_mtime_ns)
    if _VERIFIED.get(stamp) == sha256:
        return
    got = file_sha256(path)
    if got != sha256:
        raise DataFormatError(path, f"checksum mismatch (sha256 {got}, expected {sha256}): torn or altered "
                                    f"file, not read; {fix}")
    _VERIFIED[stamp] = sha256


def _checked_bytes(path: Path, sha256: str, fix: str) -> bytes:
    """A file's bytes, read once and checked against a SHA-256 before anything parses them."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataFormatError(path, f"missing; {fix}") from None
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise DataFormatError(path, f"checksum mismatch (sha256 {got}, expected {sha256}): torn or altered "
                                    f"file, not read; {fix}")
    return data


def verify_store(store: Store) -> None:
    """Check every partition file against the manifest's SHA-256 (reads each once, parses none); a
    missing or damaged one is a :class:`DataFormatError` naming it. For callers that can rebuild a damaged
    store from its source before using it (``python -m lib align``'s cached MRCONSO stores)."""
    for part in store.partitions:
        path = store.folder / part.file
        if not path.exists():
            raise DataFormatError(path, "partition missing")
        got = file_sha256(path)
        if got != part.sha256:
            raise DataFormatError(path, f"checksum mismatch (sha256 {got}, manifest {part.sha256}): torn or altered")


def open_store(folder: str | Path) -> Store:
    """The store in ``folder``; a missing manifest means it was never completed (rerun write_store)."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{folder}: no {MANIFEST}: not a store, or its write was interrupted "
                                f"(rerun write_store with the same input to resume it)")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
        manifest = Manifest.from_json(obj)
    except (ValueError, KeyError, TypeError) as err:
        raise DataFormatError(path, f"not a store manifest ({type(err).__name__}: {err})") from None
    if manifest.format != FORMAT:
        raise DataFormatError(path, f"store format {manifest.format}, this code reads {FORMAT}: rewrite the store")
    return Store(folder, manifest)


# ---------------------------------------------------------------------------------------------
# Stores the project keeps under its cache: written once, found again by content, healed when damaged


def frames_key(frames: Iterable[pd.DataFrame]) -> str:
    """Content key of target rows (pandas' row hashes of every frame, in order): a store of other rows
    is another folder."""
    rows = pd.concat(list(frames), ignore_index=True)
    return hashlib.sha256(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes()).hexdigest()[:16]


def cached_store(folder: Path, write: Callable[[Path], None], source: str = "its source") -> Store:
    """The store in ``folder`` (under the cache, named by its content), written by ``write(folder)`` on
    first use. A store found torn or altered (manifest or partition) is logged and rewritten: the
    project owns it (``write_store`` keeps the intact partitions and the vectors whose bytes come out the
    same). The one way the CLI and notebook 10 keep their target stores."""
    try:
        store = open_store(folder)
        verify_store(store)
        return store
    except FileNotFoundError:
        log.info("%s: no complete store yet: writing it from %s", folder, source)
    except DataFormatError as err:
        log.warning("cached store %s is damaged (%s): rebuilding it from %s", folder, err, source)
    write(folder)
    return open_store(folder)


def frames_store(cache: Path, name: str, frames: list[pd.DataFrame], partition_rows: int,
                 source: dict | None = None) -> Store:
    """:func:`cached_store` of target frames: ``<cache>/stores/<name>-<content key>-p<partition_rows>``."""
    folder = Path(cache) / "stores" / f"{name}-{frames_key(frames)}-p{partition_rows}"
    return cached_store(folder, lambda f: write_store(frames, f, partition_rows=partition_rows, source=source),
                        f"{sum(len(f) for f in frames)} target rows")
