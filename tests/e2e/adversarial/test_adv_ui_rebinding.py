"""DNS rebinding and cross-site requests against `flowrun ui` on a laptop (issue 26):
a real `flowrun ui -n NS` process acting with the admin kubeconfig. A page under a
foreign host name that resolves to 127.0.0.1 sends that name in Host: refused, for reads
and changes, even with a valid CSRF cookie and token; `Origin: null` and a missing
Origin are refused; another namespace is refused on /runs/... The run is not cancelled,
and the same cancel from the UI's own origin then works (the refusals were the guard's)."""
from __future__ import annotations

import re

import httpx
import pytest

from cluster import wait_for
from cluster.flowruns import apply, flowrun_manifest, get_fr, wait_phase
from cluster.ui_server import UIServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_forged_host_and_origin_are_refused_and_nothing_is_cancelled(operator, namespace, tmp_path):
    apply(namespace, flowrun_manifest("busy", "testflows.basic:sleeps_until_cancelled"))
    wait_phase(namespace, "busy", "Running", timeout=300)
    server = UIServer(namespace, "kubeconfig", tmp_path).start()
    try:
        port = server.port
        with httpx.Client(base_url=server.url, timeout=30) as c:
            page = c.get(f"/runs/{namespace}/busy")
            assert page.status_code == 200
            token = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
            evil = f"rebind.attacker.example:{port}"
            # Reading under the foreign name: refused, the run's page is not served.
            read = c.get(f"/runs/{namespace}/busy", headers={"Host": evil})
            assert read.status_code == 421 and "busy" not in read.text
            assert c.get("/", headers={"Host": evil}).status_code == 421
            # Cancelling under the foreign name, with a valid cookie and token: refused.
            forged = c.post(f"/runs/{namespace}/busy/cancel", data={"_csrf": token},
                            headers={"Host": evil, "Origin": f"http://{evil}"})
            assert forged.status_code == 421
            # Right host, but a sandboxed page (Origin: null), no Origin, or another site's.
            for origin in ("null", None, "http://attacker.example"):
                headers = {"Origin": origin} if origin else {}
                r = c.post(f"/runs/{namespace}/busy/cancel", data={"_csrf": token}, headers=headers)
                assert r.status_code == 403, (origin, r.status_code)
            # A namespace this UI does not serve, on a run page.
            assert c.get("/runs/kube-system/anything").status_code == 403
            fr = get_fr(namespace, "busy")
            assert fr["spec"].get("state", "Running") == "Running" and fr["status"]["phase"] == "Running"
            # The same cancel from the UI's own origin goes through: the refusals were the guard's.
            ok = c.post(f"/runs/{namespace}/busy/cancel", data={"_csrf": token},
                        headers={"Origin": server.url})
            assert ok.status_code == 303, ok.text
        wait_for(lambda: get_fr(namespace, "busy")["spec"].get("state") == "Cancelled", timeout=30,
                 what="the legitimate cancel")
    finally:
        server.stop()
