"""Reconciling one FlowRun: the thin shell around `contract.lifecycle.operator.operator_step`.

The shell only reads (the FlowRun, its Jobs, pods and linked children), asks the
contract for the next single step, and does it: a compare-and-swap write of the
FlowRun (re-decided on every conflict), or one effect on the world (create the
attempt's Job, delete Jobs, patch children). Then it reads again and asks again, until
the contract says nothing is left. Every step is decided from what was read, never from
what this process remembers, so a crash between any two steps leaves a state from which
the next reconcile simply continues.

What this module must never do: decide. If a branch here needs an `if` about a run's
phase or state, it belongs in contract/lifecycle/.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from ..contract.lifecycle.attempts import job_conflict, job_refused
from ..contract.lifecycle.operator import next_due, operator_step
from ..contract.lifecycle.steps import CreateJob, DeleteJobs, PatchChildren, Step, Wait, Write
from ..contract.lifecycle.subflows import subflow_mirror
from ..contract.lifecycle.vocabulary import CONFLICT
from ..contract.lifecycle.world import ChildView, Policy, World
from ..contract.children import is_child_of
from ..contract.instances import belongs
from ..contract.ownership import conflict_message, owned_by
from ..contract.constants import API_VERSION, KIND, LABEL_PARENT, LABEL_RUN
from ..contract.phases import Phase
from ..contract import bounded
from ..contract.lifecycle.vocabulary import now
from ..contract.status import clip
from ..kube import Kube, KubeError
from . import metrics, resources, template_gate
from .cache import WorldCache
from .failpoints import failpoint
from .settings import Settings
from .views import child_view, finished_at, finished_expiry, job_view, parent_of, pod_view

log = logging.getLogger("flowrun.controller")

MAX_STEPS = 25


class RunLocks:
    """One lock per run, so steps of one run never interleave within this process. A
    lock exists only while someone holds or waits for it (dropped when the last one lets
    go), so the map holds the runs being reconciled now, not every run ever seen, and
    dropping one can never let two reconciles of a run overlap."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, list] = {}  # key -> [lock, holders and waiters]

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            entry = self._locks.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._guard:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)


class Reconciler:
    def __init__(self, kube: Kube, settings: Settings, cache: WorldCache | None = None):
        """`cache`: what the operator's watches show (cache.py); without one, every
        reconcile reads the FlowRun, its Jobs and its pods from the API server."""
        self.kube = kube
        self.settings = settings
        self.cache = cache
        self._policy = Policy(
            default_timeout_seconds=settings.default_timeout_seconds,
            max_pod_losses=settings.max_pod_losses,
            suspend_after_seconds=settings.suspend_after_seconds,
            image_pull_grace_seconds=settings.image_pull_grace_seconds,
            job_name=resources.job_name,
        )
        self.locks = RunLocks()
        # (namespace, name) -> (uid, seq): the history entries this process announced as
        # Events but has not yet recorded in status.eventedSeq. The mark rides along with
        # the operator's next own status write, or is written at once when the run ends,
        # instead of a write per entry (bench/scale.py: 3 status writes per run). Lost with
        # the process: a new leader announces those entries again (at least once).
        self._announced: dict[tuple[str, str], tuple[str, int]] = {}
        self._event_budgets: dict[tuple[str, str], bounded.EventBudget] = {}
        # Fencing (controller/leader.py): checked before every step; a replica that is not
        # the leader (any more) stops where it is.
        self.may_act: Callable[[], bool] = lambda: True

    @property
    def policy(self) -> Policy:
        """The decisions' settings, with the signing keys as they are now (a rotated key
        ring reaches a running operator: controller/template_gate.py)."""
        return replace(self._policy, signing=template_gate.keys(self.settings))

    # ---- entry point -----------------------------------------------------------------

    def reconcile(self, namespace: str, name: str) -> datetime | None:
        """Bring one FlowRun to where the contract wants it. Returns when it wants to be
        reconciled again by itself (a deadline, a retry), if ever."""
        key = f"{namespace}/{name}"
        started = time.monotonic()
        try:
            with self.locks.hold(key):
                obj = self.read(namespace, name)
                if obj is None or not belongs(obj, self.settings.instance):
                    self.forget(namespace, name)
                    return None
                wake, obj = self._converge(obj)
                if obj is None:
                    return None
                self.emit_events(namespace, name, obj)
        finally:
            metrics.RECONCILE_SECONDS.observe(time.monotonic() - started)
        if parent_of(obj):  # most runs have none: spare them the extra read
            self.mirror_to_parent(namespace, name)
        self.mirror_pending_children(obj)
        return wake

    def read(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The FlowRun as last seen by the watch (or this process's writes); read from
        the API server only when the cache has not seen it."""
        if self.cache is not None and (obj := self.cache.flowrun(namespace, name)) is not None:
            return obj
        obj = self.kube.get_flowrun(namespace, name)
        if obj is not None and self.cache is not None:
            obj = self.cache.put_flowrun(obj)
        return obj

    def forget(self, namespace: str, name: str) -> None:
        """The run is gone: drop what this process kept for it."""
        metrics.observe_phase(namespace, name, None)
        self._announced.pop((namespace, name), None)
        self._event_budgets.pop((namespace, name), None)
        if self.cache is not None:
            self.cache.forget_run(namespace, name)

    def converge(self, obj: dict[str, Any], *, max_steps: int = MAX_STEPS) -> datetime | None:
        return self._converge(obj, max_steps=max_steps)[0]

    def _converge(self, obj: dict[str, Any], *, max_steps: int = MAX_STEPS) -> tuple[datetime | None, dict | None]:
        """(when to come back, the FlowRun as last written or read)."""
        world = self.observe(obj)
        for _ in range(max_steps):
            if not self.may_act():
                return None, None
            step = operator_step(obj, world, self.policy, now())
            if step is None:
                return next_due(obj, self.policy), obj
            decide = lambda cur: operator_step(cur, world, self.policy, now())  # noqa: E731
            if isinstance(step, Wait):
                if step.status is not None:
                    obj = self.write(obj, lambda cur: s if isinstance(s := decide(cur), Wait) else None) or obj
                due = next_due(obj, self.policy)
                return min(filter(None, (step.until, due)), default=None), obj
            if isinstance(step, Write):
                written = self.write(obj, lambda cur: s if isinstance(s := decide(cur), Write) else None,
                                     spec_first=step.spec_first)
                if written is None:
                    return None, None
                failpoint("after-write")
                obj = written
                continue
            retry = self.act(obj, step)
            if retry is not None:
                return retry, obj
            ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
            read: dict[str, Any] | None
            if self.cache is not None:  # the act wrote nothing, or wrote through the cache
                read = self.cache.put_flowrun(obj)
            else:
                read = self.kube.get_flowrun(ns, name)
            if read is None:
                return None, None
            obj = read
            world = self.observe(obj)
        (log.warning if max_steps == MAX_STEPS else log.debug)("%s/%s: still not converged after %d steps", obj["metadata"]["namespace"],
                    obj["metadata"]["name"], max_steps)
        return now() + timedelta(seconds=1), obj

    def write(self, obj: dict[str, Any], step_for, *, spec_first: bool = False) -> dict | None:
        """Compare-and-swap: `step_for(current)` decides again on every fresh read, so a
        decision is never applied to a state it was not taken for."""
        meta = obj["metadata"]

        def decide(cur: dict[str, Any]):
            step = step_for(cur)
            if isinstance(step, Write):
                main_patch, status_patch = step.patches()
            elif isinstance(step, Wait) and step.status is not None:
                main_patch, status_patch = None, step.status
            else:
                return None
            return main_patch, self._with_announced(cur, status_patch)

        if self.cache is None:
            return self.kube.update_flowrun(meta["namespace"], meta["name"], decide, main_first=spec_first)
        written = self.kube.update_flowrun(meta["namespace"], meta["name"], decide, main_first=spec_first,
                                           current=obj)
        return None if written is None else self.cache.put_flowrun(written)

    def act(self, obj: dict[str, Any], step: Step) -> datetime | None:
        ns = obj["metadata"]["namespace"]
        if isinstance(step, CreateJob):
            return self.ensure_job(obj, step.attempt)
        if isinstance(step, DeleteJobs):
            failpoint("before-delete-jobs")
            for job_name in step.names:
                self.kube.delete("Job", ns, job_name, propagation="Background")
                if self.cache is not None:
                    self.cache.job_deleting(ns, obj["metadata"]["name"], job_name)
            return None
        if isinstance(step, PatchChildren):
            for child, patch in step.patches:
                try:
                    self.kube.patch_flowrun(ns, child, patch)
                except KubeError as exc:
                    log.warning("%s/%s: could not change child %s: %s", ns, obj["metadata"]["name"], child, exc)
                    return now() + timedelta(seconds=5)
            return None
        raise TypeError(f"unknown step {step!r}")

    # ---- what the operator sees ------------------------------------------------------

    def observe(self, obj: dict[str, Any]) -> World:
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        status = obj.get("status") or {}
        if status.get("phase") == Phase.COMPLETED.value:
            return World()  # nothing is done to a completed run's Jobs or pods
        if self.cache is not None and self.cache.jobs_known(ns, name, status.get("jobName") or ""):
            jobs, pods = self.cache.jobs(ns, name), self.cache.pods(ns, name)
        else:
            jobs = tuple(job_view(j) for j in self.kube.list("Job", ns, f"{LABEL_RUN}={name}"))
            pods = tuple(pod_view(p) for p in self.kube.list("Pod", ns, f"{LABEL_RUN}={name}"))
        children: tuple[ChildView, ...] = ()
        if status.get("subflows") or status.get("subflowsReceived"):
            children = tuple(child_view(c, obj) for c in self.kube.list_flowruns(ns, f"{LABEL_PARENT}={name}"))
        return World(jobs=jobs, pods=pods, children=children)

    # ---- children --------------------------------------------------------------------

    def ensure_job(self, obj: dict[str, Any], attempt: int) -> datetime | None:
        """Create (or adopt) everything the attempt needs, Job last. A refusal by the API
        server becomes the run's message (and, when it cannot succeed, its end)."""
        refused = template_gate.refusal(obj, self.settings)  # the webhook may have been bypassed
        if refused:  # never valid without the webhook's signature: the run fails, as on a 422
            self.write(obj, lambda cur: job_refused(cur, 422, refused, now()))
            return None
        uid = obj["metadata"].get("uid") or ""
        try:
            # The run's own claim first: its provisioning starts while the rest is made
            # (the binding alone takes ~90 ms in the API server; bench/README.md, runner_start.py).
            wanted = [resources.cache_claim(obj, self.settings)] if resources.owns_cache_claim(obj) else []
            wanted += resources.runner_account(obj)
            for child in wanted:
                # A 409 returns the object of that name: used only if it is this run's own.
                if not owned_by(made := self.kube.create(child), uid):
                    self.conflict(obj, {**made, "kind": child["kind"]})
                    return None
            job = self.kube.create(resources.job(obj, attempt, self.settings))
            if not owned_by(job, uid):
                self.conflict(obj, {**job, "kind": "Job"})
                return None
            if self.cache is not None:
                self.cache.put_job(job)  # ahead of its watch event: never created twice
            return None
        except KubeError as exc:
            if exc.status not in (400, 403, 422):
                raise
            log.warning("%s/%s: the API server refused attempt %d's objects: %s",
                        obj["metadata"]["namespace"], obj["metadata"]["name"], attempt, exc.message)
            code, message = exc.status, exc.message
            decision = job_refused(obj, code, message, now())
            self.write(obj, lambda cur: job_refused(cur, code, message, now()))
            if isinstance(decision, Write):
                return None
            return now() + timedelta(seconds=self.settings.job_retry_seconds)

    def conflict(self, obj: dict[str, Any], existing: dict[str, Any]) -> None:
        """An object of a name the run needs is someone else's: never adopted; the run
        fails with the reason Conflict (a Warning Event of that reason names the object)."""
        message = conflict_message(existing, obj)
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        log.warning("%s/%s: %s", ns, name, message)
        self.kube.emit_event({"apiVersion": API_VERSION, "kind": KIND, "metadata": obj["metadata"]},
                             CONFLICT, message, type_="Warning")
        self.write(obj, lambda cur: job_conflict(cur, message, now()))

    # ---- events ----------------------------------------------------------------------

    def _announced_seq(self, obj: dict[str, Any]) -> int:
        meta = obj["metadata"]
        uid, seq = self._announced.get((meta["namespace"], meta["name"]), ("", 0))
        return seq if uid and uid == meta.get("uid") else 0

    def _with_announced(self, cur: dict[str, Any], status_patch: dict | None) -> dict | None:
        """A status write of the operator's own also records the Events announced since."""
        seq = self._announced_seq(cur)
        if status_patch is None or seq <= int((cur.get("status") or {}).get("eventedSeq") or 0):
            return status_patch
        return {**status_patch, "eventedSeq": seq}

    def emit_events(self, namespace: str, name: str, obj: dict[str, Any] | None = None) -> None:
        """One Kubernetes Event per history entry not yet announced (at least once).
        `obj`: the FlowRun as the converge left it (else read)."""
        if obj is None or self.cache is None:
            obj = self.kube.get_flowrun(namespace, name)
        if obj is None:
            return
        status = obj.get("status") or {}
        metrics.observe_run(obj)
        recorded = int(status.get("eventedSeq") or 0)
        done = max(recorded, self._announced_seq(obj))
        fresh = [e for e in status.get("history") or [] if int(e.get("seq") or 0) > done]
        involved = {"apiVersion": API_VERSION, "kind": KIND, "metadata": obj["metadata"]}
        budget = self._event_budgets.setdefault((namespace, name), bounded.EventBudget())
        for entry in fresh:
            # Flow code may write history itself: its action, key and message are bounded here.
            action = bounded.history_action(entry.get("action"))
            reason, type_ = bounded.HISTORY_EVENTS.get(action, bounded.OTHER_EVENT)
            metrics.TRANSITIONS.labels(action).inc()
            if not budget.allow(time.monotonic()):
                continue  # a run writing history in a loop: its Events are rate-limited
            parts = [action]
            if entry.get("key"):
                parts.append(f"at {clip(str(entry['key']), 63)}")
            if entry.get("by"):
                parts.append(f"by {clip(str(entry['by']), 253)}")
            text = clip(str(entry.get("message") or " ".join(parts)), 1024)
            if budget.suppressed:
                text += f" ({budget.suppressed} earlier Events of this run not sent: rate-limited)"
                budget.suppressed = 0
            self.kube.emit_event(involved, reason, text, type_=type_)
        last = max([done] + [int(e.get("seq") or 0) for e in fresh])
        if last > done:
            self._announced[(namespace, name)] = (obj["metadata"].get("uid") or "", last)
        phase = status.get("phase")
        if last <= recorded or not (phase and Phase(phase).terminal):
            return  # recorded already, or with the operator's next own write (above)
        written = self.kube.update_flowrun(namespace, name, lambda cur: None
                                           if int((cur.get("status") or {}).get("eventedSeq") or 0) >= last
                                           else (None, {"eventedSeq": last}),
                                           current=obj if self.cache is not None else None)
        if written is not None and self.cache is not None:
            self.cache.put_flowrun(written)
        if written is not None:
            self._announced.pop((namespace, name), None)  # recorded: nothing left to carry

    # ---- subflows --------------------------------------------------------------------

    def mirror_to_parent(self, namespace: str, name: str) -> None:
        """Copy a child's phase, message and result into its parent's status.subflows."""
        child = self.kube.get_flowrun(namespace, name)
        if child is None:
            return
        parent = parent_of(child)
        if not parent:
            return
        # Only into the run the child really belongs to (not a poser, not an older run of
        # the parent's name: contract/children.py).
        self.kube.update_flowrun(namespace, parent, lambda cur: (
            None if not is_child_of(child, cur) or (d := subflow_mirror(cur, child)) is None
            else d.patches()))

    def mirror_pending_children(self, obj: dict[str, Any]) -> None:
        """Results that waited for room in this run's status: try again now."""
        pending = [n for n, e in ((obj.get("status") or {}).get("subflows") or {}).items()
                   if e and e.get("resultPending")]
        for child in pending:
            self.mirror_to_parent(obj["metadata"]["namespace"], child)

    # ---- time to live ----------------------------------------------------------------

    def collect(self, namespace: str, name: str) -> bool:
        """Delete a finished FlowRun whose time to live has run out (with it go its Job,
        pods and per-run claim). True when there is nothing more to wait for."""
        obj = self.kube.get_flowrun(namespace, name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return True
        due = finished_expiry(obj, self.settings.ttl_seconds_after_finished)
        if due is None:
            return True
        if due > now():
            return False
        ttl = (due - finished_at(obj)).total_seconds()
        involved = {"apiVersion": API_VERSION, "kind": KIND, "metadata": obj["metadata"]}
        self.kube.emit_event(involved, "Expired", f"Deleting the finished FlowRun {ttl:g} s after it "
                             f"ended (ttlSecondsAfterFinished)")
        log.info("%s/%s: finished %g s ago; deleting it (ttlSecondsAfterFinished)", namespace, name, ttl)
        self.kube.delete_flowrun(namespace, name)
        return True


