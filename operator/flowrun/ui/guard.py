"""The UI's front door, before any route (a pure ASGI middleware):

- **Host allow-list** (`Settings.allowed_hosts`): a request whose Host header names
  anything else is refused (421). `flowrun ui` on a laptop allows the address it is bound
  to, `localhost`, 127.0.0.1 and ::1: a page under a foreign name that resolves to
  127.0.0.1 (DNS rebinding) is not served, so it can neither read a run nor act with the
  developer's kubeconfig. None (in the cluster, behind an ingress): any Host. `/healthz`
  answers to any Host (the kubelet's probes name the pod's IP).
- **Origin** on state-changing requests (anything but GET, HEAD, OPTIONS): required, not
  `null`, and naming the same host and port as the (allowed) Host header; else 403. The
  forms' CSRF token (app.py) is checked besides.
- **Namespaces** (`Settings.namespaces`): every route that names a namespace (`/runs/NS/...`,
  `/fragments/runs/NS/...`, `/logs/NS/...`, `/events?namespace=NS`) is refused (403) for a
  namespace the UI does not serve, before the person's credentials are used.
- **One value per query parameter**: a query string that repeats a parameter (other than
  `run`, the bulk answer's list) is refused (400). A route reads a parameter's last value
  (Starlette's `query_params.get`); a check that read the first would judge another value
  than the one used (`/events?namespace=served&namespace=other&name=x`). The guard parses
  the query the way Starlette does (blank values kept), so both see the same value.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_NAMESPACED_PREFIXES = ("/runs/", "/fragments/runs/", "/logs/")
#: The query parameters a route reads as a list (`getlist`); every other one is read once.
MULTI_VALUED_PARAMETERS = frozenset({"run"})


def local_hosts(address: str) -> list[str]:
    """The Host names `flowrun ui --address ADDRESS` answers to: the address itself (unless
    it is a wildcard), localhost, 127.0.0.1 and ::1."""
    names = list(LOOPBACK_NAMES)
    bare = address.strip("[]").lower()
    if bare and bare not in ("0.0.0.0", "::") and bare not in names:
        names.append(bare)
    return names


def split_host(value: str) -> tuple[str, str]:
    """(host name lower-cased without brackets, port or '') of a Host header or an
    origin's netloc."""
    value = value.strip().lower()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else ""
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        return host, port
    return value, ""


def host_allowed(host_header: str, allowed: list[str] | None) -> bool:
    if allowed is None:
        return True
    host, port = split_host(host_header)
    return bool(host) and host in allowed and (not port or port.isdigit())


def origin_problem(method: str, origin: str | None, host_header: str) -> str | None:
    """Why a request may not change anything because of its Origin (None: it may)."""
    if method.upper() in SAFE_METHODS:
        return None
    if origin is None or not origin.strip():
        return "the request has no Origin header"
    if origin.strip() == "null":
        return "the request's Origin is null (a sandboxed or file: page)"
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        return "the request's Origin is not an http(s) origin"
    default = "443" if parts.scheme == "https" else "80"
    o_host, o_port = split_host(parts.netloc)
    h_host, h_port = split_host(host_header)
    if o_host != h_host or (o_port or default) != (h_port or default):
        return "the request's Origin is another site"
    return None


def _query_pairs(query_string: bytes) -> list[tuple[str, str]]:
    """The query's (name, value) pairs, parsed as Starlette's QueryParams parses them."""
    return parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)


def query_problem(query_string: bytes) -> str | None:
    """Why a query string is refused (None: it is not): a parameter given more than once
    that the routes read as one value."""
    seen: set[str] = set()
    for key, _ in _query_pairs(query_string):
        if key in seen and key not in MULTI_VALUED_PARAMETERS:
            return f"the query gives the parameter {key[:40]!r} more than once"
        seen.add(key)
    return None


def namespace_of(path: str, query_string: bytes) -> str | None:
    """The namespace a request names (None: none). For `/events`, the `namespace`
    parameter's last value, the one the route reads (a repeated one is refused before)."""
    for prefix in _NAMESPACED_PREFIXES:
        if path.startswith(prefix):
            return path[len(prefix):].split("/", 1)[0]
    if path == "/events":
        values = [v for k, v in _query_pairs(query_string) if k == "namespace"]
        return values[-1] if values and values[-1] else None
    return None


class Guard:
    """The checks above, in front of the app (HTTP only; other scopes pass through)."""

    def __init__(self, app: ASGIApp, allowed_hosts: list[str] | None, namespaces: list[str] | None):
        self.app = app
        self.allowed_hosts = [h.lower().strip("[]") for h in allowed_hosts] if allowed_hosts is not None else None
        self.namespaces = namespaces

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        host = headers.get("host", "")
        if not host_allowed(host, self.allowed_hosts) and scope.get("path") != "/healthz":
            await _refuse(send, 421, "This UI does not answer to that host name (DNS rebinding?). "
                                     "Open it at the address `flowrun ui` printed.")
            return
        why = origin_problem(scope.get("method", "GET"), headers.get("origin"), host)
        if why:
            await _refuse(send, 403, f"Refused: {why}. Changes are accepted only from this UI's own pages.")
            return
        query = scope.get("query_string", b"")
        why = query_problem(query)
        if why:
            await _refuse(send, 400, f"Refused: {why}.")
            return
        namespace = namespace_of(scope.get("path", ""), query)
        if namespace is not None and self.namespaces is not None and namespace not in self.namespaces:
            await _refuse(send, 403, f"Namespace {namespace[:63]!r} is not served by this UI.")
            return
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, message: str) -> None:
    body = message.encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]})
    await send({"type": "http.response.body", "body": body})
