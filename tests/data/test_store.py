"""The sharded target store (lib.data.store): round trip, stable ids, resume, torn files, vectors."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lib.data import fixtures, hpo, store
from lib.errors import DataFormatError

SOURCE = {"name": "fixture", "version": "1"}


def frames(df: pd.DataFrame, sizes: list[int]) -> list[pd.DataFrame]:
    """``df`` cut into consecutive frames of the given sizes (the rest in a last frame)."""
    out, at = [], 0
    for n in sizes:
        out.append(df.iloc[at:at + n])
        at += n
    return out + ([df.iloc[at:]] if at < len(df) else [])


def table() -> pd.DataFrame:
    """The MRCONSO fixture, twice over (36 rows), with categorical columns as read_mrconso gives them."""
    df = pd.concat([fixtures.mrconso_frame()] * 2, ignore_index=True)
    return df.astype({"LAT": "category", "SAB": "category", "SUPPRESS": "category"})


def read_all(s: store.Store) -> pd.DataFrame:
    return pd.concat([s.read_partition(i) for i in range(len(s.partitions))], ignore_index=True)


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted((folder / "parts").glob("part-*.parquet"))}


def age(folder: Path) -> None:
    """Set every partition's mtime an hour back, so a rewrite shows whatever the clock's resolution."""
    for p in (folder / "parts").glob("part-*.parquet"):
        st = p.stat()
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns - 3_600 * 10**9))


# ------------------------------------------------------------------------------------------------
# round trip and stable ids


def test_round_trip_ids_manifest(tmp_path):
    df = table()
    m = store.write_store(frames(df, [7, 7, 7]), tmp_path / "s", partition_rows=10, source=SOURCE,
                          filters={"LAT": ["ENG"]})
    assert [p.rows for p in m.partitions] == [10, 10, 10, 6]
    assert [p.first_id for p in m.partitions] == [0, 10, 20, 30]
    assert m.total_rows == 36 and m.columns == ["id"] + list(df.columns)
    assert m.source == SOURCE and m.filters == {"LAT": ["ENG"]} and m.format == store.FORMAT
    assert m.categorical == ["LAT", "SAB", "SUPPRESS"]
    s = store.open_store(tmp_path / "s")
    assert s.manifest == m and len(s) == 36
    for p in s.partitions:
        assert hashlib.sha256((tmp_path / "s" / p.file).read_bytes()).hexdigest() == p.sha256
    got = read_all(s)
    assert got["id"].tolist() == list(range(36))
    assert got.drop(columns="id").astype(str).values.tolist() == df.astype(str).values.tolist()
    assert isinstance(got["LAT"].dtype, pd.CategoricalDtype) and got["STR"].map(type).eq(str).all()
    assert s.read_partition(3, columns=["id", "STR"]).columns.tolist() == ["id", "STR"]
    on_disk = json.loads((tmp_path / "s" / store.MANIFEST).read_text())
    assert on_disk["partitions"][1]["rows"] == 10 and on_disk["total_rows"] == 36


def test_ids_and_bytes_do_not_depend_on_how_the_input_is_cut(tmp_path):
    """Same rows in other frame sizes: same ids, same partition checksums (canonical dictionaries)."""
    df = table()
    a = store.write_store(frames(df, [36]), tmp_path / "a", partition_rows=8, source=SOURCE)
    b = store.write_store(frames(df, [1, 5, 13, 2]), tmp_path / "b", partition_rows=8, source=SOURCE)
    assert [p.sha256 for p in a.partitions] == [p.sha256 for p in b.partitions]
    c = store.write_store(frames(df.iloc[::-1], [36]), tmp_path / "c", partition_rows=8, source=SOURCE)
    assert [p.sha256 for p in c.partitions] != [p.sha256 for p in a.partitions]
    first = store.open_store(tmp_path / "c").read_partition(0)
    assert first["id"].tolist() == list(range(8)) and first["STR"].tolist() == df["STR"].iloc[::-1][:8].tolist()


def test_hpo_targets_round_trip(tmp_path):
    targets = hpo.load_hpo().targets
    m = store.write_store([targets], tmp_path / "hpo", partition_rows=5_000,
                          source={"name": "HPO", "version": hpo.load_hpo().version})
    assert m.total_rows == len(targets) and len(m.partitions) == -(-len(targets) // 5_000)
    got = read_all(store.open_store(tmp_path / "hpo"))
    pd.testing.assert_frame_equal(got.drop(columns="id"), targets.reset_index(drop=True), check_dtype=False)


def test_bad_inputs_are_refused(tmp_path):
    df = table()
    with pytest.raises(ValueError, match="column 'id'"):
        store.write_store([df.assign(id=1)], tmp_path / "a")
    with pytest.raises(ValueError, match=r"input frame 1 \(store ids from 5\): columns"):
        store.write_store([df.iloc[:5], df.iloc[5:].drop(columns="CVF")], tmp_path / "b", partition_rows=100)
    with pytest.raises(ValueError, match="no rows to store"):
        store.write_store([df.iloc[:0]], tmp_path / "c")
    with pytest.raises(ValueError, match="partition_rows"):
        store.write_store([df], tmp_path / "d", partition_rows=0)


def test_file_source_records_size_and_checksum(tmp_path):
    f = tmp_path / "input.txt"
    f.write_bytes(b"abc\n")
    assert store.file_source(f, "x", "v1") == {"name": "x", "version": "v1", "file": str(f), "bytes": 4,
                                               "sha256": hashlib.sha256(b"abc\n").hexdigest()}


# ------------------------------------------------------------------------------------------------
# interrupted writes, torn files


class Interrupted(RuntimeError):
    pass


def interrupted(df: pd.DataFrame, after_rows: int, frame_rows: int = 4):
    """The rows of ``df`` in frames of ``frame_rows``, dying once ``after_rows`` rows were handed out."""
    for f in frames(df, [frame_rows] * (len(df) // frame_rows)):
        if f.index[0] >= after_rows:
            raise Interrupted("killed")
        yield f


def test_resume_keeps_complete_partitions_and_equals_an_uninterrupted_run(tmp_path):
    df, folder = table(), tmp_path / "s"
    with pytest.raises(Interrupted):
        store.write_store(interrupted(df, after_rows=24), folder, partition_rows=10, source=SOURCE)
    with pytest.raises(FileNotFoundError, match="interrupted"):
        store.open_store(folder)  # no manifest: the store is not there yet
    assert sorted(mtimes(folder)) == ["part-00000.parquet", "part-00001.parquet"]
    age(folder)
    before = mtimes(folder)
    resumed = store.write_store(frames(df, [4] * 9), folder, partition_rows=10, source=SOURCE)
    after = mtimes(folder)
    assert {k: after[k] for k in before} == before  # complete partitions were not rewritten
    assert sorted(after) == [f"part-{i:05d}.parquet" for i in range(4)]
    fresh = store.write_store([df], tmp_path / "fresh", partition_rows=10, source=SOURCE)
    assert resumed == fresh
    pd.testing.assert_frame_equal(read_all(store.open_store(folder)), read_all(store.open_store(tmp_path / "fresh")))


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_torn_or_altered_partition_is_never_read_and_is_rewritten(tmp_path, monkeypatch, damage):
    df, folder = table(), tmp_path / "s"
    store.write_store([df], folder, partition_rows=10, source=SOURCE)
    bad = folder / "parts" / "part-00001.parquet"
    data = bad.read_bytes()
    bad.write_bytes(data[:len(data) // 2] if damage == "truncate" else data[:100] + bytes([data[100] ^ 1]) + data[101:])
    s = store.open_store(folder)

    def no_parse(*args, **kwargs):
        raise AssertionError("a damaged partition was handed to the parquet reader")

    with monkeypatch.context() as mp:
        mp.setattr(store.pq, "read_table", no_parse)
        with pytest.raises(DataFormatError, match=r"part-00001\.parquet: checksum mismatch"):
            s.read_partition(1)
    age(folder)
    before = mtimes(folder)
    store.write_store([df], folder, partition_rows=10, source=SOURCE)
    after = mtimes(folder)
    assert after["part-00001.parquet"] != before["part-00001.parquet"]
    assert {k: v for k, v in after.items() if k != "part-00001.parquet"} == \
           {k: v for k, v in before.items() if k != "part-00001.parquet"}
    assert bad.read_bytes() == data
    assert store.open_store(folder).read_partition(1)["id"].tolist() == list(range(10, 20))


def test_unparsable_partition_names_its_file(tmp_path):
    folder = tmp_path / "s"
    m = store.write_store([table()], folder, partition_rows=10, source=SOURCE)
    junk = b"not parquet at all"
    (folder / m.partitions[2].file).write_bytes(junk)
    manifest = json.loads((folder / store.MANIFEST).read_text())
    manifest["partitions"][2]["sha256"] = hashlib.sha256(junk).hexdigest()  # a consistent but bad file
    (folder / store.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(DataFormatError, match=r"part-00002\.parquet: cannot be read as parquet"):
        store.open_store(folder).read_partition(2)


def test_shorter_rewrite_drops_stale_partitions_and_temp_files(tmp_path):
    df, folder = table(), tmp_path / "s"
    store.write_store([df], folder, partition_rows=10, source=SOURCE)
    (folder / "parts" / ".part-00009.parquet.abc.parquet").write_bytes(b"left by a killed writer")
    store.write_store([df.iloc[:15]], folder, partition_rows=10, source=SOURCE)
    assert sorted(p.name for p in (folder / "parts").iterdir()) == ["part-00000.parquet", "part-00001.parquet"]
    assert len(store.open_store(folder)) == 15


def test_open_store_rejects_bad_manifests(tmp_path):
    folder = tmp_path / "s"
    store.write_store([table()], folder, partition_rows=10, source=SOURCE)
    manifest = json.loads((folder / store.MANIFEST).read_text())
    (folder / store.MANIFEST).write_text(json.dumps({**manifest, "format": 99}))
    with pytest.raises(DataFormatError, match="store format 99"):
        store.open_store(folder)
    (folder / store.MANIFEST).write_text('{"partitions": [')
    with pytest.raises(DataFormatError, match=r"manifest.json: not a store manifest"):
        store.open_store(folder)
    with pytest.raises(IndexError, match="partition 7 out of range"):
        store.Store(folder, store.Manifest.from_json(manifest)).read_partition(7)


# ------------------------------------------------------------------------------------------------
# vectors


@pytest.fixture
def small_store(tmp_path) -> store.Store:
    store.write_store([table()], tmp_path / "s", partition_rows=10, source=SOURCE)
    return store.open_store(tmp_path / "s")


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_vectors_round_trip_by_key(small_store, dtype):
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((10, 8)).astype(np.float32)
    path = small_store.write_vectors("fp-a", 1, vecs, dtype=dtype)
    assert path == small_store.vectors_path("fp-a", 1) == small_store.folder / "vectors/fp-a/part-00001.npy"
    got = small_store.read_vectors("fp-a", 1)
    assert got.dtype == np.dtype(dtype) and np.array_equal(got, vecs.astype(dtype))
    assert small_store.has_vectors("fp-a", 1)
    assert not small_store.has_vectors("fp-a", 0) and not small_store.has_vectors("fp-b", 1)
    assert small_store.vector_info("fp-a") == {"key": "fp-a", "dtype": dtype, "dim": 8}
    small_store.write_vectors("fp-a", 3, rng.standard_normal((6, 8)))  # the key's dtype by default
    assert small_store.read_vectors("fp-a", 3).dtype == np.dtype(dtype)
    with pytest.raises(DataFormatError, match=r"fp-b/part-00001\.npy: vectors not usable: no completion record"):
        small_store.read_vectors("fp-b", 1)


def test_vectors_refuse_wrong_shapes_dtypes_and_keys(small_store):
    ok = np.zeros((10, 4), np.float32)
    with pytest.raises(ValueError, match=r"shape \(10, dim\), got \(9, 4\)"):
        small_store.write_vectors("k", 0, ok[:9])
    small_store.write_vectors("k", 0, ok)
    with pytest.raises(ValueError, match="stored as float32 x 4, got float16 x 4"):
        small_store.write_vectors("k", 1, ok, dtype="float16")
    with pytest.raises(ValueError, match="stored as float32 x 4, got float32 x 5"):
        small_store.write_vectors("k", 1, np.zeros((10, 5)))
    with pytest.raises(ValueError, match="vector dtype 'int8'"):
        small_store.write_vectors("other", 1, ok, dtype="int8")
    with pytest.raises(ValueError, match="not all finite as float16"):
        small_store.write_vectors("other", 1, ok + 1e6, dtype="float16")
    for key in ("../up", "a/b", "", ".hidden"):
        with pytest.raises(ValueError, match="vector key"):
            small_store.vectors_path(key, 0)


def test_interrupted_corrupt_or_stale_vectors_are_not_trusted(small_store, tmp_path):
    vecs = np.ones((10, 4), np.float32)
    small_store.write_vectors("k", 0, vecs)
    small_store.write_vectors("k", 1, vecs)
    small_store.write_vectors("k", 2, vecs)
    small_store._done_path("k", 0).unlink()  # killed between the .npy rename and its record
    assert not small_store.has_vectors("k", 0)
    npy = small_store.vectors_path("k", 1)
    npy.write_bytes(npy.read_bytes()[:-8])  # torn
    assert not small_store.has_vectors("k", 1)
    with pytest.raises(DataFormatError, match="checksum mismatch"):
        small_store.read_vectors("k", 1)
    assert small_store.has_vectors("k", 2)
    # the table is rewritten with other rows: vectors of the old partition 2 are stale
    changed = table()
    changed.loc[25, "STR"] = "another string"
    store.write_store([changed], small_store.folder, partition_rows=10, source=SOURCE)
    rewritten = store.open_store(small_store.folder)
    assert not rewritten.has_vectors("k", 2)
    with pytest.raises(DataFormatError, match="another version of the partition"):
        rewritten.read_vectors("k", 2)


def test_a_store_folder_that_cannot_be_written_is_a_named_error(small_store, monkeypatch):
    """Before: a bare PermissionError on a vectors folder. (Simulated: the tests run as root, whom a
    read-only mode does not stop.)"""
    import errno

    def denied(dest, *a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(dest))
    monkeypatch.setattr(store.atomic, "write_json", denied)
    monkeypatch.setattr(store.atomic, "write_bytes", denied)
    named = rf"{small_store.folder}: the store folder cannot be written .*writable"
    with pytest.raises(PermissionError, match=named) as err:
        small_store.write_vectors("fp-a", 0, np.zeros((10, 4), np.float32))
    assert type(err.value).__name__ == "StoreNotWritableError"
    import pickle
    again = pickle.loads(pickle.dumps(err.value))  # Dask sends it from a worker to the driver
    assert str(again) == str(err.value) and type(again) is type(err.value)


def test_frames_store_is_found_by_content_and_healed_when_damaged(tmp_path, caplog):
    import logging

    from lib.data.store import frames_store
    targets = pd.DataFrame({"STR": ["a", "b", "c"], "CODE": ["1", "2", "3"]})
    store = frames_store(tmp_path, "t", [targets], 2, {"name": "test"})
    assert store.folder.parent == tmp_path / "stores" and store.folder.name.endswith("-p2") and len(store) == 3
    assert frames_store(tmp_path, "t", [targets], 2).folder == store.folder              # found again
    other = frames_store(tmp_path, "t", [targets.assign(STR=["a", "b", "d"])], 2)
    assert other.folder != store.folder                                                 # other rows, other store
    part = sorted(store.folder.glob("**/*.parquet"))[0]
    part.write_bytes(part.read_bytes()[:-10])
    with caplog.at_level(logging.WARNING):
        healed = frames_store(tmp_path, "t", [targets], 2)
    assert "damaged" in caplog.text and healed.folder == store.folder and len(healed) == 3
