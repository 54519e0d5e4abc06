"""The delivery shell's egress (issue 26): SSRF refused after DNS, connected to the vetted
address only, a total deadline per attempt, a per-namespace limit."""
from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fakeapi import FakeKube
from flowrun.controller import notify
from flowrun.controller.settings import Settings

pytestmark = pytest.mark.timeout(60)


class Hits:
    def __init__(self, trickle: float = 0.0):
        self.got: list[str] = []
        hits = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                hits.got.append(self.path)
                self.rfile.read(int(self.headers["content-length"]))
                if trickle:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    try:
                        for _ in range(100):  # one byte at a time, forever for a client
                            self.wfile.write(b"X")
                            self.wfile.flush()
                            time.sleep(trickle)
                    except OSError:
                        pass  # the client gave up: what the test wants
                    return
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def notes(**settings) -> notify.Notifications:
    return notify.Notifications(FakeKube(), Settings(**settings))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "169.254.169.254", "0.0.0.0"])
def test_loopback_and_metadata_are_refused_after_dns_and_never_reached(host):
    hits = Hits()
    status, error, detail = notes().post(f"http://{host}:{hits.port}/x", {}, b"{}")
    assert (status, error) == (None, "egress") and "egress policy" in detail
    assert hits.got == []


def test_the_api_server_is_refused(monkeypatch):
    hits = Hits()
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    n = notes(notify_allow="127.0.0.1/32")  # even a loopback allowed by name: the API server is not
    assert n.post(f"http://127.0.0.1:{hits.port}/x", {}, b"{}")[1] == "egress"
    n2 = notes(notify_allow="127.0.0.1/32", notify_api_addresses=f"127.0.0.1:{hits.port}")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    assert n2.post(f"http://127.0.0.1:{hits.port}/x", {}, b"{}")[1] == "egress"
    assert hits.got == []


def test_the_connection_goes_to_the_vetted_address_only(monkeypatch):
    """DNS rebinding between check and connect: the name resolves once per attempt, and
    the socket connects to that vetted address, not to a second answer."""
    hits = Hits()
    n = notes(notify_allow="127.0.0.1/32")
    answers = iter([[(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", hits.port))],
                    [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", hits.port))]])
    calls = []
    real_dns = socket.getaddrinfo

    def dns(host, *a, **k):
        if host != "receiver.example":
            return real_dns(host, *a, **k)  # (create_connection's own look-up of a numeric address)
        calls.append(host)
        return next(answers)
    monkeypatch.setattr(notify.socket, "getaddrinfo", dns)
    opened = []
    real = socket.create_connection
    monkeypatch.setattr(notify.socket, "create_connection", lambda addr, *a, **k: opened.append(addr) or real(addr, *a, **k))
    status, error, detail = n.post(f"http://receiver.example:{hits.port}/x", {}, b"{}")
    assert status == 200, (error, detail)
    assert status == 200 and len(calls) == 1 and opened == [("127.0.0.1", hits.port)]
    assert hits.got == ["/x"]


def test_a_trickling_receiver_hits_the_total_deadline():
    hits = Hits(trickle=0.2)  # a byte every 0.2 s: never a per-read timeout
    n = notes(notify_allow="127.0.0.1/32", notify_deadline_seconds=1.5)
    status, error, _ = n.post(f"http://127.0.0.1:{hits.port}/slow", {}, b"{}")
    assert (status, error) == (None, "timeout")


def test_one_namespace_at_its_limit_does_not_hold_another():
    n = notes(notify_per_namespace=1)
    with n._lock:
        n._in_flight["slow"] = 1
        n._push(("slow", "r", "x", "1"), 0.0)
        n._push(("fast", "r", "x", "2"), 1.0)
        n._heap.clear()
        n._push(("slow", "r", "x", "1"), 0.0)
        n._push(("fast", "r", "x", "2"), 0.0)
        assert n._next() == ("fast", "r", "x", "2")
        assert n._next() is None  # slow waits for its namespace's delivery to end
        assert len(n._heap) == 1
