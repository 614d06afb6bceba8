"""Many Python threads using fastckpt at once: every result checked, and no thread stalls the
others while it waits for a lock (the engine's work runs with the GIL released)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import fastckpt

THREADS = 8


def _chain(length: int) -> fastckpt.GraphDef:
    """A GraphDef of one Const followed by `length` Identity ops, each reading the one before."""
    nodes = [
        'node { name: "c" op: "Const" attr { key: "dtype" value { type: DT_FLOAT } }'
        ' attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape {} float_val: 1 } } } }'
    ]
    previous = "c"
    for i in range(length):
        nodes.append(f'node {{ name: "id{i}" op: "Identity" input: "{previous}" attr {{ key: "T" value {{ type: DT_FLOAT }} }} }}')
        previous = f"id{i}"
    return fastckpt.parse_text("\n".join(nodes), fastckpt.GraphDef())


def _tensors(worker: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(worker)
    return {
        "w": rng.standard_normal((128, 257), dtype=np.float32),
        "big": rng.standard_normal(1 << 21, dtype=np.float32),  # 8 MiB: chunked, parallel paths
        "step": np.array(worker, dtype=np.int64),
        "names": np.array([f"worker{worker}".encode(), b"x"], dtype=object),
    }


def test_threads_read_write_and_import_at_once(tmp_path: Path) -> None:
    shared_prefix = fastckpt.save(_tensors(1000), str(tmp_path / "shared"))
    shared_expected = _tensors(1000)
    shared_reader = fastckpt.load_checkpoint(shared_prefix)
    shared_graph = fastckpt.Graph()
    chain = _chain(500)
    start = threading.Barrier(THREADS)

    def work(worker: int) -> None:
        start.wait()
        for round_ in range(3):
            # Reading one reader from all threads: views, copies, many at once.
            for name, expected in shared_expected.items():
                np.testing.assert_array_equal(shared_reader.get_tensor(name), expected)
                np.testing.assert_array_equal(shared_reader.get_tensor(name, copy=True), expected)
            everything = shared_reader.read_all()
            assert sorted(everything) == sorted(shared_expected)
            for name, expected in shared_expected.items():
                np.testing.assert_array_equal(everything[name], expected)
            # Writing a checkpoint of its own and reading it back.
            mine = _tensors(worker * 10 + round_)
            prefix = fastckpt.save(mine, str(tmp_path / f"w{worker}-{round_}"))
            back = fastckpt.load_checkpoint(prefix).read_all(copy=False)
            for name, expected in mine.items():
                np.testing.assert_array_equal(back[name], expected)
            # Importing into the shared graph and into a graph of its own.
            returned = fastckpt.import_graph_def(
                chain, name=f"t{worker}r{round_}", return_elements=["id499:0"], graph=shared_graph
            )
            assert [t.name for t in returned] == [f"t{worker}r{round_}/id499:0"]
            own = fastckpt.import_graph_def(chain)
            assert len(own) == 501
            assert own.get_tensor_by_name("import/id0:0").op.inputs[0].name == "import/c:0"

    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(work, w) for w in range(THREADS)]:
            future.result()

    assert len(shared_graph) == THREADS * 3 * 501
    scopes = {op.name.split("/")[0] for op in shared_graph.get_operations()}
    assert scopes == {f"t{w}r{r}" for w in range(THREADS) for r in range(3)}
    for scope in scopes:
        assert shared_graph.get_operation_by_name(f"{scope}/id499").inputs[0].name == f"{scope}/id498:0"


def test_other_threads_run_while_a_thread_waits_for_an_import() -> None:
    """One thread imports a large GraphDef (holding the graph's lock for a while, without the
    GIL); a second asks the same graph for its length and so must wait for the import. The main
    thread must keep running Python code meanwhile: the second thread waits without the GIL.

    Had the asker blocked with the GIL held, the main thread could only run again once the import
    had ended. So the test looks at what the main thread sees when it runs: the import still going
    and the asker still waiting. An import too quick to overlap (a fast machine) proves nothing
    either way; the graph then doubles, up to 8 times the first size."""
    for length in (200_000, 400_000, 800_000, 1_600_000):
        graph = fastckpt.Graph()
        big = _chain(length)
        importing = threading.Event()
        asking = threading.Event()
        import_returned = threading.Event()
        lengths: list[int] = []

        def importer() -> None:
            importing.set()
            fastckpt.import_graph_def(big, graph=graph, name="")
            import_returned.set()

        def asker() -> None:
            importing.wait()
            time.sleep(0.05)  # let the import take the graph's lock
            asking.set()
            lengths.append(len(graph))  # waits for the import to finish

        threads = [threading.Thread(target=importer), threading.Thread(target=asker)]
        for t in threads:
            t.start()
        asking.wait()
        time.sleep(0.1)  # the asker is now waiting for the lock
        import_still_running = not import_returned.is_set()
        asker_still_waiting = not lengths
        for t in threads:
            t.join()
        assert lengths == [length + 1]
        if import_still_running:
            assert asker_still_waiting, "the asker got the graph's length before the import ended"
            return
    pytest.fail("every import ended before the main thread ran again: the asker blocked it, or imports are too quick")
