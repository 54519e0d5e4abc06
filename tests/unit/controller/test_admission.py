from flowrun.controller.admission import SUBFLOW_SUSPEND_MESSAGE, review_create, review_update

SCHEMA = {"type": "object", "additionalProperties": False, "required": ["name"],
          "properties": {"name": {"type": "string"}}}


def run(state="Running", phase="Running", input=None, pause=None, labels=None, owners=None, annotations=None):
    return {"metadata": {"name": "r", "namespace": "ns", "labels": labels or {},
                         "ownerReferences": owners or [], "annotations": annotations or {}},
            "spec": {"flow": "a:b", "state": state, "input": input},
            "status": {"phase": phase, "pause": pause}}


PAUSED = dict(state="Paused", phase="Paused", pause={"key": "pause-1", "inputSchema": SCHEMA})


def test_resume_with_valid_input_is_allowed():
    assert review_update(run(**PAUSED), run(**{**PAUSED, "state": "Running", "input": {"name": "M"}})) == []


def test_resume_with_invalid_input_names_the_field():
    errors = review_update(run(**PAUSED), run(**{**PAUSED, "state": "Running", "input": {"name": 5}}))
    assert errors == ["input does not match what the run waits for: spec.input.name: 5 is not of type 'string'"]


def test_resume_without_required_input_is_rejected():
    errors = review_update(run(**PAUSED), run(**{**PAUSED, "state": "Running"}))
    assert errors and "'name' is a required property" in errors[0]


def test_finished_runs_cannot_be_resumed():
    errors = review_update(run(state="Paused", phase="Completed"), run(state="Running", phase="Completed"))
    assert errors == ["FlowRun is Completed; it can no longer be resumed, paused, suspended or cancelled"]


def test_input_for_a_run_that_is_not_paused_is_refused():
    errors = review_update(run(), run(input={"name": "M"}))
    assert errors and "not paused or suspended" in errors[0]


def test_pausing_a_suspended_run_is_refused():
    errors = review_update(run(state="Suspended", phase="Suspended"), run(state="Paused", phase="Suspended"))
    assert errors and "no running process to pause" in errors[0]


def test_linked_subflow_cannot_be_suspended_alone():
    child = dict(labels={"flowrun.io/parent": "p"}, owners=[{"controller": True, "name": "p"}])
    assert review_update(run(**child), run(state="Suspended", **child), user="alice") == [SUBFLOW_SUSPEND_MESSAGE]
    # ...but its parent's suspension (marked by the operator) and its own code may.
    marked = {**child, "annotations": {"flowrun.io/suspended-with-parent": "p"}}
    assert review_update(run(**child), run(state="Suspended", **marked), user="op") == []
    assert review_update(run(**child), run(state="Suspended", **child),
                         user="system:serviceaccount:ns:r-runner") == []
    # An independent run (no owner) can be suspended.
    assert review_update(run(), run(state="Suspended"), user="alice") == []


def test_runner_writes_pass():
    assert review_update(run(), run(state="Paused")) == []
    assert review_update(run(state="Paused", input={"name": "x"}), run(state="Paused", input=None)) == []
    # The operator putting an invalid resume back:
    assert review_update(run(**{**PAUSED, "state": "Running", "input": {"name": 5}}), run(**PAUSED)) == []


def test_oversized_parameters_are_refused():
    big = {"flow": "a:b", "parameters": {"blob": "x" * 300_000}}
    assert "spec.parameters" in review_create({"metadata": {}, "spec": big})[0]


# ---- spec.template and children ---------------------------------------------------------

from flowrun.contract.children import child_name  # noqa: E402
from flowrun.contract.template_policy import ANNOTATION_TEMPLATE_APPROVAL, approved, sign  # noqa: E402
from flowrun.controller.admission import review_template  # noqa: E402

KEY = b"key" * 10
UID = "11112222-3333"
WIDE = {"spec": {"serviceAccountName": "admin"}}


def fr(name="r", template=None, labels=None, owners=None, annotations=None, uid=None):
    meta = {"name": name, "namespace": "ns", "labels": labels or {}, "ownerReferences": owners or [],
            "annotations": annotations or {}}
    if uid:
        meta["uid"] = uid
    return {"metadata": meta, "spec": {"flow": "a:b", "template": template}}


def asks(answer):
    calls = []

    def can_create_pods():
        calls.append(1)
        return answer
    return can_create_pods, calls


def test_a_template_within_the_allow_list_needs_nobody():
    sar, calls = asks((False, ""))
    assert review_template(fr(template={"spec": {"nodeSelector": {"a": "b"}}}), None, user="alice",
                           own_run=None, can_create_pods=sar, key=KEY) == ([], None)
    assert calls == []


def test_a_wider_template_needs_the_right_to_create_pods():
    sar, _ = asks((False, "no RBAC policy matched"))
    errors, signature = review_template(fr(template=WIDE), None, user="alice", own_run=None,
                                        can_create_pods=sar, key=KEY)
    assert signature is None and "alice may not create pods" in errors[0] and "serviceAccountName" in errors[0]
    sar, _ = asks((True, ""))
    errors, signature = review_template(fr(template=WIDE), None, user="admin", own_run=None,
                                        can_create_pods=sar, key=KEY)
    assert errors == [] and signature == sign(KEY, "ns", "r", {"template": WIDE})


def test_a_new_image_for_an_approved_run_is_judged_again_against_who_changes_it():
    old = fr(template=WIDE, annotations={ANNOTATION_TEMPLATE_APPROVAL: sign(KEY, "ns", "r", {"template": WIDE})})
    new = fr(template=WIDE, annotations=dict(old["metadata"]["annotations"]))
    new["spec"]["image"] = "evil:latest"
    sar, calls = asks((False, "no RBAC policy matched"))
    errors, signature = review_template(new, old, user="eve", own_run=None, can_create_pods=sar, key=KEY)
    assert signature is None and "eve may not create pods" in errors[0] and calls == [1]
    sar, _ = asks((True, ""))
    errors, signature = review_template(new, old, user="admin", own_run=None, can_create_pods=sar, key=KEY)
    assert errors == [] and signature == sign(KEY, "ns", "r", new["spec"])


def test_an_unchanged_template_keeps_the_webhooks_approval_only():
    old = fr(template=WIDE, annotations={ANNOTATION_TEMPLATE_APPROVAL: "webhook-made"})
    new = fr(template=WIDE, annotations={ANNOTATION_TEMPLATE_APPROVAL: "client-made"})
    sar, calls = asks((False, ""))
    assert review_template(new, old, user="bob", own_run=None, can_create_pods=sar, key=KEY) == ([], "webhook-made")
    assert calls == []


PARENT = fr(name="parent", uid=UID)


def linked_child(name=None, template=None):
    return fr(name=name or child_name("parent", UID, "sub-1"), template=template,
              labels={"flowrun.io/parent": "parent"},
              owners=[{"kind": "FlowRun", "name": "parent", "uid": UID, "controller": True}])


def test_a_run_creates_its_own_linked_child():
    sar, calls = asks((True, ""))
    assert review_template(linked_child(), None, user="system:serviceaccount:ns:parent-runner",
                           own_run=PARENT, can_create_pods=sar, key=KEY) == ([], None)
    assert calls == []  # a run's account is never asked about: its own template is the limit


def test_a_run_cannot_pose_as_another_runs_child():
    victim = fr(name="victim-sub-1", labels={"flowrun.io/parent": "victim"},
                owners=[{"kind": "FlowRun", "name": "victim", "uid": "victim-uid", "controller": True}])
    sar, _ = asks((True, ""))
    errors, _ = review_template(victim, None, user="system:serviceaccount:ns:parent-runner",
                                own_run=PARENT, can_create_pods=sar, key=KEY)
    assert errors and "only its own children" in errors[0]


def test_a_run_cannot_widen_its_childs_template_even_if_its_account_could_create_pods():
    sar, calls = asks((True, ""))
    errors, _ = review_template(linked_child(template=WIDE), None, user="system:serviceaccount:ns:parent-runner",
                                own_run=PARENT, can_create_pods=sar, key=KEY)
    assert errors and "reaches further than its own" in errors[0] and calls == []


def test_a_child_may_reach_as_far_as_its_approved_parent():
    parent = fr(name="parent", uid=UID, template=WIDE, annotations={ANNOTATION_TEMPLATE_APPROVAL: sign(KEY, "ns", "parent", {"template": WIDE})})
    assert approved(KEY, parent)
    sar, _ = asks((False, ""))
    child = linked_child(template=WIDE)
    errors, signature = review_template(child, None, user="system:serviceaccount:ns:parent-runner",
                                        own_run=parent, can_create_pods=sar, key=KEY)
    assert errors == [] and signature == sign(KEY, "ns", child["metadata"]["name"], {"template": WIDE})


def test_a_run_may_not_change_its_own_template():
    sar, _ = asks((True, ""))
    errors, _ = review_template(fr(name="parent", uid=UID, template=WIDE), PARENT,
                                user="system:serviceaccount:ns:parent-runner", own_run=PARENT,
                                can_create_pods=sar, key=KEY)
    assert errors == ["a run's ServiceAccount may not change spec.template, spec.image or spec.cache"]
