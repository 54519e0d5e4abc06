"""An in-memory Kubernetes API with the semantics our decisions rely on, for unit and
property tests of the operator and runner shells (never a stand-in for the e2e tests).

What it keeps faithful to the real API server:
- resourceVersion: one counter for the whole store, bumped on every write; a patch
  carrying `metadata.resourceVersion` applies only if it still matches (409 otherwise);
- generation: bumped when a write of the main resource changes `spec` (not metadata,
  not status), as for a CRD with the status subresource;
- the status subresource: a patch of /status changes only `status`; a patch of the main
  resource ignores `status`;
- JSON merge patch (RFC 7386): null deletes, objects merge, lists replace;
- deletion: objects go at once (no finalizers are modelled), a deleted Job's pods go with it;
- runtime inputs: FlowRunInputs (generateName, label selectors `k=v` and `k in (a,b)`) and
  FlowRunInbox pages (a JSON patch whose failed `test` is a Conflict; a watch of one page
  by name, None while it does not exist); `whoami` answers the client's `user`.

`FakeKube` subclasses the real `flowrun.kube.Kube`, so `update_flowrun` (our
compare-and-swap loop) is the production code running against this store.
"""
from __future__ import annotations

import copy
import itertools
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from flowrun.contract.audit import stamp
from flowrun.contract.lifecycle.vocabulary import Refusal, denial_text
from flowrun.kube import Conflict, Kube, KubeError


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


_names = itertools.count(1)


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rv = itertools.count(1)
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.writes = 0
        # (kind, verb) -> callable(obj) raising KubeError, to inject refusals
        self.refuse: dict[tuple[str, str], Callable[[dict[str, Any]], None]] = {}
        # The admission webhook of FlowRun updates: (old, new, user) -> error messages.
        # Its mutating half stamps who changed the spec, as contract/audit.py says.
        self.admission: Callable[[dict[str, Any], dict[str, Any], str], list[str]] | None = None
        self.created: dict[tuple[str, str, str], int] = {}

    def bump(self, obj: dict[str, Any]) -> None:
        obj["metadata"]["resourceVersion"] = str(next(self.rv))
        self.writes += 1
        self.changed.notify_all()


class FakeKube(Kube):
    """The one door to the API, over an in-memory store (see the module docstring)."""

    def __init__(self, store: Store | None = None, *, user: str = "") -> None:  # noqa: D107
        self.store = store or Store()
        self.timeout = 1.0
        self.user = user

    # ---- FlowRuns ----------------------------------------------------------------------

    def _key(self, kind: str, namespace: str, name: str) -> tuple[str, str, str]:
        return (kind, namespace, name)

    def get_flowrun(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self.store.lock:
            obj = self.store.objects.get(self._key("FlowRun", namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def list_flowruns(self, namespace: str | None = None, selector: str | None = None) -> list[dict[str, Any]]:
        return self._list("FlowRun", namespace, selector)

    def create_flowrun(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(dict(body))
        obj.setdefault("kind", "FlowRun")
        obj.setdefault("spec", {}).setdefault("state", "Running")
        return self._create(obj, namespace)

    def delete_flowrun(self, namespace: str, name: str) -> bool:
        return self.delete("FlowRun", namespace, name)

    def patch_flowrun(self, namespace: str, name: str, patch: Mapping[str, Any], *,
                      resource_version: str | None = None, status: bool = False) -> dict[str, Any]:
        with self.store.lock:
            refuse = self.store.refuse.get(("FlowRun", "status" if status else "patch"))
            key = self._key("FlowRun", namespace, name)
            obj = self.store.objects.get(key)
            if obj is None:
                raise KubeError(404, "NotFound", f"flowruns {name!r} not found")
            if resource_version is not None and obj["metadata"]["resourceVersion"] != resource_version:
                raise Conflict(409, "Conflict", "the object has been modified")
            new = copy.deepcopy(obj)
            if status:
                new["status"] = merge_patch(obj.get("status") or {}, dict(patch).get("status") or {})
            else:
                body = {k: v for k, v in dict(patch).items() if k != "status"}
                meta = {k: v for k, v in (body.get("metadata") or {}).items() if k != "resourceVersion"}
                if meta:
                    new["metadata"] = merge_patch(new["metadata"], meta)
                if "spec" in body:
                    new["spec"] = merge_patch(obj.get("spec") or {}, body["spec"])
                if self.store.admission is not None:
                    errors = self.store.admission(copy.deepcopy(obj), copy.deepcopy(new), self.user)
                    if errors:
                        raise KubeError(422, "Invalid", "admission webhook denied the request: "
                                        + denial_text(errors, Refusal.NOT_ALLOWED))
                # As the real mutating webhook does (contract/audit.py): a client's own
                # stamp is undone; a spec change is stamped with its user and generation.
                annotations = new["metadata"].setdefault("annotations", {})
                for key_, value in stamp(new, obj, self.user).items():
                    if value is None:
                        annotations.pop(key_, None)
                    else:
                        annotations[key_] = value
                if new.get("spec") != obj.get("spec"):
                    new["metadata"]["generation"] = int(obj["metadata"].get("generation") or 1) + 1
            if refuse is not None:
                refuse(new)
            if new == obj:
                return copy.deepcopy(obj)  # a no-op write changes nothing, not even the version
            self.store.bump(new)
            self.store.objects[key] = new
            return copy.deepcopy(new)

    def watch_flowrun(self, namespace: str, name: str, *, stop: threading.Event | None = None, **_: Any):
        """The object now, then again after every change; Gone when it is deleted."""
        from flowrun.kube import Gone
        seen = None
        while not (stop and stop.is_set()):
            with self.store.lock:
                obj = self.store.objects.get(self._key("FlowRun", namespace, name))
                if obj is None:
                    raise Gone(f"FlowRun {namespace}/{name} was deleted")
                if obj["metadata"]["resourceVersion"] == seen:
                    self.store.changed.wait(0.05)
                    continue
                seen = obj["metadata"]["resourceVersion"]
                current = copy.deepcopy(obj)
            yield current

    # ---- other kinds -------------------------------------------------------------------

    def _create(self, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        with self.store.lock:
            meta = obj.setdefault("metadata", {})
            if namespace:
                meta.setdefault("namespace", namespace)
            key = self._key(obj["kind"], meta["namespace"], meta["name"])
            refuse = self.store.refuse.get((obj["kind"], "create"))
            if refuse is not None:
                refuse(obj)
            if key in self.store.objects:
                raise Conflict(409, "AlreadyExists", f"{obj['kind']} {meta['name']!r} already exists")
            meta["uid"] = str(uuid.uuid4())
            meta["generation"] = 1
            self.store.created[key] = self.store.created.get(key, 0) + 1
            meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
            self.store.bump(obj)
            self.store.objects[key] = obj
            return copy.deepcopy(obj)

    def create(self, obj: Mapping[str, Any], *, adopt_existing: bool = True) -> dict[str, Any]:
        try:
            return self._create(copy.deepcopy(dict(obj)))
        except Conflict:
            if adopt_existing:
                existing = self.get(obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"])
                if existing is not None:
                    return existing
            raise

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self.store.lock:
            obj = self.store.objects.get(self._key(kind, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def _list(self, kind: str, namespace: str | None, selector: str | None) -> list[dict[str, Any]]:
        wanted = dict(part.split("=", 1) for part in (selector or "").split(",") if "=" in part)
        with self.store.lock:
            out = []
            for (k, ns, _), obj in sorted(self.store.objects.items()):
                if k != kind or (namespace and ns != namespace):
                    continue
                labels = obj["metadata"].get("labels") or {}
                if all(labels.get(a) == b for a, b in wanted.items()):
                    out.append(copy.deepcopy(obj))
            return out

    def list(self, kind: str, namespace: str, selector: str | None = None) -> list[dict[str, Any]]:
        return self._list(kind, namespace, selector)

    def delete(self, kind: str, namespace: str, name: str, *, propagation: str = "Background",
               grace_period_seconds: int | None = None) -> bool:
        """Delete at once; a Job's pods are marked terminating (they keep running until
        the test lets them end, as a pod in its grace period does)."""
        with self.store.lock:
            obj = self.store.objects.pop(self._key(kind, namespace, name), None)
            if obj is None:
                return False
            self.store.writes += 1
            self.store.changed.notify_all()
            if kind == "Job":
                for key, pod in list(self.store.objects.items()):
                    if key[0] == "Pod" and key[1] == namespace and \
                            (pod["metadata"].get("labels") or {}).get("job-name") == name:
                        pod["metadata"].setdefault("deletionTimestamp", "2026-01-01T00:00:00Z")
                        self.store.bump(pod)
            return True

    def put(self, obj: dict[str, Any]) -> None:
        """Test helper: store an object as given (e.g. a pod the kubelet would run)."""
        with self.store.lock:
            meta = obj["metadata"]
            meta.setdefault("uid", str(uuid.uuid4()))
            self.store.bump(obj)
            self.store.objects[self._key(obj["kind"], meta["namespace"], meta["name"])] = copy.deepcopy(obj)

    # ---- runtime inputs (kube/inputs.py) -----------------------------------------------

    def whoami(self) -> dict[str, Any]:
        return {"username": self.user}

    def create_input(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        body = copy.deepcopy(dict(obj))
        meta = body.setdefault("metadata", {})
        if not meta.get("name"):
            meta["name"] = f"{meta.get('generateName') or 'input-'}{next(_names):05d}"
        return self._create(body)

    def list_inputs(self, namespace: str, selector: str | None = None,
                    not_older_than: str | None = None) -> list[dict[str, Any]]:
        key, _, values = (selector or "").partition(" in (")
        if values:
            wanted = set(values.rstrip(")").split(","))
            return [i for i in self._list("FlowRunInput", namespace, None)
                    if (i["metadata"].get("labels") or {}).get(key) in wanted]
        return self._list("FlowRunInput", namespace, selector)

    def delete_input(self, namespace: str, name: str) -> bool:
        return self.delete("FlowRunInput", namespace, name)

    def get_inbox(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get("FlowRunInbox", namespace, name)

    def create_inbox(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        return self._create(copy.deepcopy(dict(obj)))

    def patch_inbox(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
        with self.store.lock:
            obj = self.store.objects.get(self._key("FlowRunInbox", namespace, name))
            if obj is None:
                raise KubeError(404, "NotFound", f"flowruninboxes {name!r} not found")
            spec = copy.deepcopy(obj["spec"])
            for op in ops:
                field = op["path"].split("/")[2]
                if op["op"] == "test" and spec.get(field) != op["value"]:
                    raise Conflict(409, "Conflict", f"test of {op['path']} failed")
                if op["op"] == "add":
                    spec[field].append(copy.deepcopy(op["value"]))
                elif op["op"] == "replace":
                    spec[field] = op["value"]
            obj["spec"] = spec
            self.store.bump(obj)
            return copy.deepcopy(obj)

    def watch_inbox(self, namespace: str, name: str, *, stop: threading.Event | None = None,
                    on_connect: Callable[[Any], None] | None = None, **_: Any):
        """The page now (None while it does not exist), then again after every change."""
        seen: str | None = ""
        while not (stop and stop.is_set()):
            with self.store.lock:
                obj = self.store.objects.get(self._key("FlowRunInbox", namespace, name))
                version = obj["metadata"]["resourceVersion"] if obj is not None else None
                if version == seen:
                    self.store.changed.wait(0.05)
                    continue
                seen = version
                current = copy.deepcopy(obj) if obj is not None else None
            yield current

    def get_notifier(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get("FlowRunNotifier", namespace, name)

    def patch_notifier_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> dict[str, Any]:
        with self.store.lock:
            obj = self.store.objects.get(self._key("FlowRunNotifier", namespace, name))
            if obj is None:
                raise KubeError(404, "NotFound", f"FlowRunNotifier {name!r} not found")
            obj["status"] = merge_patch(obj.get("status") or {}, dict(status))
            self.store.bump(obj)
            return copy.deepcopy(obj)

    def emit_event(self, involved: Mapping[str, Any], reason: str, message: str, *,
                   type_: str = "Normal", component: str = "flowrun-operator") -> None:
        self.store.events.append({"name": involved.get("metadata", {}).get("name"), "reason": reason,
                                  "message": message, "type": type_})
