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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import urllib3

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


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

    @classmethod
    def in_cluster(cls) -> "Endpoint":
        host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
        if ":" in host:
            host = f"[{host}]"
        return cls(host=f"https://{host}:{port}", token_file=f"{SA_DIR}/token", ca_file=f"{SA_DIR}/ca.crt")

    @classmethod
    def from_configuration(cls, configuration: Any) -> "Endpoint":
        """From a kubernetes.client.Configuration (kubeconfig already loaded)."""
        token = (configuration.api_key or {}).get("authorization") or (configuration.api_key or {}).get("BearerToken")
        if token and token.lower().startswith("bearer "):
            token = token[7:]
        return cls(host=configuration.host, token=token, ca_file=configuration.ssl_ca_cert,
                   cert_file=configuration.cert_file, key_file=configuration.key_file,
                   verify=configuration.verify_ssl)


def in_pod() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and os.path.exists(f"{SA_DIR}/token")


class Transport:
    def __init__(self, endpoint: Endpoint, *, timeout: float = 30.0):
        self.endpoint = endpoint
        self.timeout = timeout
        context = ssl.create_default_context(cafile=endpoint.ca_file) if endpoint.verify else ssl._create_unverified_context()
        if endpoint.cert_file:
            context.load_cert_chain(endpoint.cert_file, endpoint.key_file)
        self.pool = urllib3.PoolManager(num_pools=2, maxsize=4, ssl_context=context, retries=False)

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        token = self.endpoint.token
        if self.endpoint.token_file:  # projected tokens rotate: read it each time
            with open(self.endpoint.token_file) as fh:
                token = fh.read().strip()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def _url(self, path: str, query: Mapping[str, Any] | None) -> str:
        url = self.endpoint.host.rstrip("/") + path
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        return url

    def request(self, method: str, path: str, *, body: Any = None, query: Mapping[str, Any] | None = None,
                content_type: str = "application/json") -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        resp = self.pool.request(method, self._url(path, query), body=data,
                                 headers=self._headers(content_type if data is not None else None),
                                 timeout=urllib3.Timeout(connect=10, read=self.timeout))
        if resp.status >= 400:
            raise HTTPError(resp.status, resp.data)
        return json.loads(resp.data or b"{}")

    def stream(self, path: str, *, query: Mapping[str, Any], read_timeout: float) -> Any:
        """An open streaming response (for watches); iterate with `lines()`."""
        resp = self.pool.request("GET", self._url(path, query), headers=self._headers(),
                                 preload_content=False,
                                 timeout=urllib3.Timeout(connect=10, read=read_timeout))
        if resp.status >= 400:
            data = resp.read()
            resp.release_conn()
            raise HTTPError(resp.status, data)
        return resp


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
