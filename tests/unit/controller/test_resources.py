from flowrun.controller import resources
from flowrun.controller.views import pod_problem
from flowrun.controller.settings import Settings

RUN = {
    "apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun",
    "metadata": {"name": "joke", "namespace": "team-a", "uid": "u-1"},
    "spec": {"flow": "examples.jokes:tell_joke", "parameters": {}},
}


def test_job_is_locked_down_and_owned():
    job = resources.job(RUN, 2, Settings())
    assert job["metadata"]["name"] == "joke-2"
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "joke-runner"
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["FLOWRUN_NAME"] == "joke" and env["FLOWRUN_ATTEMPT"] == "2"
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/cache", "/tmp"} <= mounts
    claims = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert claims[0]["persistentVolumeClaim"]["claimName"] == "joke-cache"


def test_shared_claim_is_used_and_not_owned():
    run = {**RUN, "spec": {**RUN["spec"], "cache": {"claimName": "shared"}}}
    assert resources.cache_claim_name(run) == "shared"
    assert not resources.owns_cache_claim(run)


def test_role_is_limited_to_the_run_itself():
    role = next(o for o in resources.runner_account(RUN) if o["kind"] == "Role")
    for rule in role["rules"]:
        if rule["verbs"] == ["create"]:  # subflows and sent inputs: not limited by name
            assert rule["resources"] in (["flowruns"], ["flowruninputs"]) and "resourceNames" not in rule
            continue
        if rule["resources"] == ["flowruninboxes"]:  # its own inbox pages, read only
            assert rule["resourceNames"] == [f"joke-inbox-{i}" for i in range(32)]
            assert rule["verbs"] == ["get", "list", "watch"]
            continue
        assert rule["resourceNames"] == ["joke"]
        assert "delete" not in rule["verbs"]
    # never list/watch on every input or inbox of the namespace
    for rule in role["rules"]:
        if {"flowruninputs", "flowruninboxes"} & set(rule["resources"]):
            assert rule["verbs"] == ["create"] or rule.get("resourceNames"), rule


def test_template_overrides_merge_without_losing_our_labels():
    run = {**RUN, "spec": {**RUN["spec"], "template": {
        "metadata": {"labels": {"team": "a", "flowrun.io/run": "spoofed"}},
        "spec": {"nodeSelector": {"disk": "ssd"},
                 "containers": [{"resources": {"limits": {"memory": "256Mi"}},
                                 "env": [{"name": "EXTRA", "value": "1"}]}]},
    }}}
    pod = resources.job(run, 1, Settings())["spec"]["template"]
    assert pod["metadata"]["labels"]["team"] == "a"
    assert pod["metadata"]["labels"]["flowrun.io/run"] == "joke"
    assert pod["spec"]["nodeSelector"] == {"disk": "ssd"}
    container = pod["spec"]["containers"][0]
    assert container["resources"]["limits"]["memory"] == "256Mi"
    assert container["env"][-1] == {"name": "EXTRA", "value": "1"}
    assert container["name"] == "flow"


def test_image_errors_are_diagnosed():
    pod = {"metadata": {"name": "p"}, "status": {"containerStatuses": [{
        "image": "nope:1", "state": {"waiting": {"reason": "ErrImageNeverPull", "message": "not present"}}}]}}
    assert "Image 'nope:1' cannot be pulled (ErrImageNeverPull)" in pod_problem(pod)[0]
    assert pod_problem({"metadata": {"name": "p"}, "status": {"phase": "Running"}}) == ("", "")
