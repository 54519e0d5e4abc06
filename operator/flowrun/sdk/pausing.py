"""pause_flow_run, suspend_flow_run, resume_flow_run: Prefect's names and defaults.

Inside a flow, pause blocks until resumed; suspend stops the flow so the operator can
tear the Job down (a resume runs it again from the top, and this call then returns at
once). From any Python process with a kube config, resume_flow_run and
suspend_flow_run(flow_run_id=...) change a FlowRun the way `kubectl patch` would; the
run is named by its name, or by its uid where the caller may list FlowRuns.

Like Prefect's, these functions are awaitable where an event loop runs: in an async
flow `await pause_flow_run(...)` waits in a worker thread (asyncio.to_thread, which
carries the run's context), so other coroutines keep running while the run is paused;
in a sync flow the plain call blocks.
"""
from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, TypeVar, overload

import pydantic

from ..contract.lifecycle.people import Plan
from ..contract.lifecycle.vocabulary import INPUT_REFUSALS, OnTimeout, Refusal, now
from ..contract.constants import DEFAULT_PAUSE_TIMEOUT
from ..contract.phases import PauseKind, Phase, State
from ..contract.status import keys_contain
from ..kube import Kube, KubeError, actions
from .context import RunContext, require_flow_context
from .inputs import as_run_input, description_of
from .watching import dual
from ..contract import approvals as approval_rules

T = TypeVar("T")
OnTimeoutChoice = Literal["fail", "resume", "cancel"]

_UID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
# How long resume_flow_run watches the run after its patch, for a refusal of the input
# by the flow's own validators (the run goes back to Paused with a message).
RESUME_WATCH_SECONDS = 5.0


def _key(ctx: RunContext, key: str | None) -> str:
    # One counter for pause and suspend calls, like Prefect: pause-1, pause-2, ...
    index = ctx.next_index("pause")
    return key if key is not None else f"pause-{index}"


def _finish(model_info: tuple[type[pydantic.BaseModel], bool] | None, instance: Any) -> Any:
    """What the pause returns: the input's model (validated once, by the runner), or its
    one value for `wait_for_input=int` and the like."""
    if model_info is None:
        return None
    _, unwrap = model_info
    return instance.value if unwrap else instance


def _on_timeout(what: str, on_timeout: Any, model: type[pydantic.BaseModel] | None) -> tuple[OnTimeout, Any]:
    """(the outcome, the input it resumes with): refused at the call, saying why, when
    it is not one of the three, or when "resume" has no complete defaults to resume with."""
    try:
        outcome = OnTimeout(on_timeout)
    except ValueError:
        raise ValueError(f"{what}(on_timeout=...) must be one of "
                         f"{', '.join(repr(o.value) for o in OnTimeout)}, not {on_timeout!r}") from None
    if outcome is not OnTimeout.RESUME or model is None:
        return outcome, None
    try:
        defaults = model.model_validate({})
    except pydantic.ValidationError as exc:
        missing = ", ".join(".".join(str(p) for p in e["loc"]) or "(input)" for e in exc.errors())
        raise ValueError(f"{what}(on_timeout='resume') resumes with the input's defaults, but "
                         f"{model.__name__} has no default for: {missing} (give each field a default, "
                         f"or use {model.__name__}.with_initial_data(...))") from None
    return outcome, defaults.model_dump(mode="json")


def _until(what: str, until: Any, wait_for_input: Any, on_timeout: Any) -> datetime | None:
    """The time a pause or suspension with `until=` continues by itself (UTC, to the
    second): a datetime (a naive one is the machine's local time) or seconds from now."""
    if until is None:
        return None
    if wait_for_input is not None or on_timeout != OnTimeout.FAIL.value:
        raise ValueError(f"{what}(until=...) continues the run by itself at that time, without input: it "
                         "takes no wait_for_input and no on_timeout (for a pause for input, use timeout= "
                         "and on_timeout='resume')")
    if isinstance(until, datetime):
        return until.astimezone(timezone.utc).replace(microsecond=0)
    if isinstance(until, (int, float)) and not isinstance(until, bool) and until >= 0:
        return now() + timedelta(seconds=math.ceil(until))
    raise TypeError(f"{what}(until=...) takes a datetime or a number of seconds, not {until!r}")


def _pause(kind: PauseKind, what: str, wait_for_input: Any, timeout: int | None, key: str | None,
           suspend_after: int | None = None, approval: dict[str, Any] | None = None,
           notify_message: str | None = None, on_timeout: Any = "fail", until: Any = None) -> Any:
    # The context and the pause key are taken now, in the caller's thread and order;
    # only the waiting may happen in a worker thread.
    until_at = _until(what, until, wait_for_input, on_timeout)
    model_info = as_run_input(wait_for_input) if wait_for_input is not None else None
    outcome, timeout_input = _on_timeout(what, on_timeout, model_info[0] if model_info else None)
    if outcome is not OnTimeout.FAIL and not timeout:
        raise ValueError(f"{what}(on_timeout={outcome.value!r}) needs a timeout: without one, "
                         "nobody answering never ends the wait")
    ctx = require_flow_context(what)
    pause_key = _key(ctx, key)
    if ctx.live is None:
        raise RuntimeError(
            f"{what}() needs a FlowRun: this flow runs locally. Start it on the cluster "
            "with `kubectl apply` or `flowrun run` to pause and resume it.")
    live = ctx.live
    model = model_info[0] if model_info else None
    extra: dict[str, Any] = {}
    if suspend_after is not None:
        extra["suspend_after"] = suspend_after
    if approval is not None:
        extra["approval"] = approval
    if description_of(model):
        extra["description"] = description_of(model)
    if notify_message:
        extra["notify_message"] = str(notify_message)
    if outcome is not OnTimeout.FAIL:
        extra["on_timeout"] = outcome
        extra["timeout_input"] = timeout_input
    if until_at is not None:
        extra["until"] = until_at

    def wait() -> Any:
        if kind is PauseKind.SUSPEND and ctx.task_runner is not None:
            ctx.task_runner.wait_idle()  # the Job is torn down next: let submitted tasks finish
        ctx.pause_began()
        try:
            data = live.pause(pause_key, kind=kind, timeout=timeout, model=model, as_model=True, **extra)
        finally:
            ctx.pause_ended()
        return _finish(model_info, data)

    return dual(wait)


@overload
def pause_flow_run(wait_for_input: None = None, timeout: int = DEFAULT_PAUSE_TIMEOUT,
                   poll_interval: int = 10, key: str | None = None,
                   suspend_after: int | None = None, approvers: Sequence[str] | None = None,
                   approvals: int = 1, allow_creator: bool = False,
                   notify_message: str | None = None, on_timeout: OnTimeoutChoice = "fail",
                   until: datetime | float | None = None, escalate_after: int | None = None,
                   escalate_to: Sequence[str] | None = None) -> None: ...


@overload
def pause_flow_run(wait_for_input: type[T], timeout: int = DEFAULT_PAUSE_TIMEOUT,
                   poll_interval: int = 10, key: str | None = None,
                   suspend_after: int | None = None, approvers: Sequence[str] | None = None,
                   approvals: int = 1, allow_creator: bool = False,
                   notify_message: str | None = None, on_timeout: OnTimeoutChoice = "fail",
                   until: datetime | float | None = None, escalate_after: int | None = None,
                   escalate_to: Sequence[str] | None = None) -> T: ...


def pause_flow_run(wait_for_input: Any = None, timeout: int = DEFAULT_PAUSE_TIMEOUT,
                   poll_interval: int = 10, key: str | None = None,
                   suspend_after: int | None = None, approvers: Sequence[str] | None = None,
                   approvals: int = 1, allow_creator: bool = False,
                   notify_message: str | None = None, on_timeout: OnTimeoutChoice = "fail",
                   until: datetime | float | None = None, escalate_after: int | None = None,
                   escalate_to: Sequence[str] | None = None) -> Any:
    """Pause the flow here; the pod stays alive and this call returns when the run is
    resumed (`spec.state: Running`). With `wait_for_input=Model` it returns the Model
    built from the resume's input. After `timeout` seconds without a resume, the run
    fails ("paused and never resumed"). `poll_interval` is accepted for Prefect's sake:
    the run is watched, not polled. With `suspend_after=SECONDS`, a pause that waited
    that long becomes a suspension of the same pause (its pod is freed; resuming works
    exactly the same, the flow then runs again from the top to this call). Awaitable in
    async flows.

    `approvers=["alice", "group:finance"]`: only those users (or members of those
    groups) may resume this pause; `approvals=N`: N distinct people must, the last one
    with the input; `allow_creator=True` lets the run's creator be one of them.
    `notify_message`: a line of text added to the notifications of this pause
    (FlowRunNotifier).

    `on_timeout`: what happens when nobody answers within `timeout`: "fail" (the
    default: the run fails), "resume" (the system resumes it with the input's defaults;
    refused here when the input type has a field without one) or "cancel" (the run ends
    Cancelled, saying nobody answered).

    `until=`: a datetime, or seconds from now: the run continues by itself at that time
    (no input; `timeout` is then not used); anyone who may resume it may do so earlier.

    `escalate_after=S, escalate_to=["carol", "group:managers"]` (with `approvers`): after
    S seconds without the approvals needed, those people may answer too (approvals
    given still count); the run says so (an `Escalated` Event, history, notification)."""
    if until is not None:
        return _pause(PauseKind.PAUSE, "pause_flow_run", wait_for_input, None, key, suspend_after,
                      approval_rules.request(approvers, approvals, allow_creator, escalate_after, escalate_to), notify_message,
                      on_timeout=on_timeout, until=until)
    if timeout is None:
        raise ValueError("pause_flow_run needs a timeout (a paused pod holds resources); "
                         "use suspend_flow_run(timeout=None) to wait without limit")
    return _pause(PauseKind.PAUSE, "pause_flow_run", wait_for_input, timeout, key, suspend_after,
                  approval_rules.request(approvers, approvals, allow_creator, escalate_after, escalate_to), notify_message, on_timeout=on_timeout)


@overload
def suspend_flow_run(wait_for_input: None = None, flow_run_id: str | None = None,
                     timeout: int | None = DEFAULT_PAUSE_TIMEOUT, key: str | None = None,
                     namespace: str | None = None, approvers: Sequence[str] | None = None,
                     approvals: int = 1, allow_creator: bool = False,
                   notify_message: str | None = None, on_timeout: OnTimeoutChoice = "fail",
                   until: datetime | float | None = None, escalate_after: int | None = None,
                   escalate_to: Sequence[str] | None = None) -> None: ...


@overload
def suspend_flow_run(wait_for_input: type[T], flow_run_id: str | None = None,
                     timeout: int | None = DEFAULT_PAUSE_TIMEOUT, key: str | None = None,
                     namespace: str | None = None, approvers: Sequence[str] | None = None,
                     approvals: int = 1, allow_creator: bool = False,
                   notify_message: str | None = None, on_timeout: OnTimeoutChoice = "fail",
                   until: datetime | float | None = None, escalate_after: int | None = None,
                   escalate_to: Sequence[str] | None = None) -> T: ...


def suspend_flow_run(wait_for_input: Any = None, flow_run_id: Any = None,
                     timeout: int | None = DEFAULT_PAUSE_TIMEOUT, key: str | None = None,
                     namespace: str | None = None, approvers: Sequence[str] | None = None,
                     approvals: int = 1, allow_creator: bool = False,
                   notify_message: str | None = None, on_timeout: OnTimeoutChoice = "fail",
                   until: datetime | float | None = None, escalate_after: int | None = None,
                   escalate_to: Sequence[str] | None = None) -> Any:
    """Suspend: stop the flow and let the operator delete its Job. Resuming starts a
    new Job that runs the flow from the top; finished tasks return cached results and
    this call returns at once (with the resume's input when `wait_for_input` is given).
    `timeout=None` waits forever. With `flow_run_id=` (a name or uid), suspend another
    FlowRun. `on_timeout` and `until` as for pause_flow_run (a run suspended until a
    time has no Job until then). Awaitable in async code."""
    if flow_run_id is not None:
        def suspend() -> None:
            _act(str(flow_run_id), namespace, State.SUSPENDED)
        return dual(suspend)
    return _pause(PauseKind.SUSPEND, "suspend_flow_run", wait_for_input, timeout, key,
                  approval=approval_rules.request(approvers, approvals, allow_creator, escalate_after, escalate_to),
                  notify_message=notify_message, on_timeout=on_timeout, until=until)


class ResumeError(ValueError):
    """A resume, suspend or cancel that cannot be done as asked (not paused, invalid
    input, refused by the flow's validators...). `code`: why, when the run's state or
    its input refused it (the contract's refusal code; None otherwise)."""

    def __init__(self, message: str, code: Refusal | None = None) -> None:
        super().__init__(message)
        self.code = code


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


def _find(kube: Kube, flow_run_id: str, namespace: str | None) -> tuple[str, str, dict[str, Any]]:
    """(namespace, name, object) of the FlowRun called `flow_run_id`, or whose uid it
    is (found by listing the namespace, or every namespace when none was given)."""
    ns = _namespace(namespace)
    obj = kube.get_flowrun(ns, flow_run_id) if len(flow_run_id) <= 253 else None
    if obj is not None:
        return ns, flow_run_id, obj
    if _UID.match(flow_run_id):
        try:
            items = kube.list_flowruns(namespace) if namespace else kube.list_flowruns(None)
        except KubeError as exc:
            if exc.status == 403 and not namespace:
                try:
                    items = kube.list_flowruns(ns)
                except KubeError as inner:
                    raise _list_refused(flow_run_id, inner) from None
            elif exc.status == 403:
                raise _list_refused(flow_run_id, exc) from None
            else:
                raise
        for item in items:
            if item["metadata"].get("uid") == flow_run_id:
                return item["metadata"]["namespace"], item["metadata"]["name"], item
    raise ResumeError(f"FlowRun {flow_run_id} not found in namespace {ns}"
                      + (" (nor by uid)" if _UID.match(flow_run_id) else ""))


def _list_refused(uid: str, exc: KubeError) -> ResumeError:
    return ResumeError(f"{uid} looks like a FlowRun uid, and finding a run by uid needs "
                       f"permission to list FlowRuns ({exc}); pass the FlowRun's name instead")


def resume_flow_run(flow_run_id: Any, run_input: Any = None, namespace: str | None = None) -> Any:
    """Resume a paused or suspended FlowRun (by name or uid), optionally with input for
    its `wait_for_input`. The input is checked against the stored schema first; then,
    for a few seconds, the run is watched: if the flow's own validators refuse the
    input (the run goes back to Paused with a message), this raises ResumeError with
    that message. Awaitable in async code."""
    return dual(lambda: _resume(str(flow_run_id), run_input, namespace))


def _act(flow_run_id: str, namespace: str | None, target: State, *, data: Any = None,
         reason: str | None = None) -> tuple[Kube, str, str, dict[str, Any], Plan]:
    """A person's action through the one door the CLI and the web UI use too
    (kube/actions.py: `plan`, applied by compare-and-swap): (kube, namespace, name, the
    run as written, the plan). A refusal is a ResumeError with its code, and so is our
    admission webhook's refusal of the input (its code read by kube/errors.py); any other
    refusal by the API server is its KubeError (`refusal`: the webhook's code, if any)."""
    kube = Kube()
    ns, name, _ = _find(kube, flow_run_id, namespace)
    try:
        obj, done = actions.change(kube, ns, name, target, data=data, reason=reason)
    except actions.Refused as exc:
        if exc.code in (Refusal.INVALID_INPUT, Refusal.NOT_WAITING_FOR_INPUT):
            raise ResumeError(f"input for FlowRun {name} is invalid: {exc.message}", exc.code) from None
        if exc.code is Refusal.NOT_STOPPED:
            raise ResumeError(f"FlowRun {name} is {exc.message}", exc.code) from None
        raise ResumeError(f"FlowRun {name}: {exc.message}", exc.code) from None
    except actions.ApiRefused as exc:
        if exc.code in INPUT_REFUSALS:
            raise ResumeError(f"input for FlowRun {name} is invalid: {exc.message}", exc.code) from None
        raise exc.error from None
    if obj is None or done is None:
        raise ResumeError(f"FlowRun {ns}/{name} not found")
    return kube, ns, name, obj, done


def _resume(flow_run_id: str, run_input: Any, namespace: str | None) -> None:
    if isinstance(run_input, pydantic.BaseModel):
        run_input = run_input.model_dump(mode="json")
    kube, ns, name, patched, done = _act(flow_run_id, namespace, State.RUNNING, data=run_input)
    if done.key:
        refusal = watch_resume(kube, ns, name, done.key, patched, RESUME_WATCH_SECONDS)
        if refusal:
            raise ResumeError(f"FlowRun {name} did not accept the input: {refusal}")


def cancel_flow_run(flow_run_id: Any, reason: str | None = None, namespace: str | None = None) -> Any:
    """Cancel a FlowRun (by name or uid) from any live phase (paused and suspended
    included): its Job is deleted (a live runner runs the flow's on_cancellation hooks
    first), its linked subflows are cancelled, and it ends Cancelled with `reason` in
    its message. Cancelling a run already cancelled does nothing. Awaitable in async code."""
    def cancel() -> None:
        try:
            _act(str(flow_run_id), namespace, State.CANCELLED, reason=reason)
        except ResumeError as exc:
            if exc.code is not Refusal.FINISHED:
                raise
            _, _, obj = _find(Kube(), str(flow_run_id), namespace)
            if (obj.get("spec") or {}).get("state") != State.CANCELLED.value:
                raise  # a run that ended otherwise; one already cancelled is left as it is
    return dual(cancel)


def watch_resume(kube: Kube, namespace: str, name: str, key: str, patched: dict[str, Any],
                 seconds: float) -> str | None:
    """After a resume's patch: the refusal message if the run's validators refused the
    input (the pause records the refused generation, and the run waits again at the
    same key); None once the pause is resumed, the run moved on, or `seconds` passed."""
    generation = (patched.get("metadata") or {}).get("generation", 0)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        obj = kube.get_flowrun(namespace, name)
        if obj is None:
            return None
        status = obj.get("status") or {}
        pause = status.get("pause") or {}
        if keys_contain(status.get("resumed"), key) or pause.get("key") not in (None, key):
            return None
        phase = status.get("phase")
        if phase and Phase(phase).terminal:
            return None
        if pause.get("key") == key and (pause.get("rejectedGeneration") or -1) >= generation:
            return status.get("message") or "the input was refused; the run waits again"
        time.sleep(0.25)
    return None
