"""Credentials that refresh: a paused runner whose projected token is rotated still gets
its resume (its watch reconnects, meets a 401 with the cached old token, re-reads the
file and goes on), and a kubeconfig token that expires is refreshed after a 401.

Against a small local HTTPS stub of the API server that accepts only the current token.
(A real short-lived token needs over 10 minutes: bench/token_rotation.py, not here.)
"""
from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from flowrun.controller.certs import write_self_signed
from flowrun.kube import client as kube_client
from flowrun.kube import rest
from flowrun.kube.client import Kube, KubeError

PATH = "/apis/flowrun.io/v1alpha1/namespaces/ns/flowruns"


def flowrun(state: str, rv: str) -> dict:
    return {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun",
            "metadata": {"name": "r", "namespace": "ns", "resourceVersion": rv},
            "spec": {"flow": "a:b", "state": state}, "status": {"phase": "Paused"}}


class Stub:
    """Accepts the tokens in `valid`; the first watch stays open until `rotated` is set,
    then ends (as a watch does when the server times it out); later watches deliver the
    resume."""

    def __init__(self, directory: Path):
        self.valid = {"old"}
        self.seen: list[tuple[str, str, int]] = []  # (kind of request, token, status)
        self.rotated = threading.Event()
        self.done = threading.Event()
        self.watches = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                kind = "watch" if "watch=true" in self.path else "get"
                if token not in stub.valid:
                    stub.seen.append((kind, token, 401))
                    body = b'{"kind":"Status","code":401,"reason":"Unauthorized"}'
                    self.send_response(401)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                stub.seen.append((kind, token, 200))
                if kind == "get":
                    obj = flowrun("Paused", "1")
                    if "fieldSelector=" in self.path:  # a list by name: where a watch starts
                        obj = {"kind": "FlowRunList", "metadata": {"resourceVersion": "1"}, "items": [obj]}
                    body = json.dumps(obj).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                # A watch streams chunks, as the API server does.
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

                def chunk(data: bytes) -> None:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
                stub.watches += 1
                if stub.watches == 1:
                    stub.rotated.wait(10)
                else:
                    chunk(json.dumps({"type": "MODIFIED", "object": flowrun("Running", "2")}).encode() + b"\n")
                    stub.done.wait(10)
                chunk(b"")  # the server ends the watch

        certs = write_self_signed(directory, ["127.0.0.1"])
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certs / "tls.crt", certs / "tls.key")
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.ca = certs / "ca.crt"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.done.set()
        self.rotated.set()
        self.server.shutdown()


@pytest.fixture
def stub(tmp_path):
    s = Stub(tmp_path / "certs")
    yield s
    s.close()


@pytest.fixture
def in_pod(stub, tmp_path, monkeypatch):
    """The runner's view: a projected token file and the API server's CA, in-cluster."""
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("old")
    (sa / "ca.crt").write_bytes(stub.ca.read_bytes())
    monkeypatch.setattr(rest, "SA_DIR", str(sa))
    monkeypatch.setattr(kube_client, "in_pod", lambda: True)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(stub.port))
    return sa / "token"


def test_a_paused_runner_whose_token_rotates_still_gets_its_resume(stub, in_pod):
    kube = Kube()
    seen = []
    stop = threading.Event()
    for obj in kube.watch_flowrun("ns", "r", stop=stop, server_timeout=30):
        seen.append(obj["spec"]["state"])
        if len(seen) == 1:
            # Paused and watching: the kubelet rotates the token, the old one stops working.
            def rotate():
                while stub.watches < 1:
                    stub.done.wait(0.01)
                in_pod.write_text("new")
                stub.valid = {"new"}
                stub.rotated.set()
            threading.Thread(target=rotate, daemon=True).start()
        if obj["spec"]["state"] == "Running":
            stop.set()
            stub.done.set()  # the server ends the stream (the runner closes it via on_connect)
            break
    assert seen == ["Paused", "Running"]
    # The reconnect used the cached old token, got a 401, re-read the file and went on.
    assert ("watch", "old", 401) in stub.seen and ("watch", "new", 200) in stub.seen
    assert stub.seen.index(("watch", "old", 401)) < stub.seen.index(("watch", "new", 200))


def test_a_401_that_refreshing_cannot_fix_is_reported(stub, in_pod):
    stub.valid = set()
    with pytest.raises(KubeError) as err:
        Kube().get_flowrun("ns", "r")
    assert err.value.status == 401
    # The file still holds the token that was refused: no retry with the same one, no loop.
    assert [s for _, _, s in stub.seen] == [401]


class Configuration:
    """What kubernetes.client.Configuration offers for a kubeconfig token."""

    def __init__(self, host, ca, token):
        self.host, self.ssl_ca_cert, self.cert_file, self.key_file, self.verify_ssl = host, ca, None, None, True
        self.token = token

    def get_api_key_with_prefix(self, identifier, alias=None):
        return f"Bearer {self.token}" if identifier == "BearerToken" else None


def test_an_expired_kubeconfig_token_is_refreshed_after_a_401(stub):
    host = f"https://127.0.0.1:{stub.port}"
    reloads = []

    def reload():
        reloads.append(1)
        return Configuration(host, str(stub.ca), "new")
    endpoint = rest.Endpoint.from_configuration(Configuration(host, str(stub.ca), "old"), reload=reload)
    transport = rest.Transport(endpoint)
    assert transport.request("GET", f"{PATH}/r")["metadata"]["name"] == "r"
    stub.valid = {"new"}  # the exec plugin's token expired on the server's side
    assert transport.request("GET", f"{PATH}/r")["metadata"]["name"] == "r"
    assert reloads == [1]
    assert [(t, s) for _, t, s in stub.seen] == [("old", 200), ("old", 401), ("new", 200)]
    assert transport.request("GET", f"{PATH}/r") and reloads == [1]  # the fresh token is kept
