"""The web UI in a real browser: Debian's chromium driven by Playwright (no browser
download), against the real cluster. Two runs of the test-flows image serve every test.
With FLOWRUN_UI_SCREENSHOTS=docs/img the tests write the screenshots docs/ui.md shows."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from cluster import kubectl, wait_for
from cluster.flowruns import apply, flowrun_manifest, get_fr, patch_fr, wait_phase
from cluster.harness import REPO
from cluster.pytest_plugin import _namespace_name, create_namespace
from cluster.ui_server import UIServer, grant_people

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
LIVE = 90_000  # ms: a change reaches the page within a second; the operator and the run take longer


def shot(page, name: str) -> None:
    where = os.environ.get("FLOWRUN_UI_SCREENSHOTS")
    if where:
        directory = Path(where) if Path(where).is_absolute() else REPO / where
        directory.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(directory / f"ui-{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def ns(operator):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    name = _namespace_name("ui-browser")
    create_namespace(name)
    wait_for(lambda: kubectl("get", "serviceaccount", "default", namespace=name, check=False).returncode == 0,
             timeout=60, what="the default ServiceAccount")
    grant_people(name)
    apply(name, flowrun_manifest("approve", "testflows.ui:approve_payment"))
    apply(name, flowrun_manifest("twice", "testflows.ui:pauses_twice"))
    wait_phase(name, "approve", "Paused", timeout=300)
    wait_phase(name, "twice", "Paused", timeout=300)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def ui(ns, tmp_path_factory):
    server = UIServer(ns, "kubeconfig", tmp_path_factory.mktemp("ui")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.csp_errors = []
    page.on("console", lambda m: page.csp_errors.append(m.text)
            if m.type == "error" and "Content Security Policy" in m.text else None)
    yield page
    context.close()


def test_a_person_without_patch_rights_sees_the_buttons_disabled(browser, ns, tmp_path_factory):
    from playwright.sync_api import expect
    server = UIServer(ns, "proxy", tmp_path_factory.mktemp("ui-proxy")).start()
    try:
        context = browser.new_context(extra_http_headers=server.headers("ui-viewer"),
                                      viewport={"width": 1200, "height": 900})
        page = context.new_page()
        page.goto(f"{server.url}/runs/{ns}/approve")
        expect(page.get_by_test_id("user")).to_have_text("ui-viewer")
        for label in ("Resume", "Suspend", "Cancel"):
            expect(page.get_by_role("button", name=label, exact=True)).to_be_disabled()
        expect(page.get_by_test_id("why-resume")).to_contain_text("ui-viewer may not patch FlowRuns")
        shot(page, "viewer")
        context.close()
    finally:
        server.stop()


def test_a_person_answers_a_pause_in_the_browser(page, ui, ns):
    from playwright.sync_api import expect
    page.goto(f"{ui.url}/")
    waiting = page.get_by_test_id("waiting")
    expect(waiting.get_by_role("link", name="approve", exact=True)).to_be_visible()
    expect(waiting.get_by_role("link", name="twice", exact=True)).to_be_visible()
    shot(page, "list")
    waiting.get_by_role("link", name="approve", exact=True).click()

    description = page.get_by_test_id("description")
    expect(description.get_by_role("heading", name="Approve the payment")).to_be_visible()
    expect(description.locator("strong")).to_have_text("the amount")
    # The <script>, the onerror= and the javascript: link in the description are inert.
    expect(description).to_contain_text("<script>window.__pwned")
    assert page.evaluate("() => window.__pwned") is None
    assert description.locator("script, img, a[href^='javascript']").count() == 0
    shot(page, "pause")

    field = lambda path: page.locator(f"[name='{path}']")  # noqa: E731 - inputs are named by JSON path
    field("approver").fill("Marvin")
    field("amount").fill("-5")
    field("address.zip").fill("75001")
    page.get_by_role("button", name="Resume", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("amount")
    expect(page.locator("#err-amount")).to_contain_text("less than or equal to the minimum of 0")
    expect(page.locator("[id='err-address.city']")).to_contain_text("'city' is a required property")
    expect(field("approver")).to_have_value("Marvin")
    shot(page, "invalid")
    assert get_fr(ns, "approve")["status"]["phase"] == "Paused"

    field("amount").fill("250")
    field("address.city").fill("Paris")
    field("tags.0").fill("q4")
    page.get_by_role("button", name="Resume", exact=True).click()
    page.wait_for_url(f"**/runs/{ns}/approve")
    page.evaluate("() => { window.__marker = 'not reloaded' }")
    assert page.get_by_test_id("phase").inner_text() != "Completed"  # the flow works 3 s after the answer
    expect(page.get_by_test_id("phase")).to_have_text("Completed", timeout=LIVE)
    assert page.evaluate("() => window.__marker") == "not reloaded"
    expect(page.get_by_test_id("result")).to_contain_text('"approver": "Marvin"')
    shot(page, "completed")
    assert not page.csp_errors, page.csp_errors


def test_suspend_then_resume_and_the_page_follows_a_restarted_server(page, ui, ns):
    from playwright.sync_api import expect
    page.goto(f"{ui.url}/runs/{ns}/twice")
    expect(page.get_by_test_id("phase")).to_have_text("Paused")
    page.get_by_role("button", name="Suspend", exact=True).click()
    expect(page.get_by_test_id("phase")).to_have_text("Suspended", timeout=LIVE)
    shot(page, "suspended")
    page.get_by_role("button", name="Resume", exact=True).click()
    # attempt 2 runs the flow again from the top; the first pause returns at once
    expect(page.get_by_test_id("message")).to_contain_text("pause-2", timeout=90_000)
    fr = get_fr(ns, "twice")
    assert fr["status"]["attempt"] == 2 and fr["status"]["phase"] == "Paused"

    # The UI server restarts; the page (not reloaded) reconnects and still follows the run.
    page.evaluate("() => { window.__marker = 'not reloaded' }")
    ui.restart()
    patch_fr(ns, "twice", {"spec": {"state": "Running"}})
    expect(page.get_by_test_id("phase")).to_have_text("Completed", timeout=LIVE)
    assert page.evaluate("() => window.__marker") == "not reloaded"
    assert not page.csp_errors, page.csp_errors


def test_a_person_sends_an_input_to_a_running_flow_in_the_browser(page, ui, ns):
    """Issue 24: the run page's form for a flow waiting in receive_input. A bad value is
    refused with the reason on the form and nothing is stored (no FlowRunInput, no inbox
    entry, the flow still waits); a good one reaches the flow, which then waits for its
    next kind of input, sent through the form too. The posts come from the page itself
    (the browser's own Origin, which ui/guard.py checks: Referrer-Policy same-origin)."""
    from playwright.sync_api import expect
    apply(ns, flowrun_manifest("shop", "testflows.inputs:orders_and_names", parameters={"timeout": 600}))
    wait_for(lambda: ((get_fr(ns, "shop").get("status") or {}).get("receiving") or {}).get("type") == "Order",
             timeout=300, what="the flow waiting in receive_input for an Order")

    def stored() -> tuple[list[str], list[str]]:
        inputs = kubectl("get", "flowruninputs", "-o", "jsonpath={.items[*].metadata.name}", namespace=ns).stdout
        entries = kubectl("get", "flowruninboxes", "-l", "flowrun.io/run=shop", "-o",
                          "jsonpath={.items[*].spec.entries[*].key}", namespace=ns).stdout
        return inputs.split(), entries.split()

    page.goto(f"{ui.url}/runs/{ns}/shop")
    form = page.get_by_test_id("receiving")
    expect(form.get_by_role("heading")).to_have_text("Waiting for input: Order")
    field = lambda path: form.locator(f"[name='{path}']")  # noqa: E731 - inputs are named by JSON path
    field("item").fill("towel")
    field("quantity").fill("2.5")  # a number the browser takes, not an integer
    form.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("quantity")
    expect(page.locator("#err-quantity")).to_be_visible()
    expect(field("item")).to_have_value("towel")
    shot(page, "input-invalid")
    # A value the fields take but the flow's schema does not (an unknown field): refused
    # at the door by the server, with the reason.
    field("quantity").fill("2")
    form.locator("summary").click()
    form.locator("[name='_json']").fill('{"colour": "red"}')
    form.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("colour")
    assert stored() == ([], []), "a refused input is stored nowhere"
    assert get_fr(ns, "shop")["status"]["receiving"]["type"] == "Order", "the flow still waits"

    form = page.get_by_test_id("receiving")
    form.locator("[name='_json']").fill("")
    form.locator("[name='quantity']").fill("2")
    form.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_url(f"**/runs/{ns}/shop")
    # The flow took the Order and now waits for a str on the channel "chat".
    wait_for(lambda: (get_fr(ns, "shop")["status"].get("receiving") or {}).get("keyPrefix") == "chat",
             timeout=120, what="the flow to take the Order and wait for a chat message")
    (entry,) = [e for e in stored()[1]]
    assert entry.startswith("order-auto-")
    page.reload()
    form = page.get_by_test_id("receiving")
    expect(form.get_by_role("heading")).to_have_text("Waiting for input: str")
    form.locator("[name='value']").fill("hello from the browser")
    form.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_test_id("phase")).to_have_text("Completed", timeout=LIVE)
    fr = get_fr(ns, "shop")
    assert fr["status"]["result"] == {"order": ["towel", 2], "chat": "hello from the browser", "ints": []}
    shot(page, "input-sent")
    assert not page.csp_errors, page.csp_errors


def test_a_choice_is_answered_in_one_click_and_a_destructive_one_confirmed_first(page, ui, ns):
    """Issue 25: a pause for a plain Enum shows one button per option and no Resume;
    "reject" asks first (a confirmation step of the server's, no script) and sends
    nothing until confirmed; the flow gets the Enum member and branches on it. A model
    with a choice and a free field: the buttons above the field, Enter in the field
    answers nothing, the click sends both."""
    from playwright.sync_api import expect
    apply(ns, flowrun_manifest("pick", "testflows.ui:choose", parameters={"as_enum": True}))
    apply(ns, flowrun_manifest("review", "testflows.ui:review"))
    wait_phase(ns, "pick", "Paused", timeout=300)
    wait_phase(ns, "review", "Paused", timeout=300)

    page.goto(f"{ui.url}/runs/{ns}/pick")
    choice = page.get_by_test_id("choice")
    expect(choice.get_by_role("button")).to_have_count(2)
    expect(page.get_by_role("button", name="Resume", exact=True)).to_have_count(0)
    shot(page, "choice")
    choice.get_by_role("button", name="reject", exact=True).click()
    confirm = page.get_by_test_id("confirm")
    expect(confirm.get_by_role("heading")).to_contain_text("reject")
    assert get_fr(ns, "pick")["spec"]["state"] == "Paused", "nothing is sent before the confirmation"
    shot(page, "choice-confirm")
    confirm.get_by_role("button", name="Yes, reject", exact=True).click()
    page.wait_for_url(f"**/runs/{ns}/pick")
    expect(page.get_by_test_id("phase")).to_have_text("Completed", timeout=LIVE)
    assert get_fr(ns, "pick")["status"]["result"] == {"decision": "reject", "member": True, "branch": "stopped"}

    page.goto(f"{ui.url}/runs/{ns}/review")
    choice = page.get_by_test_id("choice")
    comment = page.locator("[name='comment']")
    expect(choice.get_by_role("button", name="approve", exact=True)).to_be_enabled()
    assert choice.bounding_box()["y"] < comment.bounding_box()["y"], "the choice is above the form"
    # Enter in a field submits nothing (the form's default button is a disabled one):
    # a submit event would be seen here (and stopped) before the click below.
    page.evaluate("""() => document.querySelector('form.pause-form').addEventListener('submit', e => {
        if (!window.__clicked) { window.__implicit = true; e.preventDefault(); } })""")
    comment.fill("looks right")
    comment.press("Enter")
    assert page.evaluate("() => window.__implicit") is None
    page.evaluate("() => { window.__clicked = true }")
    choice.get_by_role("button", name="approve", exact=True).click()
    page.wait_for_url(f"**/runs/{ns}/review")
    expect(page.get_by_test_id("phase")).to_have_text("Completed", timeout=LIVE)
    assert get_fr(ns, "review")["status"]["result"] == {"verdict": "APPROVE", "member": True,
                                                        "comment": "looks right"}
    assert not page.csp_errors, page.csp_errors


def test_several_waiting_runs_are_answered_at_once_each_on_its_own(page, ui, ns):
    """Issue 25: tick runs waiting for the same input in the list (the ticks survive a
    live redraw), answer them with one click; each run is resumed as the person on its
    own (the API server checks each, each history records it), and the page says which
    run got what: the run whose pause names another approver is refused."""
    from playwright.sync_api import expect
    names = ("bulk-1", "bulk-2", "bulk-theirs")
    apply(ns, flowrun_manifest("bulk-1", "testflows.ui:choose"))
    apply(ns, flowrun_manifest("bulk-2", "testflows.ui:choose"))
    apply(ns, flowrun_manifest("bulk-theirs", "testflows.ui:choose", parameters={"approvers": ["ui-approver"]}))
    for name in names:
        wait_phase(ns, name, "Paused", timeout=300)

    page.goto(f"{ui.url}/?namespace={ns}")
    me = page.get_by_test_id("user").inner_text()
    waiting = page.get_by_test_id("waiting")
    for name in names:
        waiting.get_by_role("checkbox", name=f"select {ns}/{name}").check()
    # A live redraw of the list (a change to one of the runs) keeps the ticks.
    page.evaluate("() => { document.querySelector('[data-testid=waiting]').__old = true }")
    patch_fr(ns, "bulk-1", {"metadata": {"annotations": {"example.com/touched": "yes"}}})
    page.wait_for_function("() => !document.querySelector('[data-testid=waiting]').__old", timeout=LIVE)
    for name in names:
        expect(page.get_by_test_id("waiting").get_by_role("checkbox", name=f"select {ns}/{name}")).to_be_checked()
    shot(page, "bulk-select")
    page.get_by_role("button", name="Answer the selected runs").click()

    expect(page.get_by_role("heading", name="One answer for the 3 runs")).to_be_visible()
    expect(page.get_by_test_id("selected").locator("tr[data-run]")).to_have_count(3)
    page.get_by_test_id("choice").get_by_role("button", name="approve", exact=True).click()
    summary = page.get_by_test_id("summary")
    expect(summary).to_contain_text("2 resumed, 1 refused: bulk-theirs: ")
    expect(summary).to_contain_text(f"only ui-approver may resume pause-1; {me} may not")
    shot(page, "bulk-answered")
    for name in ("bulk-1", "bulk-2"):
        wait_phase(ns, name, "Completed", timeout=120)
        fr = get_fr(ns, name)
        assert fr["status"]["result"] == {"decision": "approve", "member": False, "branch": "shipped"}
        assert [h["by"] for h in fr["status"]["history"] if h["action"] == "resumed"] == [me]
    theirs = get_fr(ns, "bulk-theirs")
    assert theirs["spec"]["state"] == "Paused" and theirs["status"]["phase"] == "Paused"
    assert not [h for h in theirs["status"].get("history") or [] if h["action"] == "resumed"]
    assert not page.csp_errors, page.csp_errors
