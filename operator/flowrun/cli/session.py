"""What every `flowrun` command shares: the Session (the API door, the namespace, where
to print) and small helpers on names and runs."""
from __future__ import annotations

import re
import secrets
import sys
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from ..contract.lifecycle import vocabulary
from ..contract.phases import Phase
from ..kube.client import Kube, context_namespace
from . import output
from .errors import INVALID_INPUT, NOT_FOUND, CliError

TERMINAL = {p.value for p in Phase if p.terminal}
STOPPED = {p.value for p in Phase if p.stopped}
MAX_NAME = 52
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@dataclass
class Session:
    """What every command needs: the API (made on first use), the namespace, streams."""

    kubeconfig: str | None = None
    namespace_arg: str | None = None
    colour_mode: str = "auto"
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    _kube: Kube | None = None

    @property
    def kube(self) -> Kube:
        if self._kube is None:
            self._kube = Kube(kubeconfig=self.kubeconfig)
        return self._kube

    @property
    def namespace(self) -> str:
        if not self.namespace_arg:
            self.namespace_arg = context_namespace(self.kubeconfig)
        return self.namespace_arg

    @property
    def colour(self) -> bool:
        return output.use_colour(self.out, self.colour_mode)

    def print(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def note(self, text: str) -> None:
        """A remark for the person at the terminal (stderr; stdout stays for scripts)."""
        print(text, file=self.err, flush=True)


def now() -> datetime:
    """The contract's one clock."""
    return vocabulary.now()


def phase_of(obj: dict[str, Any]) -> str:
    return (obj.get("status") or {}).get("phase") or Phase.PENDING.value


def strip_kind(name: str) -> str:
    """Accept `fr/joke` and `flowrun.flowrun.io/joke` as kubectl prints them."""
    kind, sep, rest = name.partition("/")
    if sep and kind.lower() in ("fr", "flowrun", "flowruns", "flowrun.flowrun.io",
                                "flowruns.flowrun.io"):
        return rest
    return name


def generate_name(flow: str, token: str | None = None) -> str:
    """`examples.jokes:tell_joke` -> `tell-joke-x7k2p` (at most 52 characters)."""
    func = flow.rsplit(":", 1)[-1]
    base = re.sub(r"[^a-z0-9-]+", "-", func.lower()).strip("-") or "flowrun"
    token = token or "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))
    base = base[: MAX_NAME - len(token) - 1].rstrip("-")
    return f"{base}-{token}"


def parse_labels(pairs: list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"expected a label key=value, got {pair!r}", INVALID_INPUT)
        labels[key] = value
    return labels


def get_or_fail(s: Session, name: str) -> dict[str, Any]:
    obj = s.kube.get_flowrun(s.namespace, name)
    if obj is None:
        raise CliError(f"FlowRun {name!r} not found in namespace {s.namespace!r}", NOT_FOUND)
    return obj


def show(s: Session, objs: Any, fmt: str | None) -> None:
    s.print(output.dump(objs, fmt or "name"))
