"""Counting the operator's own API requests (flowrun_api_requests_total): every request
through the one door is named by verb and resource as Kubernetes names them."""
from __future__ import annotations

import pytest

from flowrun.kube.rest import describe_request


@pytest.mark.parametrize("method, url, expected", [
    ("GET", "https://h:6443/apis/flowrun.io/v1alpha1/namespaces/ns/flowruns/r", ("get", "flowruns")),
    ("GET", "/apis/flowrun.io/v1alpha1/namespaces/ns/flowruns?labelSelector=a%3Db", ("list", "flowruns")),
    ("GET", "/apis/flowrun.io/v1alpha1/flowruns?watch=true&resourceVersion=5", ("watch", "flowruns")),
    ("PATCH", "/apis/flowrun.io/v1alpha1/namespaces/ns/flowruns/r/status", ("patch", "flowruns/status")),
    ("POST", "/api/v1/namespaces/ns/events", ("create", "events")),
    ("GET", "/api/v1/namespaces/ns/pods?labelSelector=flowrun.io%2Frun", ("list", "pods")),
    ("DELETE", "/apis/batch/v1/namespaces/ns/jobs/r-1", ("delete", "jobs")),
    ("GET", "/api/v1/namespaces", ("list", "namespaces")),
    ("GET", "/api/v1/namespaces/ns", ("get", "namespaces")),
    ("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", ("create", "subjectaccessreviews")),
    ("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions?watch=true", ("watch", "customresourcedefinitions")),
])
def test_requests_are_named_by_verb_and_resource(method, url, expected):
    assert describe_request(method, url) == expected


def test_the_library_requests_are_counted_too(monkeypatch):
    """Kinds other than FlowRun go through the kubernetes library: its requests reach the
    observers as well, with their query string (a LIST is not taken for a GET)."""
    from kubernetes import client as k8s

    from flowrun.kube import rest
    from flowrun.kube.client import Kube
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(rest, "REQUEST_OBSERVERS", [lambda verb, resource: seen.append((verb, resource))])
    configuration = k8s.Configuration()
    configuration.host = "https://127.0.0.1:1"
    api_client = k8s.ApiClient(configuration)
    monkeypatch.setattr(api_client.rest_client, "request", lambda *a, **kw: (_ for _ in ()).throw(OSError("offline")))
    kube = Kube(api_client)
    with pytest.raises(OSError):
        kube.list("Job", "ns", "flowrun.io/run=r")
    assert seen == [("list", "jobs")]
