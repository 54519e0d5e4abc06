"""The pages for what went wrong: an HTTP error, the API server's refusal, no sign-in."""
from __future__ import annotations

from typing import Any, Callable, Coroutine

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ...kube import actions
from ...kube.client import KubeError
from ..people import COOKIE_TOKEN, Unauthenticated
from ..site import site


async def http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    titles = {401: "Sign-in needed", 403: "Forbidden", 404: "Not found"}
    return site(request).error_page(request, status, titles.get(status, "Error"), str(getattr(exc, "detail", exc)))


async def kube_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KubeError)
    s = site(request)
    status = exc.status if exc.status in (401, 403, 404) else 502
    titles = {401: "Sign-in needed", 403: "Forbidden", 404: "Not found", 502: "The API server answered with an error"}
    detail = actions.api_message(exc)
    if status == 401 and s.settings.auth == "token":
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(COOKIE_TOKEN, path="/")
        return response
    return s.error_page(request, status, titles[status], detail)


async def unauthenticated(request: Request, exc: Exception) -> Response:
    s = site(request)
    if s.settings.auth == "token" and request.method == "GET" and \
            "text/event-stream" not in request.headers.get("accept", ""):
        return RedirectResponse("/signin", status_code=303)
    return s.error_page(request, 401, "Sign-in needed", str(exc))


HANDLERS: dict[Any, Callable[[Request, Exception], Coroutine[Any, Any, Response]]] = {
    HTTPException: http_error, KubeError: kube_error, Unauthenticated: unauthenticated,
}
