"""ui.auth=proxy: identity headers only from the proxy, never a system: identity (issue 26)."""
import pytest

from flowrun.ui.proxy_auth import NotAllowed, NotTheProxy, proxy_identity

KW = {"user_header": "X-Forwarded-User", "groups_header": "X-Forwarded-Groups", "secret": b"s3cret",
      "groups": ["finance", "qa"]}


def test_the_proxy_names_the_person():
    user, groups = proxy_identity({"x-forwarded-user": "alice", "X-Forwarded-Groups": "finance, other,qa",
                                   "X-Flowrun-Proxy-Secret": "s3cret"}, **KW)
    assert user == "alice" and groups == ("finance", "qa")  # groups not listed are dropped


@pytest.mark.parametrize("secret", [None, "", "s3cre", "s3cret ", "S3CRET"])
def test_anyone_else_is_not_believed(secret):
    headers = {"X-Forwarded-User": "alice", "X-Forwarded-Groups": "finance"}
    if secret is not None:
        headers["X-Flowrun-Proxy-Secret"] = secret
    with pytest.raises(NotTheProxy, match="authenticating proxy"):
        proxy_identity(headers, **KW)


@pytest.mark.parametrize("user", ["system:admin", "system:serviceaccount:kube-system:default",
                                  "system:kube-scheduler"])
def test_never_a_system_user(user):
    with pytest.raises(NotAllowed):
        proxy_identity({"X-Forwarded-User": user, "X-Flowrun-Proxy-Secret": "s3cret"}, **KW)


def test_never_a_system_group_even_if_listed():
    _, groups = proxy_identity({"X-Forwarded-User": "a", "X-Forwarded-Groups": "system:masters,finance",
                                "X-Flowrun-Proxy-Secret": "s3cret"}, **{**KW, "groups": ["system:masters", "finance"]})
    assert groups == ("finance",)


def test_only_listed_users_when_a_list_is_set():
    kw = {**KW, "users": ["alice"]}
    assert proxy_identity({"X-Forwarded-User": "alice", "X-Flowrun-Proxy-Secret": "s3cret"}, **kw)[0] == "alice"
    with pytest.raises(NotAllowed):
        proxy_identity({"X-Forwarded-User": "bob", "X-Flowrun-Proxy-Secret": "s3cret"}, **kw)


def test_mtls_only_needs_no_secret_header():
    # with mTLS the TLS layer let only the proxy in: no secret configured
    assert proxy_identity({"X-Forwarded-User": "alice"}, **{**KW, "secret": None})[0] == "alice"
