"""Every kopf registration of the operator, and nothing else: each handler is a few lines
that hand over to `Reconciler` (decisions and I/O live there, not here).

- FlowRun, Job and pod watch events all lead to one level-triggered reconcile of the
  FlowRun concerned (event-driven: a resume or suspend is acted on at once). Each event
  first updates the watch cache (controller/cache.py), from which the reconcile decides
  without reading the API server again; kopf indexes on Jobs and pods make sure the
  cache has seen every existing object before any handler runs.
- A reconcile says when the run next needs the operator by itself (a pause's deadline,
  an idle pause's suspension, a retry after a refused Job); a per-run timer reconciles it
  at that exact moment. A reconcile that raises is retried with backoff (kopf would drop
  the error of an event handler). Every FlowRun is listed when the operator starts, so
  these timers survive restarts.
- A daemon per finished FlowRun with a time to live deletes it when that runs out
  (spec.ttlSecondsAfterFinished, else the operator's default); also re-spawned at start.
- A slow timer re-reconciles live runs as a safety net for missed events.
- The admission webhook (validate + mutate) applies controller/admission.py's rules
  before the API server stores a change, and records who made it.
- With notifications on: FlowRunNotifier watch events keep controller/notify.py's view
  of the notifiers; after each reconcile of a run its due notifications are queued
  (sent in the background); a mutating webhook admits a notifier only when its creator
  may read the Secrets it references.
- Instances: every watch handler sees only this instance's objects (the
  flowrun.io/instance label, contract/instances.py).
- Replicas: only the leader (controller/leader.py) acts; a standby only remembers which
  runs exist, and reconciles them all when it becomes the leader. Every replica serves
  the webhook.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import kopf

from ..contract.constants import GROUP, LABEL_INSTANCE, LABEL_RUN, NOTIFIER_PLURAL, PLURAL, VERSION
from ..contract.instances import finalizer
from ..contract.ownership import owned_by
from ..contract.phases import Phase
from ..contract import approvals, audit, transitions
from ..contract import notifications as notification_rules
from ..contract import template_policy as policy
from ..contract.status import now
from ..kube import Kube
from . import admission, template_gate
from . import metrics
from .cache import WorldCache
from .notify import Notifications
from .leader import Leadership
from .reconcile import Reconciler, finished_expiry, job_view, pod_view
from .settings import Settings

log = logging.getLogger("flowrun.controller")
SETTINGS = Settings.from_env()
_reconciler: Reconciler | None = None
_notifications: Notifications | None = None
# This instance's objects only (kopf filters every watch handler by it).
MINE = {LABEL_INSTANCE: SETTINGS.instance or kopf.ABSENT}
# The operator puts no finalizer on FlowRuns: kopf adds one only for timers and daemons,
# and the resync and the time to live are this module's own timers (`_arm`), so a run
# costs no finalizer patches, starts without waiting for one, and its deletion never
# hangs on a stopped operator. kopf removes a finalizer of this name that an earlier
# version left (one name per instance: contract/instances.py).
FINALIZER = finalizer(SETTINGS.instance)
CACHE = WorldCache(job_view, pod_view)
metrics.watch_cache(CACHE.sizes)


def reconciler() -> Reconciler:
    global _reconciler
    if _reconciler is None:
        _reconciler = Reconciler(Kube(), SETTINGS, cache=CACHE)
        _reconciler.may_act = LEADER.acting
    return _reconciler


def notifications() -> Notifications:
    global _notifications
    if _notifications is None:
        _notifications = Notifications(reconciler().kube, SETTINGS)
    return _notifications
# Runs this replica has seen (namespace, name) -> live: what a new leader reconciles.
_known: dict[tuple[str, str], bool] = {}


async def _reconcile_all() -> None:
    """Just became the leader: reconcile every run seen, live ones first (nothing a
    standby saw was acted on, and its timers were never armed)."""
    keys = sorted(_known, key=lambda k: not _known[k])
    log.info("leader: reconciling %d runs", len(keys))
    gate = asyncio.Semaphore(SETTINGS_WORKERS)

    async def one(namespace: str, name: str) -> None:
        async with gate:
            if LEADER.acting():
                await reconcile(namespace, name)
    await asyncio.gather(*(one(ns, n) for ns, n in keys))


SETTINGS_WORKERS = 8


def _stand_by() -> None:
    """Lost the lease: no timer of this replica fires any more (the next leader arms its own)."""
    for handle in _timers.values():
        handle.cancel()
    _timers.clear()
    _failures.clear()


LEADER = Leadership(SETTINGS, on_gain=_reconcile_all, on_lose=_stand_by)


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


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
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
    if SETTINGS.webhook_port:
        settings.admission.server = webhook_server()
        if SETTINGS.webhook_manage:
            settings.admission.managed = SETTINGS.webhook_manage
    # Load the kubernetes client library now (seconds on a busy machine), not in the
    # first reconcile that creates a Job.
    reconciler().kube.core  # noqa: B018
    log.info("flowrun operator settings: %s", SETTINGS)


@kopf.on.startup()
async def elect(**_: Any) -> None:
    """Start the leader election beside kopf (it runs until the operator stops)."""
    global _election
    _election = asyncio.get_running_loop().create_task(LEADER.run())


_election: asyncio.Task | None = None


@kopf.on.cleanup()
async def resign(**_: Any) -> None:
    if _election is not None:
        _election.cancel()
    await LEADER.release()


def _run_is_live(status: dict[str, Any]) -> bool:
    phase = (status or {}).get("phase")
    return not phase or not Phase(phase).terminal


# The cache's initial fill: kopf runs no handler until these indexes have seen every
# existing Job and pod of a run (they index nothing else: the cache keeps the views).
# A standby fills its cache too, so it can lead at once.
@kopf.index("batch", "v1", "jobs", labels={LABEL_RUN: kopf.PRESENT, **MINE})
def run_jobs(body: kopf.Body, **_: Any) -> None:
    CACHE.put_job(dict(body))


@kopf.index("", "v1", "pods", labels={LABEL_RUN: kopf.PRESENT, **MINE})
def run_pods(body: kopf.Body, **_: Any) -> None:
    CACHE.put_pod(dict(body))


@kopf.on.event(GROUP, VERSION, PLURAL, labels=MINE)
async def flowrun_changed(type: str | None, body: kopf.Body, name: str, namespace: str, **_: Any) -> None:
    if type == "DELETED":
        forget(namespace, name)
        return
    CACHE.put_flowrun(dict(body))
    _known[(namespace, name)] = _run_is_live(body.get("status") or {})
    if not LEADER.acting():
        return
    schedule(namespace, name)


@kopf.on.event("batch", "v1", "jobs", labels={LABEL_RUN: kopf.PRESENT, **MINE})
async def job_changed(type: str | None, body: kopf.Body, labels: dict[str, str], namespace: str,
                      **_: Any) -> None:
    (CACHE.drop_job if type == "DELETED" else CACHE.put_job)(dict(body))
    schedule(namespace, labels[LABEL_RUN])


@kopf.on.event("", "v1", "pods", labels={LABEL_RUN: kopf.PRESENT, **MINE})
async def pod_changed(type: str | None, body: kopf.Body, labels: dict[str, str], namespace: str,
                      **_: Any) -> None:
    (CACHE.drop_pod if type == "DELETED" else CACHE.put_pod)(dict(body))
    schedule(namespace, labels[LABEL_RUN])


def forget(namespace: str, name: str) -> None:
    """A FlowRun is gone: its timer, its failure count, its lock and its cache entry go."""
    key = f"{namespace}/{name}"
    _known.pop((namespace, name), None)
    armed = _timers.pop(key, None)
    if armed is not None:
        armed.cancel()
    _failures.pop(key, None)
    reconciler().forget(namespace, name)


# Per run: the timer that reconciles it again by itself, and its failures in a row.
_timers: dict[str, asyncio.TimerHandle] = {}
_failures: dict[str, int] = {}


# Runs being reconciled now -> whether another event came meanwhile. Events of a run
# whose reconcile is running do not queue a second thread (it would only wait for the
# run's lock, holding a worker): the running one goes once more when it ends, from the
# cache as it is then (level-triggered, so one pass sees every change).
_inflight: dict[str, bool] = {}
_executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="reconcile")
_tasks: set[asyncio.Task] = set()


def schedule(namespace: str, name: str) -> None:
    """Reconcile the run soon, without holding up kopf's event processing: a handler
    that waited for its reconcile (behind hundreds of others in a burst) would keep the
    watch cache behind the API by minutes (bench/scale.py measured it)."""
    task = asyncio.get_running_loop().create_task(reconcile(namespace, name))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def reconcile(namespace: str, name: str) -> None:
    """Reconcile in a worker thread; then arm the run's timer for when it wants the
    operator again, or, when the reconcile raised, for a retry with backoff (1 s, 2 s,
    4 s... up to a minute)."""
    if not LEADER.acting():
        return  # a standby: the leader does it (and a new leader reconciles every run)
    key = f"{namespace}/{name}"
    if key in _inflight:
        _inflight[key] = True
        return
    _inflight[key] = False
    metrics.WORKQUEUE_DEPTH.inc()
    try:
        while True:
            loop = asyncio.get_running_loop()
            try:
                wake = await loop.run_in_executor(_executor, reconciler().reconcile, namespace, name)
                expiry = _expiry(namespace, name)
                if expiry is not None and expiry <= now():  # its time to live is over: delete it
                    done = await loop.run_in_executor(_executor, reconciler().collect, namespace, name)
                    expiry = None if done else now() + timedelta(seconds=1)
                wake = min(filter(None, (wake, expiry, _resync_due(namespace, name))), default=None)
                if SETTINGS.notifications:  # queued here, sent in the background (controller/notify.py)
                    near = await loop.run_in_executor(_executor, notifications().look_at, namespace, name)
                    wake = min(filter(None, (wake, near)), default=None)
            except Exception as exc:  # noqa: BLE001 - retried below, and said in the log
                metrics.RECONCILE_ERRORS.inc()
                failures = _failures[key] = _failures.get(key, 0) + 1
                delay = min(2.0 ** (failures - 1), 60.0)
                log.error("%s: reconcile failed (%s: %s); retrying in %g s", key, type(exc).__name__, exc, delay)
                _arm(key, namespace, name, delay)
                return
            _failures.pop(key, None)
            if wake is not None:
                _arm(key, namespace, name, max((wake - now()).total_seconds(), 0.01))
            if not _inflight[key]:
                return
            _inflight[key] = False
    finally:
        del _inflight[key]
        metrics.WORKQUEUE_DEPTH.dec()


def _arm(key: str, namespace: str, name: str, delay: float) -> None:
    loop = asyncio.get_running_loop()
    armed = _timers.get(key)
    if armed is not None and not armed.cancelled() and armed.when() <= loop.time() + delay:
        return
    if armed is not None:
        armed.cancel()

    def fire() -> None:
        _timers.pop(key, None)
        loop.create_task(reconcile(namespace, name))
    _timers[key] = loop.call_later(delay, fire)


def _resync_due(namespace: str, name: str) -> datetime | None:
    """A live run is reconciled at least every resync period (a missed watch event is
    seen within it; the reconcile works from the cache, so a quiet run costs no request)."""
    if not _known.get((namespace, name)):
        return None
    return now() + timedelta(seconds=SETTINGS.resync_seconds)


def _expiry(namespace: str, name: str) -> datetime | None:
    """When a finished run's time to live is over (ttlSecondsAfterFinished), if it has one."""
    obj = CACHE.flowrun(namespace, name)
    return None if obj is None else finished_expiry(obj, SETTINGS.ttl_seconds_after_finished)


# ---- notifications ----------------------------------------------------------------

async def notifier_changed(type: str | None, body: kopf.Body, **_: Any) -> None:
    """A FlowRunNotifier appeared, changed or went: its readiness, and every run of its
    namespace looked at again (a pause already waiting is news to a new notifier)."""
    await asyncio.to_thread(notifications().notifier_changed, dict(body), type == "DELETED", LEADER.acting())


def admit_notifier(body: kopf.Body, patch: kopf.Patch, userinfo: dict[str, Any], **_: Any) -> None:
    """A notifier may reference only Secrets its creator (or changer) may `get` (asked
    with a SubjectAccessReview as that user), so nobody sends a Secret they cannot read
    to a host of their choosing. What was checked is stamped (signed with the operator's
    key); the operator reads no Secret for a notifier without a valid stamp."""
    new = dict(body)
    namespace = (new.get("metadata") or {}).get("namespace", "")
    for secret in notification_rules.secret_names(new):
        allowed, _why = reconciler().kube.may(userinfo or {}, namespace, "get", "secrets", "", secret)
        if not allowed:
            raise kopf.AdmissionError(
                f"{_user(userinfo)} may not get Secret {secret!r} in {namespace}: a FlowRunNotifier may "
                "reference only Secrets its creator may read", code=403)
    key = template_gate.key(SETTINGS)
    if not key:
        raise kopf.AdmissionError("the operator has no key to admit notifiers with (see docs/security.md)", code=403)
    patch.metadata.annotations[notification_rules.ANNOTATION_NOTIFIER_APPROVAL] = \
        notification_rules.approval(key, new)


if SETTINGS.notifications:
    kopf.on.event(GROUP, VERSION, NOTIFIER_PLURAL, labels=MINE)(notifier_changed)


# ---- admission --------------------------------------------------------------------

def webhook_server() -> kopf.WebhookServer:
    host = SETTINGS.webhook_host or SETTINGS.webhook_addr
    if SETTINGS.webhook_cert_dir:
        certs = Path(SETTINGS.webhook_cert_dir)
    else:
        from .certs import write_self_signed
        certs = write_self_signed(Path(tempfile.mkdtemp(prefix="flowrun-webhook-")), [host])
        template_gate.use_key_file(certs / "tls.key")
    # With a client CA, only a caller with a certificate it signed (the API server) is
    # answered: a pod calling the webhook directly gets no TLS session, so no answer.
    client = ({"verify_mode": ssl.CERT_REQUIRED, "verify_cafile": SETTINGS.webhook_client_ca}
              if SETTINGS.webhook_client_ca else {})
    return kopf.WebhookServer(addr=SETTINGS.webhook_addr, port=SETTINGS.webhook_port, host=host,
                              certfile=str(certs / "tls.crt"), pkeyfile=str(certs / "tls.key"),
                              cafile=str(certs / "ca.crt"), **client)


def _user(userinfo: dict[str, Any] | None) -> str:
    return (userinfo or {}).get("username", "")


def validate(body: kopf.Body, old: dict[str, Any] | None, operation: str | None,
             userinfo: dict[str, Any], **_: Any) -> None:
    new = dict(body)
    if operation == "CREATE" or not old:
        errors = admission.review_create(new)
    else:
        errors = admission.review_update(dict(old), new, user=_user(userinfo))
    if errors:
        raise kopf.AdmissionError("; ".join(errors), code=422)
    if old and SETTINGS.action_verbs:
        require_action_verb(dict(old), new, userinfo)


def require_action_verb(old: dict[str, Any], new: dict[str, Any], userinfo: dict[str, Any]) -> None:
    """With authorization.actionVerbs: a change of spec.state needs, besides `patch`, the
    custom verb of the change on flowruns (resourceNames allowed). The operator's and the
    run's own runner's writes are exempt."""
    verb = transitions.action_verb(old, new)
    user, meta = _user(userinfo), new.get("metadata") or {}
    if verb is None or user == SETTINGS.operator_user or \
            policy.is_run_account(user, meta.get("namespace", "")) == meta.get("name"):
        return
    allowed, _reason = reconciler().kube.may(userinfo or {}, meta.get("namespace", ""), verb, "flowruns",
                                              "flowrun.io", meta.get("name", ""))
    if not allowed:
        _refused_event(old, "ActionRefused", f"{user} lacks the `{verb}` verb", userinfo)
        raise kopf.AdmissionError(
            f"{user} may not {verb} FlowRun {meta.get('name')}: that needs the `{verb}` verb on "
            f"flowruns.flowrun.io (authorization.actionVerbs is on), besides patch", code=403)


def record_who(body: kopf.Body, old: dict[str, Any] | None, patch: kopf.Patch,
               userinfo: dict[str, Any], **_: Any) -> None:
    """Stamp who made the change and the generation it produces (contract/audit.py);
    a client's own stamp is always removed. The operator and runner copy the stamp into
    status.history only for that generation."""
    for key, value in audit.stamp(dict(body), dict(old) if old else None, _user(userinfo)).items():
        patch.metadata.annotations[key] = value


def guard_template(body: kopf.Body, old: dict[str, Any] | None, patch: kopf.Patch,
                   userinfo: dict[str, Any], **_: Any) -> None:
    """spec.template beyond the allow-list only for someone who could create such a pod
    (SubjectAccessReview); a run's ServiceAccount creates only its own children, no wider
    than itself (controller/admission.py review_template)."""
    new = dict(body)
    meta = new.get("metadata") or {}
    namespace, user = meta.get("namespace", ""), _user(userinfo)
    own_run = _own_run(user, namespace)
    errors, signature = admission.review_template(
        new, dict(old) if old else None, user=user, own_run=own_run,
        can_create_pods=lambda: reconciler().kube.can_create_pods(namespace, userinfo or {}),
        key=template_gate.key(SETTINGS))
    if errors:
        raise kopf.AdmissionError("; ".join(errors), code=403)
    patch.metadata.annotations[policy.ANNOTATION_TEMPLATE_APPROVAL] = signature


def _own_run(user: str, namespace: str) -> dict[str, Any] | None:
    """The FlowRun whose own ServiceAccount `user` is: named `<run>-runner` AND owned by
    that run's uid (an unrelated account of that name, e.g. `gitlab-runner` next to a run
    `gitlab`, is nobody's runner: contract/ownership.py)."""
    run = policy.is_run_account(user, namespace)
    if not run:
        return None
    kube = reconciler().kube
    obj = kube.get_flowrun(namespace, run)
    if obj is None:
        return None
    account = kube.get("ServiceAccount", namespace, user.rsplit(":", 1)[-1])
    return obj if account is not None and owned_by(account, obj["metadata"].get("uid") or "") else None


def _refused_event(obj: dict[str, Any], reason: str, message: str, userinfo: dict[str, Any]) -> None:
    """A refused request changes nothing, so it cannot be in the run's history: it is a
    Warning Event, naming the user and their groups (best effort, never blocking)."""
    groups = ", ".join((userinfo or {}).get("groups") or []) or "none"
    involved = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "FlowRun", "metadata": obj.get("metadata") or {}}
    reconciler().kube.emit_event(involved, reason, f"{message} (groups: {groups})", type_="Warning")


def guard_approvals(body: kopf.Body, old: dict[str, Any] | None, patch: kopf.Patch,
                    userinfo: dict[str, Any], **_: Any) -> None:
    """The creator of a run, and approvals of pauses that name approvers, are recorded
    here only (contract/approvals.py): a client's own values are put back; a resume by
    someone who may not approve is refused; one short of the quorum is recorded and
    leaves the run paused."""
    new = dict(body)
    written = (new.get("metadata") or {}).get("annotations") or {}
    if not old:
        patch.metadata.annotations[approvals.ANNOTATION_CREATED_BY] = _user(userinfo) or None
        if written.get(approvals.ANNOTATION_APPROVALS) is not None:
            patch.metadata.annotations[approvals.ANNOTATION_APPROVALS] = None
        return
    old = dict(old)
    kept = (old.get("metadata") or {}).get("annotations") or {}
    for name in (approvals.ANNOTATION_CREATED_BY, approvals.ANNOTATION_APPROVALS):
        if written.get(name) != kept.get(name):
            patch.metadata.annotations[name] = kept.get(name)
    meta = new.get("metadata") or {}
    if policy.is_run_account(_user(userinfo), meta.get("namespace", "")) == meta.get("name"):
        return  # the run's own runner arms and re-arms its pauses
    pause = transitions.pending_pause(old)
    if approvals.approval_of(pause) is None or not transitions.is_resume_change(old, new):
        return
    secret = template_gate.key(SETTINGS)
    if not secret:
        raise kopf.AdmissionError("this pause names approvers, but the operator has no key to record "
                                  "approvals with (see docs/security.md)", code=403)
    why, change = approvals.webhook_approve(old, new, pause, user=_user(userinfo),
                                            groups=list((userinfo or {}).get("groups") or []),
                                            time=now().strftime("%Y-%m-%dT%H:%M:%SZ"), secret=secret)
    if why:
        _refused_event(old, "ApprovalRefused", why, userinfo)
        raise kopf.AdmissionError(why, code=403)
    for name, value in change["metadata"]["annotations"].items():
        patch.metadata.annotations[name] = value
    for field, value in (change.get("spec") or {}).items():
        patch.spec[field] = value


def mutate(body: kopf.Body, old: dict[str, Any] | None, patch: kopf.Patch,
           userinfo: dict[str, Any], **kwargs: Any) -> None:
    guard_template(body=body, old=old, patch=patch, userinfo=userinfo, **kwargs)
    guard_approvals(body=body, old=old, patch=patch, userinfo=userinfo, **kwargs)
    record_who(body=body, old=old, patch=patch, userinfo=userinfo, **kwargs)


# kopf refuses admission handlers without a server: register them only when enabled.
if SETTINGS.webhook_port:
    kopf.on.validate(GROUP, VERSION, PLURAL, id="flowrun-validate", operations=["CREATE", "UPDATE"],
                     ignore_failures=True, side_effects=False)(validate)
    kopf.on.mutate(GROUP, VERSION, PLURAL, id="flowrun-mutate", operations=["CREATE", "UPDATE"],
                   ignore_failures=True, side_effects=False)(mutate)
    if SETTINGS.notifications:
        kopf.on.mutate(GROUP, VERSION, NOTIFIER_PLURAL, id="flowrunnotifier-mutate",
                       operations=["CREATE", "UPDATE"], ignore_failures=True, side_effects=False)(admit_notifier)
