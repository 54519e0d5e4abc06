"""A person's action on a run, applied: the one code path the CLI (`flowrun resume`,
`suspend`, `pause`, `cancel`, `reject`) and the web UI's buttons share. The decision is
`contract.lifecycle.people.plan`, taken again on every fresh read (compare-and-swap through
`Kube.update_flowrun`); an API server's refusal comes back as `ApiRefused` with the
fields it names."""
from __future__ import annotations

from typing import Any, Callable

from ..contract.lifecycle.people import Plan, Refused, plan, refusal_fields
from ..contract.phases import State
from ..contract.lifecycle.view import pending_pause
from .client import Kube, KubeError


def api_message(error: KubeError) -> str:
    """The API server's own words, without the noise around them."""
    message = (error.message or error.reason or f"HTTP {error.status}").strip()
    causes = (error.details or {}).get("causes") if isinstance(error.details, dict) else None
    if causes and error.status == 422 and "Invalid value" not in message:
        parts = [f"{c.get('field', '')}: {c.get('message', '')}".strip(": ") for c in causes]
        message += " (" + "; ".join(parts) + ")"
    return " ".join(message.split())


def action_verbs_on(kube: Kube) -> bool:
    """Whether rights by verb are on: the chart publishes it in kube-public (readable by
    every authenticated user); unknown counts as off."""
    try:
        found = kube.get_config_map("kube-public", "flowrun-operator")
    except KubeError:
        return False
    return str(((found or {}).get("data") or {}).get("actionVerbs", "")).lower() == "true"


class ApiRefused(Exception):
    """The API server refused the change (admission webhook, RBAC, validation)."""

    def __init__(self, error: KubeError):
        self.error = error
        self.status = error.status
        self.code = error.refusal  # our webhook's code (vocabulary.Refusal), None for others
        self.message = api_message(error)
        self.fields = refusal_fields(self.message)
        super().__init__(self.message)


def change(kube: Kube, namespace: str, name: str, target: State, *,
           data: Any = None, make_input: Callable[[dict[str, Any] | None], Any] | None = None,
           reason: str | None = None, only_waiting: bool = False,
           on_plan: Callable[[dict[str, Any], Plan], None] | None = None,
           ) -> tuple[dict[str, Any] | None, Plan | None]:
    """Apply a person's action. `make_input(schema)` builds the input from the schema of
    the pause the run waits at (read fresh), else `data` is sent as it is. Returns the
    run as written (None: no such run) and the plan applied; raises Refused (the run's
    state does not allow it, or the input is invalid) or ApiRefused."""
    chosen: list[Plan] = []

    def decide(obj: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None] | None:
        given = data
        if make_input is not None and target is State.RUNNING:
            given = make_input((pending_pause(obj) or {}).get("inputSchema"))
        got = plan(obj, target, data=given, reason=reason, only_waiting=only_waiting)
        if on_plan is not None:
            on_plan(obj, got)
        chosen[:] = [got]
        return None if got.patch is None else (got.patch, None)

    try:
        obj = kube.update_flowrun(namespace, name, decide)
    except KubeError as exc:
        raise ApiRefused(exc) from None
    return obj, (chosen[0] if chosen else None)


__all__ = ["ApiRefused", "Refused", "action_verbs_on", "api_message", "change"]
