"""A paused runner survives a real token rotation (issue 11): the run's pod gets a
projected ServiceAccount token that lives 10 minutes (the shortest the API server
issues), pauses, and is resumed after that token has expired; the resume must arrive.

Not a test (it takes over 11 minutes): tests/unit/kube/test_token_rotation.py checks the
same logic against a stub in seconds. Usage:

    .venv/bin/python bench/token_rotation.py            # [--wait 660]

The template reaches beyond the allow-list (a projected token instead of the automounted
one), so it needs the webhook's signature; this script's operator runs without a webhook,
so the script signs as the webhook would, with a key it gives the operator.
"""
from __future__ import annotations

import argparse
import json
import secrets
import time
from pathlib import Path

from common import Setup, kubectl, print_table

from flowrun.contract.template_policy import ANNOTATION_TEMPLATE_APPROVAL, sign

SA = "/var/run/secrets/kubernetes.io/serviceaccount"
TEMPLATE = {"spec": {
    "automountServiceAccountToken": False,
    "volumes": [{"name": "short-token", "projected": {"sources": [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 600}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
    ]}}],
    "containers": [{"name": "flow", "volumeMounts": [{"name": "short-token", "mountPath": SA, "readOnly": True}]}],
}}


def phase(ns: str, name: str) -> str:
    out = kubectl("get", "fr", name, "-o", "jsonpath={.status.phase}", namespace=ns, check=False)
    return out.stdout.strip()


def wait_phase(ns: str, name: str, want: set[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = phase(ns, name)
        if got in want:
            return got
        time.sleep(1)
    raise SystemExit(f"{name} did not reach {want} in {timeout:g} s (last: {phase(ns, name)!r})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wait", type=float, default=660, help="seconds paused before the resume (> 600)")
    args = parser.parse_args()
    key_dir = Path(__import__("tempfile").mkdtemp(prefix="flowrun-approval-"))
    key = secrets.token_bytes(32)
    (key_dir / "key").write_bytes(key)
    import os
    os.environ["FLOWRUN_APPROVAL_KEY_FILE"] = str(key_dir / "key")  # inherited by Setup's operator
    with Setup() as s:
        ns, name = s.namespace, "rotate"
        body = {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun",
                "metadata": {"name": name, "annotations": {ANNOTATION_TEMPLATE_APPROVAL: sign(key, ns, name, TEMPLATE)}},
                "spec": {"flow": "benchflows.pauses:pause_once", "parameters": {"timeout": int(args.wait) + 600},
                         "template": TEMPLATE}}
        kubectl("create", "-f", "-", namespace=ns, input=json.dumps(body))
        wait_phase(ns, name, {"Paused"}, 600)
        print(f"paused; waiting {args.wait:g} s for the 600 s token to be rotated and to expire", flush=True)
        time.sleep(args.wait)  # the point of this script: real time passing
        t0 = time.monotonic()
        kubectl("patch", "fr", name, "--type", "merge", "-p", '{"spec":{"state":"Running"}}', namespace=ns)
        got = wait_phase(ns, name, {"Completed", "Failed"}, 300)
        latency = time.monotonic() - t0
        if got != "Completed":
            raise SystemExit(f"the run ended {got}: " + kubectl("get", "fr", name, "-o", "yaml", namespace=ns).stdout)
        print_table("A paused runner resumed after its token expired",
                    [("resume patch -> Completed after rotation", [latency], "s", "Completed at all")])


if __name__ == "__main__":
    main()
