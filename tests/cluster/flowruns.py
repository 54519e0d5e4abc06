"""kubectl-level helpers for tests and benchmarks that drive FlowRuns as a user would."""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import yaml

from . import _kubectl_binary, kubectl, wait_for


def flowrun_manifest(name: str, flow: str, **spec) -> dict:
    return {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun",
            "metadata": {"name": name}, "spec": {"flow": flow, **spec}}


INSTANCE_KINDS = ("FlowRun", "FlowRunNotifier")  # what an operator instance handles


def labelled(manifest: dict | str) -> str:
    """YAML of `manifest` (a dict, or YAML/JSON text of one or more documents, a List
    too) with every FlowRun and FlowRunNotifier labelled for this test session's operator instance
    (FLOWRUN_INSTANCE, set by the e2e fixtures): the session's operator handles only
    those, and an operator elsewhere in the cluster never touches them."""
    from flowrun.contract.instances import labelled as label
    instance = os.environ.get("FLOWRUN_INSTANCE", "")
    docs = list(yaml.safe_load_all(manifest)) if isinstance(manifest, str) else [manifest]

    def one(doc):
        if isinstance(doc, dict) and doc.get("kind") == "List":
            return {**doc, "items": [one(item) for item in doc.get("items") or []]}
        return label(doc, instance) if isinstance(doc, dict) and doc.get("kind") in INSTANCE_KINDS else doc
    return yaml.safe_dump_all([one(d) for d in docs if d is not None])


def apply(namespace: str, manifest: dict | str, check: bool = True) -> subprocess.CompletedProcess:
    return kubectl("apply", "-f", "-", namespace=namespace, input=labelled(manifest), check=check)


def get_fr(namespace: str, name: str) -> dict:
    return json.loads(kubectl("get", "fr", name, "-o", "json", namespace=namespace).stdout)


def wait_phase(namespace: str, name: str, *phases: str, timeout: float = 120) -> dict:
    last = {}

    def check():
        nonlocal last
        last = get_fr(namespace, name)
        return last if (last.get("status") or {}).get("phase") in phases else None
    try:
        return wait_for(check, timeout=timeout, interval=0.3,
                        what=f"FlowRun {namespace}/{name} to reach {' or '.join(phases)}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nlast status: {json.dumps(last.get('status'), indent=1)[:3000]}") from None


def patch_fr(namespace: str, name: str, patch: dict, check: bool = True) -> subprocess.CompletedProcess:
    return kubectl("patch", "fr", name, "--type", "merge", "-p", json.dumps(patch),
                   namespace=namespace, check=check)


def names(kind: str, namespace: str, selector: str | None = None) -> list[str]:
    args = ["get", kind, "-o", "jsonpath={.items[*].metadata.name}"]
    if selector:
        args += ["-l", selector]
    return kubectl(*args, namespace=namespace).stdout.split()


class JobRecorder:
    """Records every Job ever created in a namespace (a kubectl watch in a thread), to
    prove "exactly one Job per attempt" across operator crashes."""

    def __init__(self, namespace: str):
        self.seen: dict[str, set[str]] = {}
        self.proc = subprocess.Popen(
            [_kubectl_binary(), "get", "jobs", "-n", namespace, "--watch", "-o",
             "jsonpath={.metadata.name} {.metadata.uid}{\"\\n\"}"],
            stdout=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        time.sleep(0.5)

    def _read(self) -> None:
        for line in self.proc.stdout:
            parts = line.split()
            if len(parts) == 2:
                self.seen.setdefault(parts[0], set()).add(parts[1])

    def close(self) -> dict[str, set[str]]:
        self.proc.terminate()
        self.proc.wait()
        return self.seen
