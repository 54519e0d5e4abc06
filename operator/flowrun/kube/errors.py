"""What a call to the API server can fail with, as every room sees it."""
from __future__ import annotations

import json
import threading
import time
from typing import Any

from ..contract.lifecycle.vocabulary import Refusal, read_denial


class KubeError(RuntimeError):
    """An API call failed in a way the caller cannot fix by retrying. `refusal`: the code
    our admission webhook gave its denial (read from the message, and taken out of it),
    None for any other error."""

    def __init__(self, status: int, reason: str, message: str, details: Any = None):
        refusal, message = read_denial(message or "")
        super().__init__(message or reason)
        self.status = status
        self.reason = reason
        self.message = message or reason
        self.details = details
        self.refusal: Refusal | None = refusal


def webhook_unreachable(exc: BaseException) -> bool:
    """The API server refused a write because it could not reach an admission webhook
    (failurePolicy Fail while no replica answers): a 500 that goes away by itself."""
    return isinstance(exc, KubeError) and exc.status == 500 and "failed calling webhook" in (exc.message or "")


class Conflict(KubeError):
    """409: the object changed since it was read (or already exists)."""


class Gone(Exception):
    """The watched object was deleted."""


def backoff(stop: threading.Event | None, failures: int) -> None:
    """A watch's backoff before it tries again: 0.2 s doubling to 5 s."""
    if stop:
        stop.wait(min(0.1 * 2 ** failures, 5.0))
    else:
        time.sleep(min(0.1 * 2 ** failures, 5.0))


def api_error(exc: Any) -> KubeError:
    """A KubeError from the client library's ApiException or our transport's HTTPError."""
    reason, message, details = getattr(exc, "reason", "") or "", "", None
    try:
        body = json.loads(exc.body or "{}")
        reason = body.get("reason", reason)
        message = body.get("message", "")
        details = body.get("details")
    except (ValueError, TypeError):
        message = str(exc.body or "")
    cls = Conflict if exc.status == 409 else KubeError
    return cls(exc.status or 0, reason, message, details)
