"""Command logic against a fake `Kube` (no cluster): names, selectors, refusals, exit
codes, and main()'s one-line errors."""
from __future__ import annotations

import copy
import io
from typing import Any

import pytest

from flowrun.cli import commands, errors, main as cli_main
from flowrun.cli.commands import Session
from flowrun.cli.parser import build_parser
from flowrun.kube.client import Conflict, Gone, KubeError


def fr(name, phase, state=None, schema=None, labels=None):
    status: dict[str, Any] = {"phase": phase}
    if phase in ("Paused", "Suspended"):
        status["pause"] = {"key": "pause-1", "kind": phase[:-1] if phase == "Paused" else "Suspend",
                           **({"inputSchema": schema} if schema else {})}
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": "1",
                         "labels": labels or {}},
            "spec": {"flow": "m:f", "state": state or (phase if phase in ("Paused", "Suspended")
                                                        else "Running")},
            "status": status}


class FakeKube:
    def __init__(self, *objs, error: KubeError | None = None):
        self.objs = {o["metadata"]["name"]: o for o in objs}
        self.patches: list[tuple[str, dict]] = []
        self.error = error

    def get_flowrun(self, namespace, name):
        return copy.deepcopy(self.objs.get(name))

    def list_flowruns(self, namespace=None, selector=None):
        key, _, value = (selector or "").partition("=")
        return [copy.deepcopy(o) for o in self.objs.values()
                if not selector or o["metadata"]["labels"].get(key) == value]

    def update_flowrun(self, namespace, name, decide):
        obj = self.get_flowrun(namespace, name)
        if obj is None:
            return None
        decision = decide(obj)
        if decision is None:
            return obj
        if self.error:
            raise self.error
        self.patches.append((name, decision[0]))
        return obj

    def create_flowrun(self, namespace, body):
        name = body["metadata"]["name"]
        if name in self.objs:
            raise Conflict(409, "AlreadyExists", f"{name} exists")
        self.objs[name] = {**body, "metadata": {**body["metadata"], "namespace": namespace,
                                                "resourceVersion": "1"}}
        return self.objs[name]

    def watch_flowrun(self, namespace, name, *, stop=None, on_connect=None, **_):
        if name not in self.objs:
            raise Gone(name)
        yield copy.deepcopy(self.objs[name])
        while not (stop and stop.is_set()):
            stop.wait(0.05)


def run(kube, *argv):
    out, err = io.StringIO(), io.StringIO()
    args = build_parser().parse_args(list(argv))
    s = Session(namespace_arg="ns", out=out, err=err, _kube=kube)
    try:
        code = commands.COMMANDS[cli_main.ALIASES.get(args.command, args.command)](args, s)
    except errors.CliError as exc:
        return exc.code, out.getvalue(), exc.message
    return code, out.getvalue(), err.getvalue()


GREET = {"type": "object", "additionalProperties": False, "required": ["name"],
         "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}}


def test_generate_name_and_strip_kind():
    assert commands.generate_name("examples.jokes:tell_joke", "abcde") == "tell-joke-abcde"
    long = commands.generate_name("m:" + "x" * 80, "abcde")
    assert len(long) == 52 and long.endswith("-abcde")
    assert commands.generate_name("m:__", "abcde") == "flowrun-abcde"
    assert commands.strip_kind("fr/joke") == "joke"
    assert commands.strip_kind("flowrun.flowrun.io/joke") == "joke"
    assert commands.strip_kind("joke") == "joke"


def test_parse_phases():
    assert commands.parse_phases("completed, Failed") == {"Completed", "Failed"}
    with pytest.raises(errors.CliError) as err:
        commands.parse_phases("Done")
    assert err.value.code == errors.USAGE


def test_global_options_before_or_after_the_command():
    p = build_parser()
    assert p.parse_args(["-n", "a", "ls"]).namespace == "a"
    assert p.parse_args(["ls", "-n", "b"]).namespace == "b"
    assert p.parse_args(["ls"]).namespace is None and p.parse_args(["ls"]).color == "auto"
    assert p.parse_args(["wait", "x", "--timeout", "2m"]).timeout == 120


def test_resume_coerces_and_checks_before_patching():
    kube = FakeKube(fr("greet", "Paused", schema=GREET))
    code, _, msg = run(kube, "resume", "greet", "--input", "name:=42")
    assert code == errors.INVALID_INPUT and "name: 42 is not of type 'string'" in msg
    assert "expected: name (string, required), age (integer)" in msg
    code, _, msg = run(kube, "resume", "greet", "--input", "age=x")
    assert code == errors.INVALID_INPUT and "age" in msg
    assert kube.patches == []
    code, out, _ = run(kube, "resume", "greet", "--input", "name=42", "--input", "age=42")
    assert code == 0 and out == "greet resumed\n"
    assert kube.patches == [("greet", {"spec": {"state": "Running",
                                                "input": {"name": "42", "age": 42}}})]


def test_resume_refusals():
    kube = FakeKube(fr("done", "Completed"), fr("busy", "Running"), fr("plain", "Paused"))
    code, _, msg = run(kube, "resume", "done")
    assert code == errors.FAILED and "can no longer be resumed" in msg
    code, _, msg = run(kube, "resume", "busy")
    assert code == errors.FAILED and "not paused or suspended" in msg
    code, _, msg = run(kube, "resume", "plain", "--input", "x=1")
    assert code == errors.INVALID_INPUT and "does not wait for input" in msg
    code, _, msg = run(kube, "resume", "ghost")
    assert code == errors.NOT_FOUND
    assert kube.patches == []


def test_resume_admission_webhook_denial_is_readable():
    denial = KubeError(403, "Forbidden", 'admission webhook "v.flowrun.io" denied the request: '
                       "[InvalidInput] input is invalid: name: required")
    kube = FakeKube(fr("greet", "Paused", schema=GREET), error=denial)
    code, _, msg = run(kube, "resume", "greet", "--input", "name=x")
    assert code == errors.INVALID_INPUT
    assert msg == ("the API server refused to resume FlowRun 'greet': admission webhook \"v.flowrun.io\" "
                   "denied the request: input is invalid: name: required")
    denial = KubeError(403, "Forbidden", 'admission webhook denied the request: [SubflowAlone] a linked '
                       "subflow cannot be suspended on its own; use as_subflow=False")
    kube = FakeKube(fr("child", "Running"), error=denial)
    code, _, msg = run(kube, "suspend", "child")
    assert code == errors.FAILED and "as_subflow=False" in msg


def test_bulk_resume_skips_what_is_not_stopped():
    kube = FakeKube(fr("a", "Paused", labels={"b": "1"}), fr("b", "Suspended", labels={"b": "1"}),
                    fr("c", "Running", labels={"b": "1"}), fr("d", "Paused", labels={"b": "2"}))
    code, out, err = run(kube, "resume", "-l", "b=1")
    assert code == 0
    assert out.splitlines() == ["a resumed", "b resumed (it was suspended: a new Job starts)"]
    assert "skipped c" in err
    assert [n for n, _ in kube.patches] == ["a", "b"]
    code, _, msg = run(kube, "resume", "-l", "b=3")
    assert code == errors.NOT_FOUND
    code, _, msg = run(kube, "resume", "x", "-l", "b=1")
    assert code == errors.USAGE
    code, _, msg = run(kube, "resume")
    assert code == errors.USAGE


def test_suspend_and_pause():
    kube = FakeKube(fr("r", "Running"), fr("s", "Suspended"), fr("c", "Failed"))
    assert run(kube, "suspend", "r")[0] == 0
    assert kube.patches == [("r", {"spec": {"state": "Suspended"}})]
    code, out, _ = run(kube, "suspend", "s")
    assert code == 0 and "already suspended" in out
    code, _, msg = run(kube, "pause", "s")
    assert code == errors.FAILED and "resume it first" in msg
    code, _, msg = run(kube, "pause", "c")
    assert code == errors.FAILED and "Failed" in msg
    assert run(kube, "pause", "r")[0] == 0


def test_run_builds_the_flowrun():
    kube = FakeKube()
    code, out, _ = run(kube, "run", "examples.hello:hello", "-p", "name=x", "-p", "n=2",
                       "--name", "h", "--label", "team=a", "--suspended", "--image", "img:1")
    assert code == 0 and out == "h\n"
    body = kube.objs["h"]
    assert body["spec"] == {"flow": "examples.hello:hello", "parameters": {"name": "x", "n": 2},
                            "image": "img:1", "state": "Suspended"}
    assert body["metadata"]["labels"] == {"team": "a"}
    code, _, msg = run(kube, "run", "examples.hello:hello", "--name", "h")
    assert code == errors.FAILED and "already exists" in msg
    code, _, msg = run(kube, "run", "hello")
    assert code == errors.INVALID_INPUT
    code, _, _ = run(kube, "run", "examples.hello:hello", "--name", "brief", "--ttl", "5m")
    assert code == 0 and kube.objs["brief"]["spec"]["ttlSecondsAfterFinished"] == 300
    with pytest.raises(SystemExit):  # argparse refuses it with a usage error
        run(kube, "run", "examples.hello:hello", "--ttl", "-1")


def test_wait_outcomes():
    kube = FakeKube(fr("done", "Completed"), fr("bad", "Failed"), fr("p", "Paused"))
    code, out, _ = run(kube, "wait", "done")
    assert code == 0 and out == "done Completed\n"
    code, _, msg = run(kube, "wait", "bad")
    assert code == errors.FAILED and "ended Failed, not Completed" in msg
    code, _, msg = run(kube, "wait", "p", "--timeout", "0.3")
    assert code == errors.TIMEOUT and "it is Paused" in msg
    code, _, msg = run(kube, "wait", "ghost")
    assert code == errors.NOT_FOUND


def test_exit_codes_for_api_errors():
    assert errors.exit_code_for(KubeError(404, "NotFound", "")) == errors.NOT_FOUND
    assert errors.exit_code_for(Conflict(409, "Conflict", "")) == errors.FAILED
    assert errors.exit_code_for(KubeError(422, "Invalid", "")) == errors.INVALID_INPUT
    assert errors.exit_code_for(KubeError(500, "InternalError", "")) == errors.API_ERROR
    err = KubeError(422, "Invalid", "FlowRun.flowrun.io \"x\" is invalid",
                    {"causes": [{"field": "spec.flow", "message": "must match"}]})
    assert errors.api_message(err) == 'FlowRun.flowrun.io "x" is invalid (spec.flow: must match)'


def test_main_prints_one_line_errors(monkeypatch, capsys):
    def boom(args, session):
        raise KubeError(500, "InternalError", "etcd\n is sad")
    monkeypatch.setitem(commands.COMMANDS, "ls", boom)
    assert cli_main.main(["ls", "-n", "x"]) == errors.API_ERROR
    assert capsys.readouterr().err == "flowrun: error: the API server said: etcd is sad (HTTP 500)\n"

    def unreachable(args, session):
        import urllib3
        raise urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: "
                                                          "[Errno 111] Connection refused")
    monkeypatch.setitem(commands.COMMANDS, "ls", unreachable)
    monkeypatch.setenv("KUBECONFIG", "/nonexistent")
    assert cli_main.main(["ls", "-n", "x"]) == errors.API_ERROR
    err = capsys.readouterr().err
    assert err.startswith("flowrun: error: cannot reach the Kubernetes API server")
    assert err.count("\n") == 1


def test_version_and_help(capsys):
    assert cli_main.main(["version"]) == 0
    assert capsys.readouterr().out == "flowrun 0.1.0\n"
    with pytest.raises(SystemExit) as exit_:
        cli_main.main(["resume", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "exit codes:" in text and "--input" in text


def test_refusals_are_sorted_by_their_code_never_by_their_words():
    # Our webhook's code decides the exit code; the words may say anything.
    for text, status, expected in [
        ("[InvalidInput] the value is wrong", 403, errors.INVALID_INPUT),
        ("[NotWaitingForInput] FlowRun is not paused", 422, errors.INVALID_INPUT),
        ("[NotAllowed] alice may not resume: the input was approved by bob", 403, errors.FAILED),
        ("[Finished] FlowRun is Completed; input no longer accepted", 422, errors.FAILED),
        # no code: not our webhook; the API server's own validation (422) refuses a value
        ('flowruns "greet" is forbidden: cannot patch the input', 403, errors.FAILED),
        ("FlowRun.flowrun.io \"greet\" is invalid: spec.input: Invalid value", 422, errors.INVALID_INPUT),
    ]:
        denial = KubeError(status, "Refused", f"admission webhook denied the request: {text}")
        kube = FakeKube(fr("greet", "Paused", schema=GREET), error=denial)
        code, _, msg = run(kube, "resume", "greet", "--input", "name=x")
        assert code == expected, (text, msg)
        assert "[" not in msg, msg
