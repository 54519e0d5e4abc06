"""The contract: what a FlowRun is, which changes of it are allowed, and the names every
other room shares. Pure data and pure functions; no I/O, no kopf, no Kubernetes client.
"""
from .constants import API_VERSION, GROUP, KIND, PLURAL, VERSION
from .models import CacheSpec, FlowRun, FlowRunSpec, FlowRunStatus, HistoryEntry, PauseInfo
from .phases import (
    InvalidTransition,
    PauseKind,
    Phase,
    State,
    check_phase_transition,
    check_state_change,
    conditions_for,
)

__all__ = [
    "API_VERSION", "GROUP", "KIND", "PLURAL", "VERSION",
    "CacheSpec", "FlowRun", "FlowRunSpec", "FlowRunStatus", "HistoryEntry", "PauseInfo",
    "InvalidTransition", "PauseKind", "Phase", "State",
    "check_phase_transition", "check_state_change", "conditions_for",
]
