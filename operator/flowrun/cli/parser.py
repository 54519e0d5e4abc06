"""The command line's grammar: every subcommand, its options, and its --help text with
examples. Global options (-n, --kubeconfig, --color) work before or after the command."""
from __future__ import annotations

import argparse
import os

from .. import __version__
from .errors import EXIT_CODES_HELP
from .output import OUTPUT_FORMATS

RAW = argparse.RawDescriptionHelpFormatter


def _globals(defaults: bool) -> argparse.ArgumentParser:
    """The options every command takes. Subcommands use SUPPRESS defaults so that a value
    given before the command is not reset by the subcommand's parser."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("global options")
    d = (lambda v: v) if defaults else (lambda v: argparse.SUPPRESS)
    g.add_argument("-n", "--namespace", default=d(None), metavar="NS",
                   help="namespace (default: the kubeconfig context's, else 'default')")
    g.add_argument("--kubeconfig", default=d(None), metavar="PATH",
                   help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
    g.add_argument("--color", "--colour", dest="color", default=d("auto"),
                   choices=("auto", "always", "never"),
                   help="colour tables (auto: only on a terminal, and not with NO_COLOR)")
    return p


def _output(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", choices=OUTPUT_FORMATS,
                   help="print the object(s) as json, yaml, or just the name(s)")


def _timeout(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--timeout", type=_seconds, metavar="S",
                   help=f"give up after S seconds (exit 2); default: {what}")


def _seconds(text: str) -> float:
    unit = {"s": 1, "m": 60, "h": 3600}.get(text[-1:].lower())
    try:
        value = float(text[:-1]) * unit if unit else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 30, 90s, 5m)") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _selector(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("-l", "--selector", metavar="SELECTOR",
                   help=f"{what} every FlowRun whose labels match (e.g. team=payments)")


def _targets(p: argparse.ArgumentParser, what: str) -> None:
    """NAME..., or -l SELECTOR: the runs a person's action is for."""
    p.add_argument("names", metavar="NAME", nargs="*")
    _selector(p, what)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowrun",
        parents=[_globals(True)],
        description="Run Python flows on Kubernetes as FlowRun resources, and pause, "
                    "suspend and resume them. Also works as `kubectl flowrun ...`.",
        formatter_class=RAW,
        epilog="examples:\n"
               "  flowrun run examples.hello:hello -p name=Marvin --wait\n"
               "  flowrun ls -A\n"
               "  flowrun get greet\n"
               "  flowrun resume greet --input name=Marvin\n"
               "  flowrun wait greet --for Completed --timeout 5m\n\n"
               + EXIT_CODES_HELP)
    parser.add_argument("--version", action="version", version=f"flowrun {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = [_globals(False)]

    def add(name: str, help_: str, examples: str, description: str = "", **kw):
        return sub.add_parser(
            name, help=help_, description=description or help_, parents=common,
            formatter_class=RAW, epilog="examples:\n" + examples + "\n\n" + EXIT_CODES_HELP, **kw)

    # run ----------------------------------------------------------------------------
    p = add("run", "start a flow as a new FlowRun",
            "  flowrun run examples.hello:hello\n"
            "  flowrun run examples.jokes:tell_joke -p topic=ducks --name joke\n"
            "  flowrun run examples.approvals:approve_payment -p amount=250 -p limit=100\n"
            "  flowrun run mypkg.etl:load -p config=@config.json --label team=data\n"
            "  flowrun run examples.hello:hello --wait --timeout 2m -o json\n"
            "  flowrun run examples.hello:hello --suspended     # queued: starts on resume\n"
            "  flowrun run examples.hello:hello --ttl 1h        # deleted an hour after it ends",
            description="Create a FlowRun for FLOW_REF (module:function, importable in the "
                        "runner image) and print its name. Parameters are JSON when they "
                        "parse as JSON (-p n=3 is a number, -p s=abc a string), "
                        "`key=@file.json` reads a file, `key:=json` forces JSON. With --wait, "
                        "wait until the run ends: exit 0 when it Completed (the result is "
                        "printed), 1 when it Failed, 2 on --timeout. A run that pauses keeps "
                        "--wait waiting (a note on stderr says how to resume it).")
    p.add_argument("flow", metavar="FLOW_REF", help="module:function, e.g. examples.hello:hello")
    p.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                   help="a flow parameter (repeatable); KEY=@FILE reads FILE; KEY:=JSON")
    p.add_argument("--name", help="the FlowRun's name (default: the function's name plus a "
                                  "random suffix)")
    p.add_argument("--image", help="runner image (default: the operator's)")
    p.add_argument("--label", "-L", action="append", metavar="KEY=VALUE",
                   help="a label on the FlowRun (repeatable), for ls/resume/suspend -l")
    p.add_argument("--instance", default=os.environ.get("FLOWRUN_INSTANCE", ""), metavar="ID",
                   help="the operator instance that handles the run (label flowrun.io/instance; "
                        "default: FLOWRUN_INSTANCE, else none: the operator without an instance id)")
    p.add_argument("--suspended", action="store_true",
                   help="create it suspended: no Job starts until it is resumed")
    p.add_argument("--ttl", type=_seconds, metavar="S",
                   help="delete the FlowRun (with its Job, pods and cache claim) S seconds "
                        "after it Completes or Fails (spec.ttlSecondsAfterFinished; 30, 90s, 5m, 1h)")
    p.add_argument("--wait", action="store_true",
                   help="wait until the run Completes or Fails and print its result")
    _timeout(p, "wait forever (only with --wait)")
    _output(p)

    # ls -----------------------------------------------------------------------------
    p = add("ls", "list FlowRuns",
            "  flowrun ls\n  flowrun ls -A\n  flowrun ls -l team=payments -o name",
            description="List FlowRuns as a table: NAME PHASE FLOW ATTEMPT AGE MESSAGE "
                        "(NAMESPACE first with -A). The phase is coloured on a terminal.",
            aliases=["list"])
    p.add_argument("-A", "--all-namespaces", action="store_true", help="all namespaces")
    p.add_argument("--waiting-for-me", action="store_true",
                   help="only runs paused or suspended at a pause that you may answer now: you are "
                        "among its approvers (and not its excluded creator, nor counted already), "
                        "and RBAC lets you patch it (and `resume` it, when rights by verb are on: "
                        "read from the ConfigMap flowrun-operator in kube-public)")
    _selector(p, "list")
    _output(p)

    # get ----------------------------------------------------------------------------
    p = add("get", "show one FlowRun in detail, with the input it waits for",
            "  flowrun get greet\n  flowrun get greet -o yaml",
            description="Show a FlowRun: phase, attempt, Job, message; when paused or "
                        "suspended the pause key, kind, deadline (and time left) and the "
                        "EXPECTED INPUT as a field list (name, type, required, default, "
                        "description, allowed values); the result when completed; the "
                        "history (time, action, by, key).",
            aliases=["describe"])
    p.add_argument("name", metavar="NAME")
    _output(p)

    # resume -------------------------------------------------------------------------
    p = add("resume", "resume paused or suspended FlowRuns, optionally with input",
            "  flowrun resume joke\n"
            "  flowrun resume greet --input name=Marvin\n"
            "  flowrun resume order --input qty=3 --input tags:='[\"a\",\"b\"]'\n"
            "  flowrun resume order --input-file input.json\n"
            "  flowrun resume -l batch=nightly",
            description="Resume a paused or suspended FlowRun (sets spec.state Running). "
                        "Input is checked against the schema the pause stored BEFORE "
                        "anything is changed (exit 4 naming the bad fields). --input values "
                        "are converted to the field's type: `--input count=42` sends 42 "
                        "when count is an integer, \"42\" when it is a string; "
                        "`key:=json` sends raw JSON, `key=@file` a file's contents. "
                        "--input-file holds a JSON (or YAML) object; --input entries go on "
                        "top of it. With -l, every matching run that is paused or suspended "
                        "is resumed (others are skipped with a note).")
    _targets(p, "resume")
    p.add_argument("--input", "-i", action="append", metavar="KEY=VALUE",
                   help="a field of the input (repeatable)")
    p.add_argument("--input-file", "-f", metavar="FILE",
                   help="a JSON/YAML object with the input ('-' reads stdin)")

    # suspend / pause ----------------------------------------------------------------
    p = add("suspend", "suspend FlowRuns: stop them and delete their Jobs",
            "  flowrun suspend many-steps\n  flowrun suspend -l team=payments",
            description="Suspend (spec.state Suspended): the operator deletes the run's "
                        "Job; `flowrun resume` starts a new Job that runs the flow again, "
                        "finished tasks coming from the result cache.")
    _targets(p, "suspend")

    p = add("pause", "pause FlowRuns at their next task boundary (the pod stays)",
            "  flowrun pause many-steps\n  flowrun resume many-steps",
            description="Pause (spec.state Paused): the flow blocks at its next task "
                        "boundary, its pod staying alive, until `flowrun resume`.")
    _targets(p, "pause")

    # cancel / reject ----------------------------------------------------------------
    p = add("cancel", "cancel FlowRuns: end them for good, from any live phase",
            "  flowrun cancel nightly --reason 'wrong month'\n  flowrun cancel -l batch=nightly",
            description="Cancel (spec.state Cancelled, spec.reason REASON): the operator "
                        "deletes the run's Job (a live runner gets its grace period to run "
                        "the flow's on_cancellation hooks), cancels its linked subflows, and "
                        "the run ends Cancelled, with the reason in its message, history "
                        "and an Event. Works on Pending, Running, Paused and Suspended runs.")
    _targets(p, "cancel")
    p.add_argument("--reason", "-r", default="", metavar="TEXT", help="why (recorded with the cancel)")

    p = add("reject", "say no to a run that waits at a pause: cancel it with a reason",
            "  flowrun reject payment-42 --reason 'amount too high'",
            description="Reject a paused or suspended run's pause: the run is cancelled "
                        "with REASON. Refused (exit 1) for a run that waits for nothing.")
    p.add_argument("names", metavar="NAME", nargs="+")
    p.add_argument("--reason", "-r", required=True, metavar="TEXT", help="why (required)")

    # logs ---------------------------------------------------------------------------
    p = add("logs", "print the log of a FlowRun's pod",
            "  flowrun logs joke\n  flowrun logs -f joke\n  flowrun logs joke --attempt 1",
            description="Print the log of the pod of the run's current Job (or the last "
                        "one that still exists). -f follows it until the pod ends.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("-f", "--follow", action="store_true", help="stream until the pod ends")
    p.add_argument("--tail", type=int, metavar="N", help="only the last N lines")
    p.add_argument("--attempt", type=int, metavar="N", help="the pod of attempt N")

    # wait ---------------------------------------------------------------------------
    p = add("wait", "wait until a FlowRun reaches a phase",
            "  flowrun wait hello\n"
            "  flowrun wait greet --for Paused --timeout 60\n"
            "  flowrun wait job --for Completed,Failed",
            description="Watch the run (a watch, not polling) until its phase is one of "
                        "--for (comma-separated; default Completed). Exit 0 when reached, "
                        "1 when the run ended in another terminal phase, 2 on --timeout.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--for", dest="for_", default="Completed", metavar="PHASE",
                   help="Pending, Running, Paused, Suspended, Completed or Failed "
                        "(default Completed)")
    _timeout(p, "wait forever")

    # ui -----------------------------------------------------------------------------
    p = add("ui", "serve the web UI on this machine, as you (your kubeconfig)",
            "  flowrun ui\n  flowrun ui -A --port 9000\n  kubectl flowrun ui -n payments",
            description="Serve the web UI (runs waiting for a person first, each run's page, "
                        "a form to answer a pause) on --address:--port with your kubeconfig's "
                        "identity, and print the URL to open. It talks only to the Kubernetes "
                        "API, as you: your RBAC decides what you see and change. Needs the "
                        "`ui` extra (pip install 'flowrun-operator[ui]'). Ctrl-C stops it.")
    p.add_argument("-A", "--all-namespaces", action="store_true",
                   help="serve every namespace you may list (default: -n, else the context's)")
    p.add_argument("--address", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any free one)")

    # send / inputs (runtime inputs: cli/messages.py) ----------------------------------
    from .messages import add_commands
    add_commands(add)

    add("version", "print the version", "  flowrun version\n  kubectl flowrun version")
    return parser
