"""Tables, colours, ages and the `get` view (no cluster)."""
from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from flowrun.cli import output

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


def stamp(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def obj(name="greet", phase="Paused", **status):
    return {
        "apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun",
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": stamp(90),
                     "managedFields": [{"manager": "kubectl"}]},
        "spec": {"flow": "examples.greeting:greet_user", "state": phase if phase in
                 ("Paused", "Suspended") else "Running"},
        "status": {"phase": phase, "attempt": 1, "jobName": f"{name}-1", **status},
    }


@pytest.mark.parametrize("seconds,text", [
    (0, "0s"), (59, "59s"), (119, "119s"), (120, "2m"), (192, "3m12s"), (600, "10m"),
    (3599, "59m"), (3600, "1h"), (3 * 3600 + 60 * 5, "3h5m"), (9 * 3600, "9h"),
    (47 * 3600, "47h"), (50 * 3600, "2d2h"), (400 * 86400, "400d"), (-5, "0s"),
])
def test_duration(seconds, text):
    assert output.duration(seconds) == text


def test_age_and_parse_time():
    assert output.age(stamp(75), NOW) == "75s"
    assert output.age(None, NOW) == "<unknown>"
    assert output.parse_time("nonsense") is None
    assert output.parse_time("2025-01-01T00:00:00Z") == datetime(2025, 1, 1, tzinfo=timezone.utc)


def test_table_aligns_visible_text_even_with_colour():
    rows = [["a", output.phase("Running", True), "x"], ["bbbb", output.phase("Failed", True), "y"]]
    text = output.table(["NAME", "PHASE", "MESSAGE"], rows, colour=False)
    plain = output._ANSI.sub("", text).splitlines()
    assert plain == ["NAME   PHASE     MESSAGE", "a      Running   x", "bbbb   Failed    y"]
    assert "\x1b[36mRunning\x1b[0m" in text and "\x1b[31;1mFailed\x1b[0m" in text


def test_table_cuts_the_last_column():
    text = output.table(["A", "MSG"], [["x", "word " * 40]], max_last=20)
    assert text.splitlines()[1].endswith("…") and len(text.splitlines()[1]) == 3 + 1 + 20


def test_colour_only_on_a_terminal(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert output.use_colour(Tty()) and not output.use_colour(io.StringIO())
    assert output.use_colour(io.StringIO(), "always") and not output.use_colour(Tty(), "never")
    monkeypatch.setenv("NO_COLOR", "1")
    assert not output.use_colour(Tty())
    assert output.phase("Paused", False) == "Paused" and output.phase(None, True) == ""


def test_list_rows_with_and_without_namespace():
    items = [obj("a", "Running", message="running   attempt 1"), obj("b", "Completed")]
    headers, rows = output.list_rows(items, NOW, all_namespaces=False, colour=False)
    assert headers == ["NAME", "PHASE", "FLOW", "ATTEMPT", "AGE", "MESSAGE"]
    assert rows[0] == ["a", "Running", "examples.greeting:greet_user", "1", "90s", "running attempt 1"]
    headers, rows = output.list_rows(items, NOW, all_namespaces=True, colour=False)
    assert headers[0] == "NAMESPACE" and rows[1][:3] == ["ns", "b", "Completed"]
    bare = {"metadata": {"name": "new", "creationTimestamp": stamp(1)}, "spec": {"flow": "m:f"}}
    assert output.list_rows([bare], NOW, all_namespaces=False, colour=False)[1][0][1:4] == ["", "m:f", ""]


def test_dump_formats():
    one = obj()
    as_json = json.loads(output.dump(one, "json"))
    assert as_json["metadata"]["name"] == "greet" and "managedFields" not in as_json["metadata"]
    assert yaml.safe_load(output.dump([one, obj("b")], "yaml"))["kind"] == "List"
    assert output.dump([one, obj("b")], "name") == "greet\nb"
    with pytest.raises(ValueError):
        output.dump(one, "xml")


SCHEMA = {"title": "UserNameInput", "type": "object", "additionalProperties": False,
          "required": ["name"],
          "properties": {"name": {"type": "string", "title": "Name"},
                         "shout": {"type": "boolean", "default": False, "description": "loudly"},
                         "level": {"enum": ["low", "high"], "type": "string"}}}


def test_describe_paused_run_lists_the_expected_input():
    fr = obj(message="paused at pause-1", pause={
        "key": "pause-1", "kind": "Pause", "requestedBy": "flow", "since": stamp(30),
        "deadline": (NOW + timedelta(seconds=570)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "timeoutSeconds": 600, "inputSchema": SCHEMA},
        history=[{"time": stamp(30), "action": "paused", "by": "flow", "key": "pause-1"}])
    text = output.describe(fr, NOW, namespace_hint="ns")
    lines = text.splitlines()
    assert "Phase:     Paused" in lines and "Job:       greet-1" in lines
    assert "  Key:      pause-1" in lines
    assert "  Kind:     Pause (requested by flow)" in lines
    assert any(line.startswith("  Deadline:") and line.endswith("(9m30s left)") for line in lines)
    assert "Expected input (UserNameInput):" in lines
    header = lines.index("Expected input (UserNameInput):") + 1
    assert lines[header].split() == ["FIELD", "TYPE", "REQUIRED", "DEFAULT", "DESCRIPTION"]
    assert lines[header + 1].split() == ["name", "string", "yes", "-"]
    assert lines[header + 2].split()[:4] == ["shout", "boolean", "no", "false"]
    assert "one of: low, high" in lines[header + 3]
    assert "  Resume with: flowrun resume greet -n ns --input name=<string>" in lines
    assert "History:" in lines and any("paused" in line and "pause-1" in line for line in lines)
    assert "Result:" not in text and "\x1b[" not in text


def test_describe_suspended_without_deadline_or_schema():
    fr = obj(phase="Suspended", pause={"key": "external-suspend-1", "kind": "Suspend",
                                       "requestedBy": "user"})
    fr["status"]["jobName"] = ""
    text = output.describe(fr, NOW)
    assert "Job:       -" in text
    assert "Deadline: none (waits until resumed)" in text
    assert "Expected input: none" in text
    assert "Resume with: flowrun resume greet" in text


def test_describe_completed_shows_result_and_inputs():
    fr = obj(phase="Completed", result={"greeting": "Hello, Marvin!"},
             inputs={"pause-1": {"name": "Marvin"}}, pause={"key": "pause-1", "kind": "Pause"})
    text = output.describe(fr, NOW, colour=True)
    assert "\x1b[32mCompleted\x1b[0m" in text
    assert '"greeting": "Hello, Marvin!"' in text
    assert 'pause-1: {"name": "Marvin"}' in text
    assert "Expected input" not in text, "a finished run waits for nothing"


def test_describe_marks_a_pending_request():
    fr = obj(phase="Running")
    fr["spec"]["state"] = "Paused"
    assert "Running   (desired: Paused)" in output.describe(fr, NOW)


def test_resume_hint_placeholders():
    assert output.resume_hint("x", None, SCHEMA) == "flowrun resume x --input name=<string>"
    assert output.resume_hint("x", "n", None) == "flowrun resume x -n n"


def test_get_shows_approvers_and_approvals_so_far():
    now = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    obj = {"metadata": {"name": "pay", "namespace": "ns"}, "spec": {"flow": "m:f", "state": "Paused"},
           "status": {"phase": "Paused", "attempt": 1, "pause": {
               "key": "pause-1", "kind": "Pause", "since": "2026-11-25T11:50:00Z", "deadline": "2026-11-25T13:00:00Z",
               "approval": {"approvers": ["group:finance", "dave"], "required": 2, "allowCreator": False,
                            "approvals": [{"by": "alice", "groups": ["finance"], "time": "2026-11-25T11:55:00Z"}]}}}}
    shown = output.describe(obj, now, colour=False)
    assert "Approvers: group:finance, dave" in shown
    assert "Approvals: 1 of 2 (alice); the run's creator may not approve" in shown


@pytest.mark.parametrize("extra,says", [
    ({"onTimeout": "resume", "timeoutInput": {"amount": 0, "note": "n/a"}},
     'On timeout: if nobody answers by 2025-01-01 12:09:30 UTC: resumes with amount=0, note="n/a"'),
    ({"onTimeout": "cancel"}, "On timeout: if nobody answers by 2025-01-01 12:09:30 UTC: is cancelled"),
    ({"onTimeout": "resume", "timedOut": {"outcome": "resume", "generation": 2}},
     "On timeout: nobody answered in time: the system resumes it"),
    ({}, None),  # the default ("fail") is said as before: no line
])
def test_describe_says_what_the_deadline_does(extra, says):
    fr = obj(pause={"key": "pause-1", "kind": "Pause", "since": stamp(30), "timeoutSeconds": 600,
                    "deadline": (NOW + timedelta(seconds=570)).strftime("%Y-%m-%dT%H:%M:%SZ"), **extra})
    lines = [line.strip() for line in output.describe(fr, NOW, namespace_hint="ns").splitlines()]
    if says is None:
        assert not any(line.startswith("On timeout") for line in lines)
    else:
        assert says in lines, lines
