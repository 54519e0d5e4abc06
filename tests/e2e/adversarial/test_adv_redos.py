"""ReDoS through the admission webhook (issue 26): a pause's input schema is written by
flow code, its `pattern` evaluated by the webhook on every resume. A catastrophic
pattern with a hostile input is refused at once (RE2, linear time), and the webhook
keeps answering: a second, unrelated write goes through. The run's own account is
checked like anyone."""
from __future__ import annotations

import pytest

from cluster import kubectl
from cluster.flowruns import apply, flowrun_manifest, get_fr, patch_fr, wait_phase

pytestmark = pytest.mark.e2e


def test_hostile_pattern_and_input_are_refused_and_the_webhook_keeps_answering(operator, namespace):
    apply(namespace, flowrun_manifest("redos", "testflows.edges:pauses_with_hostile_pattern"))
    fr = wait_phase(namespace, "redos", "Paused", "Failed")
    assert fr["status"]["phase"] == "Paused", fr["status"].get("message")
    assert fr["status"]["pause"]["inputSchema"]["properties"]["word"]["pattern"] == "^(a+)+$"
    # Python's re: 4 s at 26 characters, doubling with each further one (days at 60).
    for n in (26, 60, 20_000):
        patch = {"spec": {"state": "Running", "input": {"word": "a" * n + "!"}}}
        out = patch_fr(namespace, "redos", patch, check=False)
        assert out.returncode != 0 and "denied the request" in out.stderr, out.stderr
        assert "does not match" in out.stderr, out.stderr
    # The run's own account (flow code holds its token) is checked like anyone.
    runner = f"system:serviceaccount:{namespace}:redos-runner"
    out = kubectl("patch", "flowruns.flowrun.io", "redos", "--type=merge", "-p",
                  '{"spec":{"state":"Running","input":{"word":"' + "a" * 60 + '!"}}}',
                  f"--as={runner}", namespace=namespace, check=False)
    assert out.returncode != 0 and "does not match" in out.stderr, out.stderr
    # The webhook still answers: an unrelated write (a new run, through both webhooks) is admitted.
    apply(namespace, flowrun_manifest("bystander", "testflows.basic:returns_value", parameters={"x": 2}))
    assert wait_phase(namespace, "bystander", "Completed", "Failed")["status"]["phase"] == "Completed"
    # Nothing happened to the paused run.
    fr = get_fr(namespace, "redos")
    assert fr["spec"]["state"] == "Paused" and fr["status"]["phase"] == "Paused"
    assert not fr["spec"].get("input") and not fr["status"].get("resumed")
    # And good input still resumes it.
    patch_fr(namespace, "redos", {"spec": {"state": "Running", "input": {"word": "aaaa"}}})
    fr = wait_phase(namespace, "redos", "Completed", "Failed")
    assert fr["status"]["result"] == "aaaa"


def test_a_pattern_re2_cannot_compile_is_refused_when_the_flow_pauses(operator, namespace):
    apply(namespace, flowrun_manifest("backref", "testflows.edges:pauses_with_backreference"))
    fr = wait_phase(namespace, "backref", "Failed", "Paused")
    assert fr["status"]["phase"] == "Failed"
    assert "RE2" in (fr["status"].get("message") or "") + str(fr["status"].get("result") or ""), fr["status"]
