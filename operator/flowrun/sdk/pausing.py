"""pause_flow_run, suspend_flow_run, resume_flow_run: Prefect's names and defaults.

Inside a flow, pause blocks the process until resumed; suspend stops the flow so the
operator can tear the Job down (a resume runs it again from the top, and this call then
returns at once). From any Python process with a kube config, resume_flow_run and
suspend_flow_run(flow_run_id=...) change a FlowRun the way `kubectl patch` would.
"""
from __future__ import annotations

import os
from typing import Any, TypeVar, overload

import pydantic

from ..contract.constants import DEFAULT_PAUSE_TIMEOUT
from ..contract import transitions
from ..contract.phases import InvalidTransition, PauseKind, Phase, State
from ..kube import Kube
from .context import RunContext, require_flow_context
from .inputs import as_run_input

T = TypeVar("T")



def _key(ctx: RunContext, key: str | None) -> str:
    # One counter for pause and suspend calls, like Prefect: pause-1, pause-2, ...
    index = ctx.next_index("pause")
    return key if key is not None else f"pause-{index}"


def _finish(model_info: tuple[type[pydantic.BaseModel], bool] | None, data: Any) -> Any:
    if model_info is None:
        return None
    model, unwrap = model_info
    instance = model.model_validate(data or {})
    return instance.value if unwrap else instance  # type: ignore[attr-defined]


def _pause(kind: PauseKind, what: str, wait_for_input: Any, timeout: int | None, key: str | None,
           suspend_after: int | None = None) -> Any:
    ctx = require_flow_context(what)
    pause_key = _key(ctx, key)
    model_info = as_run_input(wait_for_input) if wait_for_input is not None else None
    if ctx.live is None:
        raise RuntimeError(
            f"{what}() needs a FlowRun: this flow runs locally. Start it on the cluster "
            "with `kubectl apply` or `flowrun run` to pause and resume it.")
    data = ctx.live.pause(pause_key, kind=kind, timeout=timeout,
                          model=model_info[0] if model_info else None, suspend_after=suspend_after)
    return _finish(model_info, data)


@overload
def pause_flow_run(wait_for_input: None = None, timeout: int = DEFAULT_PAUSE_TIMEOUT,
                   key: str | None = None, suspend_after: int | None = None) -> None: ...


@overload
def pause_flow_run(wait_for_input: type[T], timeout: int = DEFAULT_PAUSE_TIMEOUT,
                   key: str | None = None, suspend_after: int | None = None) -> T: ...


def pause_flow_run(wait_for_input: Any = None, timeout: int = DEFAULT_PAUSE_TIMEOUT,
                   key: str | None = None, suspend_after: int | None = None) -> Any:
    """Pause the flow here; the pod stays alive and this call returns when the run is
    resumed (`spec.state: Running`). With `wait_for_input=Model` it returns the Model
    built from the resume's input. After `timeout` seconds without a resume, the run
    fails ("paused and never resumed"). With `suspend_after=SECONDS`, a pause that waited
    that long becomes a suspension of the same pause (its pod is freed; resuming works
    exactly the same, the flow then runs again from the top to this call)."""
    if timeout is None:
        raise ValueError("pause_flow_run needs a timeout (a paused pod holds resources); "
                         "use suspend_flow_run(timeout=None) to wait without limit")
    return _pause(PauseKind.PAUSE, "pause_flow_run", wait_for_input, timeout, key, suspend_after)


@overload
def suspend_flow_run(wait_for_input: None = None, flow_run_id: str | None = None,
                     timeout: int | None = DEFAULT_PAUSE_TIMEOUT, key: str | None = None,
                     namespace: str | None = None) -> None: ...


@overload
def suspend_flow_run(wait_for_input: type[T], flow_run_id: str | None = None,
                     timeout: int | None = DEFAULT_PAUSE_TIMEOUT, key: str | None = None,
                     namespace: str | None = None) -> T: ...


def suspend_flow_run(wait_for_input: Any = None, flow_run_id: str | None = None,
                     timeout: int | None = DEFAULT_PAUSE_TIMEOUT, key: str | None = None,
                     namespace: str | None = None) -> Any:
    """Suspend: stop the flow and let the operator delete its Job. Resuming starts a
    new Job that runs the flow from the top; finished tasks return cached results and
    this call returns at once (with the resume's input when `wait_for_input` is given).
    `timeout=None` waits forever. With `flow_run_id=`, suspend another FlowRun."""
    if flow_run_id is not None:
        _client_patch(flow_run_id, namespace, {"spec": {"state": State.SUSPENDED.value}})
        return None
    return _pause(PauseKind.SUSPEND, "suspend_flow_run", wait_for_input, timeout, key)


class ResumeError(ValueError):
    """A resume that cannot be done as asked (not paused, invalid input...)."""


def _namespace(namespace: str | None) -> str:
    if namespace:
        return namespace
    if os.environ.get("FLOWRUN_NAMESPACE"):
        return os.environ["FLOWRUN_NAMESPACE"]
    try:
        from kubernetes import config as k8s_config
        _, active = k8s_config.list_kube_config_contexts()
        return active.get("context", {}).get("namespace") or "default"
    except Exception:
        return "default"


def _client_patch(name: str, namespace: str | None, patch: dict[str, Any]) -> dict[str, Any]:
    kube = Kube()
    return kube.patch_flowrun(_namespace(namespace), name, patch)


def resume_flow_run(flow_run_id: str, run_input: Any = None, namespace: str | None = None) -> None:
    """Resume a paused or suspended FlowRun, optionally with input for its
    `wait_for_input`. The input is checked against the stored schema first."""
    kube = Kube()
    ns = _namespace(namespace)
    if isinstance(run_input, pydantic.BaseModel):
        run_input = run_input.model_dump(mode="json")

    def decide(obj: dict[str, Any]):
        phase = (obj.get("status") or {}).get("phase")
        state = (obj.get("spec") or {}).get("state")
        if state == State.RUNNING.value and phase not in (Phase.PAUSED.value, Phase.SUSPENDED.value):
            raise ResumeError(f"FlowRun {flow_run_id} is not paused or suspended (phase {phase})")
        try:
            return transitions.user_change(obj, State.RUNNING, data=run_input), None
        except transitions.InputRefused as exc:
            raise ResumeError(f"input for FlowRun {flow_run_id} is invalid: {exc}") from None
        except InvalidTransition as exc:
            raise ResumeError(f"FlowRun {flow_run_id}: {exc}") from None

    if kube.update_flowrun(ns, flow_run_id, decide) is None:
        raise ResumeError(f"FlowRun {ns}/{flow_run_id} not found")


def cancel_flow_run(flow_run_id: str, reason: str | None = None, namespace: str | None = None) -> None:
    """Cancel a FlowRun from any live phase (paused and suspended included): its Job is
    deleted (a live runner runs the flow's on_cancellation hooks first), its linked
    subflows are cancelled, and it ends Cancelled with `reason` in its message."""
    kube = Kube()
    ns = _namespace(namespace)

    def decide(obj: dict[str, Any]):
        if (obj.get("spec") or {}).get("state") == State.CANCELLED.value:
            return None
        try:
            return transitions.user_change(obj, State.CANCELLED, reason=reason), None
        except InvalidTransition as exc:
            raise ResumeError(f"FlowRun {flow_run_id}: {exc}") from None

    if kube.update_flowrun(ns, flow_run_id, decide) is None:
        raise ResumeError(f"FlowRun {ns}/{flow_run_id} not found")
