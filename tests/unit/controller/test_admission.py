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
