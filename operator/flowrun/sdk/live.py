"""The FlowRun as the running flow sees it: a live copy kept by a watch, and the
runner's side of starting, pausing, suspending, resuming and ending, as a thin shell
around contract/lifecycle/runner.py's `runner_*` decisions.

Every step is the same loop (`_drive`): ask the contract what to do with the latest
FlowRun; write what it says (compare-and-swap, decided again on every fresh read);
block on a condition variable fed by the watch thread when it says Hold (no polling,
no CPU); return on anything else. Every decision is fenced by this pod's attempt: once
the run has moved on (a later attempt, suspended, cancelled, finished), this runner
writes nothing and stops quietly with RunFenced or RunCancelled.

What it must never do: decide here, resume with input that does not validate, or
sleep-poll.
"""
from __future__ import annotations

import json
from datetime import datetime
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import pydantic

from ..contract.lifecycle.pausing import PauseMemo, PauseRequest, check_pause_request, runner_pause

from ..contract.lifecycle.runner import (

    runner_checkpoint,

    runner_fence,

    runner_finished,

    runner_note,

    runner_started,

)
from ..contract.lifecycle.steps import Exit, Hold, PauseHere, Proceed, RunnerStep, Stash, Stop, Write
from ..contract.lifecycle.subflows import subflow_received
from ..contract.constants import DEFAULT_PAUSE_TIMEOUT
from ..contract.phases import PauseKind
from ..contract.lifecycle.vocabulary import OnTimeout, now
from ..kube import Gone, Kube, webhook_unreachable
from .inputs import validation_messages
from .watching import Watcher

if False:  # typing only: the cache module imports nothing of ours at run time
    from .cache import ResultCache

log = logging.getLogger("flowrun.live")
# How long the runner retries a write the API server refused because the admission
# webhook was unreachable (every operator replica gone, failurePolicy Fail), before the
# write's error fails the flow. A pause's own deadline is enforced by the operator anyway.
WEBHOOK_RETRY_SECONDS = float(os.environ.get("FLOWRUN_WEBHOOK_RETRY_SECONDS", "600"))


class RunStopped(BaseException):
    """Control flow, not an error: the flow's code must stop now. A BaseException so
    that a flow's `except Exception:` cannot swallow it."""


class FlowSuspended(RunStopped):
    """suspend_flow_run() was called, or the run was suspended from outside."""


class RunTerminated(RunStopped):
    """The run ended from outside (timed out, deleted, or the pod is being stopped)."""


class RunCancelled(RunTerminated):
    """The run was cancelled (spec.state: Cancelled): the flow's on_cancellation hooks
    run, then the process ends."""


class RunFenced(RunTerminated):
    """This attempt may no longer change the run (a later attempt took over, or the run
    is suspended or finished): stop quietly, report nothing."""


def stopped(step: Stop) -> RunTerminated:
    return RunCancelled(step.reason) if step.cancelled else RunFenced(step.reason)


def write_step(update: Callable[..., dict[str, Any] | None],
               step_for: Callable[[dict[str, Any]], RunnerStep],
               seen: dict[str, Any], *, spec_first: bool) -> tuple[dict[str, Any] | None, Write | None]:
    """The compare-and-swap of one runner Write: decided on `seen` (the run as the watch
    brought it) first, then on each fresh read after a conflict, with `update`
    (Kube.update_flowrun's signature without the run). Returns the FlowRun as written or
    read (None: deleted) and the Write that landed, None when the last decision was to
    write nothing: a decision whose write conflicted was never made."""
    landed: list[Write] = []

    def decide(cur: dict[str, Any]):
        landed.clear()
        again = step_for(cur)
        if not isinstance(again, Write):
            return None
        landed.append(again)
        return again.patches()
    obj = update(decide, main_first=spec_first, current=seen)
    return obj, (landed[-1] if landed else None)


def raise_if_finished(obj: dict[str, Any], attempt: int | None = None) -> None:
    """Nothing more may run once the run moved on: finished, cancelled, suspended, or
    (with `attempt`) taken over by a later attempt."""
    status = obj.get("status") or {}
    step = runner_fence(obj, int(status.get("attempt") or 0) if attempt is None else attempt)
    if step is not None:
        raise stopped(step)


def _rv(obj: dict[str, Any]) -> int:
    value = obj.get("metadata", {}).get("resourceVersion", "0")
    return int(value) if str(value).isdigit() else 0


class LiveFlowRun(Watcher):
    def __init__(self, kube: Kube, namespace: str, name: str, initial: dict[str, Any], *,
                 attempt: int | None = None, cache: "ResultCache | None" = None):
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.latest = initial
        self.attempt = int((initial.get("status") or {}).get("attempt") or 1) if attempt is None else attempt
        self.cache = cache
        self.default_timeout = int(os.environ.get("FLOWRUN_DEFAULT_TIMEOUT", DEFAULT_PAUSE_TIMEOUT))
        self._gone = False
        super().__init__()
        self._inputs: dict[str, Any] = {}  # inputs, when there is no volume (tests)

    # ---- the watch -------------------------------------------------------------------

    def _watch(self) -> None:
        try:
            # From the copy the runner was given (just read): no read of the watch's own.
            since = (self.latest.get("metadata") or {}).get("resourceVersion") or None
            for obj in self.kube.watch_flowrun(self.namespace, self.name, stop=self._stop,
                                               on_connect=self._on_connect, since=since):
                self._observe(obj)
        except Gone:
            with self._cond:
                self._gone = True
                self._cond.notify_all()
        except BaseException as exc:  # noqa: BLE001 - surfaced to the waiting thread
            self._fail(exc, log, f"FlowRun {self.namespace}/{self.name}")

    def _check(self) -> None:
        if self._gone:
            raise RunTerminated(f"FlowRun {self.namespace}/{self.name} was deleted")
        if self._error is not None:
            raise RuntimeError(f"lost the watch of the FlowRun: {self._error}")

    def _observe(self, obj: dict[str, Any]) -> None:
        with self._cond:
            if _rv(obj) >= _rv(self.latest):
                self.latest = obj
            self._cond.notify_all()

    def wait_until(self, predicate: Callable[[dict[str, Any]], Any], timeout: float | None = None) -> Any:
        """Block (no CPU) until predicate(latest FlowRun) is truthy; return its value
        (None if `timeout` seconds pass first)."""
        return self._wait_until(lambda: predicate(self.latest), timeout)

    # ---- the loop every step goes through ---------------------------------------------

    def _drive(self, step_for: Callable[[dict[str, Any]], RunnerStep],
               on_write: Callable[[Write, dict[str, Any]], None] | None = None) -> RunnerStep:
        """Ask, write, wait, until the contract says something else than Write or Hold."""
        while True:
            seen = self.latest
            step = step_for(seen)
            if isinstance(step, Write):
                obj, landed = write_step(self._update, step_for, seen, spec_first=step.spec_first)
                if obj is None:
                    raise RunFenced(f"FlowRun {self.namespace}/{self.name} was deleted")
                self._observe(obj)
                if landed is not None and on_write is not None:
                    on_write(landed, obj)
                continue
            if isinstance(step, Hold):
                self.wait_until(lambda obj: _rv(obj) != _rv(seen) or None)
                continue
            if isinstance(step, Stop):
                raise stopped(step)
            return step

    def _update(self, decide: Callable[[dict[str, Any]], Any], *, main_first: bool,
                current: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """update_flowrun, retried with backoff (0.2 s doubling to 5 s) while the webhook
        is unreachable, for up to WEBHOOK_RETRY_SECONDS: a pause or a recorded resume
        survives an outage of the operator instead of failing the flow.

        `current`: the FlowRun as the watch last brought it. The first decision is taken
        on it without a GET (a resume is recorded one request after the watch brings it);
        a stale copy only conflicts, and update_flowrun then decides again on a fresh
        read, as every retry does."""
        deadline, delay = time.monotonic() + WEBHOOK_RETRY_SECONDS, 0.2
        while True:
            try:
                return self.kube.update_flowrun(self.namespace, self.name, decide, main_first=main_first,
                                                current=current)
            except Exception as exc:
                current = None
                if not webhook_unreachable(exc) or time.monotonic() + delay > deadline:
                    raise
                log.warning("the admission webhook is unreachable (%s); retrying in %.1f s", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    # ---- status reports from the runner -----------------------------------------------

    def started(self, message: str) -> None:
        self._drive(lambda obj: runner_started(obj, self.attempt, message, now()))

    def finished(self, *, failed: bool, message: str, result: Any = None, has_result: bool = False) -> None:
        self._write_once(lambda obj: runner_finished(obj, self.attempt, failed=failed, message=message,
                                                       now=now(), result=result, has_result=has_result))

    def record(self, action: str, message: str) -> None:
        """A history entry (the operator turns it into an Event) and the run's message,
        without a phase change: e.g. a flow retry."""
        self._write_once(lambda obj: runner_note(obj, self.attempt, action, message, now()))

    def receiving(self, key_prefix: str, type_name: str, schema: dict[str, Any] | None,
                  description: str | None) -> None:
        """Publish what the flow waits for in receive_input (status.receiving), unless the
        status says so already: the UI's form and `flowrun send` check inputs against it."""
        from ..contract.run_inputs import receiving

        def step(obj: dict[str, Any]) -> RunnerStep:
            stop = runner_fence(obj, self.attempt)
            if stop:
                return stop
            patch = receiving(obj.get("status") or {}, key_prefix, type_name, schema, description,
                              now().isoformat().replace("+00:00", "Z"))
            return Write(status={"receiving": patch}) if patch else None
        self._write_once(step)

    def _write_once(self, step_for: Callable[[dict[str, Any]], RunnerStep]) -> None:
        done: list[bool] = []
        self._drive(lambda obj: None if done else step_for(obj), on_write=lambda _w, _o: done.append(True))

    def received_subflow(self, child: str) -> None:
        """A subflow's result is on the volume: it may leave the status."""
        self._drive(lambda obj: subflow_received(obj, self.attempt, child))

    # ---- pause / suspend -------------------------------------------------------------

    def pause(
        self,
        key: str,
        *,
        kind: PauseKind,
        timeout: int | None,
        model: type[pydantic.BaseModel] | None,
        requested_by: str = "flow",
        description: str | None = None,
        suspend_after: int | None = None,
        approval: dict[str, Any] | None = None,
        notify_message: str | None = None,
        on_timeout: OnTimeout = OnTimeout.FAIL,
        timeout_input: Any = None,
        until: datetime | None = None,
        as_model: bool = False,
    ) -> Any:
        """Record the pause (or suspension) and, for a pause, block until resumed.
        Returns the validated input (a dict, or None; with `as_model`, the model itself).
        A suspension raises FlowSuspended. The model validates each input once (its
        answer is kept for the decisions taken again on every read)."""
        request = PauseRequest(
            key=key, kind=kind, timeout_seconds=timeout,
            input_schema=model.model_json_schema() if model is not None else None,
            description=description, requested_by=requested_by,
            suspend_after_seconds=suspend_after, approval=approval, notify_message=notify_message,
            on_timeout=on_timeout, timeout_input=timeout_input, until=until)
        check_pause_request(request)
        memo = PauseMemo()

        judged: dict[str, tuple[str | None, pydantic.BaseModel | None]] = {}  # input -> (error, model)

        def judge(data: Any) -> tuple[str | None, pydantic.BaseModel | None]:
            assert model is not None
            seen = json.dumps(data, sort_keys=True, default=str)
            if seen not in judged:
                try:
                    judged[seen] = (None, model.model_validate(data or {}))
                except pydantic.ValidationError as exc:
                    judged[seen] = ("; ".join(validation_messages(exc)), None)
            return judged[seen]

        def check(data: Any) -> str | None:
            return None if model is None else judge(data)[0]

        def on_write(write: Write, obj: dict[str, Any]) -> None:
            if write.spec is not None and write.spec_first:
                memo.armed = int(obj["metadata"].get("generation") or 0)

        while True:
            step = self._drive(lambda obj: runner_pause(obj, self.attempt, request, memo, now(),
                                                          check=check, stored=self._stored_input),
                               on_write=on_write)
            if isinstance(step, Stash):
                self._store_input(step.key, step.value)
                memo.stashed[step.key] = step.generation
                continue
            if isinstance(step, Exit):
                log.info("suspended at %s: the Job will be torn down; resume restarts the flow", key)
                raise FlowSuspended(key)
            if isinstance(step, Proceed):
                if model is None:
                    return step.value
                _error, instance = judge(step.value)
                if instance is None:  # the contract proceeds only with input the model took
                    instance = model.model_validate(step.value or {})  # raises, saying why
                return instance if as_model else instance.model_dump(mode="json")
            raise RuntimeError(f"unexpected step {step!r}")

    def _store_input(self, key: str, value: Any) -> None:
        if self.cache is None:
            self._inputs[key] = value
            return
        self.cache.write(self.cache.input_path(key), value)

    def _stored_input(self, key: str) -> tuple[bool, Any]:
        if self.cache is None:
            return (key in self._inputs), self._inputs.get(key)
        hit = self.cache.read(self.cache.input_path(key))
        return (hit is not None), (hit.value if hit is not None else None)

    def checkpoint(self, next_key: Callable[[], str]) -> None:
        """At a task boundary: honour a pause or suspension requested from outside."""
        while True:
            step = runner_checkpoint(self.latest, self.attempt)
            if isinstance(step, Stop):
                raise stopped(step)
            if isinstance(step, Hold):
                log.info("suspension requested from outside; waiting for the Job to be torn down")
                seen = self.latest
                self.wait_until(lambda obj: _rv(obj) != _rv(seen) or None)
                continue
            if isinstance(step, PauseHere):
                log.info("pause requested from outside; pausing before the next task")
                self.pause(next_key(), kind=PauseKind.PAUSE, timeout=self.default_timeout,
                           model=None, requested_by="user")
            return

    def stop_reason(self, signum: int) -> RunTerminated:
        """The exception a SIGTERM raises in the flow: RunCancelled when the run was
        cancelled (its on_cancellation hooks run), else RunTerminated."""
        step = runner_fence(self.latest, self.attempt)
        if step is None or not step.cancelled:
            # The watch may not have brought the cancel yet: the operator records it
            # before it deletes the Job, so one read settles it.
            try:
                step = runner_fence(self.kube.get_flowrun(self.namespace, self.name), self.attempt)
            except Exception:  # noqa: BLE001 - stopping anyway; only the reason is unsure
                step = None
        if step is not None and step.cancelled:
            return RunCancelled(step.reason)
        return RunTerminated(f"the pod is being stopped (signal {signum})")
