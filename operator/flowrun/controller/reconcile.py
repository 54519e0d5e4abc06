"""Reconciling one FlowRun: make the world (Job, pods, volume, account) match what the
FlowRun says, and make its status say what the world is.

Level-triggered and idempotent: `reconcile()` may run any number of times, for any
event (the FlowRun, its Job, its pod), after any crash, and converges. Each numbered
step either acts and returns, or falls through to the next. Status is written only by
compare-and-swap through the contract's phase table; child objects are created by
deterministic names (`<run>-<attempt>`) so a replayed step adopts instead of duplicating.

Pure decisions (what a pod's state means, whether input validates) are plain functions
at the bottom; everything touching the API goes through `flowrun.kube.Kube`.
"""
from __future__ import annotations

import logging
import threading
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from ..contract.audit import actor
from ..contract.children import is_child_of
from ..contract.constants import API_VERSION, KIND, LABEL_ATTEMPT, LABEL_PARENT, LABEL_RUN, LABEL_STARTED_BY
from ..contract.inputs import input_errors
from ..contract.phases import InvalidTransition, PauseKind, Phase, State
from ..contract.status import (
    history_patch,
    now,
    parse_timestamp,
    phase_patch,
    timestamp,
)
from ..kube import Kube
from . import metrics, resources, template_gate
from .failpoints import failpoint
from .admission import ANNOTATION_SUSPENDED_WITH_PARENT
from .settings import Settings

log = logging.getLogger("flowrun.controller")

# Waiting reasons of a container that will not fix themselves.
_IMAGE_ERRORS = {"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"}
_CONFIG_ERRORS = {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}

_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


class Reconciler:
    def __init__(self, kube: Kube, settings: Settings):
        self.kube = kube
        self.settings = settings

    # ---- entry point -----------------------------------------------------------------

    def reconcile(self, namespace: str, name: str) -> None:
        """Bring one FlowRun a step closer to its desired state (serialised per run)."""
        with _locks[f"{namespace}/{name}"]:
            obj = self.kube.get_flowrun(namespace, name)
            if obj is None or obj["metadata"].get("deletionTimestamp"):
                metrics.observe_phase(namespace, name, None)
                return
            try:
                self._reconcile(obj)
            except InvalidTransition as exc:
                # Someone (the runner) moved the run on between our read and our write;
                # the next event re-evaluates from the new state.
                log.info("%s/%s: %s", namespace, name, exc)
            except Exception:
                metrics.RECONCILE_ERRORS.inc()
                raise
            self.emit_events(namespace, name)
        if parent_of(obj):  # most runs have none: spare them the extra read
            self.mirror_to_parent(namespace, name)

    def _reconcile(self, obj: dict[str, Any]) -> None:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        phase = status.get("phase")
        state = spec.get("state", State.RUNNING.value)

        # 1. A new FlowRun: record it, then start it (unless created suspended).
        if not phase:
            return self.start(obj)
        # 2. Finished runs only keep their Job (for logs) or lose it (timed out).
        if Phase(phase).terminal:
            return
        # 3. Suspension wanted while something runs: tear the Job down.
        if state == State.SUSPENDED.value and phase != Phase.SUSPENDED.value:
            return self.suspend(obj)
        # 4. Suspended: no Job may exist; a resume starts the next attempt.
        if phase == Phase.SUSPENDED.value:
            if state == State.RUNNING.value:
                return self.resume_suspended(obj)
            return self.delete_jobs(obj)
        # 5. Paused and asked to resume: the live runner resumes itself; we only refuse
        #    input that does not validate (the webhook should have, if it was reachable).
        #    A resume is a spec change made after the pause was recorded: a newer
        #    generation (in between the runner's two writes, it is not one).
        if phase == Phase.PAUSED.value and state == State.RUNNING.value and is_resume(obj):
            if self.reject_invalid_resume(obj):
                return
        # 6. A live attempt: its Job must exist and its pod must be able to run.
        return self.follow_job(obj)

    # ---- steps -----------------------------------------------------------------------

    def start(self, obj: dict[str, Any]) -> None:
        spec = obj.get("spec") or {}
        if spec.get("state") == State.SUSPENDED.value:
            def decide(cur):
                st = cur.get("status") or {}
                if st.get("phase"):
                    return None
                patch = phase_patch(st, "Suspended", "Created suspended: set spec.state to Running to start it",
                                    attempt=0, jobName="")
                patch["history"] = history_patch(st, "created-suspended", by=actor(cur))
                return None, patch
            self._update(obj, decide)
            return

        def decide(cur):
            st = cur.get("status") or {}
            if st.get("phase"):
                return None
            patch = phase_patch(st, "Pending", "Starting attempt 1", attempt=1,
                                jobName=resources.job_name(cur["metadata"]["name"], 1))
            patch["history"] = history_patch(st, "created", by=actor(cur))
            return None, patch
        obj = self._update(obj, decide)
        if obj is not None:
            self.ensure_job(obj)

    def suspend(self, obj: dict[str, Any]) -> None:
        """Record the suspension, then delete the Job (the pods go with it) and suspend
        linked children. In this order a resume or a crash at any point is safe: once
        the status says Suspended, step 4 removes any Job left, and a resume starts the
        next attempt after removing them; a suspension withdrawn before it was recorded
        deletes nothing."""
        default_timeout = self.settings.default_timeout_seconds

        def decide(cur):
            st, sp = cur.get("status") or {}, cur.get("spec") or {}
            if sp.get("state") != State.SUSPENDED.value or st.get("phase") in (
                    Phase.SUSPENDED.value, Phase.COMPLETED.value, Phase.FAILED.value):
                return None
            pause = st.get("pause") or {}
            fields: dict[str, Any] = {"jobName": "", "jobUID": ""}
            history = st.get("history")
            if pause.get("kind") == PauseKind.SUSPEND.value:
                message = f"Suspended at {pause.get('key')} by the flow; resume with spec.state=Running"
            else:
                when = now()
                key = f"external-suspend-{st.get('attempt', 0)}"
                fields["pause"] = {
                    "key": key, "kind": PauseKind.SUSPEND.value, "since": timestamp(when),
                    "timeoutSeconds": default_timeout,
                    "deadline": timestamp(when + timedelta(seconds=default_timeout)),
                    "inputSchema": None, "requestedBy": "user",
                    "generation": cur["metadata"].get("generation", 0),
                }
                message = "Suspended from outside; resume with spec.state=Running"
                history = history_patch(st, "suspended", by=actor(cur), key=key)
            patch = phase_patch(st, "Suspended", message, **fields)
            if history is not None:
                patch["history"] = history
            return None, patch
        obj = self._update(obj, decide)
        if obj is None or (obj.get("status") or {}).get("phase") != Phase.SUSPENDED.value:
            return
        failpoint("suspend-after-status")
        self.delete_jobs(obj)
        self.cascade_to_children(obj, suspend=True)

    def resume_suspended(self, obj: dict[str, Any]) -> None:
        """A suspended run set to Running: validate its input, record the resume and
        start the next attempt's Job on the same cache volume."""
        if self.reject_invalid_resume(obj):
            return
        # A Job of the suspended attempt may be left (the operator stopped between
        # recording the suspension and deleting it): it goes before the next one starts.
        self.delete_jobs(obj)

        def decide(cur):
            st, sp = cur.get("status") or {}, cur.get("spec") or {}
            if st.get("phase") != Phase.SUSPENDED.value or sp.get("state") != State.RUNNING.value:
                return None
            attempt = int(st.get("attempt") or 0) + 1
            pause = st.get("pause") or {}
            key = pause.get("key")
            fields: dict[str, Any] = {
                "attempt": attempt, "jobName": resources.job_name(cur["metadata"]["name"], attempt),
                "jobUID": "", "pause": None,
            }
            history = st.get("history")
            if key:
                fields["resumed"] = [*(st.get("resumed") or []), key]
                if sp.get("input") is not None:
                    fields["inputs"] = {key: sp.get("input")}
                history = history_patch(st, "resumed", by=actor(cur), key=key)
            elif attempt == 1:
                history = history_patch(st, "started", by=actor(cur))
            message = f"Resumed{' from ' + key if key else ''}; starting attempt {attempt}"
            patch = phase_patch(st, "Pending", message, **fields)
            patch["history"] = history
            return None, patch
        obj = self._update(obj, decide)
        if obj is not None and (obj.get("status") or {}).get("phase") == Phase.PENDING.value:
            self.ensure_job(obj)
            self.cascade_to_children(obj, suspend=False)

    def reject_invalid_resume(self, obj: dict[str, Any]) -> bool:
        """If the resume's input does not validate against the pause's schema, put
        spec.state back (the run stays paused/suspended) and say why. True if rejected."""
        status, spec = obj.get("status") or {}, obj.get("spec") or {}
        pause = status.get("pause") or {}
        errors = input_errors(pause.get("inputSchema"), spec.get("input"))
        if not errors:
            return False
        back = State.PAUSED.value if status.get("phase") == Phase.PAUSED.value else State.SUSPENDED.value
        message = f"Resume rejected, input is invalid: {'; '.join(errors)}"
        generation = obj["metadata"].get("generation")

        def decide(cur):
            if cur["metadata"].get("generation") != generation:
                return None  # the user changed it again; judge the new version
            st = cur.get("status") or {}
            patch = {"message": message,
                     "history": history_patch(st, "resume-rejected", by=actor(cur),
                                              key=pause.get("key", ""), message="; ".join(errors)[:200])}
            return {"spec": {"state": back}}, patch
        self._update(obj, decide)
        log.info("%s/%s: %s", obj["metadata"]["namespace"], obj["metadata"]["name"], message)
        return True

    def follow_job(self, obj: dict[str, Any]) -> None:
        status = obj.get("status") or {}
        job_name = status.get("jobName")
        if not job_name:
            return
        ns = obj["metadata"]["namespace"]
        job = self.kube.get("Job", ns, job_name)
        # a. Not there: create it, unless we had created it and someone deleted it.
        if job is None or (status.get("jobUID") and job["metadata"]["uid"] != status.get("jobUID")):
            if status.get("jobUID"):
                return self.fail(obj, f"Job {job_name} was deleted by someone else while the run was {status.get('phase')}")
            return self.ensure_job(obj)
        if not status.get("jobUID"):
            self._record_job(obj, job)
        # b. The Job ended but the runner did not report an end.
        finished = _job_finished(job)
        if finished:
            return self.job_ended(obj, job, finished)
        # c. Its pod cannot start (bad image, bad config): fail now, not never.
        for pod in self.kube.list("Pod", ns, f"job-name={job_name}"):
            problem = pod_problem(pod)
            if problem:
                self.kube.delete("Job", ns, job_name)
                return self.fail(obj, problem)

    def job_ended(self, obj: dict[str, Any], job: dict[str, Any], how: str) -> None:
        status, spec = obj.get("status") or {}, obj.get("spec") or {}
        ns = obj["metadata"]["namespace"]
        if spec.get("state") == State.SUSPENDED.value:
            return  # step 3 handles it
        pause = status.get("pause") or {}
        if how == "Complete" and pause.get("kind") == PauseKind.SUSPEND.value:
            # The runner recorded a suspension and exited before setting spec.state.
            self._update(obj, lambda cur: ({"spec": {"state": State.SUSPENDED.value}}, None)
                         if (cur.get("status") or {}).get("phase") not in (Phase.COMPLETED.value, Phase.FAILED.value) else None)
            return
        pods = self.kube.list("Pod", ns, f"job-name={job['metadata']['name']}")
        detail = "; ".join(filter(None, (pod_exit_detail(p) for p in pods))) or how
        if status.get("phase") == Phase.PAUSED.value:
            # The paused pod died (evicted, node lost...). Do not lose the run: treat it
            # as suspended; a resume re-runs the flow from the result cache.
            def decide(cur):
                st = cur.get("status") or {}
                if st.get("phase") != Phase.PAUSED.value:
                    return None
                p = dict(st.get("pause") or {})
                p["kind"] = PauseKind.SUSPEND.value
                patch = phase_patch(st, "Suspended", f"The paused pod ended ({detail}); the run is now suspended: "
                                    "resume to restart it from the result cache", pause=p, jobName="", jobUID="")
                patch["history"] = history_patch(st, "suspended", by="operator", key=p.get("key", ""), message=detail[:200])
                return {"spec": {"state": State.SUSPENDED.value}}, patch
            self._update(obj, decide)
            self.delete_jobs(obj)
            return
        self.fail(obj, f"The runner pod ended without reporting a result: {detail}")

    def fail(self, obj: dict[str, Any], message: str, *, action: str = "failed") -> None:
        def decide(cur):
            st = cur.get("status") or {}
            if st.get("phase") in (Phase.COMPLETED.value, Phase.FAILED.value):
                return None
            patch = phase_patch(st, "Failed", message, completionTime=timestamp())
            patch["history"] = history_patch(st, action, by="operator", message=message[:200])
            return None, patch
        self._update(obj, decide)

    def expire(self, namespace: str, name: str) -> bool:
        """The pause or suspension deadline passed: fail the run and remove its Job.
        True when the run was failed by this call."""
        with _locks[f"{namespace}/{name}"]:
            expired = False

            def decide(cur):
                nonlocal expired
                st = cur.get("status") or {}
                deadline = pause_deadline(st)
                if deadline is None or deadline > now():
                    return None
                pause = st.get("pause") or {}
                paused = st.get("phase") == Phase.PAUSED.value
                verb = "paused" if paused else "suspended"
                message = (f"Flow run was {verb} and never resumed: no resume within "
                           f"{pause.get('timeoutSeconds')}s of {verb} at {pause.get('key')}")
                patch = phase_patch(st, "Failed", message, completionTime=timestamp())
                patch["history"] = history_patch(st, "timed-out", by="operator", key=pause.get("key", ""))
                expired = True
                return None, patch
            obj = self.kube.update_flowrun(namespace, name, decide)
            if obj is not None and expired:
                self.delete_jobs(obj, every_attempt=True)
            self.emit_events(namespace, name)
            return expired

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

    # ---- subflows --------------------------------------------------------------------

    def cascade_to_children(self, obj: dict[str, Any], *, suspend: bool) -> None:
        """Suspend the linked children of a suspended parent; resume those that were
        suspended with it when it resumes (marked by an annotation naming the parent)."""
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        for child in self.kube.list_flowruns(ns, f"{LABEL_PARENT}={name}"):
            st, sp = child.get("status") or {}, child.get("spec") or {}
            if st.get("phase") in (Phase.COMPLETED.value, Phase.FAILED.value):
                continue
            marked = (child["metadata"].get("annotations") or {}).get(ANNOTATION_SUSPENDED_WITH_PARENT)
            if suspend and sp.get("state") != State.SUSPENDED.value:
                patch = {"metadata": {"annotations": {ANNOTATION_SUSPENDED_WITH_PARENT: name}},
                         "spec": {"state": State.SUSPENDED.value}}
            elif not suspend and marked == name and sp.get("state") == State.SUSPENDED.value:
                patch = {"metadata": {"annotations": {ANNOTATION_SUSPENDED_WITH_PARENT: None}},
                         "spec": {"state": State.RUNNING.value}}
            else:
                continue
            self.kube.patch_flowrun(ns, child["metadata"]["name"], patch)

    def mirror_to_parent(self, namespace: str, name: str) -> None:
        """Copy a child's phase, message and result into its parent's status.subflows,
        which the parent's runner watches (it may not read other FlowRuns)."""
        obj = self.kube.get_flowrun(namespace, name)
        if obj is None:
            return
        parent = parent_of(obj)
        if not parent:
            return
        status = obj.get("status") or {}
        entry = {"phase": status.get("phase") or "Pending", "message": status.get("message", "")}
        if "result" in status:
            entry["result"] = status["result"]

        def decide(cur):
            if not is_child_of(obj, cur):  # a poser, or a child of an older run of that name
                return None
            if ((cur.get("status") or {}).get("subflows") or {}).get(name) == entry:
                return None
            return None, {"subflows": {name: entry}}
        self.kube.update_flowrun(namespace, parent, decide)

    # ---- children --------------------------------------------------------------------

    def ensure_job(self, obj: dict[str, Any]) -> None:
        """Create (or adopt) everything the current attempt needs, Job last."""
        refused = template_gate.refusal(obj, self.settings)  # the webhook may have been bypassed
        if refused:
            return self.fail(obj, refused)
        status = obj.get("status") or {}
        attempt = int(status.get("attempt") or 1)
        for child in resources.runner_account(obj):
            self.kube.create(child)
        if resources.owns_cache_claim(obj):
            self.kube.create(resources.cache_claim(obj, self.settings))
        job = self.kube.create(resources.job(obj, attempt, self.settings))
        self._record_job(obj, job)

    def _record_job(self, obj: dict[str, Any], job: dict[str, Any]) -> None:
        uid, name = job["metadata"]["uid"], job["metadata"]["name"]
        self._update(obj, lambda cur: None if (cur.get("status") or {}).get("jobName") != name
                     or (cur.get("status") or {}).get("jobUID") == uid
                     else (None, {"jobUID": uid}))

    def delete_jobs(self, obj: dict[str, Any], *, every_attempt: bool = False) -> None:
        """Delete the run's Jobs, with background propagation (pods go too): those of
        attempts up to the one `obj`'s status records, so that acting on a stale read
        can never delete the Job of a newer attempt; all of them with `every_attempt`."""
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        through = int((obj.get("status") or {}).get("attempt") or 0)
        for job in self.kube.list("Job", ns, f"{LABEL_RUN}={name}"):
            if job["metadata"].get("deletionTimestamp"):
                continue
            attempt = (job["metadata"].get("labels") or {}).get(LABEL_ATTEMPT, "0")
            if not every_attempt and attempt.isdigit() and int(attempt) > through:
                continue
            self.kube.delete("Job", ns, job["metadata"]["name"], propagation="Background")

    # ---- events ----------------------------------------------------------------------

    def emit_events(self, namespace: str, name: str) -> None:
        """One Kubernetes Event per history entry not yet announced (at least once)."""
        obj = self.kube.get_flowrun(namespace, name)
        if obj is None:
            return
        status = obj.get("status") or {}
        metrics.observe_phase(namespace, name, status.get("phase") or "Pending")
        done = int(status.get("eventedSeq") or 0)
        fresh = [e for e in status.get("history") or [] if int(e.get("seq") or 0) > done]
        if not fresh:
            return
        involved = {"apiVersion": API_VERSION, "kind": KIND, "metadata": obj["metadata"]}
        for entry in fresh:
            reason, type_ = _EVENT_REASONS.get(entry.get("action", ""), (entry.get("action", "").title(), "Normal"))
            parts = [entry.get("action", "")]
            if entry.get("key"):
                parts.append(f"at {entry['key']}")
            if entry.get("by"):
                parts.append(f"by {entry['by']}")
            text = entry.get("message") or " ".join(parts)
            self.kube.emit_event(involved, reason, text, type_=type_)
            metrics.TRANSITIONS.labels(entry.get("action", "")).inc()
        last = max(int(e.get("seq") or 0) for e in fresh)
        self.kube.update_flowrun(namespace, name, lambda cur: None
                                 if int((cur.get("status") or {}).get("eventedSeq") or 0) >= last
                                 else (None, {"eventedSeq": last}))

    # ---- helpers ---------------------------------------------------------------------

    def _update(self, obj: dict[str, Any], decide) -> dict[str, Any] | None:
        meta = obj["metadata"]
        return self.kube.update_flowrun(meta["namespace"], meta["name"], decide)


_EVENT_REASONS = {
    "created": ("Created", "Normal"),
    "created-suspended": ("CreatedSuspended", "Normal"),
    "started": ("Started", "Normal"),
    "paused": ("Paused", "Normal"),
    "suspended": ("Suspended", "Normal"),
    "resumed": ("Resumed", "Normal"),
    "completed": ("Completed", "Normal"),
    "failed": ("Failed", "Warning"),
    "retrying": ("FlowRetrying", "Warning"),
    "timed-out": ("TimedOut", "Warning"),
    "resume-rejected": ("ResumeRejected", "Warning"),
}




def is_resume(obj: dict[str, Any]) -> bool:
    """spec.state=Running on a paused run is a resume only if the spec changed after the
    pause was recorded (the runner records the pause, then sets spec.state=Paused)."""
    pause = (obj.get("status") or {}).get("pause") or {}
    return obj["metadata"].get("generation", 0) > int(pause.get("generation") or 0)


def pause_deadline(status: dict[str, Any]) -> datetime | None:
    """The deadline the operator enforces now, if any."""
    if status.get("phase") not in (Phase.PAUSED.value, Phase.SUSPENDED.value):
        return None
    return parse_timestamp((status.get("pause") or {}).get("deadline"))


def parent_of(obj: dict[str, Any]) -> str:
    """The run that started this one with run_flow (linked or not), or ""."""
    labels = obj["metadata"].get("labels") or {}
    return labels.get(LABEL_PARENT) or labels.get(LABEL_STARTED_BY) or ""


def finished_at(obj: dict[str, Any]) -> datetime:
    """When a finished run ended: status.completionTime, else its last history entry."""
    status = obj.get("status") or {}
    history = status.get("history") or []
    return (parse_timestamp(status.get("completionTime"))
            or (parse_timestamp(history[-1].get("time")) if history else None)
            or now())


def finished_expiry(obj: dict[str, Any], default_ttl: int | None) -> datetime | None:
    """When a finished FlowRun is due for deletion, if ever: its end plus
    spec.ttlSecondsAfterFinished (else the operator's default). A linked subflow has
    none of its own: it goes with its parent, whose re-execution may still need it."""
    phase = (obj.get("status") or {}).get("phase")
    if not phase or not Phase(phase).terminal:
        return None
    if (obj["metadata"].get("labels") or {}).get(LABEL_PARENT):
        return None
    ttl = (obj.get("spec") or {}).get("ttlSecondsAfterFinished")
    ttl = default_ttl if ttl is None else ttl
    if ttl is None:
        return None
    return finished_at(obj) + timedelta(seconds=int(ttl))


def _job_finished(job: dict[str, Any]) -> str | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "Failed"):
            return cond["type"]
    return None


def pod_problem(pod: dict[str, Any]) -> str | None:
    """A message when a pod is stuck in a way that will not resolve by waiting."""
    status = pod.get("status") or {}
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in _IMAGE_ERRORS:
            return (f"Image {cs.get('image')!r} cannot be pulled ({reason}): "
                    f"{waiting.get('message', '').strip()}").strip()
        if reason in _CONFIG_ERRORS:
            return f"The runner container cannot start ({reason}): {waiting.get('message', '').strip()}"
    if status.get("reason") == "Evicted":
        return f"The runner pod was evicted: {status.get('message', '')}"
    return None


def pod_exit_detail(pod: dict[str, Any]) -> str:
    status = pod.get("status") or {}
    if status.get("reason"):
        return f"pod {pod['metadata']['name']}: {status.get('reason')} {status.get('message', '')}".strip()
    for cs in status.get("containerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated")
        if term:
            return (f"pod {pod['metadata']['name']}: {term.get('reason', 'Terminated')} "
                    f"(exit code {term.get('exitCode')})")
    return ""
