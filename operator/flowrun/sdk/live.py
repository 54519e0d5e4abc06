"""The FlowRun as the running flow sees it: a live copy kept by a watch, and the
runner's side of pausing, suspending and resuming.

How a pause works, from this side:
1. If the key is in `status.resumed`, the pause already happened and was resumed in an
   earlier execution: return its stored input at once.
2. Record `status.pause` (key, kind, deadline, input schema, and the object's
   `metadata.generation` at that moment), move the phase to Paused, then set
   `spec.state=Paused` and clear `spec.input`. Every write is compare-and-swap.
3. Block on a condition variable fed by the watch thread (no polling, no CPU) until
   `spec.state` is Running again in a generation newer than the pause's, validate
   `spec.input` with the model, record the resume, and return the model instance.

What it must never do: resume with input that does not validate, or sleep-poll.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pydantic

from ..contract.audit import actor
from ..contract.constants import DEFAULT_PAUSE_TIMEOUT
from ..contract.phases import PauseKind, Phase, State
from ..contract.status import history_patch, now, phase_patch, timestamp
from ..kube import Gone, Kube
from .inputs import validation_messages

log = logging.getLogger("flowrun.live")


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


def raise_if_finished(obj: dict[str, Any]) -> None:
    """Nothing more may run once the FlowRun Completed or Failed (e.g. it timed out)."""
    status = obj.get("status") or {}
    phase = status.get("phase")
    if phase and Phase(phase).terminal:
        raise RunTerminated(status.get("message") or f"FlowRun is {phase}")


def _rv(obj: dict[str, Any]) -> int:
    value = obj.get("metadata", {}).get("resourceVersion", "0")
    return int(value) if str(value).isdigit() else 0


class LiveFlowRun:
    def __init__(self, kube: Kube, namespace: str, name: str, initial: dict[str, Any]):
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.latest = initial
        self.default_timeout = int(os.environ.get("FLOWRUN_DEFAULT_TIMEOUT", DEFAULT_PAUSE_TIMEOUT))
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._gone = False
        self._watch_error: BaseException | None = None
        self._response: Any = None
        self._thread = threading.Thread(target=self._watch, name="flowrun-watch", daemon=True)
        self._external_pauses = 0

    # ---- the watch -------------------------------------------------------------------

    def start(self) -> "LiveFlowRun":
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        resp = self._response
        if resp is not None:
            try:
                # shutdown() unblocks the watch thread's read; close() from this thread
                # would wait for it (TLS sockets are not closed across threads).
                resp.shutdown()
            except Exception:  # noqa: BLE001 - best effort, the thread is a daemon
                pass

    def _on_connect(self, resp: Any) -> None:
        self._response = resp

    def _watch(self) -> None:
        try:
            for obj in self.kube.watch_flowrun(self.namespace, self.name, stop=self._stop,
                                               on_connect=self._on_connect):
                self._observe(obj)
        except Gone:
            with self._cond:
                self._gone = True
                self._cond.notify_all()
        except BaseException as exc:  # noqa: BLE001 - surfaced to the waiting thread
            if not self._stop.is_set():
                log.error("watch of FlowRun %s/%s failed: %s", self.namespace, self.name, exc)
                with self._cond:
                    self._watch_error = exc
                    self._cond.notify_all()

    def _observe(self, obj: dict[str, Any]) -> None:
        with self._cond:
            if _rv(obj) >= _rv(self.latest):
                self.latest = obj
            self._cond.notify_all()

    def wait_until(self, predicate: Callable[[dict[str, Any]], Any], timeout: float | None = None) -> Any:
        """Block (no CPU) until predicate(latest FlowRun) is truthy; return its value
        (None if `timeout` seconds pass first)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate(self.latest)
                if result:
                    return result
                if self._gone:
                    raise RunTerminated(f"FlowRun {self.namespace}/{self.name} was deleted")
                if self._watch_error is not None:
                    raise RuntimeError(f"lost the watch of the FlowRun: {self._watch_error}")
                if deadline is None:
                    self._cond.wait()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    self._cond.wait(remaining)

    def update(self, decide: Callable[[dict[str, Any]], tuple[dict | None, dict | None] | None],
               *, main_first: bool = False) -> dict[str, Any]:
        obj = self.kube.update_flowrun(self.namespace, self.name, decide, main_first=main_first)
        if obj is None:
            raise RunTerminated(f"FlowRun {self.namespace}/{self.name} was deleted")
        self._observe(obj)
        return obj

    # ---- status reports from the runner ---------------------------------------------

    def report(self, phase: str, message: str, **fields: Any) -> dict[str, Any]:
        """Move the run to `phase` (if the state machine allows it from where it is)."""
        action = {"Running": "started", "Completed": "completed", "Failed": "failed"}.get(phase, phase.lower())

        def decide(obj: dict[str, Any]):
            status = obj.get("status") or {}
            if status.get("phase") == phase and not fields:
                return None
            patch = phase_patch(status, phase, message, **fields)
            patch["history"] = history_patch(status, action, by="runner", message=message[:200])
            return None, patch

        return self.update(decide)

    def record(self, action: str, message: str) -> dict[str, Any]:
        """A history entry (the operator turns it into an Event) and the run's message,
        without a phase change: e.g. a flow retry."""

        def decide(obj: dict[str, Any]):
            status = obj.get("status") or {}
            return None, {"message": message,
                          "history": history_patch(status, action, by="runner", message=message[:200])}

        return self.update(decide)

    # ---- pause / suspend -------------------------------------------------------------

    def resumed_input(self, key: str) -> tuple[bool, Any]:
        status = self.latest.get("status") or {}
        if key in (status.get("resumed") or []):
            return True, (status.get("inputs") or {}).get(key)
        return False, None

    def pause(
        self,
        key: str,
        *,
        kind: PauseKind,
        timeout: int | None,
        model: type[pydantic.BaseModel] | None,
        requested_by: str = "flow",
        description: str | None = None,
    ) -> Any:
        """Record the pause (or suspension) and, for a pause, block until resumed.
        Returns the validated input dict (or None). A suspension raises FlowSuspended."""
        done, value = self.resumed_input(key)
        if done:
            return value
        target = State.PAUSED if kind is PauseKind.PAUSE else State.SUSPENDED
        since = now()
        info: dict[str, Any] = {
            "key": key,
            "kind": kind.value,
            "since": timestamp(since),
            "timeoutSeconds": timeout,
            "deadline": timestamp(since + timedelta(seconds=timeout)) if timeout else None,
            "inputSchema": model.model_json_schema() if model is not None else None,
            "requestedBy": requested_by,
            "description": description,
        }

        # A pause sets spec.state first, then records the pause with the generation that
        # write produced: the phase says Paused only once any later spec change (a
        # resume) is recognisable as newer. A suspension records first (the operator
        # acts on spec.state and must find the pause's key), then sets spec.state,
        # only while nobody changed the spec since the recording.
        main_first = kind is PauseKind.PAUSE

        def decide(obj: dict[str, Any]):
            status = obj.get("status") or {}
            spec = obj.get("spec") or {}
            generation = obj["metadata"].get("generation", 0)
            if key in (status.get("resumed") or []):
                return None
            raise_if_finished(obj)
            if kind is PauseKind.PAUSE and spec.get("state") == State.SUSPENDED.value:
                return None  # being suspended from outside: see below
            recorded = status.get("pause") or {}
            clear_spec = {"spec": {"state": target.value, "input": None}}
            if recorded.get("key") == key:
                # Recorded already (a retry): a suspension may still owe its spec write.
                if not main_first and spec.get("state") != target.value \
                        and recorded.get("generation") == generation:
                    return clear_spec, None
                return None
            write_spec = spec.get("state") != target.value or spec.get("input") is not None
            pause = {**info, "generation": generation + (1 if write_spec and main_first else 0)}
            if kind is PauseKind.PAUSE:
                status_patch = phase_patch(status, "Paused", _pause_message(key, model), pause=pause)
            else:
                status_patch = {"pause": pause}
            status_patch["history"] = history_patch(
                status, "paused" if kind is PauseKind.PAUSE else "suspended", by=requested_by, key=key)
            return (clear_spec if write_spec else None), status_patch

        obj = self.update(decide, main_first=main_first)
        if kind is PauseKind.PAUSE and (obj.get("spec") or {}).get("state") == State.SUSPENDED.value \
                and ((obj.get("status") or {}).get("pause") or {}).get("key") != key:
            self.wait_while_suspended()
            return self.pause(key, kind=kind, timeout=timeout, model=model, requested_by=requested_by,
                              description=description)
        if kind is PauseKind.SUSPEND:
            log.info("suspended at %s: the Job will be torn down; resume restarts the flow", key)
            raise FlowSuspended(key)
        pause_generation = ((obj.get("status") or {}).get("pause") or {}).get("generation", 0)
        log.info("paused at %s; waiting for resume", key)
        return self._wait_for_resume(key, pause_generation, model)

    def _wait_for_resume(self, key: str, generation: int, model: type[pydantic.BaseModel] | None) -> Any:
        rejected_generation = -1

        def resumed(obj: dict[str, Any]):
            status = obj.get("status") or {}
            if key in (status.get("resumed") or []):
                return ("done", (status.get("inputs") or {}).get(key))
            raise_if_finished(obj)
            spec = obj.get("spec") or {}
            gen = obj["metadata"].get("generation", 0)
            # Suspended from outside while paused: keep waiting; the operator deletes
            # the Job (SIGTERM ends this process), or the suspension is withdrawn.
            if spec.get("state") == State.RUNNING.value and gen > generation and gen != rejected_generation:
                return ("resume", obj)
            return None

        while True:
            what, value = self.wait_until(resumed)
            if what == "done":
                return value
            obj = value
            data = (obj.get("spec") or {}).get("input")
            if model is not None:
                try:
                    data = model.model_validate(data or {}).model_dump(mode="json")
                except pydantic.ValidationError as exc:
                    # The operator reports this (condition, Event, spec.state back to
                    # Paused); the flow keeps waiting for valid input.
                    log.warning("resume of %s ignored, input is invalid: %s", key,
                                "; ".join(validation_messages(exc)))
                    rejected_generation = obj["metadata"].get("generation", 0)
                    continue
            self._record_resume(key, data, obj)
            return data

    def _record_resume(self, key: str, data: Any, seen: dict[str, Any]) -> None:
        by = actor(seen)

        def decide(obj: dict[str, Any]):
            status = obj.get("status") or {}
            if key in (status.get("resumed") or []):
                return None
            patch = phase_patch(status, "Running", f"Resumed from {key}", pause=None,
                                resumed=[*(status.get("resumed") or []), key],
                                inputs={key: data} if data is not None else None)
            if patch.get("inputs") is None:
                patch.pop("inputs")
            patch["history"] = history_patch(status, "resumed", by=by, key=key)
            return None, patch

        self.update(decide)

    def wait_while_suspended(self) -> None:
        """A suspension was asked for from outside: run nothing more. The operator
        records it and deletes the Job, whose SIGTERM ends this process; if the
        suspension is withdrawn first, carry on."""
        log.info("suspension requested from outside; waiting for the Job to be torn down")

        def over(obj: dict[str, Any]) -> bool:
            raise_if_finished(obj)
            return (obj.get("spec") or {}).get("state") != State.SUSPENDED.value
        self.wait_until(over)

    def checkpoint(self, next_key: Callable[[], str]) -> None:
        """At a task boundary: honour a pause or suspension requested from outside."""
        obj = self.latest
        state = (obj.get("spec") or {}).get("state")
        raise_if_finished(obj)
        if state == State.SUSPENDED.value:
            self.wait_while_suspended()
            return self.checkpoint(next_key)
        if state == State.PAUSED.value:
            log.info("pause requested from outside; pausing before the next task")
            self.pause(next_key(), kind=PauseKind.PAUSE, timeout=self.default_timeout,
                       model=None, requested_by="user")


def _pause_message(key: str, model: type[pydantic.BaseModel] | None) -> str:
    if model is None:
        return f"Paused at {key}; resume with spec.state=Running"
    fields = ", ".join(model.model_json_schema().get("properties", {}).keys())
    return f"Paused at {key}; waiting for input ({fields})"
