"""The UI in a pod (the chart's Deployment): settings from the environment.

FLOWRUN_UI_AUTH            token | proxy (kubeconfig off-cluster)
FLOWRUN_UI_NAMESPACES      comma-separated namespaces to serve; empty: all
FLOWRUN_UI_PORT            port (8080)
FLOWRUN_UI_SECRET_FILE     a file with the CSRF key (else random per start)
FLOWRUN_UI_USER_HEADER     proxy mode: the header naming the user (X-Forwarded-User)
FLOWRUN_UI_GROUPS_HEADER   proxy mode: the header listing groups, comma-separated
FLOWRUN_UI_INSECURE_COOKIES  "true" only for plain-HTTP testing off-cluster
FLOWRUN_UI_ALLOWED_HOSTS   comma-separated Host names to answer to; empty: any (ui/guard.py)
proxy mode (ui/proxy_auth.py), at least one of the two proofs is required:
FLOWRUN_UI_PROXY_SECRET_FILE   a file with the shared secret the proxy sends ...
FLOWRUN_UI_PROXY_SECRET_HEADER ... in this header (X-Flowrun-Proxy-Secret)
FLOWRUN_UI_CLIENT_CA_FILE      mTLS: only clients with a certificate from this CA connect
                               (with FLOWRUN_UI_TLS_CERT_FILE and FLOWRUN_UI_TLS_KEY_FILE)
FLOWRUN_UI_IMPERSONATE_USERS   comma-separated users the UI may act as; empty: any but system:
FLOWRUN_UI_IMPERSONATE_GROUPS  comma-separated groups it may pass on; empty: none
"""
from __future__ import annotations

import logging
import os
import secrets

from .app import Settings, serve


def main() -> None:
    logging.basicConfig(level=os.environ.get("FLOWRUN_UI_LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    env = os.environ.get
    names = [n.strip() for n in (env("FLOWRUN_UI_NAMESPACES") or "").split(",") if n.strip()]
    secret_file = env("FLOWRUN_UI_SECRET_FILE")
    secret = open(secret_file, "rb").read() if secret_file else secrets.token_bytes(32)
    settings = Settings(
        auth=env("FLOWRUN_UI_AUTH", "token"), namespaces=names or None, secret=secret,
        secure_cookies=(env("FLOWRUN_UI_INSECURE_COOKIES", "").lower() != "true"),
        user_header=env("FLOWRUN_UI_USER_HEADER", "X-Forwarded-User"),
        groups_header=env("FLOWRUN_UI_GROUPS_HEADER", "X-Forwarded-Groups"),
        allowed_hosts=[h.strip() for h in (env("FLOWRUN_UI_ALLOWED_HOSTS") or "").split(",") if h.strip()] or None)
    if settings.auth not in ("token", "proxy"):
        raise SystemExit("FLOWRUN_UI_AUTH must be token or proxy in a pod")
    settings.tls_cert_file = env("FLOWRUN_UI_TLS_CERT_FILE") or None
    settings.tls_key_file = env("FLOWRUN_UI_TLS_KEY_FILE") or None
    settings.client_ca_file = env("FLOWRUN_UI_CLIENT_CA_FILE") or None
    if settings.auth == "proxy":
        proxy_file = env("FLOWRUN_UI_PROXY_SECRET_FILE")
        if proxy_file:
            settings.proxy_secret = open(proxy_file, "rb").read().strip() or None
        settings.proxy_secret_header = env("FLOWRUN_UI_PROXY_SECRET_HEADER") or settings.proxy_secret_header
        mtls = bool(settings.client_ca_file and settings.tls_cert_file and settings.tls_key_file)
        if settings.proxy_secret is None and not mtls:
            raise SystemExit("FLOWRUN_UI_AUTH=proxy trusts identity headers only from a proxy that proves "
                             "itself: set FLOWRUN_UI_PROXY_SECRET_FILE, or FLOWRUN_UI_CLIENT_CA_FILE with "
                             "FLOWRUN_UI_TLS_CERT_FILE and FLOWRUN_UI_TLS_KEY_FILE")
        users = [u.strip() for u in (env("FLOWRUN_UI_IMPERSONATE_USERS") or "").split(",") if u.strip()]
        settings.impersonate_users = users or None
        settings.impersonate_groups = [g.strip() for g in (env("FLOWRUN_UI_IMPERSONATE_GROUPS") or "").split(",")
                                       if g.strip()]
    serve(settings, env("FLOWRUN_UI_ADDRESS", "0.0.0.0"), int(env("FLOWRUN_UI_PORT", "8080")))


if __name__ == "__main__":
    main()
