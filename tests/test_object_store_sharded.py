"""Checkpoints with several data files on object storage (``max_shard_size``, ``num_shards``,
``Saver(sharded=True)``, ``merge_bundles`` and ``convert`` onto ``s3://``), against the moto
server of test_object_store.py: every part uploads its data object under its final name, the
merge PUTs the one index last and copies nothing, and a failure anywhere leaves no index, no
pending upload and the previous checkpoint whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import fastckpt

pytest.importorskip("moto.server")
from test_object_store import BUCKET, Fault, S3Server, assert_same, bucket, s3, tensors  # noqa: E402, F401

MIB = 1 << 20


def key_of(url: str) -> str:
    return url.split("/", 3)[3]


def names(s3: S3Server, url: str) -> list[str]:
    """The objects under the folder ``url``, by name."""
    return [k.rsplit("/", 1)[1] for k in s3.keys(key_of(url) + "/")]


def layered() -> dict[str, Any]:
    """With ``max_shard_size="4MiB"``: three data files, ``a`` and ``b`` alone (12 MiB each, two
    parts of a multipart upload) and the small tensors together."""
    rng = np.random.default_rng(3)
    small = {k: v for k, v in tensors().items() if k != "big"}
    return {"a": rng.standard_normal(3 << 20, dtype=np.float32), "b": np.arange(3 << 20, dtype=np.int32), **small}


def data_names(stem: str, count: int) -> list[str]:
    return [f"{stem}.data-{i:05d}-of-{count:05d}" for i in range(count)]


def written(s3: S3Server) -> list[str]:
    """The objects written since the request log was cleared, in order: PUTs, and the POSTs that
    start or complete a multipart upload (a bulk delete is a POST too, and left out)."""
    return [p.split("?")[0] for m, p, _ in s3.requests if m == "PUT" or m == "POST" and "?delete" not in p]


def pending_uploads(s3: S3Server) -> list[Any]:
    uploads: list[Any] = s3.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    return uploads


def test_max_shard_size_on_s3_exact_and_tensorflow_reads_the_copy(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    tf = pytest.importorskip("tensorflow")
    values = layered()
    assert fastckpt.save(values, f"{bucket}/ckpt", max_shard_size="4MiB") == f"{bucket}/ckpt"
    assert names(s3, bucket) == data_names("ckpt", 3) + ["ckpt.index"], "final names only, no temporary objects"
    assert pending_uploads(s3) == []
    reader = fastckpt.load_checkpoint(f"{bucket}/ckpt")
    for name, got in reader.read_all().items():
        assert_same(got, values[name])
    # Every data object was uploaded once, under its final name: no server-side copy, and the
    # index came last.
    writes = written(s3)
    assert not any("_temp_" in p and ".data-" in p for p in writes)
    assert writes[-1].endswith("/ckpt.index")
    for name in s3.keys(key_of(bucket)):
        s3.client().download_file(BUCKET, name, str(tmp_path / name.rsplit("/", 1)[1]))
    tf_reader = tf.train.load_checkpoint(str(tmp_path / "ckpt"))
    assert sorted(tf_reader.get_variable_to_shape_map()) == sorted(values)
    for name, want in values.items():
        assert_same(tf_reader.get_tensor(name), want)


def test_saver_sharded_and_num_shards_on_s3_with_retention(s3: S3Server, bucket: str) -> None:
    w = np.zeros((4, 3), np.float32)
    v = np.arange(5, dtype=np.int64)
    saver = fastckpt.Saver({"w": w, "v": v}, sharded=True, max_to_keep=1)
    for step in (1, 2):
        w[:] = step
        saver.save(f"{bucket}/run/model", global_step=step)
    assert fastckpt.latest_checkpoint(f"{bucket}/run") == f"{bucket}/run/model-2"
    assert [n for n in names(s3, f"{bucket}/run") if not n.endswith(".meta")] == ["checkpoint"] + data_names(
        "model-2", 2
    ) + ["model-2.index"], "retention deleted every data object of model-1"
    restored = fastckpt.load_checkpoint(f"{bucket}/run")
    assert_same(restored.get_tensor("w"), np.full((4, 3), 2, np.float32))
    assert_same(restored.get_tensor("v"), v)

    values = tensors()
    fastckpt.save(values, f"{bucket}/three/ckpt", num_shards=3)
    assert names(s3, f"{bucket}/three") == data_names("ckpt", 3) + ["ckpt.index"]
    for name, got in fastckpt.load_checkpoint(f"{bucket}/three/ckpt").read_all().items():
        assert_same(got, values[name])


def test_merge_bundles_on_s3_joins_parts_written_under_final_names(s3: S3Server, bucket: str) -> None:
    out = f"{bucket}/merged"
    parts = [f"{bucket}/parts/part-{i}" for i in range(2)]
    full = np.arange(12, dtype=np.float64).reshape(4, 3)
    for i, part in enumerate(parts):
        with fastckpt.BundleWriter(part, allow_partial_slices=True, merged_prefix=out, shard=i, num_shards=2) as w:
            w.add(f"own_{i}", np.full(i + 1, i, np.int16))
            w.add_slice("table", [4, 3], f"{2 * i},2:-", full[2 * i : 2 * i + 2])
    assert not fastckpt.checkpoint_exists(out), "no index before the merge"
    s3.requests.clear()
    assert fastckpt.merge_bundles(parts, out) == out
    # The merge reads the parts' indexes, checks the data objects and PUTs one index; no data
    # object is written or copied.
    assert [p.rsplit("/", 1)[1] for p in written(s3)] == ["merged.index"]
    assert names(s3, bucket) == data_names("merged", 2) + ["merged.index"], "the parts' indexes are deleted"
    reader = fastckpt.load_checkpoint(out)
    assert_same(reader.get_tensor("table"), full)
    assert_same(reader.get_tensor("own_1"), np.ones(2, np.int16))

    # A part that kept its data under its own name would need a copy: refused, nothing committed.
    fastckpt.save({"x": np.zeros(2)}, f"{bucket}/plain/part")
    with pytest.raises(ValueError, match=r"its data object .*/other\.data-00000-of-00001 does not exist"):
        fastckpt.merge_bundles([f"{bucket}/plain/part"], f"{bucket}/other")
    assert not fastckpt.checkpoint_exists(f"{bucket}/other")


def test_a_failure_mid_shard_or_at_the_merge_leaves_no_index_and_the_previous_checkpoint(
    s3: S3Server, bucket: str
) -> None:
    values = layered()
    fastckpt.save(values, f"{bucket}/ckpt-1", max_shard_size="4MiB")
    fastckpt.update_checkpoint_state(bucket, f"{bucket}/ckpt-1")
    before = names(s3, bucket)

    # The second part of the second data object fails (after the store's retries).
    s3.faults.append(Fault("PUT", r"ckpt-2\.data-00001-of-00003.*partNumber=2", 500, "InternalError"))
    with pytest.raises(fastckpt.CheckpointIOError, match=r"ckpt-2\.data-00001-of-00003"):
        fastckpt.save(values, f"{bucket}/ckpt-2", max_shard_size="4MiB")
    assert names(s3, bucket) == before, "no index, and the data objects already uploaded are deleted"
    assert pending_uploads(s3) == []

    # Every data object is complete, but the index cannot be written.
    s3.faults[:] = [Fault("PUT", r"ckpt-3\.index", 500, "InternalError")]
    with pytest.raises(fastckpt.CheckpointIOError, match=r"ckpt-3\.index"):
        fastckpt.save(values, f"{bucket}/ckpt-3", max_shard_size="4MiB")
    assert names(s3, bucket) == before
    assert pending_uploads(s3) == []

    s3.faults.clear()
    assert fastckpt.latest_checkpoint(bucket) == f"{bucket}/ckpt-1"
    for name, got in fastckpt.load_checkpoint(bucket).read_all().items():
        assert_same(got, values[name])
    fastckpt.save(values, f"{bucket}/ckpt-2", max_shard_size="4MiB")  # the next save succeeds
    assert_same(fastckpt.load_checkpoint(f"{bucket}/ckpt-2").get_tensor("b"), values["b"])


def test_convert_with_max_shard_size_onto_s3(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    values = layered()
    del values["words"]
    fastckpt.save(values, str(tmp_path / "local"))
    fastckpt.convert(str(tmp_path / "local"), f"{bucket}/converted", to="tf", max_shard_size="4MiB")
    assert names(s3, bucket) == data_names("converted", 3) + ["converted.index"]
    for name, got in fastckpt.load_checkpoint(f"{bucket}/converted").read_all().items():
        assert_same(got, values[name])


def test_memory_urls_hold_sharded_checkpoints() -> None:
    values = tensors()
    fastckpt.save(values, "memory://sharded/run/ckpt", num_shards=2)
    assert fastckpt._storage.matching("memory://sharded/run/ckpt*") == [
        *(f"memory://sharded/run/{n}" for n in data_names("ckpt", 2)),
        "memory://sharded/run/ckpt.index",
    ]
    for name, got in fastckpt.load_checkpoint("memory://sharded/run/ckpt").read_all().items():
        assert_same(got, values[name])


def test_mpi_ranks_save_onto_s3_tf_reads_it_and_a_killed_rank_commits_nothing(
    tf: Any, s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    """4 MPI ranks (tests/mpi_scripts/dist_job.py) save onto the bucket; a save that loses a rank
    before the barrier leaves no index and the previous checkpoint whole; 3 ranks restore the
    next one from the bucket, each with its own slicing."""
    from test_distributed_mpi import check_ok, expected, job, mpi_launcher

    mpi = mpi_launcher()
    ranks = 4
    check_ok(mpi.run(ranks, "save", bucket, 1))
    model = lambda step: data_names(f"model-{step}", ranks) + [f"model-{step}.index"]  # noqa: E731
    assert names(s3, bucket) == ["checkpoint"] + model(1), "one data object per rank, nothing temporary"
    for name in s3.keys(key_of(bucket) + "/model-1"):
        s3.client().download_file(BUCKET, name, str(tmp_path / name.rsplit("/", 1)[1]))
    tf_reader = tf.train.load_checkpoint(str(tmp_path / "model-1"))
    want = expected(1, ranks)
    assert tf_reader.get_variable_to_shape_map() == {name: list(v.shape) for name, v in want.items()}
    for name, value in want.items():
        assert_same(tf_reader.get_tensor(name), value)

    killed = mpi.run(ranks, "kill", bucket, 2, 3)
    assert killed.returncode != 0, killed.stdout
    assert "saved" not in killed.stdout, "no rank may return from a save that lost a rank"
    assert not fastckpt.checkpoint_exists(f"{bucket}/model-2")
    assert fastckpt.latest_checkpoint(bucket) == f"{bucket}/model-1"
    for name, got in fastckpt.load_checkpoint(f"{bucket}/model-1").read_all().items():
        assert_same(got, want[name])

    check_ok(mpi.run(ranks, "save", bucket, 2))  # the dead save's objects do not get in the way
    assert names(s3, bucket) == ["checkpoint"] + model(1) + model(2)
    assert pending_uploads(s3) == []
    check_ok(mpi.run(3, "restore", bucket, tmp_path))
    want = expected(2, ranks)
    for rank, spec in enumerate(job.RESTORE_SPECS):
        with np.load(tmp_path / f"rank-{rank}.npz") as got:
            region = fastckpt.distributed.Slice(job.FULL_SHAPE, spec).region("embedding")
            box = tuple(slice(start, start + length) for start, length in region)
            assert np.array_equal(got["embedding"], want["embedding"][box]), spec
            assert np.array_equal(got[f"rank_{rank}__kernel"], want[f"rank_{rank}/kernel"])
