"""The runtime-input calls of `Kube` (contract/run_inputs.py): send requests
(FlowRunInput: create, list, delete) and inbox pages (FlowRunInbox: get, create, a JSON
patch guarded by a `test`, and a watch of one page by name, which a run's Role allows by
resourceNames). Over our own transport, like the FlowRun calls."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..contract.constants import GROUP, VERSION
from ..contract.run_inputs import INBOX_PLURAL, INPUT_PLURAL
from .errors import Conflict, api_error
from .flowruns import FlowRunCalls
from .rest import HTTPError


class InputCalls(FlowRunCalls):
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
            raise api_error(exc) from None

    def list_inputs(self, namespace: str, selector: str | None = None,
                    not_older_than: str | None = None) -> list[dict[str, Any]]:
        """The send requests matching `selector`. With `not_older_than` (a resourceVersion
        a watch brought), the API server answers from its watch cache once that has
        caught up with it: a snapshot as complete as a quorum read up to that revision,
        without asking etcd for its current revision first."""
        query: dict[str, str | None] = {"labelSelector": selector}
        if not_older_than:
            query.update(resourceVersion=not_older_than, resourceVersionMatch="NotOlderThan")
        try:
            got = self.rest.request("GET", self._plural_path(INPUT_PLURAL, namespace), query=query)
        except HTTPError as exc:
            raise api_error(exc) from None
        return list(got.get("items", []))

    def delete_input(self, namespace: str, name: str) -> bool:
        try:
            self.rest.request("DELETE", self._plural_path(INPUT_PLURAL, namespace, name))
            return True
        except HTTPError as exc:
            if exc.status == 404:
                return False
            raise api_error(exc) from None

    def get_inbox(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get_or_none(self._plural_path(INBOX_PLURAL, namespace, name))

    def create_inbox(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create an inbox page; a KubeError 409 when it exists already."""
        try:
            return self.rest.request("POST", self._plural_path(INBOX_PLURAL, obj["metadata"]["namespace"]),
                                     body=dict(obj))
        except HTTPError as exc:
            raise api_error(exc) from None

    def patch_inbox(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
        """A JSON patch (RFC 6902) of an inbox page; a failed `test` op is a Conflict."""
        try:
            return self.rest.request("PATCH", self._plural_path(INBOX_PLURAL, namespace, name), body=ops,
                                     content_type="application/json-patch+json")
        except HTTPError as exc:
            err = api_error(exc)
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
                raise api_error(exc) from None
            items = got.get("items") or []
            return str(got["metadata"]["resourceVersion"]), [("MODIFIED", items[0] if items else {})]

        for kind, obj in self._watch(namespace, {"fieldSelector": f"metadata.name={name}"}, restart,
                                     stop=stop, server_timeout=server_timeout, on_connect=on_connect,
                                     path=path):
            yield None if (kind == "DELETED" or not obj) else obj
