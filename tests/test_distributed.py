"""fastckpt.distributed in one process: ``LocalCoordinator``, several ranks played by threads
(a ``Coordinator`` over ``threading.Barrier``, so that errors raised "on every rank" can be
checked in one test), argument errors, and ``TorchCoordinator`` over torch.distributed's gloo
backend when torch is installed (subgroups; a dead rank without a launcher). The MPI and
torchrun tests are in test_distributed_mpi.py."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

import fastckpt
from fastckpt import distributed
from fastckpt.distributed import Slice

T = TypeVar("T")


class ThreadRanks:
    """``size`` ranks played by threads: ``run(fn)`` calls ``fn(coordinator)`` on each and
    returns each rank's result or exception. ``received[r]`` lists what rank r was handed by
    every collective (to tell what travels to every rank from what reaches rank 0 only)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._barrier = threading.Barrier(size, timeout=60)
        self._slots: list[Any] = [None] * size
        self.received: list[list[Any]] = [[] for _ in range(size)]

    def coordinator(self, rank: int) -> distributed.Coordinator:
        ranks = self

        class Member:
            def __init__(self) -> None:
                self.rank, self.size = rank, ranks.size

            def barrier(self) -> None:
                ranks._barrier.wait()

            def all_gather(self, obj: Any) -> list[Any]:
                ranks._slots[rank] = obj
                ranks._barrier.wait()
                gathered = list(ranks._slots)
                ranks._barrier.wait()
                ranks.received[rank].extend(gathered)
                return gathered

            def broadcast(self, obj: T, root: int = 0) -> T:
                result: T = self.all_gather(obj)[root]
                return result

            def gather(self, obj: Any, root: int = 0) -> list[Any] | None:
                ranks._slots[rank] = obj
                ranks._barrier.wait()
                gathered = list(ranks._slots) if rank == root else None
                ranks._barrier.wait()
                ranks.received[rank].extend(gathered or [])
                return gathered

        return Member()

    def run(self, fn: Callable[[distributed.Coordinator], Any]) -> list[Any]:
        def one(rank: int) -> Any:
            try:
                return fn(self.coordinator(rank))
            except Exception as e:
                return e

        with ThreadPoolExecutor(self.size) as pool:
            return list(pool.map(one, range(self.size)))


FULL = np.arange(24, dtype=np.float32).reshape(8, 3)


def rows(rank: int, size: int) -> Slice:
    n = 8 // size
    return Slice([8, 3], f"{rank * n},{n}:-", FULL[rank * n : (rank + 1) * n])


def test_local_save_and_restore(tmp_path: Path) -> None:
    coordinator = distributed.LocalCoordinator()
    assert isinstance(coordinator, distributed.Coordinator)
    tensors = {"w": np.arange(6.0).reshape(2, 3), "part": Slice([8, 3], [None, (0, 3)], FULL), "s": np.array([b"x"], object)}
    path = distributed.save(tensors, tmp_path / "ckpt", coordinator=coordinator, global_step=np.int64(7))
    assert path == str(tmp_path / "ckpt-7")
    assert fastckpt.latest_checkpoint(tmp_path) == path
    assert not os.path.exists(path + "_temp")
    w = np.zeros((2, 3))
    restored = distributed.restore(tmp_path, {"w": w, "part": Slice([8, 3], "1,2:2,1"), "s": Slice([1], "-")})
    assert restored["w"] is w and np.array_equal(w, tensors["w"])
    assert np.array_equal(restored["part"], FULL[1:3, 2:3])
    assert restored["s"].tolist() == [b"x"]


def test_scalars_restore_into_zero_d_arrays(tmp_path: Path) -> None:
    """A scalar string and a scalar number come back as 0-d arrays (``get_tensor`` gives TF's
    numpy scalars and ``bytes``; restore fills arrays)."""
    tensors = {"name": np.array(b"run-1", dtype=object), "lr": np.float32(0.5)}
    distributed.save(tensors, tmp_path / "ckpt", coordinator=distributed.LocalCoordinator())
    restored = distributed.restore(tmp_path / "ckpt", {"name": None, "lr": None})
    assert restored["name"].shape == () and restored["name"][()] == b"run-1"
    assert restored["lr"].shape == () and restored["lr"] == np.float32(0.5)


def test_max_to_keep_deletes_older_checkpoints(tmp_path: Path) -> None:
    for step in range(4):
        distributed.save({"x": np.float32(step)}, tmp_path / "m", global_step=step, max_to_keep=2)
    state = fastckpt.get_checkpoint_state(tmp_path)
    assert state is not None
    assert list(state.all_model_checkpoint_paths) == [str(tmp_path / "m-2"), str(tmp_path / "m-3")]
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "m-2.data-00000-of-00001", "m-2.index", "m-3.data-00000-of-00001", "m-3.index"]


def test_relative_prefixes_saved_again_are_listed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for step in (1, 2, 2):
        distributed.save({"x": np.float32(step)}, "m", global_step=step, max_to_keep=2)
    state = fastckpt.get_checkpoint_state(".")
    assert state is not None
    assert [os.path.normpath(p) for p in state.all_model_checkpoint_paths] == ["m-1", "m-2"]
    assert (tmp_path / "checkpoint").read_text() == 'model_checkpoint_path: "m-2"\nall_model_checkpoint_paths: "m-1"\nall_model_checkpoint_paths: "m-2"\n'


def test_four_ranks_write_one_checkpoint(tmp_path: Path) -> None:
    ranks = ThreadRanks(4)
    prefix = str(tmp_path / "ckpt")

    def save(c: distributed.Coordinator) -> str:
        tensors = {f"own_{c.rank}": np.full(2, c.rank), "part": rows(c.rank, 4)}
        return distributed.save(tensors, prefix, coordinator=c, sync=True)

    assert ranks.run(save) == [prefix] * 4
    reader = fastckpt.load_checkpoint(prefix)
    assert np.array_equal(reader["part"], FULL)
    assert all(np.array_equal(reader[f"own_{r}"], np.full(2, r)) for r in range(4))
    assert sorted(os.listdir(tmp_path)) == ["checkpoint"] + [f"ckpt.data-0000{i}-of-00004" for i in range(4)] + ["ckpt.index"]

    # Two ranks restore with their own slicing (columns), whatever 4 row slices stored it.
    def restore(c: distributed.Coordinator) -> Any:
        return distributed.restore(prefix, {"part": Slice([8, 3], f"-:{c.rank},1")}, coordinator=c)["part"]

    got = ThreadRanks(3).run(restore)
    assert all(np.array_equal(got[r], FULL[:, r : r + 1]) for r in range(3))


def test_restore_reads_only_the_stored_pieces_it_needs(tmp_path: Path) -> None:
    prefix = str(tmp_path / "ckpt")
    ThreadRanks(4).run(lambda c: distributed.save({"part": rows(c.rank, 4)}, prefix, coordinator=c))
    # Rows 6..8 were written by rank 3 into the last data file: damage them. Boxes that do not
    # meet them never read (nor checksum) those bytes.
    last = tmp_path / "ckpt.data-00003-of-00004"
    data = bytearray(last.read_bytes())
    data[0] ^= 0xFF
    last.write_bytes(bytes(data))
    assert np.array_equal(distributed.restore(prefix, {"part": Slice([8, 3], "0,6:-")})["part"], FULL[:6])
    with pytest.raises(fastckpt.ChecksumMismatchError, match="part"):
        distributed.restore(prefix, {"part": Slice([8, 3], "5,2:-")})
    assert np.array_equal(distributed.restore(prefix, {"part": Slice([8, 3], "2,2:1,2")})["part"], FULL[2:4, 1:3])


def test_the_names_of_every_rank_reach_rank_0_only(tmp_path: Path) -> None:
    ranks = ThreadRanks(4)
    results = ranks.run(
        lambda c: distributed.save({f"own_{c.rank}": np.arange(3), "part": rows(c.rank, 4)}, tmp_path / "c", coordinator=c)
    )
    assert results == [str(tmp_path / "c")] * 4

    def manifests(received: list[Any]) -> list[Any]:
        return [obj for obj in received if isinstance(obj, dict)]

    assert manifests(ranks.received[0]) == [{f"own_{r}": None, "part": (8, 3)} for r in range(4)]
    assert all(manifests(received) == [] for received in ranks.received[1:]), "the other ranks get only the verdict"


def test_a_name_saved_whole_by_two_ranks_fails_on_every_rank(tmp_path: Path) -> None:
    results = ThreadRanks(3).run(
        lambda c: distributed.save({"shared": np.zeros(2)} if c.rank != 1 else {}, tmp_path / "c", coordinator=c)
    )
    assert all(isinstance(r, ValueError) for r in results), results
    assert {str(r) for r in results} == {
        "tensor 'shared' is saved by rank 0 and by rank 2; only the distributed.Slice parts of one "
        "partitioned variable may come from several ranks"
    }
    assert not os.path.exists(tmp_path / "c_temp"), "nothing was written"


def test_slices_that_leave_a_gap_commit_nothing(tmp_path: Path) -> None:
    distributed.save({"part": Slice([8, 3], "-:-", FULL)}, tmp_path / "c")  # the previous checkpoint
    before = (tmp_path / "c.index").read_bytes()
    results = ThreadRanks(4).run(
        lambda c: distributed.save({"part": rows(c.rank, 4)} if c.rank != 2 else {}, tmp_path / "c", coordinator=c)
    )
    assert all(isinstance(r, fastckpt.InvalidArgumentError) and isinstance(r, ValueError) for r in results), results
    assert {str(r) for r in results} == {"rank 0: partitioned tensor part: the merged slices hold 18 of its 24 elements"}
    assert (tmp_path / "c.index").read_bytes() == before
    assert np.array_equal(fastckpt.load_checkpoint(tmp_path / "c")["part"], FULL)
    assert not os.path.exists(tmp_path / "c_temp")


def test_slices_of_different_shapes_name_both_ranks(tmp_path: Path) -> None:
    results = ThreadRanks(2).run(
        lambda c: distributed.save({"p": Slice([4 + c.rank, 3], "0,1:-", FULL[:1])}, tmp_path / "c", coordinator=c)
    )
    assert {str(r) for r in results} == {"tensor 'p': rank 0 saves a slice of shape [4, 3], rank 1 a slice of shape [5, 3]"}


def test_an_error_on_one_rank_is_raised_on_every_rank(tmp_path: Path) -> None:
    def save(c: distributed.Coordinator) -> str:
        bad = {"x": Slice([4], "0,2", np.zeros(3))} if c.rank == 1 else {}
        return distributed.save({f"own_{c.rank}": np.ones(1), **bad}, tmp_path / "c", coordinator=c)

    results = ThreadRanks(2).run(save)
    assert all(isinstance(r, ValueError) for r in results), results
    assert {str(r) for r in results} == {
        "rank 1: tensor 'x': slice '0,2' of shape [4] needs a value of shape [2], got [3]"
    }


def test_a_failed_part_write_fails_every_rank_and_leaves_nothing(tmp_path: Path) -> None:
    def save(c: distributed.Coordinator) -> str:
        bad = {"names": np.array([b"x", 3], dtype=object)} if c.rank == 1 else {}
        return distributed.save({f"own_{c.rank}": np.ones(1), **bad}, tmp_path / "c", coordinator=c)

    results = ThreadRanks(3).run(save)
    assert all(isinstance(r, TypeError) for r in results), results
    assert {str(r) for r in results} == {
        "rank 1: cannot save tensor 'names': expected binary or unicode string, got int 3 at flat index 1"
    }
    assert os.listdir(tmp_path) == [], "no checkpoint, no state file, no temporary folder"


def test_errors_of_types_other_ranks_may_not_know_travel_as_checkpoint_errors(tmp_path: Path) -> None:
    class Unpicklable(Exception):  # a local class: other processes could not unpickle it
        pass

    class Refusing:
        def __array__(self, *args: Any, **kwargs: Any) -> Any:
            raise Unpicklable("no array today")

    results = ThreadRanks(2).run(
        lambda c: distributed.save({f"x_{c.rank}": Refusing() if c.rank else np.ones(1)}, tmp_path / "c", coordinator=c)
    )
    assert all(type(r) is fastckpt.CheckpointError for r in results), results
    assert {str(r) for r in results} == {
        "test_errors_of_types_other_ranks_may_not_know_travel_as_checkpoint_errors.<locals>.Unpicklable on rank 1: no array today"
    }


class _BrokenGroup(distributed.LocalCoordinator):
    """One process whose launcher fails at its ``calls``-th collective call, as a process group
    does when another rank has died."""

    def __init__(self, calls: int) -> None:
        self.calls = calls

    def _call(self) -> None:
        self.calls -= 1
        if self.calls == 0:
            raise ConnectionError("Connection closed by peer [10.0.0.3]:31337")

    def broadcast(self, obj: T, root: int = 0) -> T:
        self._call()
        return super().broadcast(obj, root)

    def all_gather(self, obj: Any) -> list[Any]:
        self._call()
        return super().all_gather(obj)

    def gather(self, obj: Any, root: int = 0) -> list[Any] | None:
        self._call()
        return super().gather(obj, root)


@pytest.mark.parametrize("failing_call", [1, 2, 3, 4])
def test_a_broken_process_group_names_the_checkpoint_being_saved(tmp_path: Path, failing_call: int) -> None:
    """Every collective step of a save (gather, verdict, write outcome, commit) can meet a dead
    rank; the error says which checkpoint, and nothing is committed."""
    prefix = str(tmp_path / "ckpt")
    with pytest.raises(fastckpt.CheckpointError, match=f"saving checkpoint {prefix} .*ConnectionError: Connection closed") as info:
        distributed.save({"w": np.ones(3)}, prefix, coordinator=_BrokenGroup(failing_call))
    assert isinstance(info.value.__cause__, ConnectionError)
    assert not (tmp_path / "checkpoint").exists()


def test_a_broken_process_group_names_the_checkpoint_being_restored(tmp_path: Path) -> None:
    prefix = distributed.save({"w": np.ones(3)}, str(tmp_path / "ckpt"))
    with pytest.raises(fastckpt.CheckpointError, match=f"restoring checkpoint {prefix} .*ConnectionError"):
        distributed.restore(prefix, {"w": None}, coordinator=_BrokenGroup(2))


def test_leftovers_of_a_dead_save_are_cleared(tmp_path: Path) -> None:
    temp = tmp_path / "c-3_temp"
    temp.mkdir()
    (temp / "part-00004-of-00009.index").write_bytes(b"not an index")
    (temp / "part-00000-of-00001.index").write_bytes(b"half written")
    path = distributed.save({"x": np.ones(2)}, tmp_path / "c", global_step=3)
    assert not temp.exists()
    assert np.array_equal(fastckpt.load_checkpoint(path)["x"], np.ones(2))


@pytest.mark.parametrize(
    ("slice_", "message"),
    [
        (Slice([8, 3], "6,4:-"), "tensor 'p': slice '6,4:-' of shape [8, 3]: extent 6,4 does not fit a dimension of 8"),
        (Slice([8, 3], "0,1"), "tensor 'p': slice '0,1' of shape [8, 3]: slice '0,1' has 1 dimensions, the tensor has 2"),
        (Slice([8, 3], [(3, -1), None]), "tensor 'p': slice [(3, -1), None] of shape [8, 3]: extent 3,-1 does not fit a dimension of 8"),
        (Slice([8, 3], "a,b:-"), "tensor 'p': slice 'a,b:-' of shape [8, 3]: invalid literal for int() with base 10: 'a'"),
    ],
)
def test_bad_slice_specs_name_the_tensor(tmp_path: Path, slice_: Slice, message: str) -> None:
    with pytest.raises(ValueError) as saving:
        distributed.save({"p": Slice(slice_.full_shape, slice_.spec, np.zeros((8, 3)))}, tmp_path / "c")
    assert str(saving.value) == f"rank 0: {message}"
    fastckpt.save({"p": FULL}, tmp_path / "r")
    with pytest.raises(ValueError) as restoring:
        distributed.restore(tmp_path / "r", {"p": slice_})
    assert str(restoring.value) == f"rank 0: {message}"


def test_restore_errors(tmp_path: Path) -> None:
    fastckpt.save({"p": FULL}, tmp_path / "r")
    with pytest.raises(KeyError, match=r"rank 0: Key q not found in checkpoint .*/r$"):
        distributed.restore(tmp_path / "r", {"q": np.zeros(1)})
    with pytest.raises(fastckpt.InvalidArgumentError, match=r"spec \[3,8\] does not match the shape stored in checkpoint: \[8,3\]"):
        distributed.restore(tmp_path / "r", {"p": Slice([3, 8], "-:-")})
    with pytest.raises(fastckpt.InvalidArgumentError, match=r"tensor_name = p; expected dtype double does not equal original dtype float"):
        distributed.restore(tmp_path / "r", {"p": np.zeros((8, 3))})
    with pytest.raises(ValueError, match=r"holds float32 of shape \[2, 3\] for it, the array to fill is float32 of shape \[3, 3\]"):
        distributed.restore(tmp_path / "r", {"p": Slice([8, 3], "0,2:-", np.zeros((3, 3), np.float32))})
    with pytest.raises(TypeError, match="rank 0: restore\\(\\) takes a mapping of tensor names"):
        distributed.restore(tmp_path / "r", ["p"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mapping of tensor names"):
        distributed.save([("p", FULL)], tmp_path / "c")  # type: ignore[arg-type]


def test_torch_coordinator_over_gloo_subgroups(tmp_path: Path) -> None:
    """4 processes of a gloo process group in two subgroups ({0, 1} and {2, 3}), each subgroup
    saving and restoring its own checkpoint through ``TorchCoordinator(group)``: ranks within the
    group, and the group's rank 0 as the root of broadcasts (global rank 2 for the second group).
    The default group under torchrun is in test_distributed_mpi.py."""
    pytest.importorskip("torch", reason="torch is not installed (PyPI's wheel is very large; not in the 'test' extra)")
    import subprocess
    import sys

    child = f"""
import sys, numpy as np, torch.distributed as dist
from fastckpt import distributed
rank = int(sys.argv[1])
dist.init_process_group("gloo", init_method="file://{tmp_path / 'rendezvous'}", rank=rank, world_size=4)
groups = [dist.new_group([0, 1]), dist.new_group([2, 3])]
c = distributed.TorchCoordinator(groups[rank // 2])
assert (c.rank, c.size) == (rank % 2, 2)
full = np.arange(24, dtype=np.float32).reshape(8, 3) + 100 * (rank // 2)
rows = full[4 * c.rank : 4 * c.rank + 4]
mine = {{f"own_{{rank}}": np.full(2, rank), "part": distributed.Slice([8, 3], f"{{4 * c.rank}},4:-", rows)}}
path = distributed.save(mine, "{tmp_path}/group-" + str(rank // 2), coordinator=c)
got = distributed.restore(path, {{"part": distributed.Slice([8, 3], f"-:{{c.rank}},1")}}, coordinator=c)["part"]
assert np.array_equal(got, full[:, c.rank : c.rank + 1]), got
dist.destroy_process_group()
"""
    children = [subprocess.Popen([sys.executable, "-c", child, str(r)]) for r in range(4)]
    assert [p.wait(timeout=300) for p in children] == [0, 0, 0, 0]
    for group in (0, 1):
        reader = fastckpt.load_checkpoint(tmp_path / f"group-{group}")
        assert sorted(reader.keys()) == [f"own_{2 * group}", f"own_{2 * group + 1}", "part"]
        assert np.array_equal(reader["part"], FULL + 100 * group)
        assert np.array_equal(reader[f"own_{2 * group + 1}"], np.full(2, 2 * group + 1))


def test_torch_ranks_left_by_a_dead_rank_fail_instead_of_waiting(tmp_path: Path) -> None:
    """4 gloo processes started without a launcher that would end the others (as ``srun`` or a
    hand-made ``mp.spawn`` may): rank 3 is SIGKILLed after writing its part; ranks 0–2 raise
    a CheckpointError naming the checkpoint, caused by gloo's "connection closed" error from the
    gathering step, instead of waiting for it, and no checkpoint is committed."""
    pytest.importorskip("torch", reason="torch is not installed (PyPI's wheel is very large; not in the 'test' extra)")
    import subprocess
    import sys

    child = f"""
import os, signal, sys, numpy as np, torch.distributed as dist
from fastckpt import distributed
rank = int(sys.argv[1])
dist.init_process_group("gloo", init_method="file://{tmp_path / 'rendezvous'}", rank=rank, world_size=4)
if rank == 3:
    write_part = distributed._write_part
    def write_then_die(*args, **kwargs):
        write_part(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
    distributed._write_part = write_then_die
try:
    distributed.save({{f"own_{{rank}}": np.full(2, rank)}}, "{tmp_path / 'ckpt'}", coordinator=distributed.TorchCoordinator())
finally:
    dist.destroy_process_group()
"""
    children = [
        subprocess.Popen([sys.executable, "-c", child, str(r)], stderr=subprocess.PIPE, text=True) for r in range(4)
    ]
    errors = [p.communicate(timeout=300)[1] for p in children]
    assert [p.returncode for p in children] == [1, 1, 1, -9]
    for rank in range(3):
        assert "RuntimeError" in errors[rank] and "Connection" in errors[rank], errors[rank]
        assert f"CheckpointError: saving checkpoint {tmp_path / 'ckpt'} (rank {rank} of 4)" in errors[rank], errors[rank]
    assert not (tmp_path / "ckpt.index").exists() and not (tmp_path / "checkpoint").exists()
