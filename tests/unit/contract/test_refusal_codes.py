"""Refusals are typed end to end: the admission webhook's denial carries its code (the
vocabulary's Refusal), kube/errors.py reads it back, and the CLI, the UI and the SDK
classify by the code, never by the words."""
from __future__ import annotations

from typing import Any

import pytest

from flowrun.contract.lifecycle.people import review_create, review_update
from flowrun.contract.lifecycle.vocabulary import INPUT_REFUSALS, Denial, Refusal, denial_text, read_denial
from flowrun.kube.actions import ApiRefused
from flowrun.kube.errors import KubeError, api_error

SCHEMA = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}


def run(state: str = "Running", phase: str = "Running", input: Any = None, pause: Any = None,
        labels: Any = None, owners: Any = None) -> dict[str, Any]:
    return {"metadata": {"name": "r", "namespace": "ns", "labels": labels or {}, "ownerReferences": owners or []},
            "spec": {"flow": "a:b", "state": state, "input": input},
            "status": {"phase": phase, "pause": pause}}


PAUSED = dict(state="Paused", phase="Paused", pause={"key": "pause-1", "inputSchema": SCHEMA})
SETTLED = dict(state="Paused", phase="Paused", pause={"key": "pause-1", "inputSchema": SCHEMA, "onTimeout": "resume",
                                                     "timedOut": {"outcome": "resume", "generation": 1}})
CHILD = dict(labels={"flowrun.io/parent": "p"}, owners=[{"controller": True, "name": "p"}])


@pytest.mark.parametrize("old, new, code", [
    (run(**PAUSED), run(**{**PAUSED, "state": "Running", "input": {"name": 5}}), Refusal.INVALID_INPUT),
    (run(**PAUSED), run(**{**PAUSED, "state": "Running"}), Refusal.INVALID_INPUT),
    (run(state="Paused", phase="Completed"), run(state="Running", phase="Completed"), Refusal.FINISHED),
    (run(), run(input={"name": "M"}), Refusal.NOT_WAITING_FOR_INPUT),
    (run(state="Suspended", phase="Suspended"), run(state="Paused", phase="Suspended"), Refusal.NOTHING_TO_PAUSE),
    (run(state="Cancelled"), run(state="Running"), Refusal.BEING_CANCELLED),
    (run(**CHILD), run(state="Suspended", **CHILD), Refusal.SUBFLOW_ALONE),
    (run(**SETTLED), run(**{**SETTLED, "state": "Running", "input": {"name": "M"}}), Refusal.TIMED_OUT),
])
def test_every_review_refusal_carries_its_code(old: Any, new: Any, code: Refusal) -> None:
    errors = review_update(old, new)
    assert errors and isinstance(errors[0], Denial) and errors[0].code is code, errors


def test_sizes_are_refused_with_their_code() -> None:
    errors = review_create({"metadata": {}, "spec": {"flow": "a:b", "parameters": {"blob": "x" * 300_000}}})
    assert [e.code for e in errors if isinstance(e, Denial)] == [Refusal.TOO_LARGE]


@pytest.mark.parametrize("code", list(Refusal))
def test_the_code_survives_the_api_server(code: Refusal) -> None:
    # The API server wraps the webhook's message; kube/errors.py reads the code and takes it out.
    said = denial_text([Denial("spec.input.name: 5 is not of type 'string'", code), "and another"], Refusal.NOT_ALLOWED)
    wrapped = f'admission webhook "validate.flowrun.io" denied the request: {said}'
    error = KubeError(422, "Invalid", wrapped)
    assert error.refusal is code
    assert error.message == ('admission webhook "validate.flowrun.io" denied the request: '
                             "spec.input.name: 5 is not of type 'string'; and another")
    refused = ApiRefused(error)
    assert refused.code is code and refused.fields == {"name": "5 is not of type 'string'"}


def test_a_plain_message_takes_the_default_code_and_others_have_none() -> None:
    assert denial_text(["who knows"], Refusal.NOT_ALLOWED) == "[NotAllowed] who knows"
    # Words are never read as a code: an RBAC refusal that speaks of input has none.
    assert read_denial('flowruns "x" is forbidden: User "bob" cannot patch input') == \
        (None, 'flowruns "x" is forbidden: User "bob" cannot patch input')
    assert read_denial("[SomethingElse] text") == (None, "[SomethingElse] text")
    assert INPUT_REFUSALS == {Refusal.INVALID_INPUT, Refusal.NOT_WAITING_FOR_INPUT}


def test_api_error_reads_the_code_from_the_status_body() -> None:
    class Raised:
        status = 403
        reason = "Forbidden"
        body = ('{"kind": "Status", "reason": "Forbidden", "message": "admission webhook \\"m\\" denied the '
                'request: [NotAllowed] alice may not resume FlowRun r"}')

    error = api_error(Raised())
    assert error.refusal is Refusal.NOT_ALLOWED
    assert error.message == 'admission webhook "m" denied the request: alice may not resume FlowRun r'
