"""One run: its page, the parts redrawn on live updates, and a person's actions on it
(resume, suspend, pause, cancel, reject) posted from its forms."""
from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ...contract.lifecycle.people import Refused, phase_of
from ...contract.constants import LABEL_PARENT, LABEL_STARTED_BY
from ...contract.phases import Phase, State
from ...contract.status import current_pod
from ...contract.lifecycle.view import pending_pause
from ...contract.lifecycle.vocabulary import ACTIONS_BY_VERB, INPUT_REFUSALS
from ...kube import actions
from .. import forms, views
from ..people import Person
from ..site import call, quiet, site
from .inputs import inputs_form

LOG_TAIL = 200


def run_context(person: Person, ns: str, name: str, *, submitted: dict[str, str] | None = None,
                errors: dict[str, str] | None = None, alert: str = "") -> dict[str, Any]:
    obj = person.kube.get_flowrun(ns, name)
    if obj is None:
        raise HTTPException(404, f"FlowRun {ns}/{name} not found (or you may not see it)")
    return run_parts(person, obj, submitted=submitted, errors=errors, alert=alert)


def run_parts(person: Person, obj: dict[str, Any], *, submitted: dict[str, str] | None = None,
              errors: dict[str, str] | None = None, alert: str = "", details: bool = True) -> dict[str, Any]:
    kube = person.kube
    meta = obj["metadata"]
    ns, name = meta["namespace"], meta["name"]
    verbs_on = actions.action_verbs_on(kube)
    rights: dict[str, tuple[bool, str]] = {}
    may_patch = kube.i_may(ns, "patch", "flowruns", "flowrun.io", name)
    for verb in ("resume", "suspend", "pause", "cancel"):
        if not may_patch:
            rights[verb] = (False, f"{person.name or 'you'} may not patch FlowRuns in {ns}")
        elif verbs_on and not kube.i_may(ns, verb, "flowruns", "flowrun.io", name):
            rights[verb] = (False, f"{person.name or 'you'} may not {verb} FlowRuns in {ns}")
        else:
            rights[verb] = (True, "")
    pause = pending_pause(obj) or {}
    receiving = inputs_form(person, obj, submitted, errors)
    ctx: dict[str, Any] = {
        "person": person, "obj": obj, "ns": ns, "name": name, "phase": phase_of(obj),
        "row": views.row(obj, views.utcnow()),
        "controls": views.controls(obj, rights, person.me),
        "signature": views.controls_signature(obj),
        "pause": pause, "waiting": views.is_waiting(obj) or (pause and Phase(phase_of(obj)).stopped),
        "description": views.markdown(pause.get("description") or "") if pause.get("description") else "",
        "fields": forms.build(pause.get("inputSchema"), submitted, errors),
        "submitted": submitted or {}, "errors": errors or {}, "alert": alert,
        "pretty": views.pretty, **receiving,
    }
    if details:
        none: list[dict[str, Any]] = []
        events = quiet(lambda: kube.flowrun_events(ns, name), none)
        pods = quiet(lambda: kube.flowrun_pods(ns, name), none)
        children = quiet(lambda: kube.list_flowruns(ns, f"{LABEL_PARENT}={name}"), none) + \
            quiet(lambda: kube.list_flowruns(ns, f"{LABEL_STARTED_BY}={name}"), none)
        pod = current_pod(obj, pods)
        log_text = ""
        if pod is not None:
            log_text = quiet(lambda: kube.pod_log(ns, pod["metadata"]["name"], tail_lines=LOG_TAIL), "")
        ctx.update(timeline=views.timeline(obj, events), pods=pods, pod=pod, log_text=log_text,
                   subflows=views.subflows(obj, children))
    return ctx


async def run_page(request: Request) -> Response:
    s = site(request)
    person = await s.person(request)
    ns, name = request.path_params["namespace"], request.path_params["name"]
    ctx = await call(run_context, person, ns, name)
    return s.render(request, "run.html", **ctx)


async def run_fragment(request: Request) -> Response:
    s = site(request)
    person = await s.person(request)
    ns, name = request.path_params["namespace"], request.path_params["name"]
    part = request.path_params["part"]
    if part not in ("live", "controls"):
        raise HTTPException(404, "no such part")
    ctx = await call(run_context, person, ns, name)
    return s.render(request, f"_{part}.html", **ctx)


async def act(request: Request) -> Response:
    s = site(request)
    person = await s.person(request)
    ns, name, verb = request.path_params["namespace"], request.path_params["name"], request.path_params["action"]
    # A person's actions by verb, and `reject`: a cancel only of a run waiting at a pause.
    targets = {**{verb: action.state for verb, action in ACTIONS_BY_VERB.items()}, "reject": State.CANCELLED}
    if verb not in targets:
        raise HTTPException(404, "no such action")
    posted = await s.posted(request, person)
    if isinstance(posted, Response):
        return posted
    form, submitted = posted
    reason = str(form.get("_reason") or "").strip() or None
    target = targets[verb]

    def make_input(schema: dict[str, Any] | None) -> Any:
        if not schema:
            return None
        try:
            return forms.parse(schema, submitted)
        except forms.FormError as exc:
            raise Refused(str(exc), invalid_input=True, fields=exc.fields) from None

    def run() -> Response:
        try:
            result, _ = actions.change(person.kube, ns, name, target, reason=reason,
                                       make_input=make_input if target is State.RUNNING else None,
                                       only_waiting=verb == "reject")
        except Refused as exc:
            return refused(exc.message, exc.fields, 409 if not exc.invalid_input else 422)
        except actions.ApiRefused as exc:
            # our webhook's refusal of the input is the form's (422), whatever its HTTP code
            code = 422 if exc.code in INPUT_REFUSALS else exc.status if exc.status in (400, 403, 404, 409, 422) \
                else 502
            return refused(f"The API server refused to {verb} {name}: {exc.message}", exc.fields, code)
        if result is None:
            raise HTTPException(404, f"FlowRun {ns}/{name} not found (or you may not see it)")
        return RedirectResponse(f"/runs/{ns}/{name}", status_code=303)

    def refused(message: str, fields: dict[str, str], code: int) -> Response:
        ctx = run_context(person, ns, name, submitted=submitted, errors=fields, alert=message)
        return s.render(request, "run.html", status=code, **ctx)

    return await call(run)


ROUTES = [
    Route("/runs/{namespace}/{name}", run_page),
    Route("/fragments/runs/{namespace}/{name}/{part}", run_fragment),
    Route("/runs/{namespace}/{name}/{action}", act, methods=["POST"]),
]
