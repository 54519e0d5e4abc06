"""The one door to the Kubernetes API. Every room (runner, SDK, controller, CLI) talks to
the API server through `Kube`, never through the client library directly, so the
handling of absence (404), conflicts (409) and watch reconnects is written once.

Objects go in and come out as plain JSON dicts exactly as the API serves them
(camelCase), never as the client library's generated models.

Its parts: errors.py (what a call fails with), rest.py (our own small transport),
flowruns.py (FlowRun and FlowRunNotifier calls: CRUD, compare-and-swap, watches),
access.py (access reviews, whoami); here, `Kube` puts them together with the other kinds
(through the client library), leases, logs and Events.

What this module must never do: decide anything about a FlowRun's life. It moves bytes;
the contract and the controller decide.
"""
from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import urllib3

from ..contract.lifecycle.vocabulary import KINDS
from .access import AccessCalls
from .errors import Conflict, Gone, KubeError, api_error, webhook_unreachable
from .flowruns import FlowRunCalls
from .inputs import InputCalls
from .rest import Endpoint, HTTPError, Transport, in_pod, lines, observe_request

log = logging.getLogger(__name__)
__all__ = ["Conflict", "Gone", "Kube", "KubeError", "context_namespace", "load_api_client", "webhook_unreachable"]


def _json(resp: Any) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(resp.data or b"{}")
    return answer


def _kubeconfig_file(kubeconfig: str | None) -> str | None:
    """The kubeconfig to read: the one given, else the first of KUBECONFIG, read now (the
    client library's default is frozen when it is first imported); None: its default."""
    return kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None


def load_api_client(kubeconfig: str | None = None) -> Any:
    """A kubernetes.client.ApiClient: in-cluster config inside a pod, else the kubeconfig
    (KUBECONFIG or ~/.kube/config). Imports the client library (heavy) on first use."""
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config
    if kubeconfig is None and in_pod():
        configuration = k8s.Configuration()
        k8s_config.load_incluster_config(client_configuration=configuration)
    else:
        configuration = k8s.Configuration()
        k8s_config.load_kube_config(config_file=_kubeconfig_file(kubeconfig), client_configuration=configuration)
    # Fail fast instead of urllib3's silent retries; callers decide what to retry.
    configuration.retries = False
    return k8s.ApiClient(configuration)


def context_namespace(kubeconfig: str | None = None) -> str:
    """The namespace of the kubeconfig's current context ("default" when it names none,
    or when there is no kubeconfig). Inside a pod: the pod's own namespace."""
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
                return f.read().strip() or "default"
        except OSError:
            pass
    from kubernetes import config as k8s_config
    try:
        _, active = k8s_config.list_kube_config_contexts(config_file=_kubeconfig_file(kubeconfig))
    except Exception:  # noqa: BLE001 - no or unreadable kubeconfig: the API call will say
        return "default"
    return (active or {}).get("context", {}).get("namespace") or "default"


# The client library's API object by API group, for the kinds of contract's KINDS that
# go through it (FlowRuns and notifiers go through our own transport).
_CLIENT_APIS = {"": "core", "batch": "batch", "rbac.authorization.k8s.io": "rbac"}


def _client_method(kind: str) -> tuple[str, str]:
    """(API object, method suffix) of the client library for a kind: ("core",
    "namespaced_persistent_volume_claim"); KeyError for a kind it does not handle."""
    group = KINDS[kind].group
    return _CLIENT_APIS[group], "namespaced_" + re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower()


class Kube(InputCalls, FlowRunCalls, AccessCalls):
    """Thin, synchronous wrapper over the Kubernetes API. Thread-safe for calls.

    FlowRun requests go through a small transport of our own (see rest.py); other kinds
    through the `kubernetes` client library, which is imported only when first needed,
    so a runner pod (which only touches its FlowRun) never loads it."""

    def __init__(self, api_client: Any = None, *, timeout: float = 30.0, kubeconfig: str | None = None,
                 endpoint: Endpoint | None = None):
        """`kubeconfig`: a kubeconfig file to use (else in-cluster config inside a pod,
        else KUBECONFIG or ~/.kube/config); `endpoint`: exactly this one (see as_person)."""
        self.timeout = timeout
        self._api_client = api_client
        if endpoint is not None:
            pass
        elif api_client is None and kubeconfig is None and in_pod():
            endpoint = Endpoint.in_cluster()
        else:
            self._api_client = api_client or load_api_client(kubeconfig)
            # A token that expires (exec plugin, OIDC) is refreshed: asked for on every
            # request, and reloaded from the kubeconfig after a 401.
            endpoint = Endpoint.from_configuration(
                self._api_client.configuration,
                reload=None if api_client is not None else lambda: load_api_client(kubeconfig).configuration)
        self.rest = Transport(endpoint, timeout=timeout)
        self._apis: dict[str, Any] = {}

    def as_person(self, *, token: str | None = None, user: str | None = None,
                  groups: tuple[str, ...] = ()) -> "Kube":
        """This API server as a person (the web UI in the cluster): their own bearer
        token, or our credentials impersonating `user` and `groups`. FlowRun, pod, log
        and Event calls only (no client library behind it)."""
        return Kube(endpoint=self.rest.endpoint.as_person(token=token, user=user, groups=groups),
                    timeout=self.timeout)

    @property
    def api_client(self) -> Any:
        if self._api_client is None:
            self._api_client = load_api_client()
        return self._api_client

    def _api(self, group: str) -> Any:
        if group not in self._apis:
            from kubernetes import client as k8s
            cls = {"core": k8s.CoreV1Api, "batch": k8s.BatchV1Api,
                   "rbac": k8s.RbacAuthorizationV1Api}[group]
            client = self.api_client
            rest = client.rest_client  # the library's one door (its url carries the query)
            if not getattr(rest, "_flowrun_observed", False):  # count its requests too
                sent = rest.request

                def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
                    observe_request(method, url)
                    return sent(method, url, *args, **kwargs)
                rest.request = request
                rest._flowrun_observed = True
            self._apis[group] = cls(client)
        return self._apis[group]

    @property
    def core(self) -> Any:
        return self._api("core")

    @staticmethod
    def _api_exception() -> Any:  # the client library's ApiException (it has no types)
        from kubernetes.client.exceptions import ApiException
        return ApiException

    # ---- leases (leader election among replicas) ---------------------------------------

    @staticmethod
    def _lease_path(namespace: str, name: str | None = None) -> str:
        path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        return f"{path}/{name}" if name else path

    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get_or_none(self._lease_path(namespace, name))

    def write_lease(self, lease: Mapping[str, Any]) -> dict[str, Any]:
        """Create the Lease (no resourceVersion) or replace it guarded by the
        resourceVersion it carries: Conflict when someone else wrote it meanwhile."""
        meta = lease["metadata"]
        try:
            if meta.get("resourceVersion"):
                return self.rest.request("PUT", self._lease_path(meta["namespace"], meta["name"]), body=dict(lease))
            return self.rest.request("POST", self._lease_path(meta["namespace"]), body=dict(lease))
        except HTTPError as exc:
            raise api_error(exc) from None

    # ---- other kinds -----------------------------------------------------------------

    def _method(self, verb: str, kind: str) -> Callable[..., Any]:
        try:
            group, suffix = _client_method(kind)
        except KeyError:
            raise ValueError(f"kind {kind!r} is not handled by flowrun.kube") from None
        method: Callable[..., Any] = getattr(self._api(group), f"{verb}_{suffix}")
        return method

    def create(self, obj: Mapping[str, Any], *, adopt_existing: bool = True) -> dict[str, Any]:
        """Create an object; if one of that name exists already, return it instead
        (creation is idempotent by name)."""
        kind, meta = obj["kind"], obj["metadata"]
        try:
            resp = self._method("create", kind)(
                meta["namespace"], dict(obj), _preload_content=False,
                _request_timeout=self.timeout)
            return _json(resp)
        except self._api_exception() as exc:
            if exc.status == 409 and adopt_existing:
                existing = self.get(kind, meta["namespace"], meta["name"])
                if existing is not None:
                    return existing
            raise api_error(exc) from None

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return _json(self._method("read", kind)(
                name, namespace, _preload_content=False, _request_timeout=self.timeout))
        except self._api_exception() as exc:
            if exc.status == 404:
                return None
            raise api_error(exc) from None

    def list(self, kind: str, namespace: str, selector: str | None = None) -> list[dict[str, Any]]:
        try:
            resp = self._method("list", kind)(
                namespace, label_selector=selector, _preload_content=False,
                _request_timeout=self.timeout)
        except self._api_exception() as exc:
            raise api_error(exc) from None
        return list(_json(resp).get("items", []))

    def delete(
        self, kind: str, namespace: str, name: str, *, propagation: str = "Background",
        grace_period_seconds: int | None = None,
    ) -> bool:
        """Delete; False when it was already gone."""
        try:
            self._method("delete", kind)(
                name, namespace, propagation_policy=propagation,
                grace_period_seconds=grace_period_seconds,
                _preload_content=False, _request_timeout=self.timeout)
            return True
        except self._api_exception() as exc:
            if exc.status == 404:
                return False
            raise api_error(exc) from None

    def get_config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A ConfigMap (None when absent), through our transport (a person's Kube too)."""
        return self._get_or_none(f"/api/v1/namespaces/{namespace}/configmaps/{name}")

    def pod_log(
        self, namespace: str, pod: str, *, follow: bool = False, tail_lines: int | None = None,
        container: str | None = None,
    ) -> Any:
        """The pod's log: a str, or (follow=True) an iterator of lines."""
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
        query = {"follow": "true" if follow else None, "tailLines": tail_lines, "container": container}
        try:
            if not follow:
                return self.rest.text(path, query=query)
            return lines(self.rest.stream(path, query=query, read_timeout=None))
        except HTTPError as exc:
            if exc.status == 404:
                return iter(()) if follow else ""
            raise api_error(exc) from None

    def emit_event(
        self,
        involved: Mapping[str, Any],
        reason: str,
        message: str,
        *,
        type_: str = "Normal",
        component: str = "flowrun-operator",
    ) -> None:
        """Post a core/v1 Event about `involved` (as `kubectl describe` shows them).
        Never raises: an Event is a courtesy, not part of the run's state."""
        meta = involved.get("metadata", {})
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{meta.get('name', 'flowrun')}.{uuid.uuid4().hex[:12]}",
                "namespace": meta.get("namespace", "default"),
            },
            "involvedObject": {
                "apiVersion": involved.get("apiVersion", ""),
                "kind": involved.get("kind", ""),
                "name": meta.get("name", ""),
                "namespace": meta.get("namespace", ""),
                "uid": meta.get("uid", ""),
                "resourceVersion": meta.get("resourceVersion", ""),
            },
            "reason": reason,
            "message": message[:1024],
            "type": type_,
            "source": {"component": component},
            "reportingComponent": component,
            "reportingInstance": os.environ.get("HOSTNAME", component),
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            self.create(event, adopt_existing=False)
        except (KubeError, urllib3.exceptions.HTTPError, OSError) as exc:
            log.warning("could not post Event %s for %s: %s", reason, meta.get("name"), exc)
