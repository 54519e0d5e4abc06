"""The admission webhook's endpoints: they apply controller/admission.py's and the
contract's rules before the API server stores a change, and record who made it.

- FlowRuns, validating: the create and update rules (admission.py), and with
  authorization.actionVerbs the custom verb of a change of spec.state.
- FlowRuns, mutating: spec.template beyond the allow-list only for someone who could
  create such a pod (signed for the operator's own check); the creator and the approvals
  of pauses that name approvers recorded here only; who made the change stamped.
- FlowRunNotifiers, mutating (with notifications on): a notifier may reference only
  Secrets its creator may read; what was checked is stamped.

Each refusal is a kopf.AdmissionError (the API server shows its message to the person).
Made once, when the operator starts (controller/handlers.py registers the endpoints).
"""
from __future__ import annotations

import ssl
import tempfile
from pathlib import Path
from typing import Any

import kopf

from ..contract import approvals, audit
from ..contract.lifecycle.people import action_verb, is_resume_change
from ..contract.lifecycle.view import pending_pause
from ..contract import notifications as notification_rules
from ..contract import template_policy as policy
from ..contract.constants import GROUP, VERSION
from ..contract.lifecycle.vocabulary import now
from ..contract.ownership import owned_by
from ..kube import Kube
from . import admission, template_gate
from .settings import Settings


def webhook_server(settings: Settings) -> kopf.WebhookServer:
    """The HTTPS server kopf serves the endpoints with (a self-signed certificate made
    here when the chart mounts none)."""
    host = settings.webhook_host or settings.webhook_addr
    if settings.webhook_cert_dir:
        certs = Path(settings.webhook_cert_dir)
    else:
        from .certs import write_self_signed
        certs = write_self_signed(Path(tempfile.mkdtemp(prefix="flowrun-webhook-")), [host])
        template_gate.use_key_file(certs / "tls.key")
    # With a client CA, only a caller with a certificate it signed (the API server) is
    # answered: a pod calling the webhook directly gets no TLS session, so no answer.
    if settings.webhook_client_ca:
        return kopf.WebhookServer(addr=settings.webhook_addr, port=settings.webhook_port, host=host,
                                  certfile=str(certs / "tls.crt"), pkeyfile=str(certs / "tls.key"),
                                  cafile=str(certs / "ca.crt"), verify_mode=ssl.CERT_REQUIRED,
                                  verify_cafile=settings.webhook_client_ca)
    return kopf.WebhookServer(addr=settings.webhook_addr, port=settings.webhook_port, host=host,
                              certfile=str(certs / "tls.crt"), pkeyfile=str(certs / "tls.key"),
                              cafile=str(certs / "ca.crt"))


def _user(userinfo: dict[str, Any] | None) -> str:
    return str((userinfo or {}).get("username", ""))


class Webhooks:
    def __init__(self, kube: Kube, settings: Settings) -> None:
        self.kube = kube
        self.settings = settings

    # ---- FlowRuns -------------------------------------------------------------------------

    def validate(self, body: kopf.Body, old: dict[str, Any] | None, operation: str | None,
                 userinfo: dict[str, Any]) -> None:
        new = dict(body)
        if operation == "CREATE" or not old:
            errors = admission.review_create(new)
        else:
            errors = admission.review_update(dict(old), new, user=_user(userinfo))
        if errors:
            raise kopf.AdmissionError("; ".join(errors), code=422)
        if old and self.settings.action_verbs:
            self.require_action_verb(dict(old), new, userinfo)

    def require_action_verb(self, old: dict[str, Any], new: dict[str, Any], userinfo: dict[str, Any]) -> None:
        """With authorization.actionVerbs: a change of spec.state needs, besides `patch`, the
        custom verb of the change on flowruns (resourceNames allowed). The operator's and the
        run's own runner's writes are exempt."""
        verb = action_verb(old, new)
        user, meta = _user(userinfo), new.get("metadata") or {}
        if verb is None or user == self.settings.operator_user or \
                policy.is_run_account(user, meta.get("namespace", "")) == meta.get("name"):
            return
        allowed, _reason = self.kube.may(userinfo or {}, meta.get("namespace", ""), verb, "flowruns",
                                         "flowrun.io", meta.get("name", ""))
        if not allowed:
            self._refused_event(old, "ActionRefused", f"{user} lacks the `{verb}` verb", userinfo)
            raise kopf.AdmissionError(
                f"{user} may not {verb} FlowRun {meta.get('name')}: that needs the `{verb}` verb on "
                f"flowruns.flowrun.io (authorization.actionVerbs is on), besides patch", code=403)

    def mutate(self, body: kopf.Body, old: dict[str, Any] | None, patch: kopf.Patch,
               userinfo: dict[str, Any]) -> None:
        self.guard_template(body, old, patch, userinfo)
        self.guard_approvals(body, old, patch, userinfo)
        self.record_who(body, old, patch, userinfo)

    @staticmethod
    def record_who(body: kopf.Body, old: dict[str, Any] | None, patch: kopf.Patch,
                   userinfo: dict[str, Any]) -> None:
        """Stamp who made the change and the generation it produces (contract/audit.py);
        a client's own stamp is always removed. The operator and runner copy the stamp into
        status.history only for that generation."""
        for key, value in audit.stamp(dict(body), dict(old) if old else None, _user(userinfo)).items():
            patch.metadata.annotations[key] = value

    def own_run(self, user: str, namespace: str) -> dict[str, Any] | None:
        """The FlowRun whose own ServiceAccount `user` is: named `<run>-runner` AND owned
        by that run's uid (an unrelated account of that name, e.g. `gitlab-runner` next to
        a run `gitlab`, is nobody's runner: contract/ownership.py)."""
        run = policy.is_run_account(user, namespace)
        if not run:
            return None
        obj = self.kube.get_flowrun(namespace, run)
        if obj is None:
            return None
        account = self.kube.get("ServiceAccount", namespace, user.rsplit(":", 1)[-1])
        uid = str((obj.get("metadata") or {}).get("uid") or "")
        return obj if account is not None and owned_by(account, uid) else None

    def guard_template(self, body: kopf.Body, old: dict[str, Any] | None, patch: kopf.Patch,
                       userinfo: dict[str, Any]) -> None:
        """spec.template beyond the allow-list only for someone who could create such a pod
        (SubjectAccessReview); a run's ServiceAccount creates only its own children, no wider
        than itself (controller/admission.py review_template)."""
        new = dict(body)
        meta = new.get("metadata") or {}
        namespace, user = meta.get("namespace", ""), _user(userinfo)
        own_run = self.own_run(user, namespace)
        errors, signature = admission.review_template(
            new, dict(old) if old else None, user=user, own_run=own_run,
            can_create_pods=lambda: self.kube.can_create_pods(namespace, userinfo or {}),
            key=template_gate.key(self.settings))
        if errors:
            raise kopf.AdmissionError("; ".join(errors), code=403)
        patch.metadata.annotations[policy.ANNOTATION_TEMPLATE_APPROVAL] = signature

    def guard_approvals(self, body: kopf.Body, old: dict[str, Any] | None, patch: kopf.Patch,
                        userinfo: dict[str, Any]) -> None:
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
        pause = pending_pause(old)
        if pause is None or approvals.approval_of(pause) is None or not is_resume_change(old, new):
            return
        secret = template_gate.key(self.settings)
        if not secret:
            raise kopf.AdmissionError("this pause names approvers, but the operator has no key to record "
                                      "approvals with (see docs/security.md)", code=403)
        why, change = approvals.webhook_approve(old, new, pause, user=_user(userinfo),
                                                groups=list((userinfo or {}).get("groups") or []),
                                                time=now().strftime("%Y-%m-%dT%H:%M:%SZ"), secret=secret)
        if why:
            self._refused_event(old, "ApprovalRefused", why, userinfo)
            raise kopf.AdmissionError(why, code=403)
        for name, value in change["metadata"]["annotations"].items():
            patch.metadata.annotations[name] = value
        for field, value in (change.get("spec") or {}).items():
            patch.spec[field] = value

    def _refused_event(self, obj: dict[str, Any], reason: str, message: str, userinfo: dict[str, Any]) -> None:
        """A refused request changes nothing, so it cannot be in the run's history: it is a
        Warning Event, naming the user and their groups (best effort, never blocking)."""
        groups = ", ".join((userinfo or {}).get("groups") or []) or "none"
        involved = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "FlowRun", "metadata": obj.get("metadata") or {}}
        self.kube.emit_event(involved, reason, f"{message} (groups: {groups})", type_="Warning")

    # ---- FlowRunNotifiers -----------------------------------------------------------------

    def admit_notifier(self, body: kopf.Body, patch: kopf.Patch, userinfo: dict[str, Any]) -> None:
        """A notifier may reference only Secrets its creator (or changer) may `get` (asked
        with a SubjectAccessReview as that user), so nobody sends a Secret they cannot read
        to a host of their choosing. What was checked is stamped (signed with the operator's
        key); the operator reads no Secret for a notifier without a valid stamp."""
        new = dict(body)
        namespace = (new.get("metadata") or {}).get("namespace", "")
        for secret in notification_rules.secret_names(new):
            allowed, _why = self.kube.may(userinfo or {}, namespace, "get", "secrets", "", secret)
            if not allowed:
                raise kopf.AdmissionError(
                    f"{_user(userinfo)} may not get Secret {secret!r} in {namespace}: a FlowRunNotifier may "
                    "reference only Secrets its creator may read", code=403)
        key = template_gate.key(self.settings)
        if not key:
            raise kopf.AdmissionError("the operator has no key to admit notifiers with (see docs/security.md)",
                                      code=403)
        patch.metadata.annotations[notification_rules.ANNOTATION_NOTIFIER_APPROVAL] = \
            notification_rules.approval(key, new)
