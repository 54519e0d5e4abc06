"""A watch survives the API server ending it with an error of its own (its watch cache
reinitialising after a CRD is applied again): it reconnects from where it was, as
client-go's reflector does, instead of failing the runner's flow."""
from __future__ import annotations

import json
import threading

import pytest

from flowrun.kube.client import Kube, KubeError
from flowrun.kube.rest import HTTPError


class Stream:
    def __init__(self, events):
        self.data = b"".join(json.dumps(e).encode() + b"\n" for e in events)

    def stream(self, amt=None, decode_content=False):
        yield self.data

    def release_conn(self):
        pass


class Rest:
    def __init__(self, streams):
        self.streams, self.queries = list(streams), []

    def request(self, method, path, query=None, **_):
        item = {"metadata": {"name": "r", "namespace": "ns", "resourceVersion": "5"}, "spec": {}}
        return {"metadata": {"resourceVersion": "10"}, "items": [item]}

    def stream(self, path, query, read_timeout):
        self.queries.append(dict(query))
        return Stream(self.streams.pop(0))


def obj(rv):
    return {"metadata": {"name": "r", "namespace": "ns", "resourceVersion": rv}, "spec": {"state": "Running"}}


def test_an_error_event_of_the_api_server_reconnects_from_the_same_place():
    kube = Kube.__new__(Kube)
    kube.rest = Rest([
        [{"type": "MODIFIED", "object": obj("11")},
         {"type": "ERROR", "object": {"kind": "Status", "code": 500, "message": "storage is (re)initializing"}}],
        [{"type": "MODIFIED", "object": obj("12")}],
    ])
    stop = threading.Event()
    seen = []
    for got in kube.watch_flowrun("ns", "r", stop=stop, server_timeout=5):
        seen.append(got["metadata"]["resourceVersion"])
        if len(seen) == 3:
            break
    assert seen == ["5", "11", "12"]  # the list's copy, then both changes: nothing raised
    assert [q["resourceVersion"] for q in kube.rest.queries] == ["10", "11"]  # no relist


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


class Counted(Rest):
    def __init__(self, streams):
        super().__init__(streams)
        self.lists = 0

    def request(self, method, path, query=None, **_):
        self.lists += 1
        return super().request(method, path, query)


def test_a_watch_from_a_copy_just_read_makes_no_read_of_its_own():
    """The runner's watch starts at the resourceVersion of the FlowRun it has just read
    (issue 27: a read fewer per run); an expired one (410) is read again, as always."""
    kube = Kube.__new__(Kube)
    kube.rest = Counted([[{"type": "MODIFIED", "object": obj("8")}]])
    first = next(iter(kube.watch_flowrun("ns", "r", since="7", server_timeout=5)))
    seen = [first["metadata"]["resourceVersion"]]
    assert seen == ["8"] and kube.rest.lists == 0
    assert kube.rest.queries[0]["resourceVersion"] == "7"

    kube.rest = Counted([[{"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old"}}],
                         [{"type": "MODIFIED", "object": obj("11")}]])
    seen = []
    for got in kube.watch_flowrun("ns", "r", since="3", server_timeout=5):
        seen.append(got["metadata"]["resourceVersion"])
        if len(seen) == 2:
            break
    assert seen == ["5", "11"] and kube.rest.lists == 1  # the list's copy after the 410, then the change
    assert [q["resourceVersion"] for q in kube.rest.queries] == ["3", "10"]
