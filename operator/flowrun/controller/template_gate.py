"""The operator's signing keys, and its own check of spec.template before it makes a Job,
for when the webhook was bypassed (failurePolicy Ignore, or a FlowRun written while it was
down): a template beyond the allow-list runs only with the webhook's signature for this
very object (contract/template_policy.py).

The keys: a key ring with key ids (contract/signing.py) from FLOWRUN_SIGNING_KEYS_FILE
(the chart mounts the Secret `<release>-signing-keys`), read again when the file changes,
so a rotation reaches a running operator when the kubelet updates the mounted Secret.
Without it, FLOWRUN_APPROVAL_KEY_FILE or the webhook's TLS key is one key of id "tls";
without any, such templates never run and no approval is counted.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from ..contract import template_policy as policy
from ..contract.signing import NO_KEYS, KeyRing, KeyRingError, parse_keyring, single
from ..contract.lifecycle.vocabulary import now
from .resources import cache_claim_name
from .settings import Settings

log = logging.getLogger(__name__)
_lock = threading.Lock()
_fixed: KeyRing | None = None          # a self-signed certificate's key made at start-up
_loaded: tuple[float, KeyRing] | None = None  # (file mtime, ring) of the key ring file


def use_key_file(path: Path) -> None:
    """The key of a self-signed webhook certificate made at start-up."""
    global _fixed
    _fixed = single(path.read_bytes())


def keys(settings: Settings) -> KeyRing:
    """The operator's key ring now (NO_KEYS when it has none)."""
    global _loaded
    if settings.signing_keys_file:
        path = Path(settings.signing_keys_file)
        with _lock:
            try:
                mtime = path.stat().st_mtime
                if _loaded is None or _loaded[0] != mtime:
                    _loaded = (mtime, parse_keyring(path.read_text()))
            except (OSError, KeyRingError) as exc:
                if _loaded is None:
                    log.warning("the signing key ring %s cannot be used (%s): nothing is signed or verified", path, exc)
                    _loaded = (-1.0, NO_KEYS)
                else:
                    log.warning("the signing key ring %s cannot be used (%s): keeping the last good one", path, exc)
            return _loaded[1]
    if _fixed is None:
        _use_single(settings)
    return _fixed or NO_KEYS


def _use_single(settings: Settings) -> None:
    global _fixed
    path = settings.approval_key_file or (
        str(Path(settings.webhook_cert_dir) / "tls.key") if settings.webhook_cert_dir else "")
    try:
        _fixed = single(Path(path).read_bytes() if path else b"")
    except OSError as exc:
        log.warning("no key to sign or check templates beyond the allow-list (%s): such runs will fail", exc)
        _fixed = NO_KEYS


def refusal(obj: dict[str, Any], settings: Settings) -> str:
    """Why the run may not start with its template ("" when it may)."""
    return policy.operator_refusal(obj, keys(settings), cache_claim_name(obj), now())
