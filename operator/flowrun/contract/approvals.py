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
- The operator copies the entries it can verify, and that the rule admits, into
  `status.pause.approval.approvals` (with a history entry and an Event each); one it
  cannot verify (written while the webhook was bypassed), or of someone the rule refuses
  (the root run's creator without allowCreator, though signed through a forged review),
  is not counted, and a resume short of the quorum is put back with a message saying why.

Nothing here does I/O.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from .identities import ANNOTATION_CREATED_BY as ANNOTATION_CREATED_BY
from .identities import created_by, is_run_account
from .lifecycle.view import Approval, PauseView, RunView
from .lifecycle.vocabulary import Denial, Refusal
from .objects import Meta, Object
from .signing import KeyRing, digest

ANNOTATION_APPROVALS = "flowrun.io/approvals"
# On a subflow: who started the root run, signed by the webhook when the child was created.
ANNOTATION_ROOT_CREATED_BY = "flowrun.io/root-created-by"


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


def request(approvers: Sequence[str] | None, approvals: int = 1, allow_creator: bool = False,
            escalate_after: int | None = None, escalate_to: Sequence[str] | None = None) -> dict[str, Any] | None:
    """The `approval` of a PauseRequest, or None when anyone who may patch may resume.
    `escalate_after` seconds without a quorum let `escalate_to` answer too."""
    approvers = [str(a).strip() for a in approvers or [] if str(a).strip()]
    escalation = [str(a).strip() for a in escalate_to or [] if str(a).strip()]
    if approvals < 1:
        raise ValueError("approvals must be at least 1")
    if (escalate_after is None) != (not escalation):
        raise ValueError("escalate_after and escalate_to go together: after that many seconds without "
                         "the approvals needed, the people in escalate_to may answer too")
    if escalation and (not approvers or int(escalate_after or 0) < 1):
        raise ValueError("escalation needs approvers= (whom it adds to) and escalate_after of at least 1 second")
    if not approvers and approvals == 1:
        return None
    rule: dict[str, Any] = {"approvers": approvers, "required": int(approvals), "allowCreator": bool(allow_creator),
                            "approvals": []}
    if escalation:
        rule.update(escalateAfterSeconds=int(escalate_after or 0), escalateTo=escalation)
    return rule


def may_approve(approval: Approval | Mapping[str, Any], user: str, groups: Sequence[str]) -> bool:
    approvers = _rule(approval).approvers
    if not approvers:
        return True
    return any(a == user or (a.startswith("group:") and a[len("group:"):] in groups) for a in approvers)


def who_may(approval: Approval | Mapping[str, Any]) -> str:
    approvers = _rule(approval).approvers
    return ", ".join(approvers) if approvers else "anyone allowed to resume it"


def refusal(approval: Approval | Mapping[str, Any], key: str, user: str, groups: Sequence[str],
            creator: str, *, root_run: str = "", own_run: str = "") -> str:
    """Why `user` may not approve this pause ("" when they may). `creator` is who started
    the root run `root_run` (this run itself, or the run whose pod started this subflow,
    and so on up); "" when that is unknown."""
    rule = _rule(approval)
    if not may_approve(rule, user, groups):
        return f"only {who_may(rule)} may resume {key}; {user or 'an unknown user'} may not"
    if rule.allow_creator:
        return ""
    if not creator and own_run:
        whose = "this run" if root_run == own_run else "the run that started this subflow"
        return (f"who created {whose} is unknown (no record by the API server, or none the webhook signed: made "
                f"while the webhook was unreachable?), so nobody may approve its pause {key}, which its creator "
                "may not (allow_creator is off)")
    if creator and user == creator:
        if root_run and own_run and root_run != own_run:
            return (f"{user} started the run {root_run} (which started this one) and may not approve its "
                    f"pause {key} (allow_creator is off)")
        return f"{user} started this run and may not approve its own pause {key} (allow_creator is off)"
    return ""


# ---- who started the run, and the root run -------------------------------------------

def _root_payload(namespace: str, name: str, user: str, run: str) -> list[Any]:
    return ["root-created-by", namespace, name, user, run]


def root_record(keys: KeyRing, child: Mapping[str, Any], user: str, run: str) -> str:
    """The annotation the webhook gives a subflow its parent's runner creates: who started
    the root run (`user`) and its name (`run`), signed for this child's namespace and name
    (which carries its parent's uid: contract/children.py)."""
    meta = Meta.of(child)
    sig = keys.sign(_root_payload(meta.namespace, meta.name, user, run))
    return json.dumps({"user": user, "run": run, "sig": sig}, separators=(",", ":"))


def _claimed_root(obj: Mapping[str, Any] | RunView) -> dict[str, Any]:
    annotations = obj.annotations if isinstance(obj, RunView) else Meta.of(obj).annotations
    text = annotations.get(ANNOTATION_ROOT_CREATED_BY) or ""
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def root_creator(obj: Mapping[str, Any] | RunView, keys: KeyRing, now: datetime) -> tuple[str, str]:
    """(who started the root run, its name) for the creator exclusion. A run created by a
    person is its own root; a subflow (created by a run's pod) carries its root's creator
    in a record the webhook signed when the child was created. ("", "") when unknown: a
    subflow without a valid record."""
    view = _view(obj)
    user = str(view.annotations.get(ANNOTATION_CREATED_BY) or "")
    namespace, name = view.namespace, view.name
    if not is_run_account(user, namespace):
        return user, name
    root = _claimed_root(view)
    who, run = str(root.get("user") or ""), str(root.get("run") or "")
    if who and keys.verify(_root_payload(namespace, name, who, run), root.get("sig"), now):
        return who, run
    return "", ""


# ---- the webhook's signed record -------------------------------------------------------

def _entry_payload(run: RunView, pause: PauseView, entry: Mapping[str, Any]) -> list[Any]:
    """What an approval vouches for: this very object (uid), this pause (key and the
    generation it was recorded at), who, with which groups, when, and the input they sent."""
    return ["approval", run.namespace, run.name, run.uid, pause.key, pause.generation, entry.get("by"),
            sorted(entry.get("groups") or []), entry.get("time"), entry.get("input")]


def sign(keys: KeyRing, obj: Mapping[str, Any] | RunView, pause: PauseView | Mapping[str, Any],
         entry: Mapping[str, Any]) -> str:
    return keys.sign(_entry_payload(_view(obj), _pause(pause), entry))


def _pause(pause: PauseView | Mapping[str, Any]) -> PauseView:
    if isinstance(pause, PauseView):
        return pause
    view = PauseView.of(pause)
    if view is None:
        raise ValueError("no pause")
    return view


def _view(obj: Mapping[str, Any] | RunView) -> RunView:
    return obj if isinstance(obj, RunView) else RunView.of(obj)


def recorded(obj: Mapping[str, Any] | RunView) -> dict[str, Any]:
    """The webhook's record of approvals given: {"key": pause key, "entries": [...]}."""
    text = _view(obj).annotations.get(ANNOTATION_APPROVALS) or ""
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    # Only the exact form the webhook writes: the records policy (chart,
    # admission-policy-records.yaml) reads the record as text, so a record that parses to
    # something else than it reads (escaped keys, duplicate keys, spaces) counts for nothing.
    if not isinstance(value, dict) or _compact(value) != text:
        return {}
    return value


def _compact(record: Mapping[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def verified(obj: Mapping[str, Any] | RunView, pause: PauseView | Mapping[str, Any] | None, keys: KeyRing,
             now: datetime) -> list[dict[str, Any]]:
    """The approvals of this pause of this object that carry the webhook's valid
    signature, one per person. An entry signed for another object (a deleted run of the
    same name), another pause or input, or by a key past its grace does not count."""
    return [{k: e[k] for k in ("by", "groups", "time", "input") if k in e} for e in _valid(obj, pause, keys, now)]


def _valid(obj: Mapping[str, Any] | RunView, pause: PauseView | Mapping[str, Any] | None, keys: KeyRing,
           now: datetime) -> list[dict[str, Any]]:
    if not keys or not pause:
        return []
    run, view = _view(obj), _pause(pause)
    record = recorded(run)
    if record.get("key") != view.key:
        return []
    out: dict[str, dict[str, Any]] = {}
    for entry in record.get("entries") or []:
        if not isinstance(entry, dict) or not entry.get("by") or not isinstance(entry.get("by"), str):
            continue
        if keys.verify(_entry_payload(run, view, entry), entry.get("sig"), now) and entry["by"] not in out:
            out[entry["by"]] = dict(entry)
    return list(out.values())


def countable(obj: Mapping[str, Any] | RunView, pause: PauseView, keys: KeyRing,
              now: datetime) -> list[dict[str, Any]]:
    """The approvals of this pause the operator counts: those `verified` (signed by the
    webhook for this object, pause and input) that the pause's rule admits, judged as the
    webhook judges a resume (`refusal`). A signature alone is not enough: one obtained by
    calling the webhook directly (a forged AdmissionReview, while it does not
    authenticate its caller) and written while it is down carries the forger's choice of
    person. So the entry of the person who started the root run is dropped unless the
    rule has allowCreator, and, when who started the root run is unknown, every entry of
    a rule that excludes its creator (the webhook admits nobody then); so is the entry of
    someone the rule does not name."""
    rule = pause.approval
    if rule is None:
        return verified(obj, pause, keys, now)
    run = _view(obj)
    creator, root = root_creator(run, keys, now)
    return [e for e in verified(run, pause, keys, now)
            if not refusal(rule, pause.key, str(e["by"]), [str(g) for g in e.get("groups") or []], creator,
                           root_run=root, own_run=run.name)]


def count(approval: Approval | None) -> int:
    return len(approval.given_by) if approval is not None else 0


def complete(approval: Approval | None) -> bool:
    return approval is None or count(approval) >= approval.required


def input_refusal(approval: Approval | Mapping[str, Any] | None, data: Any) -> str:
    """Why `data` is not the input the counted approvals were given for ("" when it is):
    approvals vouch for the input their approvers sent, and a resume carries only that."""
    want = digest(data)
    rule = _rule(approval) if approval is not None else None
    others = sorted({str(g.get("by")) for g in (rule.given if rule is not None else ())
                     if "input" in g and g.get("input") != want})
    if not others:
        return ""
    return f"the input differs from the one approved by {', '.join(others)}"


def webhook_approve(old: Mapping[str, Any], new: Mapping[str, Any], pause: Mapping[str, Any], *,
                    user: str, groups: Sequence[str], time: str, keys: KeyRing,
                    now: datetime) -> tuple[str, dict[str, Any]]:
    """The mutating webhook's answer to a resume of a pause that has an approval rule:
    (refusal, patch). The patch records the approval (signed for this object, pause and
    input) and, while the quorum is not complete, keeps `spec.state` and `spec.input` as
    they were."""
    approval = approval_of(pause) or _rule({})
    run, view = RunView.of(old), _pause(pause)
    creator, root = root_creator(old, keys, now)
    why = refusal(approval, view.key, user, groups, creator, root_run=root, own_run=run.name)
    if why:
        return why, {}
    data = Object.of(new).spec.get("input")
    entries = _valid(run, view, keys, now)
    earlier = [*entries, *approval.given]
    mismatch = input_refusal(Approval(approval.approvers, approval.required, approval.allow_creator,
                                      tuple(earlier), approval.doc), data)
    if mismatch and user not in {e.get("by") for e in earlier}:
        return Denial(f"{mismatch}: the approvals of {view.key} must agree on its input "
                      "(send the same input, or reject the run)", Refusal.INVALID_INPUT), {}
    given = {e.get("by") for e in entries} | set(approval.given_by)
    if user not in given:
        entry: dict[str, Any] = {"by": user, "groups": sorted(groups), "time": time, "input": digest(data)}
        entry["sig"] = sign(keys, run, view, entry)
        entries.append(entry)
        given.add(user)
    patch: dict[str, Any] = {"metadata": {"annotations": {ANNOTATION_APPROVALS: _compact(
        {"key": view.key, "uid": run.uid, "generation": view.generation, "entries": entries})}}}
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
    creator, root = created_by(obj), run.name
    if is_run_account(creator, run.namespace):  # a subflow: its root's creator, as claimed (display only)
        claimed = _claimed_root(obj)
        creator, root = str(claimed.get("user") or ""), str(claimed.get("run") or "")
    if refusal(rule, pause.key, user, groups, creator, root_run=root, own_run=run.name):
        return False
    return user not in rule.given_by
