"""Who is asking the UI, and their Kube: the UI's settings, the person (with their
caches of runs), and how a request names them (`Settings.auth`):
- `kubeconfig` (`flowrun ui` on a laptop): the kubeconfig's identity; one person.
- `token` (in the cluster): the person's own bearer token, kept in an HttpOnly, Secure,
  SameSite=Strict cookie; every API call is made with it.
- `proxy` (in the cluster, behind an authenticating proxy): the user and groups the
  proxy sends in headers, applied with Kubernetes impersonation by the UI's account.
"""
from __future__ import annotations

import hashlib
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

from ..kube.client import Kube
from .cache import RunCache
from .proxy_auth import DEFAULT_SECRET_HEADER, NotAllowed, NotTheProxy, proxy_identity

COOKIE_TOKEN = "flowrun_token"


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

