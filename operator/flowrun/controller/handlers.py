"""Every kopf registration of the operator, and nothing else: each handler is a line or
two that hands over to the parts made at startup (`Parts`): the watch cache
(controller/cache.py), the work queue (workqueue.py: timers, backoff, one reconcile of a
run at a time), the reconciler (reconcile.py: decisions are the contract's), the leader
election (leader.py), notifications (notify.py) and the webhook endpoints (webhooks.py).

- FlowRun, Job and pod watch events all lead to one level-triggered reconcile of the
  FlowRun concerned (event-driven: a resume or suspend is acted on at once). Each event
  first updates the watch cache, from which the reconcile decides without reading the
  API server again; kopf indexes on Jobs and pods make sure the cache has seen every
  existing object before any handler runs. Every FlowRun is listed when the operator
  starts, so the queue's timers survive restarts.
- The admission webhook (validate + mutate) applies the rules before the API server
  stores a change, and records who made it.
- With notifications on: FlowRunNotifier watch events keep notify.py's view of the
  notifiers; a mutating webhook admits a notifier only when its creator may read the
  Secrets it references.
- Instances: every watch handler sees only this instance's objects (the
  flowrun.io/instance label, contract/instances.py).
- Replicas: only the leader acts; a standby only remembers which runs exist, and
  reconciles them all when it becomes the leader. Every replica serves the webhook.

Settings are read once, here, when the module is imported: kopf needs this instance's
label and whether the webhook and notifications are on before it starts. Everything that
holds state, a connection or a thread is made in the startup handler (`start`), not at
import.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import kopf

from ..contract.constants import GROUP, LABEL_INSTANCE, LABEL_RUN, NOTIFIER_PLURAL, PLURAL, VERSION
from ..contract.instances import finalizer
from ..contract.run_inputs import INPUT_PLURAL
from ..contract.phases import Phase
from ..kube import Kube
from . import metrics
from .cache import WorldCache
from .inbox import Deliveries, InputQueue
from .leader import Leadership
from .notify import Notifications
from .reconcile import Reconciler
from .settings import Settings
from .views import job_view, pod_view
from .webhooks import Webhooks, webhook_server
from .workqueue import WorkQueue

log = logging.getLogger("flowrun.controller")
SETTINGS = Settings.from_env()
# This instance's objects only (kopf filters every watch handler by it).
MINE = {LABEL_INSTANCE: SETTINGS.instance or kopf.ABSENT}
# The operator puts no finalizer on FlowRuns: kopf adds one only for timers and daemons,
# and the resync and the time to live are the work queue's own timers, so a run costs no
# finalizer patches, starts without waiting for one, and its deletion never hangs on a
# stopped operator. kopf removes a finalizer of this name that an earlier version left
# (one name per instance: contract/instances.py).
FINALIZER = finalizer(SETTINGS.instance)


@dataclass
class Parts:
    """What the handlers hand over to, made once when the operator starts."""
    settings: Settings
    cache: WorldCache
    reconciler: Reconciler
    leader: Leadership
    queue: WorkQueue
    webhooks: Webhooks
    notifications: Notifications | None
    inputs: InputQueue
    election: asyncio.Task[None] | None = None
    sweeper: asyncio.Task[None] | None = None

    @classmethod
    def make(cls, settings: Settings) -> Parts:
        cache = WorldCache(job_view, pod_view)
        metrics.watch_cache(cache.sizes)
        kube = Kube()
        reconciler = Reconciler(kube, settings, cache=cache)
        notifications = Notifications(kube, settings) if settings.notifications else None
        leader = Leadership(settings)
        queue = WorkQueue(reconciler, settings, cache, acting=leader.acting,
                          look_at=notifications.look_at if notifications is not None else None)
        inputs = InputQueue(Deliveries(kube), cache, leader.acting, orphan_seconds=settings.input_orphan_seconds,
                            instance=settings.instance)

        async def on_gain() -> None:
            inputs.deliver_waiting()
            await queue.reconcile_all()
        leader.on_gain, leader.on_lose = on_gain, queue.stand_by
        reconciler.may_act = leader.acting
        return cls(settings, cache, reconciler, leader, queue, Webhooks(kube, settings), notifications, inputs)


_parts: Parts | None = None


def parts() -> Parts:
    if _parts is None:
        raise RuntimeError("the operator has not started (kopf runs the startup handler first)")
    return _parts


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf builds an "essence" of every object on every watch event (a deep copy of it)
    to diff it for on.create/update/delete handlers. This operator registers none (only
    on.event handlers, indexes and admission), so it needs no essence: this one is empty
    and stored nowhere. Measured with py-spy during a 600-run burst: the deep copies
    were 15 % of the operator's CPU."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> Any:
        return {}

    def fetch(self, *, body: kopf.Body) -> Any:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: Any) -> None:
        return None


# ---- start and stop ---------------------------------------------------------------------

@kopf.on.startup()
def start(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Make the parts, and tune kopf."""
    global _parts
    if SETTINGS.webhook_port:  # first: a self-signed certificate's key signs templates (template_gate)
        settings.admission.server = webhook_server(SETTINGS)
        if SETTINGS.webhook_manage:
            settings.admission.managed = SETTINGS.webhook_manage
    _parts = Parts.make(SETTINGS)
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="flowrun.io")
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.posting.level = logging.WARNING
    # Act on a change within milliseconds instead of kopf's default 0.1 s batching.
    settings.batching.batch_window = 0.01
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.peering.standalone = True
    settings.execution.max_workers = 8
    if SETTINGS.metrics_port:
        metrics.count_requests()
        metrics.serve(SETTINGS.metrics_port)
    # Load the kubernetes client library now (seconds on a busy machine), not in the
    # first reconcile that creates a Job.
    _parts.reconciler.kube.core  # noqa: B018
    log.info("flowrun operator settings: %s", SETTINGS)


@kopf.on.startup()
async def elect(**_: Any) -> None:
    """Start the leader election beside kopf (it runs until the operator stops)."""
    parts().election = asyncio.get_running_loop().create_task(parts().leader.run())
    parts().sweeper = asyncio.get_running_loop().create_task(parts().inputs.sweeping())


@kopf.on.cleanup()
async def resign(**_: Any) -> None:
    if _parts is None:
        return
    if _parts.election is not None:
        _parts.election.cancel()
    if _parts.sweeper is not None:
        _parts.sweeper.cancel()
    await _parts.leader.release()


# ---- watches ------------------------------------------------------------------------------

# The cache's initial fill: kopf runs no handler until these indexes have seen every
# existing Job and pod of a run (they index nothing else: the cache keeps the views).
# A standby fills its cache too, so it can lead at once.
@kopf.index("batch", "v1", "jobs", labels={LABEL_RUN: kopf.PRESENT, **MINE})
def run_jobs(body: kopf.Body, **_: Any) -> None:
    parts().cache.put_job(dict(body))


@kopf.index("", "v1", "pods", labels={LABEL_RUN: kopf.PRESENT, **MINE})
def run_pods(body: kopf.Body, **_: Any) -> None:
    parts().cache.put_pod(dict(body))


# kopf passes a handler only the keyword arguments it names; its protocols (WatchingFn,
# WebhookFn) list them all, hence the type: ignore[arg-type] on these registrations.
@kopf.on.event(GROUP, VERSION, PLURAL, labels=MINE)  # type: ignore[arg-type]
async def flowrun_changed(type: str | None, body: kopf.Body, name: str, namespace: str, **_: Any) -> None:
    p = parts()
    if type == "DELETED":
        p.queue.forget(namespace, name)
        p.inputs.forget(namespace, name)
        return
    p.cache.put_flowrun(dict(body))
    phase = (body.get("status") or {}).get("phase")
    p.queue.seen(namespace, name, live=not phase or not Phase(phase).terminal)
    if p.leader.acting():
        p.queue.schedule(namespace, name)
    p.inputs.run_seen(namespace, name, (body.get("metadata") or {}).get("uid", ""))


@kopf.on.event("batch", "v1", "jobs", labels={LABEL_RUN: kopf.PRESENT, **MINE})  # type: ignore[arg-type]
async def job_changed(type: str | None, body: kopf.Body, labels: dict[str, str], namespace: str,
                      **_: Any) -> None:
    cache = parts().cache
    (cache.drop_job if type == "DELETED" else cache.put_job)(dict(body))
    parts().queue.schedule(namespace, labels[LABEL_RUN])


@kopf.on.event("", "v1", "pods", labels={LABEL_RUN: kopf.PRESENT, **MINE})  # type: ignore[arg-type]
async def pod_changed(type: str | None, body: kopf.Body, labels: dict[str, str], namespace: str,
                      **_: Any) -> None:
    cache = parts().cache
    (cache.drop_pod if type == "DELETED" else cache.put_pod)(dict(body))
    parts().queue.schedule(namespace, labels[LABEL_RUN])


@kopf.on.event(GROUP, VERSION, INPUT_PLURAL)  # type: ignore[arg-type]
async def input_sent(type: str | None, namespace: str, labels: dict[str, str], meta: kopf.Meta,
                     **_: Any) -> None:
    """An input was sent (or found at start): deliver the pending inputs of its run
    (controller/inbox.py). Every instance sees every input; each delivers only to its
    own runs (those in its cache)."""
    target = labels.get(LABEL_RUN, "")
    if type != "DELETED" and target:
        version = str(meta.get("resourceVersion") or "")
        parts().inputs.sent(namespace, target, int(version) if version.isdigit() else 0)


async def notifier_changed(type: str | None, body: kopf.Body, **_: Any) -> None:
    """A FlowRunNotifier appeared, changed or went: its readiness, and every run of its
    namespace looked at again (a pause already waiting is news to a new notifier)."""
    p = parts()
    assert p.notifications is not None  # registered only with notifications on
    await asyncio.to_thread(p.notifications.notifier_changed, dict(body), type == "DELETED", p.leader.acting())


if SETTINGS.notifications:
    kopf.on.event(GROUP, VERSION, NOTIFIER_PLURAL, labels=MINE)(notifier_changed)


# ---- admission (webhooks.py) ----------------------------------------------------------------

def validate(body: kopf.Body, old: dict[str, Any] | None, operation: str | None,
             userinfo: dict[str, Any], **_: Any) -> None:
    parts().webhooks.validate(body, old, operation, userinfo)


def mutate(body: kopf.Body, old: dict[str, Any] | None, patch: kopf.Patch,
           userinfo: dict[str, Any], **_: Any) -> None:
    parts().webhooks.mutate(body, old, patch, userinfo)


def admit_notifier(body: kopf.Body, patch: kopf.Patch, userinfo: dict[str, Any], **_: Any) -> None:
    parts().webhooks.admit_notifier(body, patch, userinfo)


# kopf refuses admission handlers without a server: register them only when enabled.
if SETTINGS.webhook_port:
    kopf.on.validate(GROUP, VERSION, PLURAL, id="flowrun-validate", operations=["CREATE", "UPDATE"],
                     ignore_failures=True, side_effects=False)(validate)  # type: ignore[arg-type]
    kopf.on.mutate(GROUP, VERSION, PLURAL, id="flowrun-mutate", operations=["CREATE", "UPDATE"],
                   ignore_failures=True, side_effects=False)(mutate)  # type: ignore[arg-type]
    if SETTINGS.notifications:
        kopf.on.mutate(GROUP, VERSION, NOTIFIER_PLURAL, id="flowrunnotifier-mutate",
                       operations=["CREATE", "UPDATE"], ignore_failures=True, side_effects=False)(admit_notifier)  # type: ignore[arg-type]
