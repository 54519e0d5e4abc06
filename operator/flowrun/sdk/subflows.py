"""run_flow: start another flow as its own FlowRun from inside a flow, and wait for it.

The child's name is deterministic (parent name and uid + call key, contract/children.py),
so a parent re-executed after a suspension finds the child it already started instead of
starting another, while a parent re-applied under the same name (a new uid) never adopts
its predecessor's child.
A linked child (`as_subflow=True`) is owned by the parent: deleting, suspending or
cancelling the parent does the same to it, and it cannot be suspended on its own. The
parent's pod never reads the child: the operator copies the child's phase and result
into the parent's `status.subflows`, which the parent already watches. Once the
parent's runner has the result on its volume, it drops it from the status (and lists
the child in `status.subflowsReceived`), so a parent of many subflows stays small.
"""
from __future__ import annotations

from typing import Any

from ..contract.children import child_name
from ..contract.instances import carried
from ..contract.constants import API_VERSION, KIND, LABEL_PARENT, LABEL_STARTED_BY, LABEL_STARTED_BY_UID
from ..contract.phases import Phase
from ..kube import Conflict
from .context import require_flow_context
from .flows import Flow
from .live import raise_if_finished

class SubflowFailed(RuntimeError):
    """The child FlowRun ended Failed."""


def flow_reference(flow: Flow | str) -> str:
    if isinstance(flow, str):
        return flow
    fn: Any = getattr(flow, "fn", flow)
    return f"{fn.__module__}:{fn.__qualname__}"


def run_flow(flow: Flow | str, parameters: dict[str, Any] | None = None, *, as_subflow: bool = True,
             timeout: float | None = None, key: str | None = None) -> Any:
    """Run `flow` (a @flow or "module:function") as a child FlowRun and return its
    result. Raises SubflowFailed if it fails. `timeout` (seconds) bounds the wait."""
    ctx = require_flow_context("run_flow")
    index = ctx.next_index("subflow")
    if ctx.live is None:  # local run: just call it
        target = flow if isinstance(flow, Flow) else None
        if target is None:
            raise RuntimeError("run_flow with a flow reference string needs a FlowRun")
        return target(**(parameters or {}))
    live = ctx.live
    parent = live.latest
    uid = parent["metadata"]["uid"]
    name = child_name(ctx.name, uid, key or f"sub-{index}")
    stored = ctx.cache.read(ctx.cache.subflow_path(name))
    if stored is not None:  # received before this re-execution
        return stored.value
    meta: dict[str, Any] = {"name": name, "labels": {(LABEL_PARENT if as_subflow else LABEL_STARTED_BY): ctx.name,
                                                      **carried(parent)}}
    if not as_subflow:
        meta["labels"][LABEL_STARTED_BY_UID] = uid
    else:
        meta["ownerReferences"] = [{"apiVersion": API_VERSION, "kind": KIND, "name": ctx.name,
                                    "uid": parent["metadata"]["uid"], "controller": True,
                                    "blockOwnerDeletion": False}]
    spec: dict[str, Any] = {"flow": flow_reference(flow), "parameters": parameters or {}}
    if (parent.get("spec") or {}).get("image"):
        spec["image"] = parent["spec"]["image"]
    try:
        live.kube.create_flowrun(ctx.namespace, {"apiVersion": API_VERSION, "kind": KIND,
                                                 "metadata": meta, "spec": spec})
    except Conflict:
        pass  # re-executed after a suspension: the child exists already (the name has our uid)

    def finished(obj: dict[str, Any]):
        raise_if_finished(obj, live.attempt)
        child = ((obj.get("status") or {}).get("subflows") or {}).get(name) or {}
        phase = child.get("phase")
        if phase == Phase.COMPLETED.value and child.get("resultPending"):
            return None  # the operator copies it once the parent's status has room
        return child if phase and Phase(phase).terminal else None

    child = live.wait_until(finished, timeout=timeout)
    if child is None:
        raise TimeoutError(f"subflow {name} did not finish within {timeout} s")
    if child["phase"] == Phase.FAILED.value:
        raise SubflowFailed(f"subflow {name} failed: {child.get('message', '')}")
    if child["phase"] == Phase.CANCELLED.value:
        raise SubflowFailed(f"subflow {name} was cancelled: {child.get('message', '')}")
    result = child.get("result")
    ctx.cache.write(ctx.cache.subflow_path(name), result)
    live.received_subflow(name)
    return result
