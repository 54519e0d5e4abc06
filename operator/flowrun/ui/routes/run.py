"""One run: its page, the parts redrawn on live updates, and a person's actions on it
(resume, suspend, pause, cancel, reject) posted from its forms."""
from __future__ import annotations

from dataclasses import dataclass, field
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
    for verb in ACTIONS_BY_VERB:
        if not may_patch:
            rights[verb] = (False, f"{person.name or 'you'} may not patch FlowRuns in {ns}")
        elif verbs_on and not kube.i_may(ns, verb, "flowruns", "flowrun.io", name):
            rights[verb] = (False, f"{person.name or 'you'} may not {verb} FlowRuns in {ns}")
        else:
            rights[verb] = (True, "")
    pause = pending_pause(obj) or {}
    receiving = inputs_form(person, obj, submitted, errors)
    schema = pause.get("inputSchema")
    found = forms.choice(schema)
    fields = forms.build(schema, submitted, errors)
    phase = Phase(phase_of(obj))
    ctx: dict[str, Any] = {
        "person": person, "obj": obj, "ns": ns, "name": name, "phase": phase.value,
        "stopped": phase.stopped,
        "row": views.row(obj, views.utcnow()),
        "controls": views.controls(obj, rights, person.me),
        "signature": views.controls_signature(obj),
        "pause": pause, "waiting": views.is_waiting(obj) or (pause and Phase(phase_of(obj)).stopped),
        "description": views.markdown(pause.get("description") or "") if pause.get("description") else "",
        "fields": forms.without(fields, found.path) if found else fields,
        "choice": found, "confirm": None,
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


#: A person's actions by verb, and `reject`: a cancel only of a run waiting at a pause.
TARGETS: dict[str, State] = {**{verb: action.state for verb, action in ACTIONS_BY_VERB.items()},
                             "reject": State.CANCELLED}


@dataclass
class Outcome:
    """What one action on one run came to: done, or refused with the reason (and the
    fields it names, and the status a page about this run answers with)."""
    namespace: str
    name: str
    ok: bool
    message: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    status: int = 200


def apply_action(person: Person, ns: str, name: str, verb: str, submitted: dict[str, str],
                 reason: str | None, *, schema_signature: str | None = None) -> Outcome:
    """One person's action on one run, as the person: the one path a single answer (the
    run's page) and each run of a bulk answer (ui/routes/answer.py) take. The input is
    made from the form against the schema the run waits for, read fresh; with
    `schema_signature`, a run that now waits for another schema is refused, not answered."""
    target = TARGETS[verb]

    def make_input(schema: dict[str, Any] | None) -> Any:
        if schema_signature is not None and forms.schema_signature(schema) != schema_signature:
            raise Refused(f"{name} no longer waits for this input (answered meanwhile, or at another "
                          "pause now): answer it on its own page")
        if not schema:
            return None
        try:
            return forms.parse(schema, submitted)
        except forms.FormError as exc:
            raise Refused(str(exc), invalid_input=True, fields=exc.fields) from None

    try:
        result, _ = actions.change(person.kube, ns, name, target, reason=reason,
                                   make_input=make_input if target is State.RUNNING else None,
                                   only_waiting=verb == "reject")
    except Refused as exc:
        return Outcome(ns, name, False, exc.message, exc.fields, 409 if not exc.invalid_input else 422)
    except actions.ApiRefused as exc:
        # our webhook's refusal of the input is the form's (422), whatever its HTTP code
        code = 422 if exc.code in INPUT_REFUSALS else exc.status if exc.status in (400, 403, 404, 409, 422) \
            else 502
        return Outcome(ns, name, False, f"The API server refused to {verb} {name}: {exc.message}", exc.fields, code)
    if result is None:
        return Outcome(ns, name, False, f"FlowRun {ns}/{name} not found (or you may not see it)", {}, 404)
    return Outcome(ns, name, True)


def confirmation(picked: forms.Option, carried: list[tuple[str, str]], *, action: str, what: str,
                 back: str) -> dict[str, Any]:
    """The page's context asking to confirm a destructive choice (no script needed): the
    same post again, with everything it carried (`carried`) and `_confirmed=yes`."""
    return {"confirm": {"option": picked, "action": action, "what": what, "back": back,
                        "carried": [(k, v) for k, v in carried if v != ""]}}


async def act(request: Request) -> Response:
    s = site(request)
    person = await s.person(request)
    ns, name, verb = request.path_params["namespace"], request.path_params["name"], request.path_params["action"]
    if verb not in TARGETS:
        raise HTTPException(404, "no such action")
    posted = await s.posted(request, person)
    if isinstance(posted, Response):
        return posted
    form, submitted = posted
    reason = str(form.get("_reason") or "").strip() or None

    def run() -> Response:
        if verb == "resume" and form.get("_confirmed") != "yes":
            obj = person.kube.get_flowrun(ns, name)
            schema = (pending_pause(obj or {}) or {}).get("inputSchema")
            found = forms.choice(schema)
            picked = forms.needs_confirmation(found, submitted, confirmed=False)
            if obj is not None and picked is not None:
                ctx = run_parts(person, obj, submitted=submitted)
                ctx.update(confirmation(picked, list(submitted.items()), action=f"/runs/{ns}/{name}/resume",
                                        what=name, back=f"/runs/{ns}/{name}"))
                return s.render(request, "run.html", **ctx)
        done = apply_action(person, ns, name, verb, submitted, reason)
        if done.ok:
            return RedirectResponse(f"/runs/{ns}/{name}", status_code=303)
        if done.status == 404:
            raise HTTPException(404, done.message)
        ctx = run_context(person, ns, name, submitted=submitted, errors=done.fields, alert=done.message)
        return s.render(request, "run.html", status=done.status, **ctx)

    return await call(run)


ROUTES = [
    Route("/runs/{namespace}/{name}", run_page),
    Route("/fragments/runs/{namespace}/{name}/{part}", run_fragment),
    Route("/runs/{namespace}/{name}/{action}", act, methods=["POST"]),
]
