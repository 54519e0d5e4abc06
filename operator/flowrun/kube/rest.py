"""A small HTTP transport for FlowRun requests: JSON in, JSON out, over urllib3.

Why not the `kubernetes` client for these: its generated, pydantic-validated API
modules cost ~35 MB of memory on import, and a paused runner pod should hold as little
as possible while it waits. Inside a pod the configuration comes straight from the
service-account files; elsewhere it is taken from the kubernetes client's kubeconfig
loader (imported only then).
"""
from __future__ import annotations

import json
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

import urllib3

from .errors import api_error

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# A projected token file is re-read at least this often (client-go: one minute), and at
# once after a 401: the kubelet rotates it long before the old token expires.
TOKEN_FILE_MAX_AGE = 60.0


class HTTPError(Exception):
    def __init__(self, status: int, body: bytes):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body


@dataclass
class Endpoint:
    host: str
    token_file: str | None = None
    token: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True
    # Credentials that refresh (kubeconfig exec plugins, OIDC auth providers):
    # token_source(force) gives the current token; force=True after a 401 re-runs the
    # plugin or refresh.
    token_source: Callable[[bool], str | None] | None = None
    # Kubernetes impersonation (the in-cluster web UI acting as the person an
    # authenticating proxy names): Impersonate-User / Impersonate-Group headers.
    impersonate_user: str | None = None
    impersonate_groups: tuple[str, ...] = ()

    def as_person(self, *, token: str | None = None, user: str | None = None,
                  groups: tuple[str, ...] = ()) -> "Endpoint":
        """The same API server reached as someone else: with their own bearer token
        (nothing of ours is sent), or with our credentials impersonating `user`."""
        if token is not None:
            return Endpoint(host=self.host, token=token, ca_file=self.ca_file, verify=self.verify)
        return replace(self, impersonate_user=user, impersonate_groups=tuple(groups))

    @classmethod
    def in_cluster(cls) -> "Endpoint":
        host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
        if ":" in host:
            host = f"[{host}]"
        return cls(host=f"https://{host}:{port}", token_file=f"{SA_DIR}/token", ca_file=f"{SA_DIR}/ca.crt")

    @classmethod
    def from_configuration(cls, configuration: Any,
                           reload: Callable[[], Any] | None = None) -> "Endpoint":
        """From a kubernetes.client.Configuration (kubeconfig already loaded). Its token
        is asked for on every request, so the library's refresh of exec-plugin and
        auth-provider tokens applies; `reload()` (a freshly loaded Configuration) is
        used once after a 401."""
        current = [configuration]

        def token_source(force: bool = False) -> str | None:
            if force and reload is not None:
                current[0] = reload()
            return _bearer(current[0])
        return cls(host=configuration.host, ca_file=configuration.ssl_ca_cert,
                   cert_file=configuration.cert_file, key_file=configuration.key_file,
                   verify=configuration.verify_ssl,
                   token_source=token_source if _bearer(configuration) else None)


def _bearer(configuration: Any) -> str | None:
    token = configuration.get_api_key_with_prefix("BearerToken") or \
        configuration.get_api_key_with_prefix("authorization")
    if token and token.lower().startswith("bearer "):
        token = token[7:]
    return token or None


# Called as observer(verb, resource) for every request this process sends through `Kube`
# (the controller counts the operator's requests with it: controller/metrics.py).
REQUEST_OBSERVERS: list[Callable[[str, str], None]] = []


def describe_request(method: str, url: str) -> tuple[str, str]:
    """(verb, resource) of a request as Kubernetes names them: GET of a collection is
    `list`, with watch=true `watch`; resource is the plural, with its subresource
    (`flowruns/status`). Pure: for counting."""
    path, _, query = url.partition("?")
    if "://" in path:
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    parts = [p for p in path.split("/") if p]
    # /api/v1/... or /apis/<group>/<version>/...
    rest = parts[2:] if parts[:1] == ["api"] else parts[3:]
    if len(rest) >= 2 and rest[0] == "namespaces":
        rest = rest[2:] if len(rest) > 2 else ["namespaces"] + rest[1:]
    resource = rest[0] if rest else "?"
    named = len(rest) >= 2
    if len(rest) >= 3:
        resource += "/" + rest[2]
    method = method.upper()
    if method == "GET":
        verb = "watch" if "watch=true" in query or "watch=1" in query else ("get" if named else "list")
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete" if named else "deletecollection"}.get(method, method.lower())
    return verb, resource


def observe_request(method: str, url: str) -> None:
    if REQUEST_OBSERVERS:
        verb, resource = describe_request(method, url)
        for observer in REQUEST_OBSERVERS:
            observer(verb, resource)


def in_pod() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and os.path.exists(f"{SA_DIR}/token")


class Transport:
    def __init__(self, endpoint: Endpoint, *, timeout: float = 30.0):
        self.endpoint = endpoint
        self.timeout = timeout
        context = ssl.create_default_context(cafile=endpoint.ca_file) if endpoint.verify else ssl._create_unverified_context()
        if endpoint.cert_file:
            context.load_cert_chain(endpoint.cert_file, endpoint.key_file)
        self.pool = urllib3.PoolManager(num_pools=2, maxsize=16, ssl_context=context, retries=False)
        self._lock = threading.Lock()
        self._file_token: str | None = None
        self._file_read_at = 0.0

    def _token(self, force: bool = False) -> str | None:
        ep = self.endpoint
        if ep.token_source is not None:
            return ep.token_source(force)
        if ep.token_file:  # projected tokens rotate: re-read every minute and after a 401
            with self._lock:
                if force or self._file_token is None or time.monotonic() - self._file_read_at > TOKEN_FILE_MAX_AGE:
                    with open(ep.token_file) as fh:
                        self._file_token = fh.read().strip()
                    self._file_read_at = time.monotonic()
                return self._file_token
        return ep.token

    def _headers(self, token: str | None, content_type: str | None = None) -> Any:
        headers = urllib3.HTTPHeaderDict({"Accept": "application/json"})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        if self.endpoint.impersonate_user:
            headers["Impersonate-User"] = self.endpoint.impersonate_user
            for group in self.endpoint.impersonate_groups:
                headers.add("Impersonate-Group", group)
        return headers

    def _send(self, send: Callable[[dict[str, str]], Any], content_type: str | None = None) -> Any:
        """Send; when the API server says "not now" (429 Too Many Requests from its
        priority and fairness limits, or a 5xx with Retry-After), wait as long as it asks
        (at most 10 s) and send again, up to 10 times, as client-go does. A 1,000-run
        benchmark saw runners' watches refused with 429 while hundreds were set up at once."""
        for attempt in range(MAX_RETRIES + 1):
            resp = self._send_once(send, content_type)
            wait = retry_after(resp)
            if wait is None or attempt == MAX_RETRIES:
                return resp
            resp.drain_conn()
            resp.release_conn()
            time.sleep(wait)
        raise AssertionError("unreachable")

    def _send_once(self, send: Callable[[dict[str, str]], Any], content_type: str | None) -> Any:
        """Send with the current token; after a 401, once more with a fresh one (as
        client-go does) if refreshing gave a different token."""
        token = self._token()
        resp = send(self._headers(token, content_type))
        if resp.status == 401 and (self.endpoint.token_file or self.endpoint.token_source):
            fresh = self._token(force=True)
            if fresh != token:
                resp.drain_conn()
                resp.release_conn()
                resp = send(self._headers(fresh, content_type))
        return resp

    def _url(self, path: str, query: Mapping[str, Any] | None) -> str:
        url = self.endpoint.host.rstrip("/") + path
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        return url

    def request(self, method: str, path: str, *, body: Any = None, query: Mapping[str, Any] | None = None,
                content_type: str = "application/json") -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        observe_request(method, self._url(path, query))
        resp = self._send(lambda headers: self.pool.request(
            method, self._url(path, query), body=data, headers=headers,
            timeout=urllib3.Timeout(connect=10, read=self.timeout)),
            content_type if data is not None else None)
        if resp.status >= 400:
            raise HTTPError(resp.status, resp.data)
        answer: dict[str, Any] = json.loads(resp.data or b"{}")
        return answer

    def text(self, path: str, *, query: Mapping[str, Any] | None = None) -> str:
        """A GET whose answer is text (a pod's log)."""
        resp = self._send(lambda headers: self.pool.request(
            "GET", self._url(path, query), headers=headers,
            timeout=urllib3.Timeout(connect=10, read=self.timeout)))
        if resp.status >= 400:
            raise HTTPError(resp.status, resp.data)
        return bytes(resp.data).decode("utf-8", errors="replace")

    def stream(self, path: str, *, query: Mapping[str, Any], read_timeout: float | None) -> Any:
        """An open streaming response (for watches); iterate with `lines()`."""
        observe_request("GET", self._url(path, query))
        resp = self._send(lambda headers: self.pool.request(
            "GET", self._url(path, query), headers=headers, preload_content=False,
            timeout=urllib3.Timeout(connect=10, read=read_timeout)))
        if resp.status >= 400:
            data = resp.read()
            resp.release_conn()
            raise HTTPError(resp.status, data)
        return resp


MAX_RETRIES = 10


def retry_after(resp: Any) -> float | None:
    """Seconds to wait before sending again, when the answer asks for it; else None."""
    header = (getattr(resp, "headers", None) or {}).get("Retry-After")
    if resp.status != 429 and not (resp.status >= 500 and header):
        return None
    try:
        return min(max(float(header), 0.1), 10.0) if header else 1.0
    except ValueError:
        return 1.0


def lines(resp: Any) -> Iterator[str]:
    """The lines of a streaming response as they arrive (blank ones too)."""
    buffer = b""
    for chunk in resp.stream(amt=None, decode_content=False):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield line.decode("utf-8", errors="replace")
    if buffer:
        yield buffer.decode("utf-8", errors="replace")


class RestCalls:
    """The base of the calls over this transport (kube/flowruns.py, kube/access.py)."""
    rest: Transport

    def _get_or_none(self, path: str) -> dict[str, Any] | None:
        """GET `path`: the object, or None when the API server says 404."""
        try:
            got: dict[str, Any] = self.rest.request("GET", path)
            return got
        except HTTPError as exc:
            if exc.status == 404:
                return None
            raise api_error(exc) from None
