"""The access reviews of `Kube`: may this user (an admission request's) or this caller
(`kubectl auth can-i`) do a thing, and who the caller is."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import urllib3

from .rest import HTTPError, RestCalls


class AccessCalls(RestCalls):
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
