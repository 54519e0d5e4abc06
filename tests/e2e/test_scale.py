"""The scale benchmark's set-up, small enough for every `make test` (bench/scale.py runs
it with thousands): 50 FlowRuns through the session's real operator, their pods played
by kwok on a fake node and their runners by the fake runner (tests/cluster/kwok.py).
Every run must complete with exactly one Job, and the operator must stay cheap: its own
count of API requests (flowrun_api_requests_total) per run stays bounded. The runs share
one claim (spec.cache.claimName), as docs/operations.md advises at scale: per-run claims
would be bound one by one by the cluster's host-path provisioner (about 0.5 per second)."""
from __future__ import annotations

import json
import os
import secrets
from collections import Counter

import pytest
import yaml

from cluster import kubectl, wait_for
from cluster.flowruns import flowrun_manifest
from cluster.kwok import FakeRunners, KwokNodes, operator_requests, run_template
from flowrun.contract.instances import labelled

pytestmark = pytest.mark.e2e

RUNS = 50


def test_fifty_runs_complete_through_kwok_with_one_job_each(operator, namespace, tmp_path):
    node_id = f"e2e-{secrets.token_hex(3)}"
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "shared-cache"},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    kubectl("apply", "-f", "-", namespace=namespace, input=yaml.safe_dump(claim))
    with KwokNodes(node_id, 1, tmp_path / "kwok"), FakeRunners(namespace) as runners:
        before = operator_requests(operator.metrics_url)
        runs = [labelled(flowrun_manifest(f"k{i:03d}", "examples.greeting:greet_user", template=run_template(node_id),
                                          cache={"claimName": "shared-cache"}), os.environ["FLOWRUN_INSTANCE"])
                for i in range(RUNS)]  # the session operator's instance (tests/cluster/pytest_plugin.py)
        # Created in parallel, as a burst of clients would (one `kubectl apply` of 50 runs
        # goes one by one, each through the webhook: over a minute on a busy machine).
        from concurrent.futures import ThreadPoolExecutor

        from flowrun.kube import Kube
        api = Kube()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda run: api.create_flowrun(namespace, run), runs))

        seen: dict = {}

        def all_completed():
            items = json.loads(kubectl("get", "fr", "-o", "json", namespace=namespace).stdout)["items"]
            phases = seen["phases"] = Counter((i.get("status") or {}).get("phase") for i in items)
            assert not runners.errors, runners.errors[:5]
            return items if phases.get("Completed") == RUNS else None
        try:
            items = wait_for(all_completed, timeout=180, what=f"{RUNS} runs Completed through kwok")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; phases: {dict(seen.get('phases') or {})}") from None
        after = operator_requests(operator.metrics_url)

    assert all(i["status"]["attempt"] == 1 for i in items), [i["metadata"]["name"] for i in items
                                                             if i["status"]["attempt"] != 1]
    jobs = json.loads(kubectl("get", "jobs", "-l", "flowrun.io/run", "-o", "json", namespace=namespace).stdout)["items"]
    per_run = Counter(j["metadata"]["labels"]["flowrun.io/run"] for j in jobs)
    assert per_run == Counter({f"k{i:03d}": 1 for i in range(RUNS)})
    # The operator's own requests for these runs (the session's other runs are finished
    # and quiet): writes and the objects it must create, not a GET and a LIST per event.
    spent = after - before
    creates = sum(v for (src, verb, res), v in spent.items()
                  if verb == "create" and res in ("jobs", "serviceaccounts", "roles", "rolebindings"))
    others = sum(v for (src, verb, res), v in spent.items() if verb != "watch") - creates
    assert creates >= 4 * RUNS
    assert others / RUNS <= 15, sorted(spent.items())
