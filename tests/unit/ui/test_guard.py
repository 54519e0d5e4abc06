"""The UI's front door (ui/guard.py): Host allow-list, Origin on changes, namespaces."""
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from flowrun.ui.guard import Guard, local_hosts, namespace_of, origin_problem, query_problem, split_host

ACTED: list[str] = []
REACHED: list[str] = []


async def ok(request):
    REACHED.append(str(request.url))
    if request.method == "POST":
        ACTED.append(request.url.path)
    return PlainTextResponse("ok")


def client(allowed=("localhost", "127.0.0.1", "::1"), namespaces=("team-a",)) -> TestClient:
    app = Starlette(routes=[Route("/{path:path}", ok, methods=["GET", "POST"])])
    guarded = Guard(app, list(allowed) if allowed is not None else None,
                    list(namespaces) if namespaces is not None else None)
    return TestClient(guarded, base_url="http://127.0.0.1:8080")


def test_local_hosts():
    assert local_hosts("127.0.0.1") == ["localhost", "127.0.0.1", "::1"]
    assert local_hosts("0.0.0.0") == ["localhost", "127.0.0.1", "::1"]
    assert local_hosts("192.168.1.5")[-1] == "192.168.1.5"
    assert local_hosts("[fe80::1]")[-1] == "fe80::1"
    assert split_host("[::1]:8080") == ("::1", "8080") and split_host("Evil.COM") == ("evil.com", "")


@pytest.mark.parametrize("host", ["evil.example:8080", "127.0.0.1.nip.io:8080", "localhost.evil:8080", "",
                                  "127.0.0.1:8080:1", "127.0.0.1:x"])
def test_dns_rebinding_is_refused_for_reads_and_changes(host):
    ACTED.clear()
    c = client()
    assert c.get("/runs/team-a/pay", headers={"Host": host}).status_code == 421
    origin = f"http://{host}"
    assert c.post("/runs/team-a/pay/cancel", headers={"Host": host, "Origin": origin}).status_code == 421
    assert ACTED == []


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "LOCALHOST:8080"])
def test_the_allowed_names_are_served(host):
    ACTED.clear()
    c = client()
    assert c.get("/runs/team-a/pay", headers={"Host": host}).status_code == 200
    origin = f"http://{host.lower()}"
    assert c.post("/runs/team-a/pay/cancel", headers={"Host": host, "Origin": origin}).status_code == 200
    assert ACTED == ["/runs/team-a/pay/cancel"]


@pytest.mark.parametrize("origin", [None, "null", "http://evil.example", "http://127.0.0.1:9999",
                                    "https://127.0.0.1:443", "file://", "http://127.0.0.1:8080/x"])
def test_changes_need_the_same_origin(origin):
    ACTED.clear()
    headers = {"Host": "127.0.0.1:8080"} | ({"Origin": origin} if origin is not None else {})
    r = client().post("/runs/team-a/pay/cancel", headers=headers)
    assert r.status_code == 403 and "origin" in r.text.lower()
    assert ACTED == []


def test_in_the_cluster_any_host_but_origin_still_must_match():
    c = client(allowed=None, namespaces=None)
    assert c.get("/", headers={"Host": "flowrun.example.com"}).status_code == 200
    assert c.post("/signout", headers={"Host": "flowrun.example.com",
                                       "Origin": "https://flowrun.example.com"}).status_code == 200
    assert c.post("/signout", headers={"Host": "flowrun.example.com",
                                       "Origin": "https://evil.example.com"}).status_code == 403


@pytest.mark.parametrize("path", ["/runs/team-b/pay", "/fragments/runs/team-b/pay/live", "/logs/team-b/pay?pod=x",
                                  "/events?namespace=team-b&name=pay"])
def test_namespaces_not_served_are_refused_on_every_route(path):
    r = client().get(path, headers={"Host": "127.0.0.1:8080"})
    assert r.status_code == 403 and "team-b" in r.text
    assert client().get(path.replace("team-b", "team-a"), headers={"Host": "127.0.0.1:8080"}).status_code == 200


@pytest.mark.parametrize("path", [
    "/events?namespace=team-a&namespace=team-b&name=pay",  # the guard read the first, the route the last
    "/events?namespace=team-b&namespace=team-a&name=pay",
    "/events?namespace=team-a&name=pay&namespace=",
    "/events?namespace=team-a&name=pay&name=other",
    "/?namespace=team-a&namespace=team-b",
    "/logs/team-a/pay?pod=a&pod=b",
    "/events?namespace=team-a&name=pay&namespace%3Dteam-b",  # (one parameter named `namespace=team-b`: served)
])
def test_a_repeated_query_parameter_is_refused_before_any_route(path):
    REACHED.clear()
    r = client().get(path, headers={"Host": "127.0.0.1:8080"})
    if path.endswith("%3Dteam-b"):
        assert r.status_code == 200 and len(REACHED) == 1
        return
    assert r.status_code == 400 and "more than once" in r.text
    assert REACHED == []  # no route ran: nothing was watched or read


def test_the_bulk_answers_list_of_runs_may_repeat():
    REACHED.clear()
    assert query_problem(b"run=team-a/x&run=team-a/y") is None
    assert client().get("/answer?run=team-a/x&run=team-a/y", headers={"Host": "127.0.0.1:8080"}).status_code == 200
    assert query_problem(b"run=a&namespace=x&namespace=x") is not None  # even the same value twice


def test_the_events_route_checks_the_namespace_it_watches_itself(monkeypatch):
    """Were the guard to read another value than the route (as it once did), the events
    stream still refuses to watch a namespace the UI does not serve: it checks the very
    value it watches, and no watch is started."""
    from urllib.parse import parse_qs

    from flowrun.kube import actions
    from flowrun.ui import guard
    from flowrun.ui.app import Settings, create_app

    watched: list[tuple[str, str]] = []

    class Person:
        def whoami(self):
            return {"username": "ann", "groups": []}

        def watch_flowrun(self, ns, name, **_):
            watched.append((ns, name))
            return iter(())

    def first_value(path, query_string):  # the old guard: the first value
        if path == "/events":
            return (parse_qs(query_string.decode()).get("namespace") or [None])[0]
        return None

    monkeypatch.setattr(actions, "action_verbs_on", lambda kube: False)
    monkeypatch.setattr(guard, "query_problem", lambda q: None)
    monkeypatch.setattr(guard, "namespace_of", first_value)
    app = TestClient(create_app(Settings(namespaces=["team-a"]), Person()))
    r = app.get("/events?namespace=team-a&namespace=team-b&name=pay")
    assert r.status_code == 403 and "team-b" in r.text
    assert app.get("/events?namespace=&name=pay").status_code == 400
    assert watched == []


def test_namespace_of():
    assert namespace_of("/runs/a/b/cancel", b"") == "a"
    assert namespace_of("/events", b"namespace=x&name=y") == "x"
    assert namespace_of("/events", b"namespace=") is None
    assert namespace_of("/events", b"namespace=team-a&namespace=team-b") == "team-b"  # the route's (last) value
    assert namespace_of("/", b"namespace=x") is None  # the list: scoped by app.scope_namespaces
    assert origin_problem("GET", None, "h") is None


def test_healthz_answers_any_host():
    assert client().get("/healthz", headers={"Host": "10.1.2.3:8080"}).status_code == 200
    assert client().get("/healthzx", headers={"Host": "10.1.2.3:8080"}).status_code == 421


def test_the_pages_referrer_policy_keeps_the_origin_on_our_own_posts():
    """Under `Referrer-Policy: no-referrer` a browser sends `Origin: null` on the UI's own
    form posts (the Fetch standard's request-origin serialisation), and the guard refuses
    null: every button would be refused. Only policies that keep a same-origin Origin fit."""
    from flowrun.ui.security import SECURITY_HEADERS

    assert SECURITY_HEADERS["Referrer-Policy"] in ("same-origin", "strict-origin", "strict-origin-when-cross-origin")
    assert origin_problem("POST", "null", "127.0.0.1:8080")
