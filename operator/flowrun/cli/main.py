"""`flowrun` / `kubectl flowrun`: start, inspect, resume and suspend FlowRuns.

This module only parses, dispatches and turns expected failures into one line on stderr
(`flowrun: error: ...`) and an exit code (see errors.py); the commands live in
commands.py (by group: runs.py, actions.py, waiting.py), the grammar in parser.py,
formatting in output.py.
"""
from __future__ import annotations

import os
import sys

from .errors import API_ERROR, INTERRUPTED, CliError, api_message, exit_code_for
from .parser import build_parser

ALIASES = {"list": "ls", "describe": "get"}


def _fail(message: str, code: int) -> int:
    print(f"flowrun: error: {' '.join(str(message).split())}", file=sys.stderr, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    # Imported once the command line is known to be good (usage errors need no client).
    import urllib3
    from kubernetes.config.config_exception import ConfigException

    from ..kube.client import KubeError
    from .commands import COMMANDS, Session

    session = Session(kubeconfig=args.kubeconfig, namespace_arg=args.namespace,
                      colour_mode=args.color)
    command = ALIASES.get(args.command, args.command)
    try:
        return COMMANDS[command](args, session)
    except CliError as exc:
        return _fail(exc.message, exc.code)
    except KubeError as exc:
        return _fail(f"the API server said: {api_message(exc)} (HTTP {exc.status})",
                     exit_code_for(exc))
    except ConfigException as exc:
        return _fail(f"no usable Kubernetes configuration: {exc}", API_ERROR)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        if isinstance(exc, BrokenPipeError):
            return _broken_pipe()
        host = ""
        try:
            host = f" at {session.kube.api_client.configuration.host}"
        except Exception:  # noqa: BLE001 - the message is all we can add
            pass
        return _fail(f"cannot reach the Kubernetes API server{host}: {_reason(exc)}",
                     API_ERROR)
    except KeyboardInterrupt:
        return _fail("interrupted", INTERRUPTED)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    # urllib3: "<urllib3.connection.HTTPSConnection object at 0x..>: Failed to establish
    # a new connection: [Errno 111] Connection refused" -> the part after the object.
    if "object at 0x" in text and ">:" in text:
        text = text.split(">:", 1)[1]
    return text.strip() or type(exc).__name__


def _broken_pipe() -> int:
    # `flowrun ls | head`: the reader went away; nothing more to say.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
