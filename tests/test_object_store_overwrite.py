"""Saving over a checkpoint that already exists on object storage, against moto behind the
fault-injecting layer of ``test_object_store``: a reader never gets an index together with data
that is not its own, a save that fails while uploading leaves the earlier checkpoint exact, and
one that fails once the old index is gone leaves no index at all."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import fastckpt
from test_object_store import BUCKET, Fault, S3Server, assert_same, s3, tensors

__all__ = ["s3"]  # the server fixture, used by name


@pytest.fixture
def bucket(s3: S3Server, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh key prefix per test (no wildcard characters from parameter ids); faults and the
    request log cleared."""
    s3.faults.clear()
    s3.requests.clear()
    yield f"s3://{BUCKET}/{re.sub(r'[^A-Za-z0-9_.-]', '-', request.node.name)}"
    s3.faults.clear()


def numeric(seed: int) -> dict[str, Any]:
    """Values of one set of names and shapes that differ with `seed` (only the checksums in the
    index tell two saves apart)."""
    values = {k: v for k, v in tensors().items() if k != "words"}
    return {k: np.asarray(v + seed if v.dtype != bool else v ^ bool(seed % 2)) for k, v in values.items()}


def key_of(bucket: str) -> str:
    return bucket.split("/", 3)[3]


def pending_uploads(s3: S3Server) -> list[Any]:
    return list(s3.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads", []))


def test_a_failure_while_uploading_leaves_the_old_checkpoint_exact(s3: S3Server, bucket: str) -> None:
    old, new = numeric(1), numeric(2)
    fastckpt.save(old, f"{bucket}/ckpt")
    s3.faults.append(Fault("PUT", r"ckpt\.data.*partNumber=2", 500, "InternalError"))
    with pytest.raises(fastckpt.CheckpointIOError, match=re.escape(f"{bucket}/ckpt.data-00000-of-00001")):
        fastckpt.save(new, f"{bucket}/ckpt")
    assert s3.keys(key_of(bucket)) == [f"{key_of(bucket)}/ckpt.data-00000-of-00001", f"{key_of(bucket)}/ckpt.index"]
    assert pending_uploads(s3) == []
    for name, got in fastckpt.load_checkpoint(f"{bucket}/ckpt").read_all().items():
        assert_same(got, old[name])


@pytest.mark.parametrize(
    "failing",
    [
        Fault("POST", r"ckpt\.data.*uploadId=", 500, "InternalError"),  # completing the data object
        Fault("PUT", r"ckpt\.index", 500, "InternalError"),  # the new index
    ],
    ids=["complete-data", "put-index"],
)
def test_a_failure_after_the_old_index_is_gone_leaves_no_index(s3: S3Server, bucket: str, failing: Fault) -> None:
    fastckpt.save(numeric(1), f"{bucket}/ckpt")
    s3.faults.append(failing)
    with pytest.raises(fastckpt.CheckpointIOError, match=re.escape(f"{bucket}/ckpt.")):
        fastckpt.save(numeric(2), f"{bucket}/ckpt")
    assert f"{key_of(bucket)}/ckpt.index" not in s3.keys(key_of(bucket))
    assert pending_uploads(s3) == []
    assert not fastckpt.checkpoint_exists(f"{bucket}/ckpt")
    with pytest.raises(FileNotFoundError):
        fastckpt.load_checkpoint(f"{bucket}/ckpt", verify=False)


def test_a_successful_overwrite_commits_in_order_and_leaves_nothing_behind(s3: S3Server, bucket: str) -> None:
    fastckpt.save(numeric(1), f"{bucket}/ckpt")
    s3.requests.clear()
    new = numeric(2)
    fastckpt.save(new, f"{bucket}/ckpt")
    assert s3.keys(key_of(bucket)) == [f"{key_of(bucket)}/ckpt.data-00000-of-00001", f"{key_of(bucket)}/ckpt.index"]
    assert pending_uploads(s3) == []
    for name, got in fastckpt.load_checkpoint(f"{bucket}/ckpt").read_all().items():
        assert_same(got, new[name])
    # Every part is sent before the old index goes (the crate deletes by a POST of ?delete); the
    # data object appears after that, the new index last.
    steps = [step(method, path) for method, path, _ in s3.requests if method in ("PUT", "POST", "DELETE")]
    parts = [i for i, s in enumerate(steps) if s == ("PUT", "ckpt.data-00000-of-00001", "part")]
    deleted = steps.index(("POST", BUCKET, "delete"))
    completed = steps.index(("POST", "ckpt.data-00000-of-00001", "complete"))
    assert len(parts) == 2 and max(parts) < deleted < completed
    assert steps[-1] == ("PUT", "ckpt.index", "") and len(steps) - 1 > completed


def step(method: str, path: str) -> tuple[str, str, str]:
    """A logged write request as (method, object name, what): a part, the completion of a
    multipart upload, a bulk delete, or a plain PUT."""
    path, _, query = path.partition("?")
    what = "part" if "partNumber=" in query else "complete" if "uploadId=" in query else query.split("=")[0]
    return method, path.rsplit("/", 1)[1], what


@pytest.mark.parametrize("read_first", [True, False], ids=["data-open", "index-only"])
def test_a_reader_open_across_an_overwrite_never_mixes_versions(s3: S3Server, bucket: str, read_first: bool) -> None:
    """Without verification, a reader that opened the old index would otherwise hand out the new
    bytes under the old entries: whether it had already fetched data (the data object's version
    is pinned) or only read the index (the index must still be there, unchanged)."""
    old, new = numeric(1), numeric(2)
    fastckpt.save(old, f"{bucket}/ckpt")
    reader = fastckpt.load_checkpoint(f"{bucket}/ckpt", verify=False)
    if read_first:
        assert_same(reader.get_tensor("int"), old["int"])
    fastckpt.save(new, f"{bucket}/ckpt")
    with pytest.raises(fastckpt.CheckpointError, match=r"(replaced|saved over).*after .* opened"):
        reader.get_tensor("big")
    for name, got in fastckpt.load_checkpoint(f"{bucket}/ckpt", verify=False).read_all().items():
        assert_same(got, new[name])


def test_a_small_checkpoint_is_overwritten_the_same_way(s3: S3Server, bucket: str) -> None:
    """A data object smaller than one part is one PUT, sent once the old index is gone."""
    fastckpt.save({"x": np.arange(4.0)}, f"{bucket}/small")
    reader = fastckpt.load_checkpoint(f"{bucket}/small", verify=False)
    s3.requests.clear()
    fastckpt.save({"x": np.arange(4.0) * 3}, f"{bucket}/small")
    steps = [step(m, p) for m, p, _ in s3.requests if m in ("PUT", "POST", "DELETE")]
    assert steps == [
        ("POST", BUCKET, "delete"),
        ("PUT", "small.data-00000-of-00001", ""),
        ("PUT", "small.index", ""),
    ]
    with pytest.raises(fastckpt.CheckpointError, match="saved over"):
        reader.get_tensor("x")
    assert_same(fastckpt.load_checkpoint(f"{bucket}/small").get_tensor("x"), np.arange(4.0) * 3)


def test_several_data_objects_saved_over_a_checkpoint_never_pair_its_index_with_new_data(
    s3: S3Server, bucket: str
) -> None:
    """Each part of a sharded save deletes the merged checkpoint's index before its data object
    replaces the old one: a save that fails on its second data object leaves either the earlier
    checkpoint exact or none at all, never the old index beside new data."""
    old, new = numeric(1), numeric(2)
    fastckpt.save(old, f"{bucket}/ckpt", num_shards=2)
    s3.faults.append(Fault("PUT", r"ckpt\.data-00001-of-00002", 500, "InternalError"))
    with pytest.raises(fastckpt.CheckpointIOError, match=re.escape(f"{bucket}/ckpt.data-00001-of-00002")):
        fastckpt.save(new, f"{bucket}/ckpt", num_shards=2)
    assert pending_uploads(s3) == []
    if fastckpt.checkpoint_exists(f"{bucket}/ckpt"):
        for name, got in fastckpt.load_checkpoint(f"{bucket}/ckpt").read_all().items():
            assert_same(got, old[name])
    s3.faults.clear()
    fastckpt.save(new, f"{bucket}/ckpt", num_shards=2)
    for name, got in fastckpt.load_checkpoint(f"{bucket}/ckpt").read_all().items():
        assert_same(got, new[name])
