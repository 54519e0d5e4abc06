"""What every page of the UI shares, made once by `create_app` and reached from a request
(`site(request)`): the settings, the people, the templates, and the helpers the route
modules (ui/routes/) draw with."""
from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any, Callable, TypeVar

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse

from ..contract.phases import Phase
from ..kube.client import Kube, KubeError
from . import views
from .people import People, Person, Settings
from .security import COOKIE_CSRF, csrf_ok, csrf_token

HERE = Path(__file__).parent
T = TypeVar("T")


class Site:
    def __init__(self, settings: Settings, base: Kube | None = None) -> None:
        self.settings = settings
        self.people = People(settings, base)
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"),
                               autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
        self.static = static_versions()

    def render(self, request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        cookie = request.cookies.get(COOKIE_CSRF) or request.scope.get("state", {}).get("csrf_cookie", "")
        ctx.setdefault("person", None)
        body = self.env.get_template(template).render(
            request=request, csrf=csrf_token(self.settings, cookie), settings=self.settings,
            static=self.static, Phase=Phase, **ctx)
        return HTMLResponse(body, status_code=status)

    def error_page(self, request: Request, status: int, title: str, detail: str,
                   person: Person | None = None) -> HTMLResponse:
        return self.render(request, "error.html", status=status, title=title, detail=detail, code=status,
                           person=person)

    def scope_namespaces(self, filters: views.Filters) -> list[str | None]:
        """The namespaces a list or a stream covers: the one asked for (when this UI
        serves it), else every namespace this UI serves (None: all the person may list)."""
        served = self.settings.namespaces
        if filters.namespace:
            if served is not None and filters.namespace not in served:
                raise HTTPException(403, f"namespace {filters.namespace!r} is not served by this UI")
            return [filters.namespace]
        return list(served) if served is not None else [None]

    async def person(self, request: Request) -> Person:
        return await call(self.people.of, request)

    async def posted(self, request: Request, person: Person) -> tuple[Any, dict[str, str]] | HTMLResponse:
        """A person's form post on a run's page, once its CSRF token is checked: (the form,
        the fields as typed, `_json` the raw JSON box), or the page refusing it."""
        form = await request.form()
        if not csrf_ok(self.settings, request, form):
            return self.error_page(request, 403, "Forbidden", "The form's CSRF token is missing or wrong. "
                                   "Reload the page and try again.", person)
        submitted = {k: str(v) for k, v in form.items() if not k.startswith("_")}
        submitted["_json"] = str(form.get("_json") or "")
        return form, submitted


def site(request: Request) -> Site:
    found: Site = request.app.state.site
    return found


async def call(fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    """Blocking work (the API server, the person's caches) in a thread."""
    return await asyncio.to_thread(fn, *args, **kw)


def quiet(fn: Callable[[], T], default: T) -> T:
    """Parts of a page the person may not be allowed to read (Events, pods, logs): shown
    as absent rather than failing the page."""
    try:
        return fn()
    except KubeError:
        return default


def static_versions() -> dict[str, str]:
    """Each static file's URL with its checksum as a cache-busting query."""
    out = {}
    for path in sorted((HERE / "static").iterdir()):
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            out[path.name] = f"/static/{path.name}?v={digest}"
    return out
