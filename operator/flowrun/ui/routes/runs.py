"""The list of runs (`/`, and its fragment redrawn on live updates)."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...contract.phases import Phase
from .. import views
from ..people import Person
from ..site import Site, call, site


def list_runs(s: Site, person: Person, filters: views.Filters) -> list[dict[str, Any]]:
    """From the person's cache of the scope (the label selector applied here as the
    API server would), else, when the cache cannot say or the selector does not
    parse, from the API."""
    matches = views.selector_matcher(filters.selector)
    items: list[dict[str, Any]] = []
    for ns in s.scope_namespaces(filters):
        cached = None if matches is None else person.cache(ns).items()
        if matches is None or cached is None:
            items.extend(person.kube.list_flowruns(ns, filters.selector or None))
        else:
            items.extend(o for o in cached if matches((o.get("metadata") or {}).get("labels") or {}))
    return items


async def index(request: Request) -> Response:
    s = site(request)
    person = await s.person(request)
    filters = views.Filters.from_query(request.query_params)
    listing = await call(lambda: views.listing(list_runs(s, person, filters), filters, views.utcnow()))
    template = "_runs.html" if request.url.path.startswith("/fragments/") else "list.html"
    return s.render(request, template, person=person, filters=filters, listing=listing,
                    phases=[p.value for p in Phase], namespaces=s.settings.namespaces)


ROUTES = [
    Route("/", index),
    Route("/fragments/runs", index),
]
