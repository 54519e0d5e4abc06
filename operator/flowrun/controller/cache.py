"""What the operator's watches have shown it: the FlowRuns, and the Jobs and pods of runs
(labelled `flowrun.io/run`), kept as the small views the contract decides from.

kopf already watches all three kinds for the handlers; feeding this cache from those
events (handlers.py) lets a reconcile decide without a GET of the FlowRun and a LIST of
its Jobs and pods on every event, which is what made a run cost a dozen requests.

Why it is safe:
- Complete before use: handlers.py registers kopf indexes on Jobs and pods that feed
  this cache, and kopf calls no handler before every index has seen its initial listing.
- Per kind in order: each watch delivers its kind's events in order, so the cache is, per
  kind, what a LIST a few milliseconds earlier would have said.
- Never ahead of the FlowRun in a harmful way: the one thing a LIST could not show (the
  FlowRun newer than its Jobs: a Job created by another process, whose event has not
  arrived yet) is caught by `jobs_known`: the reconciler then reads live.
- Writes stay compare-and-swap: a stale FlowRun copy makes the guarded patch conflict
  and the write re-reads; a stale copy can delay a step, never make a wrong write.
- This process's own creations and deletions are written through (`put_job`,
  `job_deleting`), so a converge loop does not create or delete twice before the
  watch catches up.

What this module must never do: call the API or decide. It remembers.
"""
from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any, Callable

from ..contract.lifecycle.world import JobView, PodView
from ..contract.constants import LABEL_RUN

RunKey = tuple[str, str]  # (namespace, run name)


def _newer(a: dict[str, Any] | None, b: dict[str, Any]) -> bool:
    """Whether `b` is at least as new as `a`. resourceVersions are opaque strings, but an
    etcd-backed API server serves increasing integers: compare those; otherwise take `b`
    (a wrong guess costs a conflict and a re-read, nothing else)."""
    if a is None:
        return True
    ra, rb = a["metadata"].get("resourceVersion", ""), b["metadata"].get("resourceVersion", "")
    if ra.isdigit() and rb.isdigit():
        return int(rb) >= int(ra)
    return True


def run_of(obj: dict[str, Any]) -> RunKey | None:
    meta = obj.get("metadata") or {}
    run = (meta.get("labels") or {}).get(LABEL_RUN)
    return (meta.get("namespace", ""), run) if run else None


class WorldCache:
    def __init__(self, job_view: Callable[[dict], JobView], pod_view: Callable[[dict], PodView]) -> None:
        self._lock = threading.Lock()
        self._runs: dict[RunKey, dict[str, Any]] = {}
        self._jobs: dict[RunKey, dict[str, JobView]] = {}
        self._pods: dict[RunKey, dict[str, PodView]] = {}
        self._job_view, self._pod_view = job_view, pod_view

    # ---- FlowRuns ------------------------------------------------------------------------

    def flowrun(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._runs.get((namespace, name))

    def flowrun_by_uid(self, namespace: str, uid: str) -> dict[str, Any] | None:
        """The FlowRun of `namespace` whose uid this is (a scan: only for inputs sent by uid)."""
        with self._lock:
            for (ns, _), obj in self._runs.items():
                if ns == namespace and obj["metadata"].get("uid") == uid:
                    return obj
        return None

    def put_flowrun(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Remember `obj` unless a newer copy is known; returns the newest. The copy kept
        has no managedFields (nothing decides from them, and they are the bulk of it)."""
        if "managedFields" in obj["metadata"]:
            obj = {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "managedFields"}}
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        with self._lock:
            known = self._runs.get(key)
            if _newer(known, obj):
                self._runs[key] = obj
                return obj
            return known  # type: ignore[return-value]

    def forget_run(self, namespace: str, name: str) -> None:
        """The FlowRun is gone: drop it (its Jobs and pods go with their own events)."""
        with self._lock:
            self._runs.pop((namespace, name), None)

    # ---- Jobs and pods -------------------------------------------------------------------

    def put_job(self, job: dict[str, Any]) -> None:
        self._put(self._jobs, job, self._job_view)

    def put_pod(self, pod: dict[str, Any]) -> None:
        self._put(self._pods, pod, self._pod_view)

    def drop_job(self, job: dict[str, Any]) -> None:
        self._drop(self._jobs, job)

    def drop_pod(self, pod: dict[str, Any]) -> None:
        self._drop(self._pods, pod)

    def job_deleting(self, namespace: str, run: str, name: str) -> None:
        """This process asked for the Job's deletion: show it as going until its events say."""
        with self._lock:
            views = self._jobs.get((namespace, run)) or {}
            if name in views:
                views[name] = replace(views[name], deleting=True)

    def jobs(self, namespace: str, run: str) -> tuple[JobView, ...]:
        with self._lock:
            return tuple((self._jobs.get((namespace, run)) or {}).values())

    def pods(self, namespace: str, run: str) -> tuple[PodView, ...]:
        with self._lock:
            return tuple((self._pods.get((namespace, run)) or {}).values())

    def jobs_known(self, namespace: str, run: str, job_name: str) -> bool:
        """Whether the cache can be trusted for this run's Jobs: the Job its status names
        (if any) is in it. False: the FlowRun is ahead of the Job watch (a Job another
        process created); read live."""
        if not job_name:
            return True
        with self._lock:
            return job_name in (self._jobs.get((namespace, run)) or {})

    def sizes(self) -> dict[str, int]:
        with self._lock:
            return {"flowruns": len(self._runs),
                    "jobs": sum(len(v) for v in self._jobs.values()),
                    "pods": sum(len(v) for v in self._pods.values())}

    def _put(self, table: dict[RunKey, dict[str, Any]], obj: dict[str, Any], view: Callable) -> None:
        key = run_of(obj)
        if key is None:
            return
        made = view(obj)
        with self._lock:
            table.setdefault(key, {})[obj["metadata"]["name"]] = made

    def _drop(self, table: dict[RunKey, dict[str, Any]], obj: dict[str, Any]) -> None:
        key = run_of(obj)
        if key is None:
            return
        with self._lock:
            views = table.get(key)
            if views is not None:
                views.pop(obj["metadata"]["name"], None)
                if not views:
                    del table[key]
