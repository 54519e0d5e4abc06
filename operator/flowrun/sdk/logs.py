"""get_run_logger and log_prints.

`get_run_logger()` gives a logger whose lines name the run (and the task, inside one);
they go to the pod's log (the runner logs to stdout). `log_prints=True` on a flow or
task sends its `print()` calls to that logger; a task without the keyword inherits
the flow's choice.
"""
from __future__ import annotations

import builtins
import contextvars
import logging
import sys
import threading
from typing import Any

from .context import FlowRunContextError, current_run, current_task_display

_log_prints: contextvars.ContextVar[bool] = contextvars.ContextVar("flowrun_log_prints", default=False)
_original_print = builtins.print
_install_lock = threading.Lock()
_installed = False


class RunLoggerAdapter(logging.LoggerAdapter[logging.Logger]):
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"{(self.extra or {}).get('prefix', '')}{msg}", kwargs


def _ensure_output(logger: logging.Logger) -> None:
    """Outside the runner (a local `python flow.py`) nothing may be configured: show
    INFO lines on stderr anyway, as Prefect does."""
    if not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def get_run_logger(**extra: Any) -> logging.LoggerAdapter:
    """A logger for flow and task code: `get_run_logger().info("...")`."""
    ctx = current_run()
    if ctx is None:
        raise FlowRunContextError("get_run_logger() must be called inside a flow or task run")
    task = current_task_display()
    logger = logging.getLogger("flowrun.task_runs" if task else "flowrun.flow_runs")
    _ensure_output(logger.parent or logger)
    prefix = f"{ctx.name}: " if not task else f"{ctx.name} / {task}: "
    return RunLoggerAdapter(logger, {"prefix": prefix, "flow_run_name": ctx.name, "task_run_name": task, **extra})


def _print(*args: Any, sep: str | None = " ", end: str | None = "\n", file: Any = None, flush: bool = False) -> None:
    if _log_prints.get() and file in (None, sys.stdout) and current_run() is not None:
        text = (sep if sep is not None else " ").join(str(a) for a in args)
        get_run_logger().info(text)
        return
    _original_print(*args, sep=sep, end=end, file=file, flush=flush)


def _install() -> None:
    global _installed
    with _install_lock:
        if not _installed:
            builtins.print = _print
            _installed = True


def set_log_prints(value: bool | None) -> contextvars.Token | None:
    """Enter a flow's or task's choice (None: inherit); returns a token for reset."""
    if value is None:
        return None
    if value:
        _install()
    return _log_prints.set(bool(value))


def reset_log_prints(token: contextvars.Token | None) -> None:
    if token is not None:
        _log_prints.reset(token)
