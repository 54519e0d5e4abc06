"""The web UI: a Starlette app serving server-rendered pages (Jinja2), htmx and its SSE
extension (vendored, no build step) for live updates, as the person using it.

Who the person is (`Settings.auth`):
- `kubeconfig` (`flowrun ui` on a laptop): the kubeconfig's identity; one person.
- `token` (in the cluster): a sign-in page takes the person's own bearer token and keeps
  it in an HttpOnly, Secure, SameSite=Strict cookie; every API call is made with it.
- `proxy` (in the cluster, behind an authenticating proxy): the user and groups the
  proxy sends in headers, applied with Kubernetes impersonation by the UI's account,
  which may do nothing but impersonate.
Either way the API server's RBAC (and the admission webhook) decides every read and
every change, and `status.history` names the person.

Live updates: each page opens one server-sent-events stream; the server watches, as the
person, what the page shows (the run, or the FlowRuns of the scope), and tells the
browser which part to fetch again. Why a watch per stream and not one shared watch
filtered by SubjectAccessReview: see docs/ui.md.
"""
from __future__ import annotations

import os
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from ..kube.client import Kube
from .guard import Guard, local_hosts
from .people import Person, Settings, Unauthenticated
from .routes import answer, errors, events, inputs, run, runs, signin
from .security import Headers
from .site import HERE, Site

__all__ = ["Person", "Settings", "Unauthenticated", "create_app", "local_hosts", "serve"]


def create_app(settings: Settings, base: Kube | None = None) -> Starlette:
    """The app: every page's routes (ui/routes/, a module per page), the middleware (the
    one place it is assembled) and the error pages, over one `Site` (ui/site.py)."""
    app = Starlette(
        routes=[*runs.ROUTES, *answer.ROUTES, *inputs.ROUTES, *run.ROUTES, *events.ROUTES, *signin.ROUTES,
                Mount("/static", StaticFiles(directory=HERE / "static"), name="static")],
        # (the security headers wrap the guard: its refusals carry them too)
        middleware=[Middleware(Headers, settings=settings),
                    Middleware(Guard, allowed_hosts=settings.allowed_hosts, namespaces=settings.namespaces)],
        exception_handlers=errors.HANDLERS,
    )
    app.state.site = Site(settings, base)
    return app


def serve(settings: Settings, host: str, port: int, *, base: Kube | None = None,
          on_ready: Any = None) -> None:
    """Run the UI until interrupted (uvicorn)."""
    import uvicorn
    tls: dict[str, Any] = {}
    if settings.tls_cert_file:
        import ssl
        tls = {"ssl_certfile": settings.tls_cert_file, "ssl_keyfile": settings.tls_key_file}
        if settings.client_ca_file:
            tls.update(ssl_ca_certs=settings.client_ca_file, ssl_cert_reqs=ssl.CERT_REQUIRED)
    config = uvicorn.Config(create_app(settings, base), host=host, port=port, log_level=os.environ.get(
        "FLOWRUN_UI_LOG_LEVEL", "warning"), access_log=False, timeout_graceful_shutdown=1,
        proxy_headers=False, **tls)
    server = uvicorn.Server(config)
    if on_ready is not None:
        original = server.startup

        async def startup(sockets: Any = None) -> None:
            await original(sockets=sockets)
            bound = [sock.getsockname() for srv in server.servers for sock in srv.sockets]
            on_ready(bound[0][1] if bound else port)
        server.startup = startup  # type: ignore[method-assign]
    server.run()
