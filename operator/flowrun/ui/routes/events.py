"""The live parts of the UI: one server-sent-events stream per page, and a pod's log.

The server watches, as the person, what the page shows (the run, or the FlowRuns of the
scope), and tells the browser which part to fetch again. Why a watch per stream and not
one shared watch filtered by SubjectAccessReview: see docs/ui.md.
"""
from __future__ import annotations

import asyncio
import html
import threading
from collections import deque
from typing import Any, AsyncIterator

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ...kube.client import Gone, Kube
from .. import views
from ..site import call, quiet, site
from .run import LOG_TAIL

SSE_PING_SECONDS = 15.0
SSE_COALESCE_SECONDS = 0.1


async def events(request: Request) -> Response:
    s = site(request)
    person = await s.person(request)
    ns, name = request.query_params.get("namespace") or "", request.query_params.get("name") or ""
    filters = views.Filters.from_query(request.query_params)
    if name:
        # (ui/guard.py refused a namespace not served already; checked here again on the
        # very value watched, so the route never depends on the guard's parsing)
        if not ns:
            raise HTTPException(400, "a run's stream needs its namespace")
        s.scope_namespaces(views.Filters(namespace=ns))
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    stop = threading.Event()

    def put(item: Any) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def follow_run() -> None:
        try:
            for obj in person.kube.watch_flowrun(ns, name, stop=stop, server_timeout=60):
                put(("run", obj))
                if stop.is_set():
                    return
        except Gone:
            put(("gone", None))
        except Exception as exc:  # noqa: BLE001 - told to the browser, which reconnects
            put(("error", str(exc)))

    def follow_list(scope: str | None) -> None:
        try:
            for kind, _ in person.kube.watch_flowruns(scope, filters.selector or None, stop=stop,
                                                      server_timeout=60):
                put(("list", kind))
                if stop.is_set():
                    return
        except Exception as exc:  # noqa: BLE001
            put(("error", str(exc)))

    forget: list[Any] = []
    if name:
        threads = [threading.Thread(target=follow_run, daemon=True, name=f"ui-watch-{name}")]
    elif views.selector_matcher(filters.selector) is not None:
        # the list is drawn from the person's caches: announce their changes
        threads = []
        for scope in s.scope_namespaces(filters):
            forget.append(person.cache(scope).listen(lambda kind: put(("list", kind))))
        put(("list", "RESYNC"))  # a reconnect may have missed changes
    else:
        threads = [threading.Thread(target=follow_list, args=(scope,), daemon=True, name="ui-watch")
                   for scope in s.scope_namespaces(filters)]
    for t in threads:
        t.start()

    async def stream() -> AsyncIterator[str]:
        signature = request.query_params.get("sig")  # what the page was drawn with
        try:
            yield "retry: 1000\n\n"
            async for batch in _batches(queue, SSE_COALESCE_SECONDS):  # one redraw for a burst
                if batch is None:
                    yield ": ping\n\n"
                    continue
                kinds = {k for k, _ in batch}
                if "error" in kinds:
                    message = next(v for k, v in batch if k == "error")
                    yield f"event: problem\ndata: {html.escape(message)[:500]}\n\n"
                    return
                if "gone" in kinds:
                    yield "event: gone\ndata: deleted\n\n"
                    return
                runs = [v for k, v in batch if k == "run"]
                if runs:
                    # (the first event is the run as it is now: after a reconnect
                    # it may differ from what the page shows)
                    sig = views.controls_signature(runs[-1])
                    if sig != signature:
                        signature = sig
                        yield "event: controls\ndata: run\n\n"
                yield "event: change\ndata: list\n\n"
        finally:
            stop.set()
            for done in forget:
                done()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

async def log_stream(request: Request) -> Response:
    """The current pod's log, followed while it runs: the last lines, redrawn."""
    person = await site(request).person(request)
    ns, name = request.path_params["namespace"], request.path_params["name"]
    pod_name = request.query_params.get("pod") or ""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    stop = threading.Event()
    holder: list[Any] = []

    def follow() -> None:
        try:
            lines = person.kube.pod_log(ns, pod_name, follow=True, tail_lines=LOG_TAIL)
            holder.append(lines)
            for line in lines:
                loop.call_soon_threadsafe(queue.put_nowait, line)
                if stop.is_set():
                    return
        except Exception as exc:  # noqa: BLE001
            loop.call_soon_threadsafe(queue.put_nowait, f"[log unavailable: {exc}]")
        loop.call_soon_threadsafe(queue.put_nowait, None)

    if not pod_name or not await call(_pod_of_run, person.kube, ns, name, pod_name):
        raise HTTPException(404, "no such pod of this run")
    threading.Thread(target=follow, daemon=True, name=f"ui-log-{pod_name}").start()

    async def stream() -> AsyncIterator[str]:
        tail: deque[str] = deque(maxlen=LOG_TAIL)
        try:
            yield "retry: 3000\n\n"
            ended = False
            async for batch in _batches(queue, 0.2):
                if batch is None:
                    yield ": ping\n\n"
                    continue
                for line in batch:
                    if line is None:
                        ended = True
                    else:
                        tail.append(line)
                text = html.escape("\n".join(tail))
                yield "event: log\n" + "".join(f"data: {x}\n" for x in text.split("\n")) + "\n"
                if ended:
                    while True:  # keep the stream open (no reconnect storm), idle
                        await asyncio.sleep(SSE_PING_SECONDS)
                        yield ": ping\n\n"
        finally:
            stop.set()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


ROUTES = [
    Route("/events", events),
    Route("/logs/{namespace}/{name}", log_stream),
]


async def _batches(queue: asyncio.Queue, coalesce: float) -> AsyncIterator[list[Any] | None]:
    """What arrives on `queue`, in batches gathered for `coalesce` seconds after the first
    item; None after SSE_PING_SECONDS of silence (time for a keep-alive comment)."""
    while True:
        try:
            first = await asyncio.wait_for(queue.get(), timeout=SSE_PING_SECONDS)
        except asyncio.TimeoutError:
            yield None
            continue
        await asyncio.sleep(coalesce)
        batch = [first]
        while not queue.empty():
            batch.append(queue.get_nowait())
        yield batch


def _pod_of_run(kube: Kube, ns: str, name: str, pod: str) -> bool:
    return any(p["metadata"]["name"] == pod for p in quiet(lambda: kube.flowrun_pods(ns, name), list[dict[str, Any]]()))
