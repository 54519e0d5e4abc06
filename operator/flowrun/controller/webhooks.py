"""The admission webhook's endpoints: they apply controller/admission.py's and the
contract's rules before the API server stores a change, and record who made it.

- FlowRuns, validating: the create and update rules (admission.py), and with
  authorization.actionVerbs the custom verb of a change of spec.state.
- FlowRuns, mutating: spec.template beyond the allow-list only for someone who could
  create such a pod (signed for the operator's own check); the creator and the approvals
  of pauses that name approvers recorded here only; who made the change stamped.
- FlowRunNotifiers, mutating (with notifications on): a notifier may reference only
  Secrets its creator may read; what was checked is stamped.

Each refusal is a kopf.AdmissionError (the API server shows its message to the person),
its message led by its code (`[InvalidInput] ...`: vocabulary.denial_text), which
kube/errors.py reads back so that the CLI, the UI and the SDK never sort refusals by
their words.
Made once, when the operator starts (controller/handlers.py registers the endpoints).
"""
from __future__ import annotations

import ssl
import tempfile
from pathlib import Path
from typing import Any

import kopf

from ..contract import notifications as notification_rules
from ..contract import template_policy as policy
from ..contract.constants import GROUP, VERSION
from ..contract.lifecycle.vocabulary import Refusal, denial_text, now
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

    def _asker(self) -> admission.Asker:
        # The run whose pod a user is: named <run>-runner AND its account owned by that run
        # (own_run below); admission asks only for users named like a run's account.
        return admission.Asker(may=self.kube.may, can_create_pods=self.kube.can_create_pods,
                               get_flowrun=lambda ns, name: self.own_run(policy.run_account(ns, name), ns))

    def validate(self, body: kopf.Body, old: dict[str, Any] | None, operation: str | None,
                 userinfo: dict[str, Any]) -> None:
        """The state table, input, sizes and rights by verb (admission.validate_review)."""
        new = dict(body)
        answer = admission.validate_review(new, None if operation == "CREATE" or not old else dict(old), userinfo,
                                           api=self._asker(), operator_user=self.settings.operator_user,
                                           action_verbs=self.settings.action_verbs)
        if answer.event:
            self._refused_event(dict(old or new), *answer.event, userinfo)
        if answer.errors:
            raise kopf.AdmissionError(denial_text(answer.errors, Refusal.NOT_ALLOWED),
                                      code=403 if answer.event else 422)

    def mutate(self, body: kopf.Body, old: dict[str, Any] | None, patch: kopf.Patch,
               userinfo: dict[str, Any]) -> None:
        """Templates and children (who may ask for what), the creator and the root creator,
        approvals of pauses that name approvers, and who made the change
        (admission.mutate_review)."""
        answer = admission.mutate_review(dict(body), dict(old) if old else None, userinfo, api=self._asker(),
                                         keys=template_gate.keys(self.settings), now=now(),
                                         action_verbs=self.settings.action_verbs,
                                         operator_user=self.settings.operator_user)
        if answer.event:
            self._refused_event(dict(old or body), *answer.event, userinfo)
        if answer.errors:
            raise kopf.AdmissionError(denial_text(answer.errors, Refusal.NOT_ALLOWED), code=403)
        for name, value in answer.annotations.items():
            patch.metadata.annotations[name] = value
        for name, value in answer.spec.items():
            patch.spec[name] = value

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
                raise kopf.AdmissionError(denial_text(
                    [f"{_user(userinfo)} may not get Secret {secret!r} in {namespace}: a FlowRunNotifier may "
                     "reference only Secrets its creator may read"], Refusal.NOT_ALLOWED), code=403)
        keys = template_gate.keys(self.settings)
        if not keys:
            raise kopf.AdmissionError(denial_text(["the operator has no key to admit notifiers with (see "
                                                   "docs/security.md)"], Refusal.NOT_ALLOWED), code=403)
        patch.metadata.annotations[notification_rules.ANNOTATION_NOTIFIER_APPROVAL] = \
            notification_rules.approval(keys, new)
