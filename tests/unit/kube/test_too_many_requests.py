"""The API server says "not now" (429 from its priority and fairness limits, or a 5xx
with Retry-After): every call waits as asked and sends again, as client-go does, and a
runner's watch keeps trying to list instead of failing its flow. Seen in bench/scale.py
with 1,000 runners setting up their watches at once."""
from __future__ import annotations

import json
import threading

import pytest

from flowrun.kube import rest as transport
from flowrun.kube.client import Kube, KubeError
from flowrun.kube.rest import HTTPError, retry_after


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


class Stream:
    def __init__(self, events):
        self.data = b"".join(json.dumps(e).encode() + b"\n" for e in events)

    def stream(self, amt=None, decode_content=False):
        yield self.data

    def release_conn(self):
        pass


class ThrottledList:
    """The watch's first list is refused twice (after the transport's own retries)."""

    def __init__(self, refusals, status=429):
        self.refusals, self.status, self.lists = refusals, status, 0

    def request(self, method, path, query=None, **_):
        self.lists += 1
        if self.lists <= self.refusals:
            raise HTTPError(self.status, json.dumps({"reason": "TooManyRequests", "message": "slow down"}).encode())
        item = {"metadata": {"name": "r", "namespace": "ns", "resourceVersion": "5"}, "spec": {}}
        return {"metadata": {"resourceVersion": "10"}, "items": [item]}

    def stream(self, path, query, read_timeout):
        return Stream([{"type": "MODIFIED", "object": {"metadata": {"name": "r", "resourceVersion": "11"}}}])


def test_a_watch_whose_list_is_throttled_keeps_trying():
    kube = Kube.__new__(Kube)
    kube.rest = ThrottledList(refusals=2)
    seen = []
    for got in kube.watch_flowrun("ns", "r", stop=threading.Event(), server_timeout=5):
        seen.append(got["metadata"]["resourceVersion"])
        if len(seen) == 2:
            break
    assert seen == ["5", "11"] and kube.rest.lists == 3


def test_a_watch_refused_for_good_still_says_so():
    kube = Kube.__new__(Kube)
    kube.rest = ThrottledList(refusals=1, status=403)
    with pytest.raises(KubeError) as refused:
        next(kube.watch_flowrun("ns", "r", stop=threading.Event(), server_timeout=5))
    assert refused.value.status == 403
