"""One rank of a distributed save or restore, run by tests/test_distributed_mpi.py under ``mpiexec``
(an ``MPICoordinator``) or, with ``DIST_JOB_COORDINATOR=torch``, under ``torchrun`` (a
``TorchCoordinator`` over a gloo process group).

    dist_job.py save FOLDER STEP           every rank saves its own variables and its rows of
                                           'embedding' as FOLDER/model-STEP
    dist_job.py kill FOLDER STEP RANK      as save, but RANK is SIGKILLed after writing its part,
                                           before the barrier
    dist_job.py restore PREFIX OUT         (3 ranks) each reads its own slicing of 'embedding'
                                           and its rank's kernel, and writes OUT/rank-<r>.npz

The values depend only on the rank and the step, so the test can rebuild them (``tensors``).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import numpy as np

from fastckpt import distributed

FULL_SHAPE = (16, 5)

#: How each of the 3 restoring ranks slices 'embedding' (all of it; rows 3..10 of columns 1..4,
#: which crosses the slices 8 ranks stored; column 4 alone).
RESTORE_SPECS = ["-:-", "3,7:1,3", "-:4,1"]


def embedding(step: int) -> np.ndarray[Any, Any]:
    return np.arange(80, dtype=np.float32).reshape(FULL_SHAPE) + 1000 * step


def kernel(rank: int, step: int) -> np.ndarray[Any, Any]:
    return np.arange((rank + 1) * 4, dtype=np.float64).reshape(rank + 1, 4) + 100 * rank + 1000 * step


def tensors(rank: int, size: int, step: int) -> dict[str, Any]:
    """What rank ``rank`` of ``size`` saves at ``step``: its own kernel and count, its rows of the
    partitioned 'embedding', and on rank 0 a string tensor."""
    rows = FULL_SHAPE[0] // size
    own: dict[str, Any] = {
        f"rank_{rank}/kernel": kernel(rank, step),
        f"rank_{rank}/count": np.int64(rank * 7 + step),
        "embedding": distributed.Slice(
            FULL_SHAPE, f"{rank * rows},{rows}:-", embedding(step)[rank * rows : (rank + 1) * rows]
        ),
    }
    if rank == 0:
        own["vocab"] = np.array([b"alpha", "βeta".encode()], dtype=object)
    return own


def join() -> distributed.Coordinator:
    """This process as a rank of the job that launched it."""
    if os.environ.get("DIST_JOB_COORDINATOR", "mpi") == "mpi":
        return distributed.MPICoordinator()
    import torch.distributed as dist

    dist.init_process_group("gloo")  # rank, size and rendezvous from torchrun's environment
    return distributed.TorchCoordinator()


def main() -> None:
    coordinator = join()
    try:
        work(coordinator, *sys.argv[1:])
    finally:
        if isinstance(coordinator, distributed.TorchCoordinator):
            # torch wants its process group ended before the process exits (it may abort otherwise).
            import torch.distributed as dist

            dist.destroy_process_group()


def work(coordinator: distributed.Coordinator, command: str, target: str, *args: str) -> None:
    rank = coordinator.rank
    if command in ("save", "kill"):
        step = int(args[0])
        if command == "kill" and rank == int(args[1]):
            write_part = distributed._write_part

            def write_then_die(*args: Any, **kwargs: Any) -> None:
                write_part(*args, **kwargs)
                os.kill(os.getpid(), signal.SIGKILL)

            distributed._write_part = write_then_die
        path = distributed.save(
            tensors(rank, coordinator.size, step),
            os.path.join(target, "model"),
            coordinator=coordinator,
            global_step=step,
            max_to_keep=3,
        )
        print(f"rank {rank} saved {path}", flush=True)
    elif command == "restore":
        out = args[0]
        spec = RESTORE_SPECS[rank]
        wanted: dict[str, Any] = {f"rank_{rank}/kernel": np.zeros((rank + 1, 4))}
        if rank == 0:
            wanted["embedding"] = np.zeros(FULL_SHAPE, np.float32)  # filled in place, whole
        elif rank == 1:
            wanted["embedding"] = distributed.Slice(FULL_SHAPE, spec)  # a new array
        else:
            # Filled in place, into a view that is not C-contiguous (a column of a wider array).
            wanted["embedding"] = distributed.Slice(FULL_SHAPE, spec, np.zeros((16, 2), np.float32)[:, :1])
        restored = distributed.restore(target, wanted, coordinator=coordinator)
        for name, array in wanted.items():
            filled = array if isinstance(array, np.ndarray) else array.value
            assert filled is None or filled is restored[name], f"{name} was not filled in place"
        np.savez(os.path.join(out, f"rank-{rank}.npz"), spec=spec, **{k.replace("/", "__"): v for k, v in restored.items()})
        print(f"rank {rank} restored {sorted(restored)}", flush=True)
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
