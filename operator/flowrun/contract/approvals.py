"""Who may answer a pause, and when enough people have: pure rules, shared by the
admission webhook (which knows who asks), the operator (which counts only approvals it
can attribute) and the runner (which waits for the quorum).

A pause may name approvers (`pause_flow_run(..., approvers=["alice", "group:finance"],
approvals=2, allow_creator=False)`), stored in `status.pause.approval`:
`{approvers, required, allowCreator, approvals: [{by, groups, time}]}`.

- Only a listed user, or a member of a listed group, may resume it; the run's creator
  may not, unless allowed. Anyone else is refused by the webhook with a message naming
  who may.
- Each distinct approver's resume is accepted by the API server; until the N-th, the
  mutating webhook records the approval (an entry in the `flowrun.io/approvals`
  annotation, signed with the operator's key) and leaves `spec.state` as it was, so the
  run stays paused; the approval that completes the quorum goes through as a resume and
  must carry the input. A second resume by the same person does not count twice.
- The operator copies the entries it can verify into `status.pause.approval.approvals`
  (with a history entry and an Event each); one it cannot verify (written while the
  webhook was bypassed) is not counted, and a resume short of the quorum is put back
  with a message saying why.

Nothing here does I/O.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any

from .lifecycle.view import Approval, PauseView, RunView

ANNOTATION_APPROVALS = "flowrun.io/approvals"
ANNOTATION_CREATED_BY = "flowrun.io/created-by"


def approval_of(pause: PauseView | Mapping[str, Any] | None) -> Approval | None:
    """The pause's approval rule, when it has one (the pause as read, or as stored)."""
    if isinstance(pause, PauseView):
        return pause.approval
    return Approval.of((pause or {}).get("approval"))


def _rule(approval: Approval | Mapping[str, Any]) -> Approval:
    """A rule as the functions below take it: typed, or as stored (a rule of nobody in
    particular reads as the open rule)."""
    if isinstance(approval, Approval):
        return approval
    return Approval.of(approval) or Approval((), 1, bool(approval.get("allowCreator")), (), approval)


def request(approvers: Sequence[str] | None, approvals: int = 1, allow_creator: bool = False) -> dict[str, Any] | None:
    """The `approval` of a PauseRequest, or None when anyone who may patch may resume."""
    approvers = [str(a).strip() for a in approvers or [] if str(a).strip()]
    if approvals < 1:
        raise ValueError("approvals must be at least 1")
    if not approvers and approvals == 1:
        return None
    return {"approvers": approvers, "required": int(approvals), "allowCreator": bool(allow_creator),
            "approvals": []}


def may_approve(approval: Approval | Mapping[str, Any], user: str, groups: Sequence[str]) -> bool:
    approvers = _rule(approval).approvers
    if not approvers:
        return True
    return any(a == user or (a.startswith("group:") and a[len("group:"):] in groups) for a in approvers)


def who_may(approval: Approval | Mapping[str, Any]) -> str:
    approvers = _rule(approval).approvers
    return ", ".join(approvers) if approvers else "anyone allowed to resume it"


def refusal(approval: Approval | Mapping[str, Any], key: str, user: str, groups: Sequence[str],
            creator: str) -> str:
    """Why `user` may not approve this pause ("" when they may)."""
    rule = _rule(approval)
    if not may_approve(rule, user, groups):
        return f"only {who_may(rule)} may resume {key}; {user or 'an unknown user'} may not"
    if creator and user == creator and not rule.allow_creator:
        return f"{user} started this run and may not approve its own pause {key} (allow_creator is off)"
    return ""


# ---- the webhook's signed record -------------------------------------------------------

def sign(secret: bytes, namespace: str, name: str, key: str, entry: Mapping[str, Any]) -> str:
    text = json.dumps([namespace, name, key, entry.get("by"), sorted(entry.get("groups") or []),
                       entry.get("time")], separators=(",", ":"))
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()


def _view(obj: Mapping[str, Any] | RunView) -> RunView:
    return obj if isinstance(obj, RunView) else RunView.of(obj)


def recorded(obj: Mapping[str, Any] | RunView) -> dict[str, Any]:
    """The webhook's record of approvals given: {"key": pause key, "entries": [...]}."""
    text = _view(obj).annotations.get(ANNOTATION_APPROVALS) or ""
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def verified(obj: Mapping[str, Any] | RunView, key: str, secret: bytes | None) -> list[dict[str, Any]]:
    """The approvals of pause `key` that carry the webhook's valid signature, one per person."""
    if not secret:
        return []
    run = _view(obj)
    record = recorded(run)
    if record.get("key") != key:
        return []
    out: dict[str, dict[str, Any]] = {}
    for entry in record.get("entries") or []:
        if not isinstance(entry, dict) or not entry.get("by"):
            continue
        want = sign(secret, run.namespace, run.name, key, entry)
        if hmac.compare_digest(str(entry.get("sig", "")), want) and entry["by"] not in out:
            out[entry["by"]] = {k: entry[k] for k in ("by", "groups", "time") if k in entry}
    return list(out.values())


def count(approval: Approval | None) -> int:
    return len(approval.given_by) if approval is not None else 0


def complete(approval: Approval | None) -> bool:
    return approval is None or count(approval) >= approval.required


def webhook_approve(old: Mapping[str, Any], new: Mapping[str, Any], pause: Mapping[str, Any], *,
                    user: str, groups: Sequence[str], time: str, secret: bytes) -> tuple[str, dict[str, Any]]:
    """The mutating webhook's answer to a resume of a pause that has an approval rule:
    (refusal, patch). The patch records the approval (signed) and, while the quorum is
    not complete, keeps `spec.state` and `spec.input` as they were."""
    approval = approval_of(pause) or _rule({})
    run = RunView.of(old)
    creator = run.annotations.get(ANNOTATION_CREATED_BY) or ""
    why = refusal(approval, pause["key"], user, groups, creator)
    if why:
        return why, {}
    record = recorded(run)
    entries = list(record.get("entries") or []) if record.get("key") == pause["key"] else []
    given = {e.get("by") for e in entries} | set(approval.given_by)
    if user not in given:
        entry = {"by": user, "groups": sorted(groups), "time": time}
        entry["sig"] = sign(secret, run.namespace, run.name, pause["key"], entry)
        entries.append(entry)
        given.add(user)
    patch: dict[str, Any] = {"metadata": {"annotations": {
        ANNOTATION_APPROVALS: json.dumps({"key": pause["key"], "entries": entries}, separators=(",", ":"))}}}
    if len(given) < approval.required:
        patch["spec"] = {"state": run.state.value, "input": run.input}
    return "", patch


def may_answer_now(obj: Mapping[str, Any], user: str, groups: Sequence[str]) -> bool:
    """Whether `user` could answer the pause this run waits at, as far as its approval
    rule goes (RBAC is asked apart): listed, not the excluded creator, not counted yet."""
    run = RunView.of(obj)
    pause = run.pending
    if pause is None or not run.stopped:
        return False
    rule = pause.approval
    if rule is None:
        return True
    creator = run.annotations.get(ANNOTATION_CREATED_BY) or ""
    if refusal(rule, pause.key, user, groups, creator):
        return False
    return user not in rule.given_by
