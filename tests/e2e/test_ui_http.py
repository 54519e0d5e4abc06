"""The web UI over HTTP against the real cluster: every page and every action, as
people with limited rights (the UI impersonates the user an authenticating proxy names,
as in the cluster), a token sign-in, and `flowrun ui` itself."""
from __future__ import annotations

import json
import re
import threading

import httpx
import pytest

from cluster import kubectl, wait_for
from cluster.flowruns import apply, flowrun_manifest, get_fr, wait_phase
from cluster.pytest_plugin import _namespace_name, create_namespace
from cluster.ui_server import UIServer, grant_people

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def ui_ns(operator):
    name = _namespace_name("ui-http")
    create_namespace(name)
    wait_for(lambda: kubectl("get", "serviceaccount", "default", namespace=name, check=False).returncode == 0,
             timeout=60, what="the default ServiceAccount")
    grant_people(name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def runs(ui_ns):
    """A run waiting for input (`pay`) and one that is busy (`busy`, labelled)."""
    apply(ui_ns, flowrun_manifest("pay", "testflows.ui:approve_payment"))
    busy = flowrun_manifest("busy", "testflows.basic:sleeps_until_cancelled")
    busy["metadata"]["labels"] = {"team": "ops"}
    apply(ui_ns, busy)
    wait_phase(ui_ns, "pay", "Paused", timeout=300)
    wait_phase(ui_ns, "busy", "Running", timeout=300)
    return ui_ns


@pytest.fixture(scope="module")
def ui(ui_ns, tmp_path_factory):
    server = UIServer(ui_ns, "proxy", tmp_path_factory.mktemp("ui")).start()
    yield server
    server.stop()


def client(ui: UIServer, user: str | None) -> httpx.Client:
    # A browser sends its page's Origin with every POST; the UI refuses changes without it (ui/guard.py).
    headers = {"Origin": ui.url, **(ui.headers(user) if user else {})}
    return httpx.Client(base_url=ui.url, headers=headers, timeout=30)


def csrf(page: str) -> str:
    return re.search(r'name="_csrf" value="([^"]+)"', page).group(1)


def section(page: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}".*?</table>', page, re.S)
    return match.group(0) if match else ""


def test_the_list_puts_runs_waiting_for_a_person_first_and_filters(ui, runs):
    ns = runs
    with client(ui, "ui-approver") as c:
        page = c.get("/")
        assert page.status_code == 200, page.text
        waiting, everything = section(page.text, "waiting"), section(page.text, "all")
        assert f"/runs/{ns}/pay" in waiting and "busy" not in waiting
        # what it waits for (required fields first, starred), how long, the deadline
        assert re.search(r"input \((address\*, approver\*|approver\*, address\*), ", waiting), waiting
        # the deadline is 15 minutes after the pause: "in 15m 0s" within its first second, "in 14m ..." after
        assert re.search(r"<td>\d+s</td>", waiting) and re.search(r"in 1[45]m", waiting), waiting
        assert f"/runs/{ns}/pay" in everything and f"/runs/{ns}/busy" in everything
        # A safe page: our own scripts only, a strict CSP and the usual headers.
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "unsafe-inline" not in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
        assert all('src="/static/' in tag for tag in re.findall(r"<script[^>]*>", page.text))
        assert "http://" not in page.text.replace(ui.url, "") and "https://" not in page.text
        # Filters: phase, text, labels, flow, namespace.
        for query, shown, hidden in [("phase=Running", "busy", "pay"), ("q=pay", "pay", "busy"),
                                     ("selector=team%3Dops", "busy", "pay"), ("flow=approve", "pay", "busy"),
                                     (f"namespace={ns}", "pay", None)]:
            got = c.get(f"/?{query}").text
            assert f"/runs/{ns}/{shown}" in got, query
            if hidden:
                assert f"/runs/{ns}/{hidden}" not in got, query
        assert c.get("/fragments/runs?phase=Paused").text.count(f"/runs/{ns}/pay") == 2  # both sections
        assert c.get("/?namespace=kube-system").status_code == 403  # not a namespace this UI serves
    with client(ui, "ui-nobody") as c:
        page = c.get("/")
        assert page.status_code == 403 and 'role="alert"' in page.text and "Forbidden" in page.text
    with client(ui, None) as c:
        page = c.get("/")
        assert page.status_code == 401 and "X-Flowrun-Proxy-Secret" in page.text
        # Identity headers from anyone but the proxy (no or a wrong shared secret): refused.
        for secret in (None, "guessed"):
            spoof = {"X-Forwarded-User": "ui-approver", "X-Forwarded-Groups": "ui-approvers"}
            if secret:
                spoof["X-Flowrun-Proxy-Secret"] = secret
            page = c.get(f"/runs/{ns}/pay", headers=spoof)
            assert page.status_code == 401 and "authenticating proxy" in page.text
        # The proxy itself may not make the UI a system: user.
        admin = {**ui.headers("ui-approver"), "X-Forwarded-User": "system:admin"}
        assert c.get("/", headers=admin).status_code == 403


def test_the_run_page(ui, runs):
    ns = runs
    with client(ui, "ui-approver") as c:
        page = c.get(f"/runs/{ns}/pay")
        assert page.status_code == 200, page.text
        text = page.text
        # The description, rendered and sanitised: the script, the handler and the
        # javascript: link are inert text.
        assert "<h2>Approve the payment</h2>" in text and "<strong>the amount</strong>" in text
        assert "<script>window.__pwned" not in text and "&lt;script&gt;" in text
        assert "<img" not in text and 'href="javascript:' not in text
        # The form from the schema: names are JSON paths, defaults prefilled, required marked.
        for name in ("approver", "amount", "rate", "urgent", "colour", "address.city", "address.zip",
                     "tags.0", "tags.1", "note", "_json", "_csrf"):
            assert f'name="{name}"' in text, name
        assert re.search(r'name="amount" type="number" value="100"', text)
        assert '<option value="green" selected>' in text and '<option value="red">' in text
        assert re.search(r'for="f-approver">Approver <span class="req"', text)
        assert "who approves" in text and "where the invoice goes" in text
        # The actions the state allows (a paused run: Resume, Suspend, Cancel; not Pause).
        buttons = re.findall(r"<button[^>]*>(\w+)</button>", text)
        assert {"Resume", "Suspend", "Cancel"} <= set(buttons) and "Pause" not in buttons
        assert "disabled" not in re.search(r"<button[^>]*>Resume</button>", text).group(0)
        # Timeline, attempts, log.
        assert re.search(r"<td>paused</td>", text) and "pay-1" in text
        assert 'data-testid="log"' in text and "prepare" in text
        for part in ("live", "controls"):
            assert c.get(f"/fragments/runs/{ns}/pay/{part}").status_code == 200
        missing = c.get(f"/runs/{ns}/nope")
        assert missing.status_code == 404 and 'role="alert"' in missing.text
    with client(ui, "ui-viewer") as c:
        text = c.get(f"/runs/{ns}/pay").text
        for label in ("Resume", "Suspend", "Cancel"):
            button = re.search(rf"<button[^>]*>{label}</button>", text).group(0)
            assert "disabled" in button and "may not patch" in button, button


def events_until(ui: UIServer, user: str, path: str, wanted: str, seen: list[str]) -> threading.Thread:
    """Read a server-sent-events stream in a thread until `wanted` arrives."""
    def read() -> None:
        with httpx.Client(base_url=ui.url, headers=ui.headers(user), timeout=60) as c:
            with c.stream("GET", path) as resp:
                for line in resp.iter_lines():
                    seen.append(line)
                    if line == wanted:
                        return
    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    wait_for(lambda: seen, timeout=10, what="the event stream to open")
    return thread


def test_actions_change_the_run_as_the_person(ui, runs):
    ns = runs
    with client(ui, "ui-approver") as c:
        page = c.get(f"/runs/{ns}/pay").text
        token = csrf(page)
        drawn = re.search(r"&(?:amp;)?sig=(\w+)", page).group(1)  # what the page's controls were drawn from
        # No CSRF token, no change.
        refused = c.post(f"/runs/{ns}/pay/resume", data={"approver": "x", "address.city": "y"})
        assert refused.status_code == 403 and "CSRF" in refused.text
        # Invalid input: the errors next to the fields they name and in an alert; still Paused.
        bad = c.post(f"/runs/{ns}/pay/resume", data={"_csrf": token, "approver": "Marvin", "amount": "-5",
                                                      "address.zip": "75001"})
        assert bad.status_code == 422, bad.text
        assert re.search(r'role="alert"[^>]*>[^<]*amount', bad.text)
        assert re.search(r'id="err-amount">-5 is less than or equal to the minimum of 0', bad.text)
        assert re.search(r'id="err-address.city">(&#39;|\')city(&#39;|\') is a required property', bad.text)
        assert 'value="Marvin"' in bad.text  # what was typed is kept
        assert get_fr(ns, "pay")["status"]["phase"] == "Paused"
        unreadable = c.post(f"/runs/{ns}/pay/resume", data={"_csrf": token, "approver": "M", "amount": "many",
                                                            "address.city": "P"})
        assert unreadable.status_code == 422 and "is not a valid integer" in unreadable.text
        # Live: the run's stream says what to redraw when it changes.
        seen: list[str] = []
        reader = events_until(ui, "ui-approver", f"/events?namespace={ns}&name=pay&sig={drawn}", "event: controls",
                              seen)
        wait_for(lambda: "event: change" in seen, timeout=30, what="the stream's first event (the run as it is)")
        assert "event: controls" not in seen  # the run is still as the page shows it
        good = c.post(f"/runs/{ns}/pay/resume", data={
            "_csrf": token, "approver": "Marvin", "amount": "250", "address.city": "Paris", "tags.0": "q4",
            "urgent": "true", "colour": "red", "_json": '{"address": {"zip": "75001"}}'})
        assert good.status_code == 303 and good.headers["location"] == f"/runs/{ns}/pay"
        reader.join(timeout=30)
        assert "event: controls" in seen, seen  # the resume changed what the controls show
        fr = wait_phase(ns, "pay", "Completed", "Failed")
        assert fr["status"]["result"] == {"approver": "Marvin", "amount": 250, "city": "Paris", "tags": ["q4"],
                                          "urgent": True, "colour": "red"}
        resumed = [h for h in fr["status"]["history"] if h["action"] == "resumed"]
        assert resumed and resumed[-1]["by"] == "ui-approver"  # the person, never the UI's account
        page = c.get(f"/runs/{ns}/pay").text
        assert 'data-testid="phase">Completed' in page and "Marvin" in page
        assert not re.findall(r"<button[^>]*>(Resume|Suspend|Pause|Cancel)</button>", page)

        # Pause (requested: the flow pauses at its next task boundary), then Cancel with a reason.
        assert c.post(f"/runs/{ns}/busy/pause", data={"_csrf": token}).status_code == 303
        assert get_fr(ns, "busy")["spec"]["state"] == "Paused"
        # The viewer may not: the API server's 403, in words.
        with client(ui, "ui-viewer") as v:
            vt = csrf(v.get(f"/runs/{ns}/busy").text)
            denied = v.post(f"/runs/{ns}/busy/cancel", data={"_csrf": vt, "_reason": "mine"})
            assert denied.status_code == 403 and 'role="alert"' in denied.text and "forbidden" in denied.text.lower()
        done = c.post(f"/runs/{ns}/busy/cancel", data={"_csrf": token, "_reason": "not needed any more"})
        assert done.status_code == 303
        fr = wait_phase(ns, "busy", "Cancelled")
        cancelled = [h for h in fr["status"]["history"] if h["action"] == "cancelled"]
        assert cancelled[-1]["by"] == "ui-approver" and "not needed any more" in fr["status"]["message"]
        # An action the state no longer allows is refused with the reason.
        late = c.post(f"/runs/{ns}/busy/suspend", data={"_csrf": token})
        assert late.status_code == 409 and "Cancelled" in late.text


def test_sign_in_with_a_token(ui_ns, tmp_path_factory):
    """In the cluster without a proxy: the person's own token, in an HttpOnly, Secure,
    SameSite cookie; every call is made with it."""
    ns = ui_ns
    kubectl("create", "serviceaccount", "ui-token-user", namespace=ns)
    kubectl("create", "rolebinding", "ui-token-user", "--role=ui-viewer", f"--serviceaccount={ns}:ui-token-user",
            namespace=ns)
    token = kubectl("create", "token", "ui-token-user", namespace=ns).stdout.strip()
    server = UIServer(ns, "token", tmp_path_factory.mktemp("ui-token")).start()
    try:
        with httpx.Client(base_url=server.url, headers={"Origin": server.url}, timeout=30) as c:
            first = c.get("/")
            assert first.status_code == 303 and first.headers["location"] == "/signin"
            form = c.get("/signin").text
            wrong = c.post("/signin", data={"_csrf": csrf(form), "token": "not-a-token"})
            assert wrong.status_code == 401 and 'role="alert"' in wrong.text
            ok = c.post("/signin", data={"_csrf": csrf(form), "token": token})
            assert ok.status_code == 303
            cookie = next(v for k, v in ok.headers.multi_items() if k == "set-cookie" and "flowrun_token" in v)
            assert all(flag in cookie.lower() for flag in ("httponly", "secure", "samesite=strict"))
            assert token not in ok.headers.get("location", "")
            c.cookies.set("flowrun_token", token)  # the test speaks plain HTTP: send the Secure cookie by hand
            page = c.get("/")
            assert page.status_code == 200 and f"system:serviceaccount:{ns}:ui-token-user" in page.text
        assert token not in server.log_path.read_text()
    finally:
        server.stop()


def test_flowrun_ui_prints_the_url_and_serves_as_the_kubeconfig(ui_ns, runs, tmp_path_factory):
    server = UIServer(ui_ns, "kubeconfig", tmp_path_factory.mktemp("ui-cli")).start()  # checks the URL line
    try:
        page = httpx.get(f"{server.url}/", timeout=30)
        assert page.status_code == 200 and f"/runs/{ui_ns}/pay" in page.text
        assert json.loads(kubectl("auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]["username"] in page.text
    finally:
        server.stop()
