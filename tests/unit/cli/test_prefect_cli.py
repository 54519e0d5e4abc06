"""`flowrun get` shows a pause's description; `flowrun resume` reports a refusal by the
flow's own validators (issue 12)."""
from __future__ import annotations

import copy
import io
from datetime import datetime, timezone

from flowrun.cli import actions as cli_actions, commands, errors, main as cli_main, output
from flowrun.cli.commands import Session
from flowrun.cli.parser import build_parser

SCHEMA = {"type": "object", "additionalProperties": False, "required": ["age"],
          "properties": {"name": {"type": "string", "default": "anonymous"}, "age": {"type": "integer"}}}


def paused(description=None):
    pause = {"key": "pause-1", "kind": "Pause", "inputSchema": SCHEMA}
    if description:
        pause["description"] = description
    return {"metadata": {"name": "greet", "namespace": "ns", "resourceVersion": "1", "generation": 1},
            "spec": {"flow": "m:f", "state": "Paused"},
            "status": {"phase": "Paused", "pause": pause}}


def test_get_prints_the_description_above_the_expected_fields():
    text = output.describe(paused("**Welcome!**\n- **Name**: who are you?"), datetime.now(timezone.utc))
    assert "Description:" in text and "  **Welcome!**\n  - **Name**: who are you?" in text
    assert text.index("**Welcome!**") < text.index("Expected input")
    assert "Description:" not in output.describe(paused(), datetime.now(timezone.utc))


class RefusingKube:
    """A FlowRun whose runner refuses the first resume (as the runner does when the
    model's validators fail) and accepts the next."""

    def __init__(self):
        self.obj = paused()
        self.resumes = 0

    def get_flowrun(self, namespace, name):
        return copy.deepcopy(self.obj)

    def update_flowrun(self, namespace, name, decide):
        decision = decide(copy.deepcopy(self.obj))
        if decision is None:
            return self.obj
        self.resumes += 1
        generation = self.obj["metadata"]["generation"] + 1
        self.obj["metadata"]["generation"] = generation
        patched = copy.deepcopy(self.obj)
        if self.resumes == 1:  # the runner's refusal, after the patch
            self.obj["metadata"]["generation"] = generation + 1
            self.obj["status"]["message"] = "Resume of pause-1 rejected, input is invalid: too young"
            self.obj["status"]["pause"]["rejectedGeneration"] = generation
        else:
            self.obj["status"] = {"phase": "Running", "resumed": ["pause-1"]}
        return patched


def run(kube, *argv):
    out, err = io.StringIO(), io.StringIO()
    args = build_parser().parse_args(list(argv))
    s = Session(namespace_arg="ns", out=out, err=err, _kube=kube)
    try:
        code = commands.COMMANDS[cli_main.ALIASES.get(args.command, args.command)](args, s)
    except errors.CliError as exc:
        return exc.code, out.getvalue(), exc.message
    return code, out.getvalue(), err.getvalue()


def test_resume_reports_a_refusal_and_then_succeeds(monkeypatch):
    monkeypatch.setattr(cli_actions, "RESUME_WATCH_SECONDS", 5)
    kube = RefusingKube()
    code, _, message = run(kube, "resume", "greet", "--input", "age=3")
    assert code == errors.INVALID_INPUT
    assert message == ("FlowRun 'greet' did not accept the input and is still paused: "
                       "Resume of pause-1 rejected, input is invalid: too young")
    code, out, _ = run(kube, "resume", "greet", "--input", "age=30")
    assert code == errors.OK and out.strip() == "greet resumed"
