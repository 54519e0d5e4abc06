"""Signing in with a token (`auth: token`) and out, and the health probe."""
from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..people import COOKIE_TOKEN, Unauthenticated
from ..security import csrf_ok
from ..site import call, site

log = logging.getLogger("flowrun.ui")
TOKEN_COOKIE_SECONDS = 8 * 3600


async def sign_in_page(request: Request) -> Response:
    s = site(request)
    if s.settings.auth != "token":
        return RedirectResponse("/", status_code=303)
    if request.method == "GET":
        return s.render(request, "signin.html", alert="")
    form = await request.form()
    if not csrf_ok(s.settings, request, form):
        return s.render(request, "signin.html", status=403, alert="The form's CSRF token is missing or wrong; try again.")
    token = str(form.get("token") or "").strip()
    try:
        person = await call(s.people.sign_in, token)
    except Unauthenticated as exc:
        return s.render(request, "signin.html", status=401, alert=str(exc))
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE_TOKEN, token, httponly=True, secure=True, samesite="strict", path="/",
                        max_age=TOKEN_COOKIE_SECONDS)
    log.info("signed in: %s", person.name)
    return response


async def sign_out(request: Request) -> Response:
    s = site(request)
    form = await request.form()
    if not csrf_ok(s.settings, request, form):
        return s.error_page(request, 403, "Forbidden", "The form's CSRF token is missing or wrong.")
    s.people.forget(request)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE_TOKEN, path="/")
    return response


async def healthz(request: Request) -> Response:
    return Response("ok", media_type="text/plain")


ROUTES = [
    Route("/signin", sign_in_page, methods=["GET", "POST"]),
    Route("/signout", sign_out, methods=["POST"]),
    Route("/healthz", healthz),
]
