"""`ui.auth=proxy`: who may name the person, and whom the UI may become (issue 26).

The UI's account may impersonate, so a request's identity headers are believed only from
a client that proves it is the authenticating proxy:
- a shared secret in a header (`Settings.proxy_secret`, from a Secret; compared in
  constant time), and/or
- mutual TLS: the UI serves TLS and accepts only client certificates signed by the
  configured CA (uvicorn's `ssl_cert_reqs=CERT_REQUIRED`, app.serve): nobody else's
  request reaches the app at all.
The UI refuses to start in proxy mode with neither (ui/__main__.py; the chart refuses to
render it).

Whom: never a `system:` user or group (the control plane's own identities and groups
like `system:masters`); a user from `Settings.impersonate_users` when it is set; only the
groups in `Settings.impersonate_groups` (others the proxy names are dropped: fewer groups
is fewer rights). The chart's ClusterRole carries the same lists as resourceNames.
"""
from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence

DEFAULT_SECRET_HEADER = "X-Flowrun-Proxy-Secret"
RESERVED_PREFIX = "system:"


class NotTheProxy(Exception):
    """The request does not come from the authenticating proxy."""


class NotAllowed(Exception):
    """The proxy names someone the UI may not act as."""


def proxy_identity(headers: Mapping[str, str], *, user_header: str, groups_header: str,
                   secret: bytes | None, secret_header: str = DEFAULT_SECRET_HEADER,
                   users: Sequence[str] | None = None, groups: Sequence[str] = ()) -> tuple[str, tuple[str, ...]]:
    """(user, groups) to impersonate for a request with these headers (names
    case-insensitive), or NotTheProxy / NotAllowed saying why not."""
    lower = {k.lower(): v for k, v in headers.items()}
    if secret is not None:
        given = lower.get(secret_header.lower(), "").encode()
        if not given or not hmac.compare_digest(given, secret):
            raise NotTheProxy("this UI accepts identity headers only from its authenticating proxy "
                              f"(the {secret_header} header is missing or wrong)")
    user = (lower.get(user_header.lower()) or "").strip()
    if not user:
        raise NotTheProxy(f"no user in the {user_header} header (is the authenticating proxy in front?)")
    if user.startswith(RESERVED_PREFIX):
        raise NotAllowed(f"the UI never acts as a {RESERVED_PREFIX} user")
    if users is not None and user not in users:
        raise NotAllowed(f"the UI may not act as {user!r} (ui.impersonation.users)")
    named = (g.strip() for g in (lower.get(groups_header.lower()) or "").split(","))
    allowed = set(groups)
    kept = tuple(dict.fromkeys(g for g in named if g and g in allowed and not g.startswith(RESERVED_PREFIX)))
    return user, kept
