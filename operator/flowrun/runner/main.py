"""The runner: the entrypoint of every FlowRun pod (`python -m flowrun.runner`).

It reads its own FlowRun (name and namespace come from the pod's environment), imports
`spec.flow`, calls it with `spec.parameters` inside a run context wired to the live
FlowRun and the result-cache volume, and reports Running, then Completed (with the
result) or Failed (with the exception) into the FlowRun's status.

Exit codes: 0 completed or suspended, 1 the flow failed, 143 stopped from outside.
It must never swallow a suspension or a termination, and never report a phase the
state machine forbids (all reports go through flowrun.contract).
"""
from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
import os
import signal
import sys
import traceback
from collections.abc import Awaitable
from typing import Any

from ..contract.constants import (
    CACHE_MOUNT_PATH,
    ENV_ATTEMPT,
    ENV_CACHE_DIR,
    ENV_NAME,
    ENV_NAMESPACE,
    MAX_RESULT_BYTES,
)
from ..contract.models import FlowRun
from ..contract.phases import InvalidTransition, State
from ..kube import Kube, KubeError
from ..sdk.cache import NotSerializable, ResultCache, encode, pickle_allowed
from ..sdk.context import RunContext, enter_run, exit_run
from ..sdk.flows import as_flow
from ..sdk.live import FlowSuspended, LiveFlowRun, RunCancelled, RunFenced, RunTerminated
from .early import FirstRead

log = logging.getLogger("flowrun.runner")


def load_flow(reference: str):
    """`package.module:function` (or `module:Class.method`) -> a Flow."""
    module_name, _, attr = reference.partition(":")
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return as_flow(obj)


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= 1000 else text[:997] + "..."


def result_fields(value: Any) -> tuple[dict[str, Any], str]:
    """(status fields, message) for a flow's return value: the JSON form in
    status.result when it is small enough, else a message saying where it is."""
    try:
        payload = encode(value, "json")
    except NotSerializable as exc:
        return {}, f"Flow completed; its result is not JSON-serialisable ({type(value).__name__}) so it is not in status: {exc}"
    size = len(json.dumps(payload, separators=(",", ":")).encode())
    if size > MAX_RESULT_BYTES:
        return {}, (f"Flow completed; its result ({size} bytes) is larger than the "
                    f"{MAX_RESULT_BYTES} bytes kept in status.result and was stored in "
                    "the result cache volume instead")
    return {"result": payload}, "Flow completed"


_live: LiveFlowRun | None = None


def _terminate(signum: int, _frame: Any) -> None:
    if _live is not None:
        raise _live.stop_reason(signum)
    raise RunTerminated(f"the pod is being stopped (signal {signum})")


def run(kube: Kube, namespace: str, name: str, *, attempt: int, cache_dir: str,
        first: FirstRead | None = None) -> int:
    """`first`: the read of the FlowRun begun while the runner was imported, else read now."""
    obj = first.result() if first is not None else kube.get_flowrun(namespace, name)
    if obj is None:
        log.error("FlowRun %s/%s not found", namespace, name)
        return 1
    fr = FlowRun.from_body(obj)
    if fr.phase and fr.phase.terminal:
        log.info("FlowRun is already %s; nothing to do", fr.phase.value)
        return 0
    if fr.spec.state is State.SUSPENDED:
        log.info("FlowRun is being suspended; not starting")
        return 0
    cache = ResultCache(cache_dir, f"{namespace}/{name}/{fr.uid}",
                        allow_pickle=pickle_allowed(obj.get("spec") or {}))
    live = LiveFlowRun(kube, namespace, name, obj, attempt=attempt, cache=cache).start()
    global _live
    _live = live
    try:
        try:
            flow = load_flow(fr.spec.flow)
        except Exception as exc:
            log.error("cannot import flow %s:\n%s", fr.spec.flow, traceback.format_exc())
            live.finished(failed=True, message=f"Cannot import flow {fr.spec.flow!r}: {_describe(exc)}")
            return 1
        live.started(f"Running {fr.spec.flow} (attempt {attempt})")
        ctx = RunContext(
            name=name, namespace=namespace, attempt=attempt, parameters=dict(fr.spec.parameters),
            cache=cache, uid=fr.uid, flow_name=flow.name, live=live)

        def retrying(retry: int, exc: BaseException, delay: float) -> None:
            live.record("retrying", f"Flow failed ({_describe(exc)[:150]}); retry {retry} of "
                                    f"{flow.retry_policy.retries} in {delay:g} s")

        token = enter_run(ctx)
        try:
            outcome = flow.call_with_parameters(dict(fr.spec.parameters), on_retry=retrying)
            if inspect.isawaitable(outcome):
                outcome = asyncio.run(_awaited(outcome))
        except FlowSuspended as exc:
            log.info("flow suspended (%s); exiting so the operator can tear the Job down", exc)
            return 0
        except RunTerminated:
            raise
        except Exception as exc:
            log.error("flow failed:\n%s", traceback.format_exc())
            live.finished(failed=True, message=f"Flow failed: {_describe(exc)}")
            return 1
        finally:
            exit_run(token)
        fields, message = result_fields(outcome)
        if not fields:
            try:
                ctx.cache.write(ctx.cache.flow_result_path, outcome, serializer="pickle")
            except Exception as exc:  # noqa: BLE001 - best effort, the run did complete
                log.warning("could not store the flow result in the cache: %s", exc)
        live.finished(failed=False, message=message, result=fields.get("result"),
                      has_result="result" in fields)
        log.info("flow completed")
        return 0
    except RunFenced as exc:
        # A later attempt took over, or the run is suspended or finished: not ours to report.
        log.info("stopping quietly: %s", exc)
        return 0
    except RunTerminated as exc:  # RunCancelled too: its hooks have run
        log.info("%s: %s", "cancelled" if isinstance(exc, RunCancelled) else "stopping", exc)
        return 143
    except InvalidTransition as exc:
        # Someone else already moved the run on (e.g. it timed out, or was suspended).
        log.info("not reporting: %s", exc)
        return 0
    finally:
        _live = None
        live.close()


def main(argv: list[str] | None = None, *, first: FirstRead | None = None) -> int:
    """`first`: the FlowRun's read begun before the SDK was imported (runner/__main__.py)."""
    logging.basicConfig(level=os.environ.get("FLOWRUN_LOG_LEVEL", "INFO"), stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    name = os.environ.get(ENV_NAME)
    namespace = os.environ.get(ENV_NAMESPACE)
    if not name or not namespace:
        print(f"flowrun runner: {ENV_NAME} and {ENV_NAMESPACE} must be set "
              "(the operator sets them in the pod it creates)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    # Flows are imported from the working directory too (user images COPY them there).
    sys.path.insert(0, os.getcwd())
    try:
        return run(first.kube if first is not None else Kube(), namespace, name,
                   attempt=int(os.environ.get(ENV_ATTEMPT, "1")),
                   cache_dir=os.environ.get(ENV_CACHE_DIR, CACHE_MOUNT_PATH), first=first)
    except KubeError as exc:
        log.error("Kubernetes API error: %s", exc)
        return 1


async def _awaited(outcome: Awaitable[Any]) -> Any:
    """An async flow's awaitable as the coroutine asyncio.run wants."""
    return await outcome
