"""Several waiting runs answered at once (`/answer`): the runs ticked in the list's
waiting section, one form for the schema they all wait for, then each run resumed as the
person through the path a single answer takes (`run.apply_action`): each checked again by
the API server (RBAC, the admission webhook, the pause's approvers), each recorded in its
own history, each accepted or refused on its own, and the page says which got what."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...contract.lifecycle.view import pending_pause
from .. import forms, views
from ..people import Person
from ..site import Site, call, site
from .run import Outcome, apply_action, confirmation


def selection(s: Site, person: Person, values: list[str], *, submitted: dict[str, str] | None = None,
              errors: dict[str, str] | None = None) -> dict[str, Any]:
    """The page's context: each named run as the person reads it now (those that no
    longer wait set apart), whether the waiting ones share a schema, and its form."""
    refs = views.selected_runs(values, s.settings.namespaces)
    now = views.utcnow()
    waiting: list[dict[str, Any]] = []
    apart: list[tuple[str, str]] = []  # (run, why it is not answered here)
    schemas: dict[str, dict[str, Any] | None] = {}
    for ns, name in refs:
        obj = person.kube.get_flowrun(ns, name)
        if obj is None:
            apart.append((f"{ns}/{name}", "not found (or you may not see it)"))
            continue
        if not views.is_waiting(obj):
            apart.append((f"{ns}/{name}", "does not wait for a person now"))
            continue
        resume = next(c for c in views.controls(obj, {}, person.me) if c.label == "Resume")
        waiting.append({**views.row(obj, now), "may": resume.enabled, "why": resume.why})
        schemas[f"{ns}/{name}"] = (pending_pause(obj) or {}).get("inputSchema")
    shared = forms.shared_schema(schemas)
    found = forms.choice(shared.schema) if shared.same else None
    fields = forms.build(shared.schema, submitted, errors) if shared.same else []
    return {"person": person, "waiting": waiting, "apart": apart, "shared": shared, "choice": found,
            "fields": forms.without(fields, found.path) if found else fields,
            "submitted": submitted or {}, "errors": errors or {}, "alert": "", "confirm": None,
            "results": None, "summary": "", "back": "/answer?" + "&".join(
                f"run={ns}/{name}" for ns, name in refs)}


async def answer_page(request: Request) -> Response:
    s = site(request)
    person = await s.person(request)
    values = request.query_params.getlist("run")
    try:
        ctx = await call(selection, s, person, values)
    except views.Selection as exc:
        return s.error_page(request, exc.status, "Nothing to answer", str(exc), person)
    return s.render(request, "answer.html", **ctx)


async def answer(request: Request) -> Response:
    s = site(request)
    person = await s.person(request)
    posted = await s.posted(request, person)
    if isinstance(posted, Response):
        return posted
    form, submitted = posted
    # (`_run`: an underscore name, as the form's own fields have, so never an input's field)
    values = [str(v) for v in form.getlist("_run")]
    signature = str(form.get("_schema") or "")
    confirmed = form.get("_confirmed") == "yes"

    def run() -> Response:
        try:
            ctx = selection(s, person, values, submitted=submitted)
        except views.Selection as exc:
            return s.error_page(request, exc.status, "Nothing to answer", str(exc), person)
        shared: forms.Shared = ctx["shared"]
        if not shared.same or shared.signature != signature:
            ctx["alert"] = ("The selected runs changed since the page was drawn (answered, or waiting for "
                            "another input): nothing was sent. Check them and answer again.")
            return s.render(request, "answer.html", status=409, **ctx)
        try:  # the form read once, as each run would read it: a bad value refuses them all, before any is sent
            forms.parse(shared.schema, submitted) if shared.schema else None
        except forms.FormError as exc:
            ctx = selection(s, person, values, submitted=submitted, errors=exc.fields)
            ctx["alert"] = str(exc)
            return s.render(request, "answer.html", status=422, **ctx)
        picked = forms.needs_confirmation(ctx["choice"], submitted, confirmed)
        if picked is not None:
            carried = [*submitted.items(), ("_schema", signature), *(("_run", v) for v in values)]
            ctx.update(confirmation(picked, carried, action="/answer", back=ctx["back"],
                                    what=f"{len(ctx['waiting'])} runs"))
            return s.render(request, "answer.html", **ctx)
        targets = [(row["namespace"], row["name"]) for row in ctx["waiting"]]
        outcomes: list[Outcome] = [apply_action(person, ns, name, "resume", submitted, None,
                                                schema_signature=signature) for ns, name in targets]
        # the runs that stopped waiting (or vanished) since they were ticked: refused, each with why
        for ref, why in ctx["apart"]:
            ns, _, name = ref.partition("/")
            outcomes.append(Outcome(ns, name, False, why, status=409))
        ctx["results"] = outcomes
        ctx["summary"] = views.bulk_summary([(o.name, o.ok, o.message) for o in outcomes])
        return s.render(request, "answer.html", **ctx)

    return await call(run)


ROUTES = [
    Route("/answer", answer_page, methods=["GET"]),
    Route("/answer", answer, methods=["POST"]),
]
