"""The web UI as a process of the test (so a test can restart it), and the people of the
UI tests: users with limited Roles, reached through the UI by impersonation."""
from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from cluster import kubectl, wait_for
from cluster.harness import REPO, free_port

#: user -> (groups, the verbs on flowruns their Role grants; None: no Role at all)
PEOPLE = {
    "ui-approver": (["ui-approvers"], "get,list,watch,patch,resume,suspend,pause,cancel"),
    "ui-viewer": (["ui-viewers"], "get,list,watch"),
    "ui-nobody": (["ui-nobodies"], None),
}


def grant_people(namespace: str) -> None:
    """Roles for the people: FlowRuns with their verbs, and reading pods, logs, Events."""
    for user, (groups, verbs) in PEOPLE.items():
        if verbs is None:
            continue
        kubectl("create", "role", user, f"--verb={verbs}", "--resource=flowruns.flowrun.io", namespace=namespace)
        kubectl("create", "rolebinding", user, f"--role={user}", f"--user={user}", namespace=namespace)
    kubectl("create", "role", "ui-read", "--verb=get,list,watch", "--resource=pods,pods/log,events",
            namespace=namespace)
    kubectl("create", "rolebinding", "ui-read", "--role=ui-read", "--user=ui-approver", "--user=ui-viewer",
            namespace=namespace)
    wait_for(lambda: kubectl("auth", "can-i", "patch", "flowruns.flowrun.io", "--as=ui-approver",
                             namespace=namespace, check=False).returncode == 0,
             timeout=30, what="the people's rights to take effect")


class UIServer:
    """`flowrun ui -n NS` (mode "kubeconfig": the admin kubeconfig's identity), or the
    in-cluster entry point `python -m flowrun.ui` in "proxy" or "token" mode with the admin
    kubeconfig as its own credentials."""

    def __init__(self, namespace: str, mode: str = "kubeconfig", log_dir: Path | None = None):
        self.namespace, self.mode = namespace, mode
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = (log_dir or Path("/tmp")) / f"ui-{mode}-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self.proxy_secret = secrets.token_urlsafe(24)

    def start(self) -> "UIServer":
        env = {**os.environ, "FLOWRUN_UI_LOG_LEVEL": "WARNING"}
        if self.mode == "kubeconfig":
            cmd = [str(Path(sys.executable).parent / "flowrun"), "ui", "-n", self.namespace,
                   "--port", str(self.port)]
        else:
            cmd = [sys.executable, "-m", "flowrun.ui"]
            env.update(FLOWRUN_UI_AUTH=self.mode, FLOWRUN_UI_ADDRESS="127.0.0.1",
                       FLOWRUN_UI_PORT=str(self.port), FLOWRUN_UI_NAMESPACES=self.namespace,
                       FLOWRUN_UI_INSECURE_COOKIES="true")
            if self.mode == "proxy":
                # the proxy proves itself with a shared secret (ui/proxy_auth.py)
                secret_file = self.log_path.with_suffix(".proxy-secret")
                secret_file.write_text(self.proxy_secret)
                secret_file.chmod(0o600)
                env.update(FLOWRUN_UI_PROXY_SECRET_FILE=str(secret_file),
                           FLOWRUN_UI_IMPERSONATE_GROUPS=",".join(g for gs, _ in PEOPLE.values() for g in gs))
        self._log = open(self.log_path, "a")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log, text=True, env=env,
                                     cwd=REPO, start_new_session=True)
        if self.mode == "kubeconfig":
            line = self.proc.stdout.readline()  # "flowrun UI for namespace NS: http://127.0.0.1:PORT/"
            assert re.search(rf"http://127\.0\.0\.1:{self.port}/$", line.strip()), line
        wait_for(self._healthy, timeout=30, what=f"the UI on {self.url}")
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, self.log_path.read_text()
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def headers(self, user: str) -> dict[str, str]:
        """What an authenticating proxy in front of the UI would send for `user`."""
        groups = PEOPLE[user][0]
        return {"X-Forwarded-User": user, "X-Forwarded-Groups": ",".join(groups),
                "X-Flowrun-Proxy-Secret": self.proxy_secret}
