"""What every response of the UI carries, and what every form must: the security
headers, and CSRF (a per-browser random cookie, and an HMAC of it in every form)."""
from __future__ import annotations

import base64
import hmac
import secrets
from typing import Any

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response

from .people import Settings

COOKIE_CSRF = "flowrun_csrf"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Not "no-referrer": under it a browser sends `Origin: null` even on the UI's own form
    # posts, and the front door (ui/guard.py) refuses null origins. "same-origin" keeps
    # the real Origin on our own requests and sends no referrer to other sites.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def csrf_token(settings: Settings, cookie: str) -> str:
    return base64.urlsafe_b64encode(hmac.new(settings.secret, cookie.encode(), "sha256").digest()).decode()


def csrf_ok(settings: Settings, request: Request, form: Any) -> bool:
    cookie = request.cookies.get(COOKIE_CSRF) or ""
    given = str(form.get("_csrf") or "")
    if not cookie or not given or not hmac.compare_digest(given, csrf_token(settings, cookie)):
        return False
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = request.headers.get("host", "")
        if origin.split("://", 1)[-1] != host:
            return False
    return True


class Headers(BaseHTTPMiddleware):
    """Security headers on everything; the CSRF cookie set on first visit."""

    def __init__(self, app: Any, settings: Settings):
        super().__init__(app)
        self.settings = settings

    async def dispatch(self, request: Request, call_next: Any) -> Response:
        fresh = None
        if not request.cookies.get(COOKIE_CSRF):
            fresh = secrets.token_urlsafe(24)
            request.scope.setdefault("state", {})["csrf_cookie"] = fresh
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        if fresh:
            response.set_cookie(COOKIE_CSRF, fresh, httponly=True, samesite="strict",
                                secure=self.settings.secure_cookies, path="/")
        return response

