"""The `flowrun` commands, by name. Each `cmd_*` takes the parsed arguments and a Session
(the API door, the namespace, where to print) and returns an exit code, or raises
CliError. They live by group: runs.py (run, ls, get, logs, version, ui), actions.py (a
person's actions: resume, suspend, pause, cancel, reject), waiting.py (wait), messages.py
(runtime inputs: send, inputs); session.py
is what they share. Every API call goes through `flowrun.kube.Kube`."""
from __future__ import annotations

from typing import Any, Callable

from .actions import cmd_cancel, cmd_pause, cmd_reject, cmd_resume, cmd_suspend
from .messages import cmd_inputs, cmd_send
from .runs import cmd_get, cmd_logs, cmd_ls, cmd_run, cmd_ui, cmd_version
from .session import Session, generate_name, strip_kind
from .waiting import cmd_wait, parse_phases

__all__ = ["COMMANDS", "Session", "generate_name", "parse_phases", "strip_kind"]

COMMANDS: dict[str, Callable[[Any, Session], int]] = {
    "version": cmd_version,
    "run": cmd_run,
    "ls": cmd_ls,
    "get": cmd_get,
    "resume": cmd_resume,
    "suspend": cmd_suspend,
    "pause": cmd_pause,
    "cancel": cmd_cancel,
    "reject": cmd_reject,
    "logs": cmd_logs,
    "wait": cmd_wait,
    "ui": cmd_ui,
    "send": cmd_send,
    "inputs": cmd_inputs,
}
