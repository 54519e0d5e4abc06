"""The FlowRun calls of `Kube` (and FlowRunNotifiers'): CRUD with 404/409 semantics,
the compare-and-swap update every decision is applied with, the resilient watches, and
what a run's page shows (its pods and Events). All over our own transport (rest.py), so
a runner pod never loads the kubernetes client library."""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..contract.constants import GROUP, LABEL_RUN, NOTIFIER_PLURAL, PLURAL, VERSION
from .errors import Conflict, Gone, KubeError, api_error, backoff
from .rest import HTTPError, RestCalls, lines

log = logging.getLogger("flowrun.kube.client")


class FlowRunCalls(RestCalls):
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
            raise api_error(exc) from None

    # ---- FlowRuns --------------------------------------------------------------------

    def get_flowrun(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get_or_none(self._path(namespace, name))

    def list_flowruns(
        self, namespace: str | None = None, selector: str | None = None
    ) -> list[dict[str, Any]]:
        try:
            got = self.rest.request("GET", self._path(namespace), query={"labelSelector": selector})
        except HTTPError as exc:
            raise api_error(exc) from None
        return list(got.get("items", []))

    def create_flowrun(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return self.rest.request("POST", self._path(namespace), body=dict(body))
        except HTTPError as exc:
            raise api_error(exc) from None

    def delete_flowrun(self, namespace: str, name: str) -> bool:
        try:
            self.rest.request("DELETE", self._path(namespace, name))
            return True
        except HTTPError as exc:
            if exc.status == 404:
                return False
            raise api_error(exc) from None

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
            raise api_error(exc) from None

    def update_flowrun(
        self,
        namespace: str,
        name: str,
        decide: Callable[[dict[str, Any]], tuple[dict[str, Any] | None, dict[str, Any] | None] | None],
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
        since: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield the FlowRun now and then again on every change, blocking in between.

        One object, by a name field selector (which RBAC authorises with resourceNames).
        Survives server-side watch timeouts, dropped connections and 410 Gone (expired
        resourceVersion) by re-reading and re-watching. Raises Gone when it is deleted.
        `on_connect(response)` lets another thread close the stream to stop it.
        `since`: the resourceVersion of the copy the caller has just read: the watch
        starts there, without a read of its own (it yields the changes after that copy,
        not the copy again); an expired one is read again, as above.
        """
        def restart() -> tuple[str, list[tuple[str, dict[str, Any]]]]:
            # A list by name, not a get: the watch starts at the list's resourceVersion
            # (now). The object's own may be older than the API server keeps (410 Gone),
            # and watching from it again would loop.
            try:
                got = self.rest.request("GET", self._path(namespace),
                                        query={"fieldSelector": f"metadata.name={name}"})
            except HTTPError as exc:
                raise api_error(exc) from None
            items = got.get("items") or []
            if not items:
                raise Gone(f"FlowRun {namespace}/{name} no longer exists")
            return got["metadata"]["resourceVersion"], [("MODIFIED", items[0])]

        for kind, obj in self._watch(namespace, {"fieldSelector": f"metadata.name={name}"}, restart,
                                     stop=stop, server_timeout=server_timeout, on_connect=on_connect,
                                     since=since):
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
                raise api_error(exc) from None
            items = list(got.get("items") or []) if relist else []
            return got["metadata"]["resourceVersion"], [("RESYNC", {"items": items})]

        yield from self._watch(namespace, {"labelSelector": selector}, restart, stop=stop,
                               server_timeout=server_timeout)

    def _watch(
        self, namespace: str | None, query: Mapping[str, Any],
        restart: Callable[[], tuple[str, list[tuple[str, dict[str, Any]]]]], *,
        stop: threading.Event | None, server_timeout: int,
        on_connect: Callable[[Any], None] | None = None, path: str | None = None,
        since: str | None = None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """The watch loop under both: `restart()` gives a resourceVersion to watch from
        and the events to report first; called again after a 410 Gone (and first, unless
        `since` gives one). `path`: another collection than the namespace's FlowRuns
        (inbox pages, kube/inputs.py)."""
        rv: str | None = since or None
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
                    backoff(stop, failures)
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
                    raise api_error(exc) from None
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
                backoff(stop, failures)  # reconnect backoff (not a poll: a healthy watch blocks)

    # ---- what a run's page shows ------------------------------------------------------

    def flowrun_pods(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """The pods of a FlowRun's Jobs (label flowrun.io/run=<name>), oldest first."""
        try:
            got = self.rest.request("GET", f"/api/v1/namespaces/{namespace}/pods",
                                    query={"labelSelector": f"{LABEL_RUN}={name}"})
        except HTTPError as exc:
            raise api_error(exc) from None
        pods = list(got.get("items", []))
        return sorted(pods, key=lambda p: (p.get("metadata", {}).get("creationTimestamp") or "",
                                           p.get("metadata", {}).get("name", "")))

    def flowrun_events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """The Events about a FlowRun (`kubectl describe fr NAME`), oldest first."""
        try:
            got = self.rest.request("GET", f"/api/v1/namespaces/{namespace}/events", query={
                "fieldSelector": f"involvedObject.name={name},involvedObject.kind=FlowRun"})
        except HTTPError as exc:
            raise api_error(exc) from None
        return sorted(got.get("items", []), key=lambda e: (
            e.get("lastTimestamp") or e.get("eventTime") or e.get("metadata", {}).get("creationTimestamp") or ""))
