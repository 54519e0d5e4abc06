"""A running flow that waits in receive_input: the form on its page (what it waits for,
`status.receiving`) and the post that sends the input, as the person (RBAC: `create` on
flowruninputs). The input is checked against the flow's schema first."""
from __future__ import annotations

import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ...contract import run_inputs as ri
from ...contract.lifecycle.people import phase_of
from ...sdk.messages import create_input
from .. import forms, views
from ..people import Person
from ..site import call, site


def inputs_form(person: Person, obj: dict[str, Any], submitted: dict[str, str] | None,
                errors: dict[str, str] | None) -> dict[str, Any]:
    """The run page's context for the form (empty values when the run waits for nothing)."""
    receiving: dict[str, Any] = {}
    if phase_of(obj) == "Running":
        receiving = (obj.get("status") or {}).get("receiving") or {}
    may_send = (True, "")
    if receiving:
        ns = obj["metadata"]["namespace"]
        if not person.kube.i_may(ns, "create", ri.INPUT_PLURAL, "flowrun.io"):
            may_send = (False, f"{person.name or 'you'} may not send inputs (create flowruninputs) in {ns}")
    return {
        "receiving": receiving, "may_send": may_send,
        "receive_fields": forms.build(receiving.get("inputSchema"), submitted, errors) if receiving else [],
        "receive_description": views.markdown(receiving.get("description") or "")
        if receiving.get("description") else "",
    }


async def send(request: Request) -> Response:
    from .run import run_parts
    s = site(request)
    person = await s.person(request)
    ns, name = request.path_params["namespace"], request.path_params["name"]
    posted = await s.posted(request, person)
    if isinstance(posted, Response):
        return posted
    _form, submitted = posted

    def run() -> Response:
        obj = person.kube.get_flowrun(ns, name)
        if obj is None:
            raise HTTPException(404, f"FlowRun {ns}/{name} not found (or you may not see it)")
        receiving = (obj.get("status") or {}).get("receiving") or {}

        def refused(message: str, fields: dict[str, str], code: int) -> Response:
            ctx = run_parts(person, obj, submitted=submitted, errors=fields, alert=message)
            return s.render(request, "run.html", status=code, **ctx)

        if phase_of(obj) != "Running" or not receiving.get("keyPrefix"):
            return refused(f"{name} does not wait in receive_input now", {}, 409)
        try:
            value = forms.parse(receiving.get("inputSchema") or {}, submitted)
        except forms.FormError as exc:
            return refused(str(exc), exc.fields, 422)
        key = ri.new_key(str(receiving["keyPrefix"]), str(uuid.uuid4()))
        try:
            create_input(person.kube, ns, name, key, value, run=obj)
        except ValueError as exc:
            return refused(str(exc), {}, 422)
        except PermissionError as exc:
            return refused(str(exc), {}, 403)
        return RedirectResponse(f"/runs/{ns}/{name}", status_code=303)

    return await call(run)


ROUTES = [Route("/runs/{namespace}/{name}/send", send, methods=["POST"])]
