"""`flowrun.runtime.flow_run`: facts about the current run, for flow code
(Prefect's `prefect.runtime.flow_run`). Outside a run every field is None / empty."""
from __future__ import annotations

from typing import Any

from .context import current_run


class _FlowRunView:
    @property
    def name(self) -> str | None:
        ctx = current_run()
        return ctx.name if ctx else None

    @property
    def namespace(self) -> str | None:
        ctx = current_run()
        return ctx.namespace if ctx else None

    @property
    def attempt(self) -> int | None:
        ctx = current_run()
        return ctx.attempt if ctx else None

    @property
    def run_count(self) -> int | None:
        """1 on the first execution of the flow in this attempt; +1 on each flow retry."""
        ctx = current_run()
        return ctx.run_count if ctx else None

    @property
    def id(self) -> str | None:
        ctx = current_run()
        return ctx.uid if ctx else None

    @property
    def flow_name(self) -> str | None:
        ctx = current_run()
        return ctx.flow_name if ctx else None

    @property
    def parameters(self) -> dict[str, Any]:
        ctx = current_run()
        return dict(ctx.parameters) if ctx else {}


flow_run = _FlowRunView()
