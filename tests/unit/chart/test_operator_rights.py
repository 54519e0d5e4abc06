"""The operator's rights, three ways, in seconds (no cluster): the API calls the code
makes, the table `flowrun.kube.calls` declares, and the RBAC `helm template` renders.

A call without a right fails here instead of as a 403 in production (the TTL deletion
did); a right without a call fails too (least privilege).
"""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from cluster.harness import helm_template
from flowrun.controller import resources
from flowrun.controller.settings import Settings
from flowrun.kube import calls
from flowrun.kube.client import Kube

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "flowrun-operator"
CONTROLLER = REPO / "operator" / "flowrun" / "controller"
SECURITY_DOC = REPO / "docs" / "security.md"
SA = "system:serviceaccount:flowrun-system:ci-flowrun-operator"

SAMPLE_RUN = {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun",
              "metadata": {"name": "r", "namespace": "n", "uid": "u"}, "spec": {"flow": "a:b"}}


def created_kinds() -> set[str]:
    """The kinds the controller creates with `Kube.create(obj)` (built by resources.py)."""
    objs = [*resources.runner_account(SAMPLE_RUN), resources.cache_claim(SAMPLE_RUN, Settings()),
            resources.job(SAMPLE_RUN, 1, Settings())]
    return {o["kind"] for o in objs}


def controller_calls() -> set[tuple[str, str | None, str]]:
    """(file:line, kind, method) of every `...kube.<method>(...)` call in the controller."""
    found = set()
    for path in sorted(CONTROLLER.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = ast.unparse(node.func.value)
            if not (owner == "kube" or owner.endswith(".kube") or owner.endswith("Kube()")):
                continue
            method = node.func.attr
            kind = None
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                kind = node.args[0].value
            found.add((f"{path.name}:{node.lineno}", kind, method))
    return found


def needed_by_code() -> dict[calls.Right, list[str]]:
    needed: dict[calls.Right, list[str]] = {}
    for where, kind, method in controller_calls():
        assert method in calls.METHOD_CALLS, f"{where}: Kube.{method} is not declared in flowrun/kube/calls.py"
        generic = any(res is None for _, res, _ in calls.METHOD_CALLS[method])
        if generic and kind is None:
            assert method == "create", (
                f"{where}: Kube.{method} with a kind that is not a literal: the rights test cannot "
                "know what it touches; pass the kind as a string literal")
            kinds = created_kinds()
        else:
            kinds = {kind}
        for k in kinds:
            for right in calls.rights_of(method, k if generic else None):
                needed.setdefault(right, []).append(where)
    for right in calls.KOPF_CALLS:
        needed.setdefault(right, []).append("kopf")
    return needed


def rendered_rights(*args: str) -> tuple[set[calls.Right], dict[str, set[calls.Right]]]:
    """(rights bound cluster-wide, rights bound by a Role in each namespace) of the
    chart's ServiceAccount, read from `helm template` and its bindings."""
    docs = helm_template(*args)
    roles = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d
             for d in docs if d["kind"] in ("Role", "ClusterRole")}
    cluster_rights: set[calls.Right] = set()
    namespaced: dict[str, set[calls.Right]] = {}
    for b in docs:
        if b["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(f"system:serviceaccount:{s.get('namespace')}:{s['name']}" == SA for s in b["subjects"]):
            continue
        ref = b["roleRef"]
        ns = b["metadata"].get("namespace") if ref["kind"] == "Role" else None
        role = roles[(ref["kind"], ns, ref["name"])]
        rights = {calls.Right(g, r, v) for rule in role["rules"] for g in rule["apiGroups"]
                  for r in rule["resources"] for v in rule["verbs"]}
        assert not any(rule.get("resourceNames") for rule in role["rules"])
        if b["kind"] == "ClusterRoleBinding":
            cluster_rights |= rights
        else:
            namespaced.setdefault(ns, set()).update(rights)
    return cluster_rights, namespaced


def test_every_call_of_the_code_is_declared_and_granted():
    granted = calls.granted()
    missing = {r: where for r, where in needed_by_code().items() if r not in granted}
    assert not missing, f"API calls without a right in OPERATOR_RIGHTS: {missing}"


def test_every_declared_right_is_used():
    """Least privilege: a right nobody needs is taken away (or its reason written here)."""
    needed = set(needed_by_code())
    # Held only so the operator may create each run's Role (RBAC escalation prevention).
    for obj in resources.runner_account(SAMPLE_RUN):
        if obj["kind"] == "Role":
            needed |= {calls.Right(g, r, v) for rule in obj["rules"] for g in rule["apiGroups"]
                       for r in rule["resources"] for v in rule["verbs"]}
    # The webhook's SubjectAccessReview (handlers.py -> Kube.can_create_pods).
    needed |= calls.rights_of("can_create_pods")
    unused = calls.granted() - needed
    assert not unused, f"declared rights no call needs: {sorted(unused)}"


def test_the_runs_role_is_within_the_operators_rights():
    """The API server lets the operator create a run's Role only with rights it holds."""
    for obj in resources.runner_account(SAMPLE_RUN):
        if obj["kind"] == "Role":
            for rule in obj["rules"]:
                for g in rule["apiGroups"]:
                    for r in rule["resources"]:
                        for v in rule["verbs"]:
                            assert calls.Right(g, r, v) in calls.granted(), (g, r, v)


def own_namespace_rights() -> set[calls.Right]:
    """Granted only in the operator's own namespace (the leader-election Lease)."""
    return {calls.Right(r.group, r.resource, v) for r in calls.OPERATOR_RIGHTS if r.own_namespace for v in r.verbs}


@pytest.mark.parametrize("notifications", [False, True])
def test_cluster_wide_chart_grants_exactly_the_declared_rights(notifications):
    """Secrets (and notifiers) only with notifications.enabled (off by default); the Lease
    only in the operator's own namespace."""
    cluster_rights, namespaced = rendered_rights(*(["--set", "notifications.enabled=true"] if notifications else []))
    own = own_namespace_rights()
    wanted = calls.granted(notifications) - own
    assert namespaced == {"flowrun-system": own}
    assert cluster_rights == wanted, (
        f"chart grants more: {sorted(cluster_rights - wanted)}; chart lacks: {sorted(wanted - cluster_rights)}")
    assert (calls.Right("", "secrets", "get") in cluster_rights) is notifications


@pytest.mark.parametrize("notifications", [False, True])
def test_namespaced_chart_grants_exactly_the_declared_rights_in_each_namespace(notifications):
    cluster_rights, namespaced = rendered_rights("-f", str(CHART / "ci" / "namespaced-values.yaml"),
                                                 "--set", f"notifications.enabled={str(notifications).lower()}")
    wanted_cluster = {calls.Right(r.group, r.resource, v) for r in calls.OPERATOR_RIGHTS if r.cluster
                      for v in r.verbs}
    own = own_namespace_rights()
    wanted_ns = calls.granted(notifications) - wanted_cluster - own
    assert cluster_rights == wanted_cluster
    assert set(namespaced) == {"team-a", "team-b", "flowrun-system"}
    assert namespaced.pop("flowrun-system") == own
    for ns, rights in namespaced.items():
        assert rights == wanted_ns, (ns, sorted(rights ^ wanted_ns))


def test_every_method_of_the_kube_door_is_declared_with_the_verbs_it_sends():
    """Reads the door's source (client.py and the classes Kube is made of: flowruns.py,
    access.py): the HTTP verbs (and client-library calls) of each public method of Kube,
    including those of the Kube methods it calls, are covered by METHOD_CALLS."""
    http = {"GET": {"get", "list", "watch"}, "POST": {"create"}, "PUT": {"update"},
            "PATCH": {"patch"}, "DELETE": {"delete"}}
    library = {"read": {"get"}, "list": {"list"}, "create": {"create"}, "delete": {"delete"},
               "patch": {"patch"}, "replace": {"update"}}
    parts = [c for c in Kube.__mro__ if c.__module__.startswith("flowrun.kube.")]
    assert {c.__name__ for c in parts} >= {"Kube", "FlowRunCalls", "AccessCalls"}
    methods = {}
    for part in parts:
        tree = ast.parse(Path(inspect.getsourcefile(part)).read_text())
        cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == part.__name__)
        for f in cls.body:
            if isinstance(f, ast.FunctionDef) and not f.name.startswith("_") and f.name not in methods \
                    and not any(isinstance(d, ast.Name) and d.id in ("property", "staticmethod")
                                for d in f.decorator_list):
                methods[f.name] = f
    assert set(methods) == set(calls.METHOD_CALLS), (
        f"undeclared: {sorted(set(methods) - set(calls.METHOD_CALLS))}; "
        f"declared but gone: {sorted(set(calls.METHOD_CALLS) - set(methods))}")
    for name, fn in methods.items():
        declared = {verb for _, _, verb in calls.METHOD_CALLS[name]}
        for node in ast.walk(fn):
            if isinstance(node, ast.Constant) and node.value in http:
                assert declared & http[node.value], f"Kube.{name} sends {node.value}, declares {declared}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                attr = node.func.attr
                if attr == "_method" and node.args and isinstance(node.args[0], ast.Constant):
                    verb = node.args[0].value
                    assert declared & library[verb], f"Kube.{name} calls {verb}_*, declares {declared}"
                elif "_namespaced_" in attr:
                    assert declared & library[attr.split("_")[0]], f"Kube.{name} calls {attr}"
                elif attr in methods and attr != name and ast.unparse(node.func.value) == "self":
                    inner = {verb for _, _, verb in calls.METHOD_CALLS[attr]}
                    if attr == "create" and any(k.arg == "adopt_existing" and isinstance(k.value, ast.Constant)
                                                and k.value.value is False for k in node.keywords):
                        inner -= {"get"}  # no read-back of an existing object
                    assert inner <= declared, f"Kube.{name} calls self.{attr} ({inner}), declares {declared}"
    assert hasattr(Kube, "can_create_pods")


def test_security_doc_lists_every_right():
    text = SECURITY_DOC.read_text()
    for row in calls.OPERATOR_RIGHTS:
        group = row.group or "core"
        line = f"| `{group}` | `{row.resource}` | {', '.join(row.verbs)} |"
        assert line in text, f"docs/security.md lacks the row starting {line!r}"


def test_the_checker_finds_a_missing_right(monkeypatch):
    """The comparison can fail: drop the TTL's delete and it does."""
    rows = tuple(r._replace(verbs=tuple(v for v in r.verbs if v != "delete")) if r.resource == "flowruns" else r
                 for r in calls.OPERATOR_RIGHTS)
    monkeypatch.setattr(calls, "OPERATOR_RIGHTS", rows)
    with pytest.raises(AssertionError, match="delete"):
        test_every_call_of_the_code_is_declared_and_granted()
