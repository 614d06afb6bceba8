"""Checkpoints on object storage: ``s3://`` against a real S3-compatible server (moto in server
mode on 127.0.0.1, started here, with a fault-injecting layer in front of it), and ``memory://``.
The engine talks to the server through the Rust ``object_store`` crate, configured by the
``AWS_*`` environment variables its ``from_env`` builder reads."""

from __future__ import annotations

import errno
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import fastckpt

moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")
from werkzeug.serving import make_server  # noqa: E402  (installed with moto[server])

BUCKET = "fastckpt-test"


@dataclass
class Fault:
    """Answer requests matching ``method`` and ``pattern`` (on path + query) with an S3 error,
    ``times`` times (``None``: always)."""

    method: str
    pattern: str
    status: int
    code: str
    times: int | None = None


@dataclass
class S3Server:
    """moto's S3 behind a WSGI layer that logs requests and injects faults."""

    port: int = 0
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._app = moto_server.DomainDispatcherApplication(moto_server.create_backend_app)
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        query = environ.get("QUERY_STRING", "")
        self.requests.append((method, path + ("?" + query if query else ""), environ.get("HTTP_RANGE", "")))
        for fault in self.faults:
            if fault.method == method and re.search(fault.pattern, path + "?" + query) and fault.times != 0:
                if fault.times is not None:
                    fault.times -= 1
                body = f"<Error><Code>{fault.code}</Code><Message>injected</Message></Error>".encode()
                start_response(f"{fault.status} Injected", [("Content-Type", "application/xml")])
                return [body]
        return self._app(environ, start_response)

    def start(self) -> None:
        self._server = make_server("127.0.0.1", self.port, self._wsgi, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        assert self._thread is not None
        self._thread.join()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def keys(self, prefix: str = "") -> list[str]:
        listed = self.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return sorted(o["Key"] for o in listed.get("Contents", []))


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    server = S3Server()
    server.start()
    env = {
        "AWS_ENDPOINT": server.endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        # Failures surface within seconds instead of the crate's default 3 minutes.
        "FASTCKPT_STORAGE_MAX_RETRIES": "3",
        "FASTCKPT_STORAGE_RETRY_TIMEOUT": "5",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        server.client().create_bucket(Bucket=BUCKET)
        yield server
    server.stop()


@pytest.fixture
def bucket(s3: S3Server, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh key prefix per test; faults and the request log cleared."""
    s3.faults.clear()
    s3.requests.clear()
    yield f"s3://{BUCKET}/{request.node.name}"
    s3.faults.clear()


def tensors() -> dict[str, Any]:
    rng = np.random.default_rng(7)
    return {
        # 12 MiB: more than one part of a multipart upload.
        "big": rng.standard_normal((3 << 20,), dtype=np.float32),
        "int": np.arange(-50, 50, dtype=np.int64).reshape(10, 10),
        "half": rng.standard_normal((5, 7)).astype(np.float16),
        "flag": np.array([True, False, True]),
        "scalar": np.float64(2.5),
        "words": np.array([b"alpha", b"", b"\x00\xffgamma"], dtype=object),
    }


def assert_same(got: Any, want: Any) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes() if got.dtype != object else list(got.ravel()) == list(want.ravel())


def test_save_then_load_every_value_exact(s3: S3Server, bucket: str) -> None:
    values = tensors()
    fastckpt.save(values, f"{bucket}/ckpt")
    assert s3.keys(bucket.split("/", 3)[3]) == [
        f"{bucket.split('/', 3)[3]}/ckpt.data-00000-of-00001",
        f"{bucket.split('/', 3)[3]}/ckpt.index",
    ]
    reader = fastckpt.load_checkpoint(f"{bucket}/ckpt")
    assert sorted(reader.keys()) == sorted(values)
    for name, want in values.items():
        assert_same(reader.get_tensor(name), want)
    # A remote checkpoint hands out owned arrays, whatever copy= says.
    view = reader.get_tensor("int", copy=False)
    assert view.flags.owndata or view.base is not None and view.flags.writeable
    for name, got in reader.read_all().items():
        assert_same(got, values[name])


def test_get_tensor_fetches_only_its_byte_range(s3: S3Server, bucket: str) -> None:
    fastckpt.save(tensors(), f"{bucket}/ckpt")
    reader = fastckpt.load_checkpoint(f"{bucket}/ckpt")
    s3.requests.clear()
    assert_same(reader.get_tensor("int"), tensors()["int"])
    data_gets = [r for r in s3.requests if r[0] == "GET" and ".data-" in r[1]]
    assert len(data_gets) == 1, s3.requests
    start, end = map(int, data_gets[0][2].removeprefix("bytes=").split("-"))
    assert end - start + 1 == 100 * 8
    # The 12 MiB tensor comes in several concurrent ranged GETs.
    s3.requests.clear()
    assert_same(reader.get_tensor("big"), tensors()["big"])
    ranges = [r[2] for r in s3.requests if r[0] == "GET" and ".data-" in r[1]]
    assert len(ranges) == 2 and all(r.startswith("bytes=") for r in ranges)


def test_read_all_joins_neighbouring_tensors_into_few_ranged_gets(s3: S3Server, bucket: str) -> None:
    rng = np.random.default_rng(3)
    values = {f"t{i:03d}": rng.standard_normal((i % 7 + 1, 33)).astype(np.float32) for i in range(300)}
    values["big"] = rng.standard_normal((5 << 20,), dtype=np.float32)  # 20 MiB: three requests
    fastckpt.save(values, f"{bucket}/ckpt")
    reader = fastckpt.load_checkpoint(f"{bucket}/ckpt")
    s3.requests.clear()
    got = reader.read_all()
    for name, want in values.items():
        assert_same(got[name], want)
    data_gets = [r for r in s3.requests if r[0] == "GET" and ".data-" in r[1]]
    # 301 tensors, ~0.3 MiB of small ones after each other: one request; the big one in 8 MiB ones.
    assert len(data_gets) == 4, data_gets
    # A corrupted byte is still caught, and named by its tensor.
    key = bucket.split("/", 3)[3]
    data = bytearray(s3.client().get_object(Bucket=BUCKET, Key=f"{key}/ckpt.data-00000-of-00001")["Body"].read())
    data[100] ^= 1
    s3.client().put_object(Bucket=BUCKET, Key=f"{key}/ckpt.data-00000-of-00001", Body=bytes(data))
    with pytest.raises(fastckpt.CheckpointError, match="checksum mismatch .* tensor 't000'"):
        fastckpt.load_checkpoint(f"{bucket}/ckpt").read_all()


def test_tensorflow_reads_a_checkpoint_copied_down_and_we_read_its_own(
    s3: S3Server, bucket: str, tmp_path: Any
) -> None:
    tf = pytest.importorskip("tensorflow")
    values = tensors()
    fastckpt.save(values, f"{bucket}/ckpt")
    key = bucket.split("/", 3)[3]
    for name in s3.keys(key):
        s3.client().download_file(BUCKET, name, str(tmp_path / name.rsplit("/", 1)[1]))
    tf_reader = tf.train.load_checkpoint(str(tmp_path / "ckpt"))
    for name, want in values.items():
        assert_same(tf_reader.get_tensor(name), want)
    # And the other way: TensorFlow's own files, uploaded, read by us.
    tf_prefix = tmp_path / "tf" / "model"
    variables = {"v": tf.Variable(np.arange(12, dtype=np.float32).reshape(3, 4)), "w": tf.Variable([b"x", b"yz"])}
    tf.train.Checkpoint(**variables).write(str(tf_prefix))
    for path in (tmp_path / "tf").iterdir():
        s3.client().upload_file(str(path), BUCKET, f"{key}/tf/{path.name}")
    ours = fastckpt.load_checkpoint(f"{bucket}/tf/model")
    assert_same(ours.get_tensor("v/.ATTRIBUTES/VARIABLE_VALUE"), np.arange(12, dtype=np.float32).reshape(3, 4))
    assert list(ours.get_tensor("w/.ATTRIBUTES/VARIABLE_VALUE")) == [b"x", b"yz"]


def test_saver_state_file_latest_checkpoint_and_retention(s3: S3Server, bucket: str) -> None:
    w = np.zeros(4, np.float32)
    saver = fastckpt.Saver({"w": w}, max_to_keep=2)
    for step in range(1, 5):
        w[:] = step
        saver.save(f"{bucket}/run/model", global_step=step)
    assert fastckpt.latest_checkpoint(f"{bucket}/run") == f"{bucket}/run/model-4"
    state = fastckpt.get_checkpoint_state(f"{bucket}/run")
    assert state is not None and list(state.all_model_checkpoint_paths) == [f"{bucket}/run/model-3", f"{bucket}/run/model-4"]
    key = bucket.split("/", 3)[3]
    names = [k.rsplit("/", 1)[1] for k in s3.keys(f"{key}/run/")]
    assert [n for n in names if not n.endswith(".meta")] == [
        "checkpoint",
        "model-3.data-00000-of-00001",
        "model-3.index",
        "model-4.data-00000-of-00001",
        "model-4.index",
    ]
    assert_same(fastckpt.load_checkpoint(f"{bucket}/run").get_tensor("w"), np.full(4, 4, np.float32))


def test_checkpoint_manager_on_s3(s3: S3Server, bucket: str) -> None:
    ckpt = fastckpt.Checkpoint(w=np.zeros(3, np.float32))
    manager = fastckpt.CheckpointManager(ckpt, f"{bucket}/mgr", max_to_keep=1)
    first = manager.save()
    second = manager.save()
    assert manager.latest_checkpoint == second == f"{bucket}/mgr/ckpt-2"
    assert fastckpt.latest_checkpoint(f"{bucket}/mgr") == second
    assert not fastckpt.checkpoint_exists(first)
    key = bucket.split("/", 3)[3]
    assert [k.rsplit("/", 1)[1] for k in s3.keys(f"{key}/mgr/")] == [
        "checkpoint",
        "ckpt-2.data-00000-of-00001",
        "ckpt-2.index",
    ]
    # A new manager on the same folder recovers the state file's checkpoints.
    again = fastckpt.CheckpointManager(ckpt, f"{bucket}/mgr", max_to_keep=1)
    assert again.latest_checkpoint == second


def test_a_failed_upload_leaves_the_previous_checkpoint_and_no_index(s3: S3Server, bucket: str) -> None:
    values = tensors()
    fastckpt.save(values, f"{bucket}/ckpt-1")
    fastckpt.update_checkpoint_state(bucket, f"{bucket}/ckpt-1")
    s3.faults.append(Fault("PUT", r"ckpt-2\.data.*partNumber=2", 500, "InternalError"))
    with pytest.raises(fastckpt.CheckpointIOError, match=rf"{bucket}/ckpt-2\.data-00000-of-00001") as failed:
        fastckpt.save(values, f"{bucket}/ckpt-2")
    # A server error has no errno: the message names the object, with no made-up "[Errno 0]".
    assert failed.value.errno is None and not str(failed.value).startswith("[Errno")
    key = bucket.split("/", 3)[3]
    assert f"{key}/ckpt-2.index" not in s3.keys(key)
    assert s3.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert fastckpt.latest_checkpoint(bucket) == f"{bucket}/ckpt-1"
    assert_same(fastckpt.load_checkpoint(bucket).get_tensor("big"), values["big"])


def test_a_stopped_server_fails_the_save_cleanly(s3: S3Server, bucket: str) -> None:
    values = {"x": np.arange(10, dtype=np.int32)}
    fastckpt.save(values, f"{bucket}/ckpt-1")
    s3.stop()
    try:
        started = time.monotonic()
        with pytest.raises(fastckpt.CheckpointIOError, match=bucket):
            fastckpt.save(values, f"{bucket}/ckpt-2")
        assert time.monotonic() - started < 60
    finally:
        s3.start()  # same port
    key = bucket.split("/", 3)[3]
    assert s3.keys(key) == [f"{key}/ckpt-1.data-00000-of-00001", f"{key}/ckpt-1.index"]
    assert_same(fastckpt.load_checkpoint(f"{bucket}/ckpt-1").get_tensor("x"), values["x"])


def test_throttling_is_retried(s3: S3Server, bucket: str) -> None:
    fastckpt.save({"x": np.arange(3.0)}, f"{bucket}/ckpt")
    s3.requests.clear()
    s3.faults.append(Fault("GET", r"ckpt\.index", 503, "SlowDown", times=2))
    assert_same(fastckpt.load_checkpoint(f"{bucket}/ckpt").get_tensor("x"), np.arange(3.0))
    assert len([r for r in s3.requests if r[0] == "GET" and r[1].endswith("ckpt.index")]) == 3


def test_clear_errors_for_a_missing_bucket_and_denied_access(s3: S3Server, bucket: str) -> None:
    with pytest.raises(fastckpt.CheckpointNotFoundError, match="s3://no-such-bucket/ckpt.index") as missing:
        fastckpt.load_checkpoint("s3://no-such-bucket/ckpt")
    # An object store's "not found" carries ENOENT, as the same error on a local file does.
    assert missing.value.errno == errno.ENOENT
    assert missing.value.filename == "s3://no-such-bucket/ckpt.index"
    with pytest.raises(FileNotFoundError):
        fastckpt.load_checkpoint(f"{bucket}/absent")
    with pytest.raises(fastckpt.CheckpointError, match="s3://no-such-bucket/ckpt"):
        fastckpt.save({"x": np.zeros(2)}, "s3://no-such-bucket/ckpt")
    fastckpt.save({"x": np.zeros(2)}, f"{bucket}/ckpt")
    s3.faults.append(Fault("GET", r"ckpt\.data", 403, "AccessDenied"))
    reader = fastckpt.load_checkpoint(f"{bucket}/ckpt")
    with pytest.raises(fastckpt.CheckpointIOError, match=r"tensor 'x'.*AccessDenied.*ckpt\.data-00000-of-00001") as denied:
        reader.get_tensor("x")
    assert denied.value.filename == f"{bucket}/ckpt.data-00000-of-00001"
    assert denied.value.errno == errno.EACCES


def test_graphs_and_meta_graphs_on_s3(s3: S3Server, bucket: str) -> None:
    graph = fastckpt.GraphDef()
    node = graph.node.add()
    node.name, node.op = "a", "NoOp"
    for as_text in (True, False):
        path = fastckpt.write_graph(graph, f"{bucket}/graphs", f"g{int(as_text)}.pb", as_text=as_text)
        assert path == f"{bucket}/graphs/g{int(as_text)}.pb"
        assert [n.name for n in fastckpt.read_graph_def(path).node] == ["a"]


def test_convert_in_and_out_of_s3(s3: S3Server, bucket: str, tmp_path: Any) -> None:
    values = {k: v for k, v in tensors().items() if k != "words"}
    fastckpt.save(values, f"{bucket}/ckpt")
    fastckpt.convert(f"{bucket}/ckpt", str(tmp_path / "local"), to="tf")
    back = fastckpt.load_checkpoint(str(tmp_path / "local"))
    for name, want in values.items():
        assert_same(back.get_tensor(name), want)
    fastckpt.convert(str(tmp_path / "local"), f"{bucket}/again", to="tf")
    again = fastckpt.load_checkpoint(f"{bucket}/again")
    for name, want in values.items():
        assert_same(again.get_tensor(name), want)


def test_memory_urls_in_one_process() -> None:
    values = tensors()
    fastckpt.save(values, "memory://unit/run/ckpt-7")
    fastckpt.update_checkpoint_state("memory://unit/run", "memory://unit/run/ckpt-7")
    assert fastckpt.latest_checkpoint("memory://unit/run") == "memory://unit/run/ckpt-7"
    reader = fastckpt.load_checkpoint("memory://unit/run")
    for name, want in values.items():
        assert_same(reader.get_tensor(name), want)
    fastckpt.remove_checkpoint("memory://unit/run/ckpt-7")
    assert not fastckpt.checkpoint_exists("memory://unit/run/ckpt-7")


def test_a_url_is_never_a_local_path(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="unsupported URL scheme 'ftp'"):
        fastckpt.save({"x": np.zeros(2)}, "ftp://host/ckpt")
    with pytest.raises(ValueError, match="unsupported URL scheme 'hdfs'"):
        fastckpt.load_checkpoint("hdfs://host/ckpt")
    assert os.listdir(tmp_path) == []


def test_cli_lists_converts_and_writes_graphs_on_s3(
    s3: S3Server, bucket: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from fastckpt.cli import main

    values = {"a": np.arange(6, dtype=np.int32), "b": np.ones((2, 2), np.float32)}
    for step in (1, 2):
        fastckpt.save(values, f"{bucket}/run/ckpt-{step}")
    fastckpt.update_checkpoint_state(f"{bucket}/run", f"{bucket}/run/ckpt-2", [f"{bucket}/run/ckpt-1"])
    assert main(["ls", f"{bucket}/run/ckpt-2"]) == 0
    listing = capsys.readouterr().out
    assert "a" in listing and "int32" in listing and "float32" in listing
    # Every checkpoint of a remote "folder" (by its state file) into another remote folder.
    assert main(["convert", f"{bucket}/run", f"{bucket}/out", "--to", "tf", "--all", "-j", "1", "-q"]) == 0
    assert f"-> {bucket}/out/ckpt-1.index, {bucket}/out/ckpt-1.data-00000-of-00001" in capsys.readouterr().out
    for step in (1, 2):
        got = fastckpt.load_checkpoint(f"{bucket}/out/ckpt-{step}")
        assert_same(got.get_tensor("a"), values["a"])
    # A glob over objects, resumed: both outputs exist, nothing is converted again.
    assert main(["convert", f"{bucket}/run/ckpt-?.index", f"{bucket}/out", "--to", "tf", "--skip-existing", "-q"]) == 0
    assert "0 converted, 2 skipped" in capsys.readouterr().err
    graph = fastckpt.GraphDef()
    graph.node.add(name="c", op="NoOp")
    local = tmp_path / "g.pb"
    fastckpt.write_graph(graph, str(tmp_path), "g.pb", as_text=False)
    assert main(["graph", str(local), "--to", "pbtxt", "-o", f"{bucket}/g.pbtxt"]) == 0
    assert [n.name for n in fastckpt.read_graph_def(f"{bucket}/g.pbtxt").node] == ["c"]


def test_a_forked_child_reads_and_writes_through_its_own_runtime(s3: S3Server, bucket: str) -> None:
    values = {"x": np.arange(5, dtype=np.float64)}
    fastckpt.save(values, f"{bucket}/parent")  # the parent's runtime and store exist now
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        status = 1
        try:
            got = fastckpt.load_checkpoint(f"{bucket}/parent").get_tensor("x")
            fastckpt.save({"x": got * 2}, f"{bucket}/child")
            status = 0 if np.array_equal(got, values["x"]) else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert_same(fastckpt.load_checkpoint(f"{bucket}/child").get_tensor("x"), values["x"] * 2)


def test_merges_between_local_paths_and_urls_are_refused_before_writing(
    s3: S3Server, bucket: str, tmp_path: Any
) -> None:
    fastckpt.save({"x": np.zeros(2)}, str(tmp_path / "a"))
    with pytest.raises(fastckpt.CheckpointError, match="must all be local paths or all be on object storage"):
        fastckpt.merge_bundles([str(tmp_path / "a")], f"{bucket}/merged")
    key = bucket.split("/", 3)[3]
    assert s3.keys(key) == []
    assert not os.path.exists("s3:")


def test_folder_without_checkpoints_named_as_tensorflow_does(s3: S3Server, bucket: str, tmp_path: Any, tf: Any) -> None:
    """A URL with objects below it but neither a state file nor a checkpoint is a folder without
    checkpoints: TensorFlow's ValueError words (checked on a local folder, TF 2.21 has no S3 file
    system), not a missing ``.index``; a URL naming nothing at all stays a missing checkpoint."""
    fastckpt.save({"x": np.arange(3.0)}, f"{bucket}/other/elsewhere")
    with pytest.raises(ValueError) as tf_error:
        tf.train.load_checkpoint(str(tmp_path))
    with pytest.raises(fastckpt.NoCheckpointInFolderError) as ours:
        fastckpt.load_checkpoint(f"{bucket}/other/")
    assert str(ours.value) == str(tf_error.value).replace(str(tmp_path), f"{bucket}/other/")
    with pytest.raises(fastckpt.NoCheckpointInFolderError, match="given directory"):
        fastckpt.load_checkpoint(f"{bucket}/other")
    with pytest.raises(fastckpt.CheckpointNotFoundError) as missing:
        fastckpt.load_checkpoint(f"{bucket}/nothing")
    assert not isinstance(missing.value, fastckpt.NoCheckpointInFolderError)
    assert isinstance(ours.value, ValueError) and isinstance(missing.value, FileNotFoundError)
