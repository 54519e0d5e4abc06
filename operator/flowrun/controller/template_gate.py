"""The operator's own check of spec.template before it makes a Job, for when the webhook
was bypassed (failurePolicy Ignore, or a FlowRun written while it was down): a template
beyond the allow-list runs only with the webhook's signature (contract/template_policy.py).

The signing key is the webhook's TLS key (a Secret only the operator's pod mounts), or
FLOWRUN_APPROVAL_KEY_FILE; without one, such templates never run.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..contract import template_policy as policy
from .resources import cache_claim_name
from .settings import Settings

log = logging.getLogger(__name__)
_key: bytes | None = None


def use_key_file(path: Path) -> None:
    """The key of a self-signed webhook certificate made at start-up."""
    global _key
    _key = path.read_bytes()


def key(settings: Settings) -> bytes | None:
    global _key
    if _key is None:
        path = settings.approval_key_file or (
            str(Path(settings.webhook_cert_dir) / "tls.key") if settings.webhook_cert_dir else "")
        try:
            _key = Path(path).read_bytes() if path else b""
        except OSError as exc:
            log.warning("no key to sign or check templates beyond the allow-list (%s): such runs will fail", exc)
            _key = b""
    return _key or None


def refusal(obj: dict[str, Any], settings: Settings) -> str:
    """Why the run may not start with its template ("" when it may)."""
    return policy.operator_refusal(obj, key(settings), cache_claim_name(obj))
