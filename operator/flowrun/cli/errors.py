"""Exit codes of the `flowrun` command and the one exception type commands raise.

Scripts rely on these numbers; docs/cli.md and `flowrun --help` list them. A command
never prints a traceback for an expected problem: it raises CliError (or lets a
flowrun.kube error through, which main() maps with `exit_code_for`).
"""
from __future__ import annotations

from ..kube.actions import api_message  # noqa: F401 - the CLI's name for it
from ..kube.client import Conflict, KubeError

OK = 0
#: the run ended Failed (or in a terminal phase other than the one waited for), or the
#: operation was refused (not paused, already finished, forbidden, admission webhook).
FAILED = 1
#: bad command line (argparse), or a --timeout expired.
USAGE = 2
TIMEOUT = 2
#: the FlowRun (or its pod, or any run matching the selector) does not exist.
NOT_FOUND = 3
#: input or parameters that do not validate (before the patch, or refused by the API).
INVALID_INPUT = 4
#: the Kubernetes API cannot be reached or configured, or answered unexpectedly.
API_ERROR = 5
INTERRUPTED = 130

EXIT_CODES_HELP = """\
exit codes:
  0  success (for wait and run --wait: the run reached the phase waited for)
  1  the run failed / ended in another terminal phase, or the operation was refused
  2  usage error, or --timeout expired
  3  FlowRun (or its pod) not found
  4  invalid input or parameters (checked before anything is changed)
  5  the Kubernetes API server cannot be reached or configured"""


class CliError(Exception):
    """An expected failure: printed as one line `flowrun: error: ...`, exit `code`."""

    def __init__(self, message: str, code: int = FAILED):
        super().__init__(message)
        self.message = message
        self.code = code


def exit_code_for(error: KubeError) -> int:
    """Which exit code an API error means for a script."""
    if error.status == 404:
        return NOT_FOUND
    if isinstance(error, Conflict) or error.status in (403, 409):
        return FAILED
    if error.status in (400, 422):
        return INVALID_INPUT
    return API_ERROR
