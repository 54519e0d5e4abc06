"""The API server says "not now" (429 from its priority and fairness limits, or a 5xx
with Retry-After): every call waits as asked and sends again, as client-go does (a
watch's list refused even so: test_watch_errors.py). Seen in bench/scale.py with 1,000
runners setting up their watches at once."""
from __future__ import annotations

import pytest

from flowrun.kube import rest as transport
from flowrun.kube.rest import retry_after


class Resp:
    def __init__(self, status, headers=None):
        self.status, self.headers, self.released = status, headers or {}, False

    def drain_conn(self):
        pass

    def release_conn(self):
        self.released = True


@pytest.mark.parametrize("status, headers, wait", [
    (429, {}, 1.0), (429, {"Retry-After": "3"}, 3.0), (429, {"Retry-After": "600"}, 10.0),
    (429, {"Retry-After": "soon"}, 1.0), (503, {"Retry-After": "2"}, 2.0),
    (503, {}, None), (500, {}, None), (409, {}, None), (200, {}, None), (404, {"Retry-After": "1"}, None),
])
def test_when_to_send_again(status, headers, wait):
    assert retry_after(Resp(status, headers)) == wait


def client(monkeypatch, answers):
    sent, slept = [], []
    rest = transport.Transport.__new__(transport.Transport)
    rest._send_once = lambda send, content_type: send({})
    monkeypatch.setattr(transport.time, "sleep", slept.append)

    def send(headers):
        sent.append(1)
        return answers.pop(0)
    return rest, send, sent, slept


def test_a_throttled_call_is_sent_again_after_the_wait_asked(monkeypatch):
    first = Resp(429, {"Retry-After": "2"})
    rest, send, sent, slept = client(monkeypatch, [first, Resp(429), Resp(201)])
    assert rest._send(send).status == 201
    assert len(sent) == 3 and slept == [2.0, 1.0] and first.released


def test_it_gives_up_after_ten_retries(monkeypatch):
    rest, send, sent, slept = client(monkeypatch, [Resp(429) for _ in range(20)])
    assert rest._send(send).status == 429
    assert len(sent) == 11 and len(slept) == 10


def test_other_answers_are_not_retried(monkeypatch):
    rest, send, sent, slept = client(monkeypatch, [Resp(409), Resp(201)])
    assert rest._send(send).status == 409 and len(sent) == 1 and slept == []
