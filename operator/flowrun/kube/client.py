"""The one door to the Kubernetes API. Every room (runner, SDK, controller, CLI) talks to
the API server through `Kube`, never through the client library directly, so the
handling of absence (404), conflicts (409) and watch reconnects is written once.

Objects go in and come out as plain JSON dicts exactly as the API serves them
(camelCase), never as the client library's generated models.

What this module must never do: decide anything about a FlowRun's life. It moves bytes;
the contract and the controller decide.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import urllib3

from ..contract.constants import GROUP, LABEL_RUN, NOTIFIER_PLURAL, PLURAL, VERSION
from ..contract.run_inputs import INBOX_PLURAL, INPUT_PLURAL
from .rest import Endpoint, HTTPError, Transport, in_pod, lines, observe_request

log = logging.getLogger(__name__)


class KubeError(RuntimeError):
    """An API call failed in a way the caller cannot fix by retrying."""

    def __init__(self, status: int, reason: str, message: str, details: Any = None):
        super().__init__(message or reason)
        self.status = status
        self.reason = reason
        self.message = message or reason
        self.details = details


def webhook_unreachable(exc: BaseException) -> bool:
    """The API server refused a write because it could not reach an admission webhook
    (failurePolicy Fail while no replica answers): a 500 that goes away by itself."""
    return isinstance(exc, KubeError) and exc.status == 500 and "failed calling webhook" in (exc.message or "")


class Conflict(KubeError):
    """409: the object changed since it was read (or already exists)."""


class Gone(Exception):
    """The watched object was deleted."""


def _pause(stop: threading.Event | None, failures: int) -> None:
    """A watch's backoff before it tries again: 0.2 s doubling to 5 s."""
    if stop:
        stop.wait(min(0.1 * 2 ** failures, 5.0))
    else:
        time.sleep(min(0.1 * 2 ** failures, 5.0))


def _error(exc: Any) -> KubeError:
    """A KubeError from the client library's ApiException or our transport's HTTPError."""
    reason, message, details = getattr(exc, "reason", "") or "", "", None
    try:
        body = json.loads(exc.body or "{}")
        reason = body.get("reason", reason)
        message = body.get("message", "")
        details = body.get("details")
    except (ValueError, TypeError):
        message = str(exc.body or "")
    cls = Conflict if exc.status == 409 else KubeError
    return cls(exc.status or 0, reason, message, details)


def _json(resp: Any) -> dict[str, Any]:
    return json.loads(resp.data or b"{}")


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


# kind -> (API group attribute, method suffix). Only kinds the project touches.
_KINDS: dict[str, tuple[str, str]] = {
    "Job": ("batch", "namespaced_job"),
    "Pod": ("core", "namespaced_pod"),
    "PersistentVolumeClaim": ("core", "namespaced_persistent_volume_claim"),
    "ServiceAccount": ("core", "namespaced_service_account"),
    "ConfigMap": ("core", "namespaced_config_map"),
    "Secret": ("core", "namespaced_secret"),
    "Event": ("core", "namespaced_event"),
    "Role": ("rbac", "namespaced_role"),
    "RoleBinding": ("rbac", "namespaced_role_binding"),
}


class Kube:
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
    def _api_exception() -> type[Exception]:
        from kubernetes.client.exceptions import ApiException
        return ApiException

    @staticmethod
    def _path(namespace: str | None, name: str | None = None, status: bool = False) -> str:
        path = f"/apis/{GROUP}/{VERSION}"
        if namespace:
            path += f"/namespaces/{namespace}"
        path += f"/{PLURAL}"
        if name:
            path += f"/{name}"
        if status:
            path += "/status"
        return path

    def _get_or_none(self, path: str) -> dict[str, Any] | None:
        """GET `path`: the object, or None when the API server says 404."""
        try:
            return self.rest.request("GET", path)
        except HTTPError as exc:
            if exc.status == 404:
                return None
            raise _error(exc) from None

    # ---- FlowRunNotifiers ------------------------------------------------------------

    def get_notifier(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get_or_none(f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{NOTIFIER_PLURAL}/{name}")

    def patch_notifier_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> dict[str, Any]:
        """JSON merge patch of a notifier's status subresource."""
        try:
            return self.rest.request(
                "PATCH", f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{NOTIFIER_PLURAL}/{name}/status",
                body={"status": dict(status)}, content_type="application/merge-patch+json")
        except HTTPError as exc:
            raise _error(exc) from None

    # ---- FlowRuns --------------------------------------------------------------------

    def get_flowrun(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get_or_none(self._path(namespace, name))

    def list_flowruns(
        self, namespace: str | None = None, selector: str | None = None
    ) -> list[dict[str, Any]]:
        try:
            got = self.rest.request("GET", self._path(namespace), query={"labelSelector": selector})
        except HTTPError as exc:
            raise _error(exc) from None
        return list(got.get("items", []))

    def create_flowrun(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return self.rest.request("POST", self._path(namespace), body=dict(body))
        except HTTPError as exc:
            raise _error(exc) from None

    def delete_flowrun(self, namespace: str, name: str) -> bool:
        try:
            self.rest.request("DELETE", self._path(namespace, name))
            return True
        except HTTPError as exc:
            if exc.status == 404:
                return False
            raise _error(exc) from None

    def patch_flowrun(
        self, namespace: str, name: str, patch: Mapping[str, Any], *,
        resource_version: str | None = None, status: bool = False,
    ) -> dict[str, Any]:
        """JSON merge patch of the object (or of its status subresource). With
        `resource_version`, the patch applies only if nobody changed the object since:
        otherwise Conflict."""
        body = dict(patch)
        if resource_version:
            body["metadata"] = {**dict(body.get("metadata") or {}),
                                "resourceVersion": resource_version}
        try:
            return self.rest.request("PATCH", self._path(namespace, name, status), body=body,
                                     content_type="application/merge-patch+json")
        except HTTPError as exc:
            raise _error(exc) from None

    def update_flowrun(
        self,
        namespace: str,
        name: str,
        decide: Callable[[dict[str, Any]], tuple[dict | None, dict | None] | None],
        *,
        attempts: int = 20,
        main_first: bool = False,
        current: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Compare-and-swap: read the FlowRun, ask `decide(obj)` for (spec_patch,
        status_patch) (either may be None; None overall means nothing to do), apply them
        guarded by the resourceVersion read, and start over on a conflict.

        The status patch goes first, then the object patch (guarded by the version the
        status patch produced), so a decision is never applied against a stale read;
        `main_first` swaps the order.
        `current`: the object as the caller last saw it (a watch event, a cache): the
        first decision is taken on it without a GET; if it was stale, the guarded patch
        conflicts and the loop re-reads, so a stale copy costs a retry, never a wrong write.
        Returns the object as last written or read, or None when it does not exist.
        """
        for attempt in range(attempts):
            given = current is not None
            obj, current = (current, None) if given else (self.get_flowrun(namespace, name), None)
            if obj is None:
                return None
            decision = decide(obj)
            if decision is None:
                return obj
            main_patch, status_patch = decision
            try:
                rv = obj["metadata"]["resourceVersion"]
                if main_first and main_patch:
                    obj = self.patch_flowrun(namespace, name, main_patch, resource_version=rv)
                    rv = obj["metadata"]["resourceVersion"]
                if status_patch:
                    obj = self.patch_flowrun(namespace, name, {"status": status_patch},
                                             resource_version=rv, status=True)
                    rv = obj["metadata"]["resourceVersion"]
                if main_patch and not main_first:
                    obj = self.patch_flowrun(namespace, name, main_patch, resource_version=rv)
                return obj
            except Conflict:
                if not given:  # a stale copy of the caller's: re-read at once
                    time.sleep(min(0.02 * (attempt + 1), 0.5))
        raise KubeError(409, "Conflict", f"FlowRun {namespace}/{name} kept changing; gave up")

    def watch_flowrun(
        self,
        namespace: str,
        name: str,
        *,
        stop: threading.Event | None = None,
        server_timeout: int = 300,
        on_connect: Callable[[Any], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield the FlowRun now and then again on every change, blocking in between.

        One object, by a name field selector (which RBAC authorises with resourceNames).
        Survives server-side watch timeouts, dropped connections and 410 Gone (expired
        resourceVersion) by re-reading and re-watching. Raises Gone when it is deleted.
        `on_connect(response)` lets another thread close the stream to stop it.
        """
        def restart() -> tuple[str, list[tuple[str, dict[str, Any]]]]:
            # A list by name, not a get: the watch starts at the list's resourceVersion
            # (now). The object's own may be older than the API server keeps (410 Gone),
            # and watching from it again would loop.
            try:
                got = self.rest.request("GET", self._path(namespace),
                                        query={"fieldSelector": f"metadata.name={name}"})
            except HTTPError as exc:
                raise _error(exc) from None
            items = got.get("items") or []
            if not items:
                raise Gone(f"FlowRun {namespace}/{name} no longer exists")
            return got["metadata"]["resourceVersion"], [("MODIFIED", items[0])]

        for kind, obj in self._watch(namespace, {"fieldSelector": f"metadata.name={name}"}, restart,
                                     stop=stop, server_timeout=server_timeout, on_connect=on_connect):
            if kind == "DELETED":
                raise Gone(f"FlowRun {namespace}/{name} was deleted")
            yield obj

    def watch_flowruns(
        self, namespace: str | None = None, selector: str | None = None, *,
        stop: threading.Event | None = None, server_timeout: int = 300, relist: bool = False,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(type, object) for every change of the FlowRuns of a namespace (None: all),
        from now on; ("RESYNC", {"items": [...]}) first and whenever changes may have been
        missed (an expired resourceVersion): with `relist` the whole list, read at the
        resourceVersion the watch continues from (an informer's list-then-watch);
        without, no items (the caller reads what it needs)."""
        def restart() -> tuple[str, list[tuple[str, dict[str, Any]]]]:
            try:
                got = self.rest.request("GET", self._path(namespace), query={
                    "labelSelector": selector, "limit": None if relist else 1})
            except HTTPError as exc:
                raise _error(exc) from None
            items = list(got.get("items") or []) if relist else []
            return got["metadata"]["resourceVersion"], [("RESYNC", {"items": items})]

        yield from self._watch(namespace, {"labelSelector": selector}, restart, stop=stop,
                               server_timeout=server_timeout)

    def _watch(
        self, namespace: str | None, query: Mapping[str, Any],
        restart: Callable[[], tuple[str, list[tuple[str, dict[str, Any]]]]], *,
        stop: threading.Event | None, server_timeout: int,
        on_connect: Callable[[Any], None] | None = None, path: str | None = None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """The watch loop under both: `restart()` gives a resourceVersion to watch from
        and the events to report first; called again after a 410 Gone."""
        rv: str | None = None
        failures = 0
        while not (stop and stop.is_set()):
            if rv is None:
                try:
                    rv, first = restart()
                except KubeError as exc:
                    if exc.status < 429:  # refused for good (401, 403, 404...)
                        raise
                    # still refused after the transport's own retries (429, 5xx): keep trying
                    log.info("listing %s to watch it failed (%s); retrying", namespace, exc)
                    failures += 1
                    _pause(stop, failures)
                    continue
                yield from first
            resp = None
            try:
                resp = self.rest.stream(path or self._path(namespace), query={
                    **query, "watch": "true",
                    "resourceVersion": rv, "allowWatchBookmarks": "true",
                    "timeoutSeconds": server_timeout}, read_timeout=server_timeout + 30)
                if on_connect:
                    on_connect(resp)
                for line in lines(resp):
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        code = obj.get("code")
                        if code == 410:  # our resourceVersion expired
                            rv = None
                            break
                        if code in (401, 403, 404):
                            raise KubeError(code, obj.get("reason", ""), obj.get("message", "watch error"))
                        # The API server's own trouble, e.g. "storage is (re)initializing"
                        # while its watch cache of the resource restarts (a CRD applied
                        # again): reconnect with backoff, as client-go's reflector does.
                        log.info("watch of %s ended by the API server: %s", namespace, obj.get("message"))
                        failures += 1
                        break
                    rv = obj.get("metadata", {}).get("resourceVersion", rv)
                    failures = 0
                    if kind == "BOOKMARK":
                        continue
                    yield kind, obj
            except HTTPError as exc:
                if exc.status == 410:
                    rv = None
                    continue
                if exc.status in (401, 403, 404):
                    raise _error(exc) from None
                failures += 1
            except (Gone, KubeError):
                raise
            except Exception as exc:  # noqa: BLE001
                # A dropped or closed connection surfaces as many types (urllib3 errors,
                # OSError, even AttributeError on a closed response): reconnect.
                if stop and stop.is_set():
                    return
                log.debug("watch of %s interrupted: %r", namespace, exc)
                failures += 1
            finally:
                if resp is not None:
                    resp.release_conn()
            if failures:
                _pause(stop, failures)  # reconnect backoff (not a poll: a healthy watch blocks)

    # ---- runtime inputs: send requests (FlowRunInput) and inbox pages (FlowRunInbox) ----

    @staticmethod
    def _plural_path(plural: str, namespace: str, name: str | None = None) -> str:
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}"
        return f"{path}/{name}" if name else path

    def create_input(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Send an input: create the FlowRunInput (the response holds only it)."""
        try:
            return self.rest.request("POST", self._plural_path(INPUT_PLURAL, obj["metadata"]["namespace"]),
                                     body=dict(obj))
        except HTTPError as exc:
            raise _error(exc) from None

    def list_inputs(self, namespace: str, selector: str | None = None) -> list[dict[str, Any]]:
        try:
            got = self.rest.request("GET", self._plural_path(INPUT_PLURAL, namespace),
                                    query={"labelSelector": selector})
        except HTTPError as exc:
            raise _error(exc) from None
        return list(got.get("items", []))

    def delete_input(self, namespace: str, name: str) -> bool:
        try:
            self.rest.request("DELETE", self._plural_path(INPUT_PLURAL, namespace, name))
            return True
        except HTTPError as exc:
            if exc.status == 404:
                return False
            raise _error(exc) from None

    def get_inbox(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get_or_none(self._plural_path(INBOX_PLURAL, namespace, name))

    def create_inbox(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create an inbox page; Conflict when it exists already."""
        try:
            return self.rest.request("POST", self._plural_path(INBOX_PLURAL, obj["metadata"]["namespace"]),
                                     body=dict(obj))
        except HTTPError as exc:
            raise _error(exc) from None

    def patch_inbox(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
        """A JSON patch (RFC 6902) of an inbox page; a failed `test` op is a Conflict."""
        try:
            return self.rest.request("PATCH", self._plural_path(INBOX_PLURAL, namespace, name), body=ops,
                                     content_type="application/json-patch+json")
        except HTTPError as exc:
            err = _error(exc)
            if err.status == 422 and "test" in (err.message or "").lower():
                raise Conflict(409, "Conflict", err.message, err.details) from None
            raise err from None

    def watch_inbox(
        self, namespace: str, name: str, *, stop: threading.Event | None = None,
        server_timeout: int = 300, on_connect: Callable[[Any], None] | None = None,
    ) -> Iterator[dict[str, Any] | None]:
        """Yield an inbox page now (None while it does not exist) and on every change,
        blocking in between; one object, by a name field selector (resourceNames)."""
        path = self._plural_path(INBOX_PLURAL, namespace)

        def restart() -> tuple[str, list[tuple[str, dict[str, Any]]]]:
            try:
                got = self.rest.request("GET", path, query={"fieldSelector": f"metadata.name={name}"})
            except HTTPError as exc:
                raise _error(exc) from None
            items = got.get("items") or []
            return got["metadata"]["resourceVersion"], [("MODIFIED", items[0] if items else {})]

        for kind, obj in self._watch(namespace, {"fieldSelector": f"metadata.name={name}"}, restart,
                                     stop=stop, server_timeout=server_timeout, on_connect=on_connect,
                                     path=path):
            yield None if (kind == "DELETED" or not obj) else obj

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
            raise _error(exc) from None

    # ---- other kinds -----------------------------------------------------------------

    def _method(self, verb: str, kind: str) -> Callable[..., Any]:
        try:
            group, suffix = _KINDS[kind]
        except KeyError:
            raise ValueError(f"kind {kind!r} is not handled by flowrun.kube") from None
        return getattr(self._api(group), f"{verb}_{suffix}")

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
            raise _error(exc) from None

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return _json(self._method("read", kind)(
                name, namespace, _preload_content=False, _request_timeout=self.timeout))
        except self._api_exception() as exc:
            if exc.status == 404:
                return None
            raise _error(exc) from None

    def list(self, kind: str, namespace: str, selector: str | None = None) -> list[dict[str, Any]]:
        try:
            resp = self._method("list", kind)(
                namespace, label_selector=selector, _preload_content=False,
                _request_timeout=self.timeout)
        except self._api_exception() as exc:
            raise _error(exc) from None
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
            raise _error(exc) from None

    def can_create_pods(self, namespace: str, userinfo: Mapping[str, Any]) -> tuple[bool, str]:
        """Whether the user described by an admission request's `userinfo` may create pods
        in `namespace` (see `may`)."""
        return self.may(userinfo, namespace, "create", "pods")

    def may(self, userinfo: Mapping[str, Any], namespace: str, verb: str, resource: str,
            group: str = "", name: str = "") -> tuple[bool, str]:
        """Ask the API server (a SubjectAccessReview) whether the user described by an
        admission request's `userinfo` may `verb` the `resource` (custom verbs too, such
        as `resume` on flowruns). Returns (allowed, the API server's reason). Any
        failure to ask counts as "no"."""
        attributes = {"namespace": namespace, "verb": verb, "resource": resource, "group": group}
        if name:
            attributes["name"] = name
        review = {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {
                "user": userinfo.get("username", ""),
                "uid": userinfo.get("uid", ""),
                "groups": list(userinfo.get("groups") or []),
                "extra": {k: list(v) for k, v in (userinfo.get("extra") or {}).items()},
                "resourceAttributes": attributes,
            },
        }
        try:
            got = self.rest.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                                    body=review)
        except (HTTPError, urllib3.exceptions.HTTPError, OSError) as exc:
            return False, f"could not ask the API server: {exc}"
        status = got.get("status") or {}
        return bool(status.get("allowed")), status.get("reason", "") or status.get("evaluationError", "")

    def whoami(self) -> dict[str, Any]:
        """The caller's own user name and groups, as the API server sees them
        (a SelfSubjectReview: `kubectl auth whoami`)."""
        got = self.rest.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", body={
            "apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        return dict((got.get("status") or {}).get("userInfo") or {})

    def i_may(self, namespace: str, verb: str, resource: str, group: str = "", name: str = "") -> bool:
        """Whether the caller may `verb` the resource (a SelfSubjectAccessReview: `kubectl
        auth can-i`). Any failure to ask counts as "no"."""
        attributes = {"namespace": namespace, "verb": verb, "resource": resource, "group": group}
        if name:
            attributes["name"] = name
        try:
            got = self.rest.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body={
                "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": attributes}})
        except (HTTPError, urllib3.exceptions.HTTPError, OSError):
            return False
        return bool((got.get("status") or {}).get("allowed"))

    def flowrun_pods(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """The pods of a FlowRun's Jobs (label flowrun.io/run=<name>), oldest first."""
        try:
            got = self.rest.request("GET", f"/api/v1/namespaces/{namespace}/pods",
                                    query={"labelSelector": f"{LABEL_RUN}={name}"})
        except HTTPError as exc:
            raise _error(exc) from None
        pods = list(got.get("items", []))
        return sorted(pods, key=lambda p: (p.get("metadata", {}).get("creationTimestamp") or "",
                                           p.get("metadata", {}).get("name", "")))

    def get_config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A ConfigMap (None when absent), through our transport (a person's Kube too)."""
        return self._get_or_none(f"/api/v1/namespaces/{namespace}/configmaps/{name}")

    def flowrun_events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """The Events about a FlowRun (`kubectl describe fr NAME`), oldest first."""
        try:
            got = self.rest.request("GET", f"/api/v1/namespaces/{namespace}/events", query={
                "fieldSelector": f"involvedObject.name={name},involvedObject.kind=FlowRun"})
        except HTTPError as exc:
            raise _error(exc) from None
        return sorted(got.get("items", []), key=lambda e: (
            e.get("lastTimestamp") or e.get("eventTime") or e.get("metadata", {}).get("creationTimestamp") or ""))

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
            raise _error(exc) from None

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
