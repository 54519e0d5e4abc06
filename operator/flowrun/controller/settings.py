"""The operator's settings, read once at start-up from the environment (the Helm chart
sets them). Every default a user may want to change lives here and nowhere else."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..contract.constants import DEFAULT_MAX_POD_LOSSES, DEFAULT_PAUSE_TIMEOUT


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _optional_int(value: str) -> int | None:
    return int(value) if value.strip() else None


def _int(name: str, default: int) -> int:
    return int(_env(name, str(default)))


def _float(name: str, default: float) -> float:
    return float(_env(name, str(default)))


def _flag(name: str) -> bool:
    return _env(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    # Image of runner pods when a FlowRun names none.
    runner_image: str = "flowrun-runner:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    # The per-run result-cache claim when spec.cache does not say.
    cache_size: str = "1Gi"
    cache_storage_class: str = ""
    # Timeout of a suspension or pause requested from outside (spec.state set by a user).
    default_timeout_seconds: int = DEFAULT_PAUSE_TIMEOUT
    # Finished FlowRuns are deleted this long after they end, unless their
    # spec.ttlSecondsAfterFinished says otherwise; None keeps them until deleted.
    ttl_seconds_after_finished: int | None = None
    # Namespaces to watch; empty means the whole cluster.
    namespaces: tuple[str, ...] = field(default_factory=tuple)
    # Lost runner pods a run survives (FlowRun spec.maxPodLosses overrides).
    max_pod_losses: int = DEFAULT_MAX_POD_LOSSES
    # A pause idle this long becomes a suspension of the same pause (None: never, unless
    # the FlowRun or the pause says so).
    suspend_after_seconds: int | None = None
    # How long a runner pod may fail to pull its image (or start) before the run fails.
    image_pull_grace_seconds: int = 60
    # Retry interval after the API server refused a run's Job (a quota, missing rights).
    job_retry_seconds: float = 10.0
    # Seconds a runner pod gets between SIGTERM and SIGKILL.
    termination_grace_seconds: int = 10
    # Safety-net resync of live runs in case a watch event was missed (seconds).
    resync_seconds: float = 60.0
    # How long an input to a FlowRun that does not exist waits for it (contract/run_inputs.py).
    input_orphan_seconds: float = 600.0
    # Admission webhook: served when a port is set. `webhook_host` is the name or IP the
    # API server uses to reach it (in the certificate); `webhook_cert_dir` holds
    # tls.crt, tls.key and ca.crt (else a self-signed set is made at start-up);
    # `webhook_manage` names webhook configurations the operator creates and keeps up
    # to date itself (empty: someone else, e.g. the Helm chart, manages them).
    webhook_port: int = 0
    webhook_addr: str = "0.0.0.0"
    webhook_host: str = ""
    webhook_cert_dir: str = ""
    webhook_manage: str = ""
    # A CA file: when set, the webhook answers only callers presenting a client certificate
    # signed by it (the API server, configured with --admission-control-config-file; see
    # docs/security.md, "Residual risks"). Empty: any caller is answered.
    webhook_client_ca: str = ""
    # The key ring the webhook signs its records with (approved templates, approvals, a
    # subflow's root creator, notifiers) and the operator checks them with: a JSON file
    # with key ids, so keys rotate (contract/signing.py; the chart mounts the Secret
    # <release>-signing-keys). Without it: `approval_key_file`, else the webhook's tls.key
    # in webhook_cert_dir, as one key of id "tls".
    signing_keys_file: str = ""
    approval_key_file: str = ""
    # A change of spec.state also needs the matching custom verb on flowruns (resume,
    # suspend, pause, cancel), asked with a SubjectAccessReview by the webhook.
    action_verbs: bool = False
    # This operator's own user name (its ServiceAccount): its writes need no verbs.
    operator_user: str = ""
    # Prometheus metrics at http://<pod>:<port>/metrics when set (controller/metrics.py).
    metrics_port: int = 0
    # FlowRunNotifiers are watched and delivered (needs the chart's notifications.enabled
    # rights: reading the Secrets notifiers reference).
    notifications: bool = False
    # The web UI's address: notifications link to <ui_base_url>/runs/<namespace>/<name>.
    ui_base_url: str = ""
    # Notification egress (contract/egress.py): CIDRs refused besides the built-in ones,
    # CIDRs that alone are allowed (empty: any not refused), and more addresses of the API
    # server ("ip" for any port, "ip:port"; the chart adds the `kubernetes` endpoints).
    notify_deny: str = ""
    notify_allow: str = ""
    notify_api_addresses: str = ""
    # Delivery: worker threads, at most this many deliveries in flight per namespace, and
    # a total deadline per attempt (connect, TLS, send, answer).
    notify_workers: int = 8
    notify_per_namespace: int = 2
    notify_deadline_seconds: float = 15.0
    # This operator's instance id: it handles only FlowRuns labelled flowrun.io/instance
    # with it; empty: only FlowRuns without that label.
    instance: str = ""
    # Leader election among replicas (controller/leader.py): the namespace of the Lease
    # (empty: no election, this process always acts), this replica's name in it, and the
    # timings (contract/leases.py).
    lease_namespace: str = ""
    lease_identity: str = ""
    lease_duration: float = 8.0
    lease_renew_deadline: float = 5.0
    lease_retry_period: float = 1.0

    @classmethod
    def from_env(cls) -> "Settings":
        namespaces = tuple(n.strip() for n in _env("FLOWRUN_NAMESPACES", "").split(",") if n.strip())
        return cls(
            runner_image=_env("FLOWRUN_RUNNER_IMAGE", cls.runner_image),
            image_pull_policy=_env("FLOWRUN_IMAGE_PULL_POLICY", cls.image_pull_policy),
            cache_size=_env("FLOWRUN_CACHE_SIZE", cls.cache_size),
            cache_storage_class=_env("FLOWRUN_CACHE_STORAGE_CLASS", cls.cache_storage_class),
            default_timeout_seconds=_int("FLOWRUN_DEFAULT_TIMEOUT", cls.default_timeout_seconds),
            ttl_seconds_after_finished=_optional_int(_env("FLOWRUN_TTL_SECONDS_AFTER_FINISHED", "")),
            namespaces=namespaces,
            max_pod_losses=_int("FLOWRUN_MAX_POD_LOSSES", cls.max_pod_losses),
            suspend_after_seconds=_optional_int(_env("FLOWRUN_SUSPEND_AFTER_SECONDS", "")) or None,
            image_pull_grace_seconds=_int("FLOWRUN_IMAGE_PULL_GRACE_SECONDS", cls.image_pull_grace_seconds),
            job_retry_seconds=_float("FLOWRUN_JOB_RETRY_SECONDS", cls.job_retry_seconds),
            termination_grace_seconds=_int("FLOWRUN_TERMINATION_GRACE_SECONDS", cls.termination_grace_seconds),
            resync_seconds=_float("FLOWRUN_RESYNC_SECONDS", cls.resync_seconds),
            input_orphan_seconds=_float("FLOWRUN_INPUT_ORPHAN_SECONDS", cls.input_orphan_seconds),
            webhook_port=int(_env("FLOWRUN_WEBHOOK_PORT", "0") or 0),
            webhook_addr=_env("FLOWRUN_WEBHOOK_ADDR", cls.webhook_addr),
            webhook_host=_env("FLOWRUN_WEBHOOK_HOST", ""),
            webhook_cert_dir=_env("FLOWRUN_WEBHOOK_CERT_DIR", ""),
            webhook_manage=_env("FLOWRUN_WEBHOOK_MANAGE", ""),
            webhook_client_ca=_env("FLOWRUN_WEBHOOK_CLIENT_CA", ""),
            approval_key_file=_env("FLOWRUN_APPROVAL_KEY_FILE", ""),
            signing_keys_file=_env("FLOWRUN_SIGNING_KEYS_FILE", ""),
            action_verbs=_flag("FLOWRUN_ACTION_VERBS"),
            operator_user=_env("FLOWRUN_OPERATOR_USER", ""),
            metrics_port=int(_env("FLOWRUN_METRICS_PORT", "0") or 0),
            notifications=_flag("FLOWRUN_NOTIFICATIONS"),
            ui_base_url=_env("FLOWRUN_UI_BASE_URL", "").strip(),
            notify_deny=_env("FLOWRUN_NOTIFY_EGRESS_DENY", ""),
            notify_allow=_env("FLOWRUN_NOTIFY_EGRESS_ALLOW", ""),
            notify_api_addresses=_env("FLOWRUN_NOTIFY_API_ADDRESSES", ""),
            notify_workers=max(1, _int("FLOWRUN_NOTIFY_WORKERS", cls.notify_workers)),
            notify_per_namespace=max(1, _int("FLOWRUN_NOTIFY_PER_NAMESPACE", cls.notify_per_namespace)),
            notify_deadline_seconds=_float("FLOWRUN_NOTIFY_DEADLINE_SECONDS", cls.notify_deadline_seconds),
            instance=_env("FLOWRUN_INSTANCE", "").strip(),
            lease_namespace=_env("FLOWRUN_LEASE_NAMESPACE", "").strip(),
            lease_identity=_env("FLOWRUN_LEASE_IDENTITY", "").strip(),
            lease_duration=_float("FLOWRUN_LEASE_DURATION", cls.lease_duration),
            lease_renew_deadline=_float("FLOWRUN_LEASE_RENEW_DEADLINE", cls.lease_renew_deadline),
            lease_retry_period=_float("FLOWRUN_LEASE_RETRY_PERIOD", cls.lease_retry_period),
        )
