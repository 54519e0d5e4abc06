"""The `flowrun` command against the real cluster: every command run as a subprocess, as a
user (or a script) runs it, checking what it prints and its exit code."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import cluster
from cluster.flowruns import apply, get_fr, names, wait_phase
from cluster.cli import fails, flowrun, ok
from cluster.harness import REPO

pytestmark = pytest.mark.e2e
MANIFESTS = REPO / "examples" / "manifests"
VENV_BIN = REPO / ".venv" / "bin"


def example(namespace: str, name: str) -> None:
    apply(namespace, (MANIFESTS / f"{name}.yaml").read_text())


def test_version_and_kubectl_plugin(kubeconfig):
    assert ok(flowrun("version")).stdout.strip() == "flowrun 0.1.0"
    assert (VENV_BIN / "kubectl-flowrun").exists(), "pip install -e . installs kubectl-flowrun"
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([str(cluster.KUBECTL), "flowrun", "version"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "flowrun 0.1.0"
    plugins = subprocess.run([str(cluster.KUBECTL), "plugin", "list"], capture_output=True,
                             text=True, env=env, timeout=60)
    assert "kubectl-flowrun" in plugins.stdout


def test_run_with_a_ttl_is_deleted_after_it_ends(operator, namespace):
    ok(flowrun("run", "examples.hello:hello", "--name", "brief", "--ttl", "2s", "--wait",
               "--timeout", "150", namespace=namespace))
    cluster.wait_for(lambda: "brief" not in names("fr", namespace), timeout=60, interval=0.5,
             what="the finished run to be deleted after its TTL")
    fails(flowrun("get", "brief", namespace=namespace), 3, "not found")


def test_run_wait_shows_the_result_and_output_formats(operator, namespace):
    proc = ok(flowrun("run", "examples.hello:hello", "-p", "name=flowrun", "--name", "hello",
                      "--wait", "--timeout", "150", namespace=namespace))
    lines = proc.stdout.splitlines()
    assert lines[0] == "hello"
    assert "hello Completed" in proc.stdout
    assert 'result: {"greeting": "HELLO, FLOWRUN", "length": 7}' in proc.stdout
    assert "\x1b[" not in proc.stdout, "no colour codes when piped"

    shown = ok(flowrun("get", "hello", namespace=namespace)).stdout
    assert re.search(r"Phase:\s+Completed", shown)
    assert re.search(r"Job:\s+hello-1", shown) and re.search(r"Attempt:\s+1", shown)
    assert "Result:" in shown and '"greeting": "HELLO, FLOWRUN"' in shown
    assert "History:" in shown

    as_json = json.loads(ok(flowrun("get", "hello", "-o", "json", namespace=namespace)).stdout)
    assert as_json["status"]["result"] == {"greeting": "HELLO, FLOWRUN", "length": 7}
    as_yaml = yaml.safe_load(ok(flowrun("get", "hello", "-o", "yaml", namespace=namespace)).stdout)
    assert as_yaml["metadata"]["name"] == "hello" and as_yaml["status"]["phase"] == "Completed"
    assert ok(flowrun("get", "fr/hello", "-o", "name", namespace=namespace)).stdout.strip() == "hello"
    listed = json.loads(ok(flowrun("ls", "-o", "json", namespace=namespace)).stdout)
    assert listed["kind"] == "List" and [i["metadata"]["name"] for i in listed["items"]] == ["hello"]
    assert yaml.safe_load(ok(flowrun("ls", "-o", "yaml", namespace=namespace)).stdout)["items"]

    # A generated name, -o name and -o json on run (created suspended: no Job starts).
    name = ok(flowrun("run", "examples.hello:hello", "--suspended", "-o", "name",
                      namespace=namespace)).stdout.strip()
    assert re.fullmatch(r"hello-[a-z0-9]{5}", name), name
    created = json.loads(ok(flowrun("run", "examples.hello:hello", "--suspended", "-o", "json",
                                    "-p", 'cfg={"a": [1, 2]}', "-p", "n=3", "-p", "s=abc",
                                    namespace=namespace)).stdout)
    assert created["spec"]["parameters"] == {"cfg": {"a": [1, 2]}, "n": 3, "s": "abc"}
    assert created["spec"]["state"] == "Suspended"

    # The same name again is refused; a run that fails exits 1 with its message.
    fails(flowrun("run", "examples.hello:hello", "--name", "hello", namespace=namespace),
          1, "already exists")
    proc = flowrun("run", "testflows.basic:raises", "-p", "message=kaputt", "--name", "broken",
                   "--wait", "--timeout", "150", "-o", "json", namespace=namespace)
    fails(proc, 1, "ended Failed", "kaputt")
    assert json.loads(proc.stdout)["status"]["phase"] == "Failed"

    # wait on a finished run: reached (0) or ended otherwise (1).
    assert ok(flowrun("wait", "hello", namespace=namespace)).stdout.strip() == "hello Completed"
    fails(flowrun("wait", "hello", "--for", "Paused", namespace=namespace), 1,
          "ended Completed, not Paused")


def test_ls_namespaces_and_selectors(operator, namespace):
    team = f"t{int(time.time() * 1000) % 10**8}"
    for name, labels in (("a-one", [f"team={team}"]), ("a-two", [f"team={team}", "tier=x"]),
                         ("b-one", ["team=other"])):
        ok(flowrun("run", "examples.hello:hello", "--name", name, "--suspended",
                   *sum((["--label", la] for la in labels), []), namespace=namespace))
    for name in ("a-one", "a-two", "b-one"):
        wait_phase(namespace, name, "Suspended")

    out = ok(flowrun("ls", namespace=namespace)).stdout.splitlines()
    assert out[0].split() == ["NAME", "PHASE", "FLOW", "ATTEMPT", "AGE", "MESSAGE"]
    assert [line.split()[:3] for line in out[1:]] == [
        [n, "Suspended", "examples.hello:hello"] for n in ("a-one", "a-two", "b-one")]
    assert "\x1b[" not in "\n".join(out)

    out = ok(flowrun("ls", "-l", f"team={team}", namespace=namespace)).stdout.splitlines()
    assert [line.split()[0] for line in out[1:]] == ["a-one", "a-two"]
    assert ok(flowrun("ls", "-l", "tier=x", "-o", "name", namespace=namespace)).stdout.split() == ["a-two"]

    out = ok(flowrun("ls", "-A", "-l", f"team={team}")).stdout.splitlines()
    assert out[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert [line.split()[:3] for line in out[1:]] == [
        [namespace, "a-one", "Suspended"], [namespace, "a-two", "Suspended"]]
    everything = ok(flowrun("ls", "--all-namespaces")).stdout
    assert namespace in everything and "b-one" in everything

    proc = ok(flowrun("ls", "-l", "team=nobody", namespace=namespace))
    assert proc.stdout == "" and "No FlowRuns matching" in proc.stderr
    coloured = ok(flowrun("ls", "--color", "always", namespace=namespace)).stdout
    assert "\x1b[35mSuspended\x1b[0m" in coloured


def test_get_shows_expected_input_and_resume_checks_it(operator, namespace, tmp_path):
    example(namespace, "greet")
    wait_phase(namespace, "greet", "Paused")
    # The runner records the phase first, then spec.state: take the snapshot after both.
    before = cluster.wait_for(
        lambda: (fr := get_fr(namespace, "greet"))["spec"].get("state") == "Paused" and fr,
        timeout=30, what="spec.state Paused")
    shown = ok(flowrun("get", "greet", namespace=namespace)).stdout
    assert re.search(r"Phase:\s+Paused", shown)
    assert re.search(r"Key:\s+pause-1", shown) and re.search(r"Kind:\s+Pause", shown)
    assert re.search(r"Deadline:\s+\S+ \((9m\d*s?|10m|\d+s) left\)", shown), shown
    assert "Expected input (UserNameInput):" in shown
    assert re.search(r"FIELD\s+TYPE\s+REQUIRED\s+DEFAULT\s+DESCRIPTION", shown)
    assert re.search(r"^\s+name\s+string\s+yes\s", shown, re.M), shown
    assert f"flowrun resume greet -n {namespace} --input name=<string>" in shown

    # Wrong type: refused before anything is patched; the run stays paused.
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": 42}))
    fails(flowrun("resume", "greet", "--input-file", str(bad), namespace=namespace), 4,
          "name: 42 is not of type 'string'")
    fails(flowrun("resume", "greet", "--input", "name:=42", namespace=namespace), 4,
          "name: 42 is not of type 'string'")
    fails(flowrun("resume", "greet", namespace=namespace), 4, "'name' is a required property")
    fails(flowrun("resume", "greet", "--input", "nmae=Marvin", namespace=namespace), 4,
          "'nmae' was unexpected")
    after = get_fr(namespace, "greet")
    assert after["metadata"]["generation"] == before["metadata"]["generation"], "nothing patched"
    assert after["status"]["phase"] == "Paused" and after["spec"]["state"] == "Paused"
    assert not after["spec"].get("input")

    assert ok(flowrun("resume", "greet", "--input", "name=Marvin",
                      namespace=namespace)).stdout.strip() == "greet resumed"
    assert ok(flowrun("wait", "greet", "--for", "Completed", "--timeout", "120",
                      namespace=namespace)).stdout.strip() == "greet Completed"
    shown = ok(flowrun("get", "greet", namespace=namespace)).stdout
    assert '"Hello, Marvin!"' in shown
    assert re.search(r"pause-1: \{\"name\": \"Marvin\"\}", shown)
    assert re.search(r"resumed\s+\S+\s+pause-1", shown), shown
    fails(flowrun("resume", "greet", namespace=namespace), 1, "Completed", "no longer be resumed")


def test_resume_by_selector(operator, namespace):
    for name, label in (("joke-a", "batch=b1"), ("joke-b", "batch=b1")):
        ok(flowrun("run", "examples.jokes:tell_joke", "-p", "topic=ducks", "--name", name,
                   "--label", label, namespace=namespace))
    ok(flowrun("run", "examples.jokes:tell_joke", "--name", "joke-c", "--suspended",
               "--label", "batch=b2", namespace=namespace))
    wait_phase(namespace, "joke-a", "Paused")
    wait_phase(namespace, "joke-b", "Paused")
    wait_phase(namespace, "joke-c", "Suspended")

    proc = ok(flowrun("resume", "-l", "batch=b1", namespace=namespace))
    assert proc.stdout.splitlines() == ["joke-a resumed", "joke-b resumed"]
    for name in ("joke-a", "joke-b"):
        fr = wait_phase(namespace, name, "Completed", "Failed")
        assert fr["status"]["result"]["punchline"] == "To get to the other side!"
    assert get_fr(namespace, "joke-c")["status"]["phase"] == "Suspended"
    # Nothing left to resume under b1: every match is skipped, which is a refusal.
    proc = flowrun("resume", "-l", "batch=b1", namespace=namespace)
    fails(proc, 1, "none of the 2")
    assert "skipped joke-a" in proc.stderr
    fails(flowrun("resume", "-l", "batch=none", namespace=namespace), 3, "no FlowRun matches")


def test_suspend_while_running_then_resume(operator, namespace):
    ok(flowrun("run", "examples.suspending:many_steps", "--name", "steps", "-p", "steps=8",
               "-p", "seconds=1", namespace=namespace))
    ok(flowrun("wait", "steps", "--for", "Running", "--timeout", "120", namespace=namespace))
    assert "suspend requested" in ok(flowrun("suspend", "steps", namespace=namespace)).stdout
    ok(flowrun("wait", "steps", "--for", "Suspended", "--timeout", "60", namespace=namespace))
    shown = ok(flowrun("get", "steps", namespace=namespace)).stdout
    assert re.search(r"Key:\s+external-suspend-1", shown) and re.search(r"Kind:\s+Suspend", shown)
    assert re.search(r"Job:\s+-", shown)
    assert "is already suspended" in ok(flowrun("suspend", "steps", namespace=namespace)).stdout
    fails(flowrun("pause", "steps", namespace=namespace), 1, "resume it first")
    fails(flowrun("logs", "steps", namespace=namespace), 3, "no pod", "suspended")

    assert "was suspended" in ok(flowrun("resume", "steps", namespace=namespace)).stdout
    ok(flowrun("wait", "steps", "--timeout", "180", namespace=namespace))
    fr = get_fr(namespace, "steps")
    assert fr["status"]["attempt"] == 2 and fr["status"]["result"]["steps"] == 8
    fails(flowrun("suspend", "steps", namespace=namespace), 1, "Completed")


def test_pause_and_wait_timeout(operator, namespace):
    # 40 half-second steps: the pause request lands at a task boundary well before the
    # flow could end, even on a loaded machine (8 steps once finished first).
    ok(flowrun("run", "examples.suspending:many_steps", "--name", "steps", "-p", "steps=40",
               "-p", "seconds=0.5", namespace=namespace))
    ok(flowrun("wait", "steps", "--for", "Running", "--timeout", "120", namespace=namespace))
    assert "pause requested" in ok(flowrun("pause", "steps", namespace=namespace)).stdout
    assert ok(flowrun("wait", "steps", "--for", "paused", "--timeout", "60",
                      namespace=namespace)).stdout.strip() == "steps Paused"
    assert re.search(r"Key:\s+external-pause-1",
                     ok(flowrun("get", "steps", namespace=namespace)).stdout)

    proc = flowrun("wait", "steps", "--timeout", "2", namespace=namespace)
    fails(proc, 2, "timed out after 2s", "it is Paused")
    assert "steps is Paused at external-pause-1" in proc.stderr  # the hint for the person

    ok(flowrun("resume", "steps", namespace=namespace))
    ok(flowrun("wait", "steps", "--for", "Completed,Failed", "--timeout", "120", namespace=namespace))
    fr = get_fr(namespace, "steps")
    assert fr["status"]["phase"] == "Completed" and fr["status"]["attempt"] == 1


def test_logs_and_follow(operator, namespace):
    example(namespace, "joke")
    wait_phase(namespace, "joke", "Paused")
    assert "Why did the ducks cross the road?" in ok(flowrun("logs", "joke", namespace=namespace)).stdout

    follower = subprocess.Popen([sys.executable, "-m", "flowrun.cli.main", "logs", "-f", "joke",
                                 "-n", namespace], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=REPO)
    try:
        # Attached: the lines so far arrive (the setup among them) while the pod still runs.
        seen = []
        for line in follower.stdout:
            seen.append(line)
            if "Why did the ducks cross the road?" in line:
                break
        assert follower.poll() is None, "follows while the pod runs"
        ok(flowrun("resume", "joke", namespace=namespace))
        rest, err = follower.communicate(timeout=120)
        out = "".join(seen) + rest
    finally:
        if follower.poll() is None:
            follower.kill()
    assert follower.returncode == 0, err
    assert "Why did the ducks cross the road?" in out
    assert "To get to the other side!" in out, "the lines after the resume arrive too"
    wait_phase(namespace, "joke", "Completed")
    assert "To get to the other side!" in ok(flowrun("logs", "joke", "--tail", "50",
                                                     namespace=namespace)).stdout


def test_errors_are_one_line_with_exit_codes(namespace, tmp_path):
    for args in (["get", "ghost"], ["resume", "ghost"], ["suspend", "ghost"], ["pause", "ghost"],
                 ["logs", "ghost"], ["wait", "ghost", "--timeout", "5"], ["get", "ghost", "-o", "json"]):
        fails(flowrun(*args, namespace=namespace), 3, "'ghost'")
    fails(flowrun("resume", "-l", "app=ghost", namespace=namespace), 3, "no FlowRun matches")
    fails(flowrun("run", "not-a-flow-ref", namespace=namespace), 4, "module:function")
    fails(flowrun("run", "examples.hello:hello", "-p", "novalue", namespace=namespace), 4,
          "key=value")
    fails(flowrun("wait", "ghost", "--for", "Done", namespace=namespace), 2, "unknown phase")
    usage = flowrun("resume", "--bogus", namespace=namespace)
    assert usage.returncode == 2 and "Traceback" not in usage.stderr

    # An API server that does not answer: exit 5, no traceback.
    config = yaml.safe_load(Path(os.environ["KUBECONFIG"]).read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = "https://127.0.0.1:1"
    dead = tmp_path / "dead.conf"
    dead.write_text(yaml.safe_dump(config))
    fails(flowrun("ls", "--kubeconfig", str(dead), namespace=namespace), 5,
          "cannot reach the Kubernetes API server at https://127.0.0.1:1")
    fails(flowrun("get", "x", namespace=namespace, env={"KUBECONFIG": str(tmp_path / "none")}), 5)
