"""The UI in a pod (the chart's Deployment): settings from the environment.

FLOWRUN_UI_AUTH            token | proxy (kubeconfig off-cluster)
FLOWRUN_UI_NAMESPACES      comma-separated namespaces to serve; empty: all
FLOWRUN_UI_PORT            port (8080)
FLOWRUN_UI_SECRET_FILE     a file with the CSRF key (else random per start)
FLOWRUN_UI_USER_HEADER     proxy mode: the header naming the user (X-Forwarded-User)
FLOWRUN_UI_GROUPS_HEADER   proxy mode: the header listing groups, comma-separated
FLOWRUN_UI_INSECURE_COOKIES  "true" only for plain-HTTP testing off-cluster
FLOWRUN_UI_ALLOWED_HOSTS   comma-separated Host names to answer to; empty: any (ui/guard.py)
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
    serve(settings, env("FLOWRUN_UI_ADDRESS", "0.0.0.0"), int(env("FLOWRUN_UI_PORT", "8080")))


if __name__ == "__main__":
    main()
