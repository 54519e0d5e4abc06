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

import asyncio
import base64
import hashlib
import hmac
import html
import logging
import os
import secrets
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..contract.actions import Refused, phase_of
from ..contract.constants import LABEL_PARENT, LABEL_STARTED_BY
from ..contract.phases import Phase, State
from ..contract.status import current_pod
from ..contract.transitions import pending_pause
from ..kube import actions
from ..kube.client import Gone, Kube, KubeError
from . import forms, views
from .guard import Guard
from .proxy_auth import DEFAULT_SECRET_HEADER, NotAllowed, NotTheProxy, proxy_identity
from .cache import RunCache

log = logging.getLogger("flowrun.ui")
HERE = Path(__file__).parent
COOKIE_TOKEN = "flowrun_token"
COOKIE_CSRF = "flowrun_csrf"
LOG_TAIL = 200
SSE_PING_SECONDS = 15.0
SSE_COALESCE_SECONDS = 0.1

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@dataclass
class Settings:
    auth: str = "kubeconfig"  # kubeconfig | token | proxy
    namespaces: list[str] | None = None  # None: every namespace the person may list
    kubeconfig: str | None = None
    secure_cookies: bool = False  # True in the cluster (TLS or port-forward to localhost)
    user_header: str = "X-Forwarded-User"
    groups_header: str = "X-Forwarded-Groups"
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    title: str = "flowrun"
    # Host names the UI answers to (guard.py); None: any (in the cluster, behind an ingress).
    allowed_hosts: list[str] | None = None
    # auth=proxy (proxy_auth.py): the proxy's shared secret and its header; whom the UI may
    # impersonate (users None: any but system: users; groups: only these).
    proxy_secret: bytes | None = None
    proxy_secret_header: str = DEFAULT_SECRET_HEADER
    impersonate_users: list[str] | None = None
    impersonate_groups: list[str] = field(default_factory=list)
    # TLS served by the UI itself; with client_ca_file, only clients with a certificate
    # signed by that CA connect (mTLS: the proxy proves itself).
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    client_ca_file: str | None = None


@dataclass
class Person:
    kube: Kube
    name: str
    groups: list[str]
    token_auth: bool = False
    caches: dict[str | None, RunCache] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cache(self, namespace: str | None) -> RunCache:
        """The person's cache of the runs of a scope (started on first use, restarted
        when it stopped or idled)."""
        with self._lock:
            for scope, old in list(self.caches.items()):
                if old.stop.is_set() or old.idle:
                    old.stop.set()
                    del self.caches[scope]
            if namespace not in self.caches:
                self.caches[namespace] = RunCache(self.kube, namespace)
            return self.caches[namespace]

    def close(self) -> None:
        for cache in self.caches.values():
            cache.stop.set()

    @property
    def me(self) -> dict[str, Any]:
        return {"username": self.name, "groups": self.groups}


class Unauthenticated(Exception):
    pass


class People:
    """Who is asking, and their Kube (cached per identity: a Kube holds a connection pool)."""

    def __init__(self, settings: Settings, base: Kube | None = None):
        self.settings = settings
        self._base = base
        self._cache: OrderedDict[str, Person] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def base(self) -> Kube:
        if self._base is None:
            self._base = Kube(kubeconfig=self.settings.kubeconfig)
        return self._base

    def _cached(self, key: str, make: Any) -> Person:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        person = make()
        with self._lock:
            self._cache[key] = person
            while len(self._cache) > 256:
                self._cache.popitem(last=False)[1].close()
        return person

    def of(self, request: Request) -> Person:
        s = self.settings
        if s.auth == "kubeconfig":
            return self._cached("", lambda: self._whoami(self.base))
        if s.auth == "token":
            token = request.cookies.get(COOKIE_TOKEN)
            if not token:
                raise Unauthenticated("sign in with a token")
            key = "t:" + hashlib.sha256(token.encode()).hexdigest()
            return self._cached(key, lambda: self._whoami(self.base.as_person(token=token), True))
        try:
            user, groups = proxy_identity(request.headers, user_header=s.user_header, groups_header=s.groups_header,
                                          secret=s.proxy_secret, secret_header=s.proxy_secret_header,
                                          users=s.impersonate_users, groups=s.impersonate_groups)
        except NotTheProxy as exc:
            raise Unauthenticated(str(exc)) from None
        except NotAllowed as exc:
            raise HTTPException(403, str(exc)) from None
        key = "p:" + user + "\0" + "\0".join(groups)
        return self._cached(key, lambda: Person(self.base.as_person(user=user, groups=groups), user, list(groups)))

    def sign_in(self, token: str) -> Person:
        """Check a token with the API server (it must name a user)."""
        return self._whoami(self.base.as_person(token=token), True)

    @staticmethod
    def _whoami(kube: Kube, token_auth: bool = False) -> Person:
        try:
            me = kube.whoami()
        except Exception as exc:  # noqa: BLE001 - a bad token, or no SelfSubjectReview (old servers)
            status = getattr(exc, "status", 0)
            if token_auth and status in (401, 403):
                raise Unauthenticated("the API server did not accept this token") from None
            me = {}
        return Person(kube, me.get("username", ""), list(me.get("groups") or []), token_auth)

    def forget(self, request: Request) -> None:
        token = request.cookies.get(COOKIE_TOKEN)
        if token:
            with self._lock:
                gone = self._cache.pop("t:" + hashlib.sha256(token.encode()).hexdigest(), None)
            if gone is not None:
                gone.close()


# ---- CSRF: a per-browser random cookie, and an HMAC of it in every form --------------

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


# ---- the app -------------------------------------------------------------------------

def create_app(settings: Settings, base: Kube | None = None) -> Starlette:
    people = People(settings, base)
    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    sums = _static_versions()

    def render(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        cookie = request.cookies.get(COOKIE_CSRF) or request.scope.get("state", {}).get("csrf_cookie", "")
        ctx.setdefault("person", None)
        body = env.get_template(template).render(
            request=request, csrf=csrf_token(settings, cookie), settings=settings,
            static=sums, Phase=Phase, **ctx)
        return HTMLResponse(body, status_code=status)

    def error_page(request: Request, status: int, title: str, detail: str, person: Person | None = None) -> HTMLResponse:
        return render(request, "error.html", status=status, title=title, detail=detail, code=status,
                      person=person)

    def scope_namespaces(filters: views.Filters) -> list[str | None]:
        if filters.namespace:
            if settings.namespaces is not None and filters.namespace not in settings.namespaces:
                raise HTTPException(403, f"namespace {filters.namespace!r} is not served by this UI")
            return [filters.namespace]
        return list(settings.namespaces) if settings.namespaces is not None else [None]

    def list_runs(person: Person, filters: views.Filters) -> list[dict[str, Any]]:
        """From the person's cache of the scope (the label selector applied here as the
        API server would), else, when the cache cannot say or the selector does not
        parse, from the API."""
        matches = views.selector_matcher(filters.selector)
        items: list[dict[str, Any]] = []
        for ns in scope_namespaces(filters):
            cached = None if matches is None else person.cache(ns).items()
            if cached is None:
                items.extend(person.kube.list_flowruns(ns, filters.selector or None))
            else:
                items.extend(o for o in cached if matches((o.get("metadata") or {}).get("labels") or {}))
        return items

    async def call(fn: Any, *args: Any, **kw: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kw)

    # -- pages --

    async def index(request: Request) -> Response:
        person = await call(people.of, request)
        filters = views.Filters.from_query(request.query_params)
        listing = await call(lambda: views.listing(list_runs(person, filters), filters, views.utcnow()))
        template = "_runs.html" if request.url.path.startswith("/fragments/") else "list.html"
        return render(request, template, person=person, filters=filters, listing=listing,
                      phases=[p.value for p in Phase], namespaces=settings.namespaces)

    def run_context(person: Person, ns: str, name: str, *, submitted: dict[str, str] | None = None,
                    errors: dict[str, str] | None = None, alert: str = "") -> dict[str, Any]:
        kube = person.kube
        obj = kube.get_flowrun(ns, name)
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
        ctx: dict[str, Any] = {
            "person": person, "obj": obj, "ns": ns, "name": name, "phase": phase_of(obj),
            "row": views.row(obj, views.utcnow()),
            "controls": views.controls(obj, rights, person.me),
            "signature": views.controls_signature(obj),
            "pause": pause, "waiting": views.is_waiting(obj) or (pause and phase_of(obj) in ("Paused", "Suspended")),
            "description": views.markdown(pause.get("description") or "") if pause.get("description") else "",
            "fields": forms.build(pause.get("inputSchema"), submitted, errors),
            "submitted": submitted or {}, "errors": errors or {}, "alert": alert,
            "pretty": views.pretty,
        }
        if details:
            events = _quiet(lambda: kube.flowrun_events(ns, name), [])
            pods = _quiet(lambda: kube.flowrun_pods(ns, name), [])
            children = _quiet(lambda: kube.list_flowruns(ns, f"{LABEL_PARENT}={name}"), []) + \
                _quiet(lambda: kube.list_flowruns(ns, f"{LABEL_STARTED_BY}={name}"), [])
            pod = current_pod(obj, pods)
            log_text = ""
            if pod is not None:
                log_text = _quiet(lambda: kube.pod_log(ns, pod["metadata"]["name"], tail_lines=LOG_TAIL), "")
            ctx.update(timeline=views.timeline(obj, events), pods=pods, pod=pod, log_text=log_text,
                       subflows=views.subflows(obj, children))
        return ctx

    async def run_page(request: Request) -> Response:
        person = await call(people.of, request)
        ns, name = request.path_params["namespace"], request.path_params["name"]
        ctx = await call(run_context, person, ns, name)
        return render(request, "run.html", **ctx)

    async def run_fragment(request: Request) -> Response:
        person = await call(people.of, request)
        ns, name = request.path_params["namespace"], request.path_params["name"]
        part = request.path_params["part"]
        if part not in ("live", "controls"):
            raise HTTPException(404, "no such part")
        ctx = await call(run_context, person, ns, name)
        return render(request, f"_{part}.html", **ctx)

    async def act(request: Request) -> Response:
        person = await call(people.of, request)
        ns, name, verb = request.path_params["namespace"], request.path_params["name"], request.path_params["action"]
        targets = {"resume": State.RUNNING, "suspend": State.SUSPENDED, "pause": State.PAUSED,
                   "cancel": State.CANCELLED, "reject": State.CANCELLED}
        if verb not in targets:
            raise HTTPException(404, "no such action")
        form = await request.form()
        if not csrf_ok(settings, request, form):
            return error_page(request, 403, "Forbidden", "The form's CSRF token is missing or wrong. "
                              "Reload the page and try again.", person)
        submitted = {k: str(v) for k, v in form.items() if not k.startswith("_")}
        submitted["_json"] = str(form.get("_json") or "")
        reason = str(form.get("_reason") or "").strip() or None
        target = targets[verb]

        def make_input(schema: dict | None) -> Any:
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
                code = exc.status if exc.status in (400, 403, 404, 409, 422) else 502
                return refused(f"The API server refused to {verb} {name}: {exc.message}", exc.fields, code)
            if result is None:
                raise HTTPException(404, f"FlowRun {ns}/{name} not found (or you may not see it)")
            return RedirectResponse(f"/runs/{ns}/{name}", status_code=303)

        def refused(message: str, fields: dict[str, str], code: int) -> Response:
            ctx = run_context(person, ns, name, submitted=submitted, errors=fields, alert=message)
            return render(request, "run.html", status=code, **ctx)

        return await call(run)

    async def sign_in_page(request: Request) -> Response:
        if settings.auth != "token":
            return RedirectResponse("/", status_code=303)
        if request.method == "GET":
            return render(request, "signin.html", alert="")
        form = await request.form()
        if not csrf_ok(settings, request, form):
            return render(request, "signin.html", status=403, alert="The form's CSRF token is missing or wrong; try again.")
        token = str(form.get("token") or "").strip()
        try:
            person = await call(people.sign_in, token)
        except Unauthenticated as exc:
            return render(request, "signin.html", status=401, alert=str(exc))
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE_TOKEN, token, httponly=True, secure=True, samesite="strict", path="/",
                            max_age=8 * 3600)
        log.info("signed in: %s", person.name)
        return response

    async def sign_out(request: Request) -> Response:
        form = await request.form()
        if not csrf_ok(settings, request, form):
            return error_page(request, 403, "Forbidden", "The form's CSRF token is missing or wrong.")
        people.forget(request)
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(COOKIE_TOKEN, path="/")
        return response

    # -- live: server-sent events --

    async def events(request: Request) -> Response:
        person = await call(people.of, request)
        ns, name = request.query_params.get("namespace") or "", request.query_params.get("name") or ""
        filters = views.Filters.from_query(request.query_params)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def put(item: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def follow_run() -> None:
            try:
                for obj in person.kube.watch_flowrun(ns, name, stop=stop, server_timeout=60):
                    put(("run", obj))
                    if stop.is_set():
                        return
            except Gone:
                put(("gone", None))
            except Exception as exc:  # noqa: BLE001 - told to the browser, which reconnects
                put(("error", str(exc)))

        def follow_list(scope: str | None) -> None:
            try:
                for kind, _ in person.kube.watch_flowruns(scope, filters.selector or None, stop=stop,
                                                          server_timeout=60):
                    put(("list", kind))
                    if stop.is_set():
                        return
            except Exception as exc:  # noqa: BLE001
                put(("error", str(exc)))

        forget: list[Any] = []
        if name:
            threads = [threading.Thread(target=follow_run, daemon=True, name=f"ui-watch-{name}")]
        elif views.selector_matcher(filters.selector) is not None:
            # the list is drawn from the person's caches: announce their changes
            threads = []
            for scope in scope_namespaces(filters):
                forget.append(person.cache(scope).listen(lambda kind: put(("list", kind))))
            put(("list", "RESYNC"))  # a reconnect may have missed changes
        else:
            threads = [threading.Thread(target=follow_list, args=(scope,), daemon=True, name="ui-watch")
                       for scope in scope_namespaces(filters)]
        for t in threads:
            t.start()

        async def stream() -> AsyncIterator[str]:
            signature = request.query_params.get("sig")  # what the page was drawn with
            try:
                yield "retry: 1000\n\n"
                async for batch in _batches(queue, SSE_COALESCE_SECONDS):  # one redraw for a burst
                    if batch is None:
                        yield ": ping\n\n"
                        continue
                    kinds = {k for k, _ in batch}
                    if "error" in kinds:
                        message = next(v for k, v in batch if k == "error")
                        yield f"event: problem\ndata: {html.escape(message)[:500]}\n\n"
                        return
                    if "gone" in kinds:
                        yield "event: gone\ndata: deleted\n\n"
                        return
                    runs = [v for k, v in batch if k == "run"]
                    if runs:
                        # (the first event is the run as it is now: after a reconnect
                        # it may differ from what the page shows)
                        sig = views.controls_signature(runs[-1])
                        if sig != signature:
                            signature = sig
                            yield "event: controls\ndata: run\n\n"
                    yield "event: change\ndata: list\n\n"
            finally:
                stop.set()
                for done in forget:
                    done()

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def log_stream(request: Request) -> Response:
        """The current pod's log, followed while it runs: the last lines, redrawn."""
        person = await call(people.of, request)
        ns, name = request.path_params["namespace"], request.path_params["name"]
        pod_name = request.query_params.get("pod") or ""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        holder: list[Any] = []

        def follow() -> None:
            try:
                lines = person.kube.pod_log(ns, pod_name, follow=True, tail_lines=LOG_TAIL)
                holder.append(lines)
                for line in lines:
                    loop.call_soon_threadsafe(queue.put_nowait, line)
                    if stop.is_set():
                        return
            except Exception as exc:  # noqa: BLE001
                loop.call_soon_threadsafe(queue.put_nowait, f"[log unavailable: {exc}]")
            loop.call_soon_threadsafe(queue.put_nowait, None)

        if not pod_name or not await call(_pod_of_run, person.kube, ns, name, pod_name):
            raise HTTPException(404, "no such pod of this run")
        threading.Thread(target=follow, daemon=True, name=f"ui-log-{pod_name}").start()

        async def stream() -> AsyncIterator[str]:
            tail: deque[str] = deque(maxlen=LOG_TAIL)
            try:
                yield "retry: 3000\n\n"
                ended = False
                async for batch in _batches(queue, 0.2):
                    if batch is None:
                        yield ": ping\n\n"
                        continue
                    for line in batch:
                        if line is None:
                            ended = True
                        else:
                            tail.append(line)
                    text = html.escape("\n".join(tail))
                    yield "event: log\n" + "".join(f"data: {x}\n" for x in text.split("\n")) + "\n"
                    if ended:
                        while True:  # keep the stream open (no reconnect storm), idle
                            await asyncio.sleep(SSE_PING_SECONDS)
                            yield ": ping\n\n"
            finally:
                stop.set()

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def healthz(request: Request) -> Response:
        return Response("ok", media_type="text/plain")

    # -- errors --

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        titles = {401: "Sign-in needed", 403: "Forbidden", 404: "Not found"}
        return error_page(request, status, titles.get(status, "Error"), str(getattr(exc, "detail", exc)))

    async def kube_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, KubeError)
        status = exc.status if exc.status in (401, 403, 404) else 502
        titles = {401: "Sign-in needed", 403: "Forbidden", 404: "Not found", 502: "The API server answered with an error"}
        detail = actions.api_message(exc)
        if status == 401 and settings.auth == "token":
            response = RedirectResponse("/signin", status_code=303)
            response.delete_cookie(COOKIE_TOKEN, path="/")
            return response
        return error_page(request, status, titles[status], detail)

    async def unauthenticated(request: Request, exc: Exception) -> Response:
        if settings.auth == "token" and request.method == "GET" and "text/event-stream" not in request.headers.get("accept", ""):
            return RedirectResponse("/signin", status_code=303)
        return error_page(request, 401, "Sign-in needed", str(exc))

    routes = [
        Route("/", index),
        Route("/fragments/runs", index),
        Route("/runs/{namespace}/{name}", run_page),
        Route("/fragments/runs/{namespace}/{name}/{part}", run_fragment),
        Route("/runs/{namespace}/{name}/{action}", act, methods=["POST"]),
        Route("/events", events),
        Route("/logs/{namespace}/{name}", log_stream),
        Route("/signin", sign_in_page, methods=["GET", "POST"]),
        Route("/signout", sign_out, methods=["POST"]),
        Route("/healthz", healthz),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(Guard, allowed_hosts=settings.allowed_hosts, namespaces=settings.namespaces),
                    Middleware(Headers, settings=settings)],
        exception_handlers={HTTPException: http_error, KubeError: kube_error,
                            Unauthenticated: unauthenticated},
    )


async def _batches(queue: asyncio.Queue, coalesce: float) -> AsyncIterator[list[Any] | None]:
    """What arrives on `queue`, in batches gathered for `coalesce` seconds after the first
    item; None after SSE_PING_SECONDS of silence (time for a keep-alive comment)."""
    while True:
        try:
            first = await asyncio.wait_for(queue.get(), timeout=SSE_PING_SECONDS)
        except asyncio.TimeoutError:
            yield None
            continue
        await asyncio.sleep(coalesce)
        batch = [first]
        while not queue.empty():
            batch.append(queue.get_nowait())
        yield batch


def _quiet(fn: Any, default: Any) -> Any:
    """Parts of a page the person may not be allowed to read (Events, pods, logs): shown
    as absent rather than failing the page."""
    try:
        return fn()
    except KubeError:
        return default


def _pod_of_run(kube: Kube, ns: str, name: str, pod: str) -> bool:
    return any(p["metadata"]["name"] == pod for p in _quiet(lambda: kube.flowrun_pods(ns, name), []))


def _static_versions() -> dict[str, str]:
    """Each static file's URL with its checksum as a cache-busting query."""
    out = {}
    for path in sorted((HERE / "static").iterdir()):
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            out[path.name] = f"/static/{path.name}?v={digest}"
    return out


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
