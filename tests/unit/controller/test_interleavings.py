"""Property-based interleavings of everyone who writes a FlowRun, on the in-memory API.

Hypothesis drives a person (resume with valid, invalid or no input, with the webhook up
or bypassed; suspend; pause; cancel), the operator (the real Reconciler, one step at a
time, sometimes crashing between the two writes of a decision), the kubelet (starting
pods, letting terminating pods end, losing pods), and the runner of every attempt (the
contract's runner steps applied through the real compare-and-swap loop, one write at a
time, stale attempts included). The flow: task A, a pause for input (K1), task B, a
suspension by the flow itself (K2), task C, done.

The clock is an actor too: it advances by seconds or by hours, so pause deadlines
(K1's, K2's, an outside suspension's) come and go between any two steps.

Invariants, after every step:
- a Failed run failed for a reason of the documented list (never "the flow raised": it
  does not), and a finished run never changes again;
- at most one runner process runs flow code at any moment;
- a fenced attempt writes nothing and runs no flow code: no runner write lands while the
  run (as the API server has it) fences that runner's attempt, and no runner moves on
  into flow code on a copy of the run that fences it;
- status.podLosses never exceeds spec.maxPodLosses, nor the pods that ended early; the
  run fails for pod losses only once it lost one more than the limit;
- a deadline fires once and only past its time (the run's completionTime is not before
  the pause's deadline, one `timed-out` entry);
- at most one Job was ever created per attempt;
- the FlowRun stays under its size bound.
And when the run is left alone to settle (every watch, the runners' included, catches
up: each runner decides on a fresh copy): a resume that the API server accepted with
valid input for K1 is not lost (the flow received exactly that input), unless a later
suspension, cancellation or pod-loss limit explains otherwise; and no run waits at a
pause whose deadline has passed.
"""
from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from fakeapi import FakeKube, Store, merge_patch
from flowrun.contract.lifecycle.pausing import PauseMemo, PauseRequest, runner_pause
from flowrun.contract.lifecycle.runner import runner_checkpoint, runner_fence, runner_finished, runner_started
from flowrun.contract.lifecycle.steps import Exit, Hold, PauseHere, Proceed, Stash, Stop, Write
from flowrun.contract.lifecycle.view import RunView, pending_pause
from flowrun.contract.lifecycle.vocabulary import (
    CANCELLED,
    OnTimeout,
    DEADLINE_EXCEEDED,
    INFRASTRUCTURE_REFUSED,
    POD_LOSSES_EXHAUSTED,
)
from flowrun.contract.constants import MAX_FLOWRUN_BYTES
from flowrun.contract.phases import PauseKind, Phase
from flowrun.contract.status import keys_contain, parse_timestamp
from flowrun.controller import reconcile
from flowrun.controller.admission import review_update
from flowrun.controller.cache import WorldCache
from flowrun.controller.reconcile import Reconciler
from flowrun.controller.views import job_view, pod_view
from flowrun.controller.settings import Settings
from flowrun.sdk.live import write_step

NS, NAME = "ns", "r"
RUNNER_USER = f"system:serviceaccount:{NS}:{NAME}-runner"
SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
          "additionalProperties": False}
K1 = PauseRequest("pause-1", PauseKind.PAUSE, 3600, input_schema=SCHEMA)
K2 = PauseRequest("pause-2", PauseKind.SUSPEND, 3600)
UNTIL = datetime(2026, 11, 25, 13, 30, 0, tzinfo=timezone.utc)  # K2's time, when it is a suspension until then
DEFAULT = {"name": "Default"}
ESCALATING = {"approvers": ["bob"], "required": 1, "allowCreator": False, "approvals": [],
              "escalateAfterSeconds": 600, "escalateTo": ["alice"]}  # K1's input defaults: what the system resumes it with (on_timeout="resume")
MAX_POD_LOSSES = 3
START = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)


class Crash(Exception):
    """The process stopped between two writes."""


class CrashingKube(FakeKube):
    crash_after: int | None = None
    landing: Any = None  # called with the run as stored and the write's version, before a write

    def patch_flowrun(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if self.crash_after is not None:
            if self.crash_after == 0:
                self.crash_after = None
                raise Crash()
            self.crash_after -= 1
        if self.landing is not None:
            self.landing(self.store.objects.get(("FlowRun", args[0], args[1])), kwargs.get("resource_version"))
        return super().patch_flowrun(*args, **kwargs)


def model_check(data: Any) -> str | None:
    """The flow's own model validation: names must not be 'nobody' (the schema allows it)."""
    if (data or {}).get("name") == "nobody":
        return "name: 'nobody' is not a person"
    return None


class Runner:
    """One pod's runner process: the flow's program counter and what it remembers."""

    def __init__(self, attempt: int, pod: str):
        self.attempt = attempt
        self.pod = pod
        self.pc = "boot"  # boot -> A -> K1 -> B -> K2 -> C -> finish -> exited | stopped
        self.memo = PauseMemo()
        self.got_k1: Any = "unset"
        self.seen: dict | None = None  # the run as its watch last brought it (may lag)
        self.decided_on: dict | None = None  # the copy its last step was decided on
        self.reported_end = False  # its runner_finished write landed

    @property
    def running_code(self) -> bool:
        return self.pc in ("A", "K1", "B", "K2", "C", "finish")


class FlowRunInterleavings(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = Store()
        self.lagging = False
        self.store.admission = lambda old, new, user: review_update(old, new, user=user)
        self.user = FakeKube(self.store, user="alice")
        self.operator_kube = CrashingKube(self.store, user="system:serviceaccount:flowrun-system:flowrun-operator")
        self.runner_kube = CrashingKube(self.store, user=RUNNER_USER)
        self.reconciler = Reconciler(self.operator_kube, Settings(runner_image="img", max_pod_losses=MAX_POD_LOSSES))
        self.volume: dict[str, Any] = {}
        self.runners: dict[str, Runner] = {}
        self.accepted: list[tuple[str, Any]] = []  # ("resume", input) / ("suspend"|"cancel"|"pause", None)
        self.finished_as: dict[str, Any] | None = None
        self.cache: WorldCache | None = None
        self.clock = START  # the clock actor's time: the operator's and the runners' now()
        self.k1, self.k2 = K1, K2  # as the flow declares them (their on_timeout drawn per example)
        self._real_now = reconcile.now
        reconcile.now = lambda: self.clock
        self.acting: Runner | None = None  # the runner whose step is being taken
        self.fenced_writes: list[str] = []
        self.runner_kube_landing()
        self.user.create_flowrun(NS, {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun",
                                      "metadata": {"name": NAME, "namespace": NS},
                                      "spec": {"flow": "m:f", "state": "Running"}})

    # ---- helpers -------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock

    def runner_kube_landing(self) -> None:
        def landing(stored: dict[str, Any] | None, version: str | None) -> None:
            runner = self.acting
            if runner is None or stored is None:
                return
            if version is not None and stored["metadata"]["resourceVersion"] != version:
                return  # it conflicts: nothing lands
            stop = runner_fence(stored, runner.attempt)
            if stop is not None:
                self.fenced_writes.append(f"{runner.pod} (attempt {runner.attempt}) wrote after: {stop.reason}")
        self.runner_kube.landing = landing

    def run(self) -> dict[str, Any]:
        obj = self.user.get_flowrun(NS, NAME)
        assert obj is not None
        return obj

    def person(self, spec: dict[str, Any], *, bypass_webhook: bool = False) -> bool:
        """A person's patch of spec, as `kubectl patch` sends it: accepted or refused."""
        old = self.run()
        admission = self.store.admission
        if bypass_webhook:
            self.store.admission = None
        try:
            self.user.patch_flowrun(NS, NAME, {"spec": spec})
        except Exception:  # noqa: BLE001 - refused by the webhook, as kubectl would print
            return False
        finally:
            self.store.admission = admission
        new = self.run()
        if new["metadata"]["generation"] == old["metadata"]["generation"]:
            return False
        return True

    # ---- a person ------------------------------------------------------------------

    @rule(name=st.sampled_from(["Marvin", "Ford", "nobody"]))
    def resume_with_input(self, name: str) -> None:
        old = self.run()
        waiting = pending_pause(old)
        if self.person({"state": "Running", "input": {"name": name}}):
            if waiting and waiting["key"] == "pause-1" and model_check({"name": name}) is None \
                    and self.k1.approval is None:  # an approval rule: nothing counts here (no signing key)
                self.accepted.append(("resume", {"name": name}))
            else:
                self.accepted.append(("other-resume", None))

    @rule(bypass=st.booleans())
    def resume_without_input(self, bypass: bool) -> None:
        if self.person({"state": "Running"}, bypass_webhook=bypass):
            self.accepted.append(("other-resume", None))

    @rule()
    def resume_with_invalid_input_bypassing_the_webhook(self) -> None:
        if self.person({"state": "Running", "input": {"nom": 1}}, bypass_webhook=True):
            self.accepted.append(("other-resume", None))

    @rule(state=st.sampled_from(["Suspended", "Paused", "Cancelled"]))
    def change_state(self, state: str) -> None:
        if self.person({"state": state}):
            self.accepted.append((state.lower(), None))

    # ---- the operator --------------------------------------------------------------

    @initialize(cached=st.booleans())
    def operator_decides_from_a_watch_cache(self, cached: bool) -> None:
        """Half the examples: the operator decides from its watch cache (cache.py), which
        each kind's watch brings up to date on its own schedule (watch_delivers), so the
        cache lags the API and its kinds lag each other in every order."""
        if cached:
            self.cache = WorldCache(job_view, pod_view)
            self.reconciler = Reconciler(self.operator_kube,
                                         Settings(runner_image="img", max_pod_losses=MAX_POD_LOSSES),
                                         cache=self.cache)

    @initialize(escalates=st.booleans())
    def k1_names_approvers_and_escalates(self, escalates: bool) -> None:
        """Half the examples: K1 may be answered by bob only, and after 600 s without his
        approval by alice too (escalate_after, escalate_to). Without the webhook's signing
        key here, no approval is ever counted: K1 ends only by its deadline, so the clock
        actor drives both timers (the escalation, then the deadline)."""
        if escalates:
            self.k1 = replace(self.k1, approval=ESCALATING)

    @initialize(k1=st.sampled_from(list(OnTimeout)), k2=st.sampled_from([*OnTimeout, "until"]))
    def the_flow_declares_what_its_deadlines_do(self, k1: OnTimeout, k2: OnTimeout | str) -> None:
        """What nobody answering K1 and K2 by their deadlines does (on_timeout): fail the
        run, cancel it, or let the system resume it (K1 with its input's defaults); or K2
        is a suspension until a time (90 minutes after the start: the clock may pass it
        before the flow gets there, then it continues at once)."""
        self.k1 = replace(self.k1, on_timeout=k1, timeout_input=DEFAULT if k1 is OnTimeout.RESUME else None)
        self.k2 = replace(K2, until=UNTIL) if k2 == "until" else replace(K2, on_timeout=OnTimeout(k2))

    @rule(kind=st.sampled_from(["FlowRun", "Job", "Pod"]))
    def watch_delivers(self, kind: str) -> None:
        """One kind's watch catches up with the API (events of a kind arrive in order)."""
        if self.cache is None:
            return
        if kind == "FlowRun":
            obj = self.user.get_flowrun(NS, NAME)
            if obj is not None:
                self.cache.put_flowrun(obj)
            return
        present = {o["metadata"]["name"]: o for o in self.user.list(kind, NS)}
        views = self.cache.jobs(NS, NAME) if kind == "Job" else self.cache.pods(NS, NAME)
        for view in views:
            if view.name not in present:
                gone = {"metadata": {"name": view.name, "namespace": NS, "labels": {"flowrun.io/run": NAME}}}
                (self.cache.drop_job if kind == "Job" else self.cache.drop_pod)(gone)
        for obj in present.values():
            (self.cache.put_job if kind == "Job" else self.cache.put_pod)(obj)

    def _operator_view(self) -> dict[str, Any] | None:
        return self.reconciler.read(NS, NAME) if self.cache is not None else self.operator_kube.get_flowrun(NS, NAME)

    @rule()
    def operator_step(self) -> None:
        obj = self._operator_view()
        self.reconciler.converge(obj, max_steps=1)

    @rule(after=st.integers(min_value=0, max_value=1))
    def operator_crashes_mid_step(self, after: int) -> None:
        obj = self._operator_view()
        self.operator_kube.crash_after = after
        try:
            self.reconciler.converge(obj, max_steps=1)
        except Crash:
            pass
        finally:
            self.operator_kube.crash_after = None

    # ---- the clock -----------------------------------------------------------------

    @rule(seconds=st.sampled_from([1, 600, 3599, 3600, 3601]))
    def clock_advances(self, seconds: int) -> None:
        """Time passes: a second, a minute, a pause's whole timeout (3,600 s) and a bit."""
        self.clock += timedelta(seconds=seconds)

    # ---- the kubelet ---------------------------------------------------------------

    @rule()
    def kubelet_starts_pods(self) -> None:
        for job in self.user.list("Job", NS):
            name = f"{job['metadata']['name']}-pod"
            if self.user.get("Pod", NS, name) is None and name not in self.runners:
                attempt = int(job["metadata"]["labels"]["flowrun.io/attempt"])
                self.user.put({"kind": "Pod", "metadata": {
                    "name": name, "namespace": NS, "labels": {**job["metadata"]["labels"],
                                                              "job-name": job["metadata"]["name"]}},
                    "status": {"phase": "Running"}})
                self.runners[name] = Runner(attempt, name)

    @rule()
    def terminating_pods_end(self) -> None:
        for pod in self.user.list("Pod", NS):
            if pod["metadata"].get("deletionTimestamp"):
                self._pod_gone(pod["metadata"]["name"])

    @rule(data=st.data())
    def a_pod_is_lost(self, data) -> None:
        alive = sorted(n for n, r in self.runners.items() if r.pc not in ("exited", "stopped", "dead"))
        if not alive:
            return
        name = data.draw(st.sampled_from(alive))
        self._pod_ends(name, "Failed", reason="Evicted")

    def _pod_ends(self, name: str, phase: str, reason: str = "") -> None:
        self.runners[name].pc = "dead" if phase == "Failed" else self.runners[name].pc
        pod = self.user.get("Pod", NS, name)
        if pod is None:
            return
        pod["status"] = {"phase": phase, **({"reason": reason} if reason else {})}
        self.user.put(pod)
        job = self.user.get("Job", NS, pod["metadata"]["labels"]["job-name"])
        if job is not None:
            job["status"] = {"conditions": [{"type": "Complete" if phase == "Succeeded" else "Failed",
                                             "status": "True"}]}
            self.user.put(job)

    def _pod_gone(self, name: str) -> None:
        runner = self.runners.get(name)
        if runner is not None and runner.pc not in ("exited", "stopped"):
            runner.pc = "dead"
        self.store.objects.pop(("Pod", NS, name), None)

    # ---- the runners ---------------------------------------------------------------

    @rule(data=st.data(), crash=st.booleans(), lagging=st.booleans())
    def runner_step(self, data, crash: bool, lagging: bool) -> None:
        live = sorted(n for n, r in self.runners.items() if r.pc not in ("exited", "stopped", "dead"))
        if not live:
            return
        runner = self.runners[data.draw(st.sampled_from(live))]
        if crash:
            self.runner_kube.crash_after = 1
        self.lagging = lagging  # its watch has not brought the newest version yet
        try:
            self._runner_step(runner)
        except Crash:
            self._pod_ends(runner.pod, "Failed")  # the process died between two writes
        finally:
            self.runner_kube.crash_after = None

    def _write(self, runner: Runner, step_for, on_write=None) -> Any:
        """One step, through the code LiveFlowRun._drive runs (write_step): decided on
        the run as the runner's watch brought it (a lagging copy when `self.lagging`),
        written guarded by that copy's resourceVersion. Returns the non-write step, or
        None after a write."""
        if self.lagging and runner.seen is not None:
            obj = runner.seen
        else:
            obj = runner.seen = self.runner_kube.get_flowrun(NS, NAME)
        runner.decided_on = obj
        step = step_for(obj)
        if isinstance(step, Write):
            written, landed = write_step(lambda decide, **kw: self.runner_kube.update_flowrun(NS, NAME, decide, **kw),
                                         step_for, obj, spec_first=step.spec_first)
            if written is not None:
                runner.seen = written
            if landed is not None and on_write:
                on_write(landed, written)
            return None
        return step

    def _fresh(self, r: Runner) -> dict[str, Any]:
        obj = r.decided_on = self.runner_kube.get_flowrun(NS, NAME)
        return obj

    def _runner_step(self, r: Runner) -> None:
        self.acting = r
        before = r.pc
        try:
            self._runner_moves(r)
        finally:
            self.acting = None
        if r.pc != before and r.running_code:
            # It moved on into flow code: on a copy that let it (not fenced).
            stop = runner_fence(r.decided_on, r.attempt)
            assert stop is None, f"{r.pod} (attempt {r.attempt}) ran flow code after: {stop.reason}"

    def _runner_moves(self, r: Runner) -> None:
        def stop_if(step) -> bool:
            if isinstance(step, Stop):
                r.pc = "stopped"
                self._pod_ends(r.pod, "Succeeded")
                return True
            return False

        if r.pc == "boot":
            step = self._write(r, lambda o: runner_started(o, r.attempt, "go", self.now()))
            if not stop_if(step):
                obj = self._fresh(r)
                if (obj.get("status") or {}).get("phase") in ("Running", "Paused"):
                    r.pc = "A"
        elif r.pc in ("A", "B", "C"):
            check = runner_checkpoint(self._fresh(r), r.attempt)
            if stop_if(check) or isinstance(check, Hold):
                return
            if isinstance(check, PauseHere):  # an outside pause: not modelled as a key; carry on
                pass
            r.pc = {"A": "K1", "B": "K2", "C": "finish"}[r.pc]
            r.memo = PauseMemo()
        elif r.pc in ("K1", "K2"):
            request = self.k1 if r.pc == "K1" else self.k2

            def on_write(write: Write, obj) -> None:
                if write.spec is not None and write.spec_first:
                    r.memo.armed = int(obj["metadata"]["generation"])
            step = self._write(r, lambda o: runner_pause(
                o, r.attempt, request, r.memo, self.now(), check=model_check,
                stored=lambda k: ((k in self.volume), self.volume.get(k))), on_write)
            if stop_if(step):
                return
            if isinstance(step, Stash):
                self.volume[step.key] = step.value
                r.memo.stashed[step.key] = step.generation
            elif isinstance(step, Proceed):
                if r.pc == "K1":
                    assert model_check(step.value) is None and step.value is not None, step.value
                    r.got_k1 = step.value
                r.pc = "B" if r.pc == "K1" else "C"
            elif isinstance(step, Exit):
                r.pc = "exited"
                self._pod_ends(r.pod, "Succeeded")
        elif r.pc == "finish":
            done = self._write(r, lambda o: runner_finished(o, r.attempt, failed=False, message="done",
                                                               now=self.now(), result=1, has_result=True))
            if not stop_if(done):
                r.reported_end = True
                r.pc = "exited"
                self._pod_ends(r.pod, "Succeeded")

    # ---- invariants ----------------------------------------------------------------

    @invariant()
    def failed_only_for_a_documented_reason(self) -> None:
        status = self.run().get("status") or {}
        if status.get("phase") == Phase.FAILED.value:
            assert status.get("reason") in (POD_LOSSES_EXHAUSTED, DEADLINE_EXCEEDED,
                                            INFRASTRUCTURE_REFUSED), status
        if status.get("phase") == Phase.CANCELLED.value:
            assert status.get("reason") == CANCELLED

    @invariant()
    def a_finished_run_never_changes(self) -> None:
        status = self.run().get("status") or {}
        if status.get("phase") and Phase(status["phase"]).terminal:
            snapshot = {k: status.get(k) for k in ("phase", "result", "reason", "attempt")}
            if self.finished_as is None:
                self.finished_as = snapshot
            assert snapshot == self.finished_as

    @invariant()
    def at_most_one_runner_runs_flow_code(self) -> None:
        running = [r for r in self.runners.values() if r.running_code]
        assert len(running) <= 1, [(r.pod, r.pc) for r in running]

    @invariant()
    def a_fenced_attempt_writes_nothing(self) -> None:
        assert not self.fenced_writes, self.fenced_writes

    def _pods_ended_early(self) -> int:
        """Pods that ended without their runner reporting the run's end: lost, crashed,
        stopped by a fence, or exited on the flow's own suspension (a fence or a
        suspension withdrawn with the webhook bypassed leaves such a pod behind too)."""
        return sum(1 for r in self.runners.values()
                   if r.pc in ("exited", "stopped", "dead") and not r.reported_end)

    @invariant()
    def pod_losses_stay_within_the_limit(self) -> None:
        status = self.run().get("status") or {}
        losses = int(status.get("podLosses") or 0)
        ended = self._pods_ended_early()
        assert losses <= MAX_POD_LOSSES, status
        assert losses <= ended, (losses, ended, status.get("history"))
        if status.get("reason") == POD_LOSSES_EXHAUSTED:
            assert losses == MAX_POD_LOSSES and ended > MAX_POD_LOSSES, (losses, ended)

    def _declared(self, key: str) -> OnTimeout:
        k2 = OnTimeout.RESUME if self.k2.until is not None else self.k2.on_timeout
        return {"pause-1": self.k1.on_timeout, "pause-2": k2}.get(key, OnTimeout.FAIL)

    @invariant()
    def a_deadline_fires_once_and_only_past_its_time(self) -> None:
        status = self.run().get("status") or {}
        fired = [h for h in status.get("history") or [] if h.get("action") in ("timed-out", "continued")]
        keys = [h.get("key") for h in fired]
        assert len(keys) == len(set(keys)), fired
        if status.get("reason") == DEADLINE_EXCEEDED:
            assert len(fired) >= 1 and self._declared(fired[-1]["key"]) is OnTimeout.FAIL, status.get("history")
            deadline = parse_timestamp((status.get("pause") or {}).get("deadline"))
            ended = parse_timestamp(status.get("completionTime"))
            assert deadline is not None and ended is not None and deadline <= ended <= self.clock, status
        for entry in fired:  # a deadline only fails the run when the pause said so
            assert (self._declared(entry["key"]) is OnTimeout.FAIL) == (status.get("reason") == DEADLINE_EXCEEDED
                                                                         and entry is fired[-1]), (entry, status)
            if self._declared(entry["key"]) is OnTimeout.CANCEL:
                assert status.get("phase") == Phase.CANCELLED.value and entry is fired[-1], status

    @invariant()
    def a_pause_escalates_once_and_only_after_its_time(self) -> None:
        status = self.run().get("status") or {}
        escalated = [h for h in status.get("history") or [] if h.get("action") == "escalated"]
        assert len(escalated) <= 1 and all(h.get("key") == "pause-1" for h in escalated), escalated
        if escalated:
            assert self.k1.approval is not None and escalated[0]["by"] == "operator"
            since = min(parse_timestamp(h["time"]) for h in status["history"]
                        if h.get("action") == "paused" and h.get("key") == "pause-1")
            assert parse_timestamp(escalated[0]["time"]) >= since + timedelta(seconds=600), status["history"]
        pause = status.get("pause") or {}
        if pause.get("key") == "pause-1" and (pause.get("approval") or {}).get("escalated"):
            assert escalated, status

    @invariant()
    def an_answer_and_the_deadline_settle_to_one_outcome(self) -> None:
        """Per pause: once the system settled it at its deadline, nobody else resumes it
        (the resume that follows is the system's, with the defaults); once someone's
        resume took effect, its deadline never fires."""
        history = (self.run().get("status") or {}).get("history") or []
        for key in ("pause-1", "pause-2"):
            settled = None
            for entry in (h for h in history if h.get("key") == key):
                action = entry.get("action")
                if action in ("timed-out", "continued"):
                    assert settled is None, (key, history)
                    assert (action == "continued") == (key == "pause-2" and self.k2.until is not None), entry
                    settled = "timed-out"
                elif action == "resumed":
                    if settled == "timed-out":
                        assert entry.get("by") == "operator", (key, history)
                        assert key != "pause-1" or json.loads(entry.get("input") or "null") == DEFAULT, entry
                    settled = "resumed" if settled != "timed-out" else settled
                elif action == "resume-rejected" and settled == "resumed":
                    settled = None  # the flow's model took the resume back: the pause waits again

    @invariant()
    def one_job_per_attempt(self) -> None:
        assert all(count == 1 for (kind, _, _), count in self.store.created.items() if kind == "Job"), \
            self.store.created

    @invariant()
    def the_object_stays_small(self) -> None:
        assert len(json.dumps(self.run()).encode()) < MAX_FLOWRUN_BYTES

    def _settled_state(self) -> str:
        return json.dumps([self.run(), {n: (r.pc, r.memo.armed, r.memo.stashed) for n, r in self.runners.items()},
                           self.volume, sorted(map(str, self.store.objects))], sort_keys=True, default=str)

    def teardown(self) -> None:
        try:
            self._settle()
        finally:
            reconcile.now = self._real_now

    def _settle(self) -> None:
        """Leave the run alone until it settles; a resume accepted last is not lost.
        Every watch catches up here, the runners' too: a runner left on the lagging copy
        of the last rule would wait for ever on a resume its watch never brings, which no
        real watch does."""
        self.lagging = False
        for _ in range(200):
            before = self._settled_state()
            for kind in ("FlowRun", "Job", "Pod"):  # the watches catch up
                self.watch_delivers(kind)
            self.operator_step()
            self.kubelet_starts_pods()
            self.terminating_pods_end()
            for name in sorted(self.runners):
                r = self.runners[name]
                if r.pc not in ("exited", "stopped", "dead"):
                    self._runner_step(r)
            if self._settled_state() == before:
                break
        obj = self.run()
        status = obj.get("status") or {}
        for r in self.runners.values():  # every runner settled on a fresh copy
            if r.pc not in ("exited", "stopped", "dead") and r.decided_on is not None:
                assert r.decided_on["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"], r.pod
        view = RunView.of(obj)
        deadline = view.pause_deadline
        assert deadline is None or deadline > self.clock, f"waits past its deadline: {status}"
        assert view.terminal or view.pending is None or view.pending.timed_out is None, \
            f"the system's resume was not carried out: {status}"
        if any(h.get("action") == "timed-out" and h.get("key") == "pause-1" for h in status.get("history") or []) \
                and self.k1.on_timeout is OnTimeout.RESUME and keys_contain(status.get("resumed"), "pause-1"):
            got = [r.got_k1 for r in self.runners.values() if r.got_k1 != "unset"]
            assert got and got[-1] == DEFAULT, (got, status)
        if not self.accepted or self.accepted[-1][0] != "resume":
            return
        if status.get("phase") in (Phase.FAILED.value, Phase.CANCELLED.value):
            return  # explained: pod losses ran out (the invariant above checks the reason)
        # The last thing a person did was a valid resume of K1: it continued the run.
        assert keys_contain(status.get("resumed"), "pause-1"), (status, self.accepted)
        got = [r.got_k1 for r in self.runners.values() if r.got_k1 != "unset"]
        assert got and got[-1] == self.accepted[-1][1], (got, self.accepted)


FlowRunInterleavings.TestCase.settings = settings(
    max_examples=int(os.environ.get("FLOWRUN_INTERLEAVINGS", "2000")), stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_interleavings = FlowRunInterleavings.TestCase


def test_merge_patch_is_rfc7386():
    assert merge_patch({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": None}, "l": [2]}) == {"a": {"c": 2}, "l": [2]}


@pytest.mark.parametrize("unused", [None])
def test_the_fake_api_bumps_generation_on_spec_changes_only(unused):
    kube = FakeKube()
    kube.create_flowrun("ns", {"metadata": {"name": "x"}, "spec": {"flow": "m:f"}})
    gen = lambda: kube.get_flowrun("ns", "x")["metadata"]["generation"]  # noqa: E731
    kube.patch_flowrun("ns", "x", {"status": {"phase": "Running"}}, status=True)
    kube.patch_flowrun("ns", "x", {"metadata": {"annotations": {"a": "b"}}})
    assert gen() == 1
    kube.patch_flowrun("ns", "x", {"spec": {"state": "Paused"}})
    assert gen() == 2


def test_teardown_settles_a_runner_left_on_a_lagging_copy():
    """The failing case of issue 28, replayed: start, four runner steps (the last one on a
    lagging copy: the runner records its pause and keeps that copy), a resume with input,
    teardown. The teardown lets every watch catch up, so the runner sees the resume and
    the flow gets its input; a teardown that kept the last rule's lagging copy left the
    runner holding at the pause for ever."""
    machine = FlowRunInterleavings()
    for _ in range(3):  # the run recorded, its Job created, the Job's uid recorded
        machine.operator_step()
    machine.kubelet_starts_pods()
    (runner,) = machine.runners.values()
    for lagging in (False, False, False, True):  # started, at K1, armed, pause recorded
        machine.lagging = lagging
        machine._runner_step(runner)
    assert runner.pc == "K1" and (machine.run()["status"].get("pause") or {}).get("key") == "pause-1"
    machine.resume_with_input("Marvin")
    assert machine.accepted == [("resume", {"name": "Marvin"})]
    machine.lagging = True  # as the last rule left it
    machine.teardown()
    assert runner.got_k1 == {"name": "Marvin"}


def _paused_at_k1(machine: FlowRunInterleavings, on_timeout: OnTimeout) -> Runner:
    machine.the_flow_declares_what_its_deadlines_do(on_timeout, OnTimeout.FAIL)
    for _ in range(3):
        machine.operator_step()
    machine.kubelet_starts_pods()
    (runner,) = machine.runners.values()
    for _ in range(4):
        machine._runner_step(runner)
    assert machine.run()["status"]["phase"] == "Paused"
    return runner


def test_the_clock_actor_fires_a_pause_deadline_at_its_time_and_once():
    """The clock as an actor, replayed: the run pauses at K1 (deadline one hour on), the
    clock moves to one second before it (nothing happens), then to it (the run fails,
    DeadlineExceeded, ending at the deadline), then further (nothing more)."""
    machine = FlowRunInterleavings()
    try:
        _paused_at_k1(machine, OnTimeout.FAIL)
        status = machine.run()["status"]
        assert status["phase"] == "Paused" and status["pause"]["deadline"] == "2026-11-25T13:00:00Z"
        machine.clock_advances(3599)
        machine.operator_step()
        assert machine.run()["status"]["phase"] == "Paused"
        machine.clock_advances(1)
        machine.operator_step()
        status = machine.run()["status"]
        assert status["reason"] == DEADLINE_EXCEEDED and status["completionTime"] == "2026-11-25T13:00:00Z"
        machine.clock_advances(3600)
        machine.operator_step()
        machine.a_deadline_fires_once_and_only_past_its_time()
        machine.a_finished_run_never_changes()
    finally:
        machine.teardown()


def test_the_clock_actor_fires_on_timeout_resume_through_the_system():
    """on_timeout="resume", replayed: at the deadline the operator writes the outcome,
    then spec.state Running; the runner resumes K1 with the input's defaults, credited
    to the system; a person's answer after the outcome is refused by the webhook."""
    machine = FlowRunInterleavings()
    try:
        runner = _paused_at_k1(machine, OnTimeout.RESUME)
        machine.clock_advances(3599)
        machine.operator_step()
        assert "timedOut" not in machine.run()["status"]["pause"]
        machine.clock_advances(1)
        machine.operator_step()
        assert machine.run()["status"]["pause"]["timedOut"]["outcome"] == "resume"
        assert not machine.person({"state": "Running", "input": {"name": "Marvin"}})  # too late: refused
        machine.operator_step()
        assert machine.run()["spec"]["state"] == "Running"
        for _ in range(3):
            machine._runner_step(runner)
        assert runner.got_k1 == DEFAULT and runner.pc == "B"
        resumed = [h for h in machine.run()["status"]["history"] if h["action"] == "resumed"]
        assert resumed[-1]["by"] == "operator"
        machine.an_answer_and_the_deadline_settle_to_one_outcome()
        machine.a_deadline_fires_once_and_only_past_its_time()
    finally:
        machine.teardown()


@pytest.mark.parametrize("on_timeout", [OnTimeout.RESUME, OnTimeout.CANCEL, OnTimeout.FAIL])
def test_an_answer_the_api_took_first_beats_a_deadline_already_due(on_timeout):
    """The answer and the deadline in the same second, the answer landing first: the
    deadline's write, decided on the older copy, conflicts; decided again, it leaves the
    answer to be judged. The flow gets the person's input; no timed-out entry."""
    machine = FlowRunInterleavings()
    try:
        runner = _paused_at_k1(machine, on_timeout)
        machine.clock_advances(3600)
        stale = machine.operator_kube.get_flowrun(NS, NAME)
        assert machine.person({"state": "Running", "input": {"name": "Marvin"}})
        machine.reconciler.converge(stale, max_steps=1)  # decided on the copy before the answer
        status = machine.run()["status"]
        assert status["phase"] == "Paused" and not any(h["action"] == "timed-out" for h in status["history"])
        for _ in range(3):
            machine._runner_step(runner)
        assert runner.got_k1 == {"name": "Marvin"}
    finally:
        machine.teardown()


def test_the_clock_actor_fires_on_timeout_cancel_once():
    machine = FlowRunInterleavings()
    try:
        _paused_at_k1(machine, OnTimeout.CANCEL)
        machine.clock_advances(3600)
        machine.operator_step()
        status = machine.run()["status"]
        assert status["phase"] == "Cancelled" and status["reason"] == CANCELLED
        assert "nobody answered pause-1" in status["message"]
        assert not machine.person({"state": "Running", "input": {"name": "Marvin"}})
        machine.a_deadline_fires_once_and_only_past_its_time()
    finally:
        machine.teardown()


def test_a_suspension_until_a_time_continues_then_even_after_an_operator_restart():
    """K2 as suspend_flow_run(until=13:30), replayed: the run passes K1 (answered),
    suspends at K2 and has no Job; the operator is replaced by a new one (a restart: it
    keeps nothing but what the FlowRun says); at 13:30 it continues as the next attempt,
    credited to the system, and completes."""
    machine = FlowRunInterleavings()
    try:
        runner = _paused_at_k1(machine, OnTimeout.FAIL)
        machine.the_flow_declares_what_its_deadlines_do(OnTimeout.FAIL, "until")
        assert machine.person({"state": "Running", "input": {"name": "Marvin"}})
        for _ in range(8):
            machine._runner_step(runner)
            machine.operator_step()
        status = machine.run()["status"]
        assert status["phase"] == "Suspended" and status["pause"]["until"] == "2026-11-25T13:30:00Z", status
        machine.terminating_pods_end()
        machine.operator_step()
        assert not machine.user.list("Job", NS), "a run suspended until a time has no Job"
        machine.reconciler = Reconciler(machine.operator_kube, Settings(runner_image="img",
                                                                          max_pod_losses=MAX_POD_LOSSES))
        machine.clock = UNTIL - timedelta(seconds=1)
        machine.operator_step()
        assert machine.run()["status"]["phase"] == "Suspended"
        machine.clock = UNTIL
        machine._settle()
        status = machine.run()["status"]
        assert status["phase"] == "Completed", status
        continued = [h for h in status["history"] if h["action"] in ("continued", "resumed") and h["key"] == "pause-2"]
        assert [(h["action"], h["by"]) for h in continued] == [("continued", "operator"), ("resumed", "operator")]
    finally:
        machine.teardown()
