"""Benchmark: failover between two replicas of one operator instance.

Two operator processes on this machine share one instance id and one Lease (as the
chart's two replicas do). Each round, while runs are being created, paused and resumed,
the leader is SIGKILLed; the benchmark then, at once, resumes a run that was created
suspended (it needs a new Job: only a leader creates one) and creates a fresh run. It
measures, from the kill:

- lease: until the standby holds the Lease;
- acts: until the standby's first act shows (the resumed run's Job exists);
- new run: until the run created during the failover has its Job.

It also proves what must not happen: no attempt of any run got two Jobs (a kubectl watch
records every Job created), and no pause deadline fired twice (a run per round pauses
with a deadline that falls around the kill; its history must say `timed-out` once).
The killed process is restarted as the new standby before the next round.

Run: .venv/bin/python bench/failover.py [--kills 5] [--lease 8 --renew 5 --retry 1]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from common import Setup, print_table

from cluster import kubectl, wait_for
from cluster.flowruns import JobRecorder, apply, flowrun_manifest, get_fr, names, patch_fr, wait_phase
from cluster.harness import OperatorProcess

FLOW_PAUSE = "benchflows.pauses:pause_once"
FLOW_QUICK = "benchflows.starts:quick"
# Every run on one shared claim (spec.cache.claimName): this cluster's host-path
# provisioner binds about one claim every two seconds, and on a loaded machine a run's
# own claim once stayed unbound for 3 minutes, which measured the provisioner, not failover.
CLAIM = "failover-cache"


def bench_run(name: str, flow: str, **spec) -> dict:
    return flowrun_manifest(name, flow, cache={"claimName": CLAIM}, **spec)


def holder(ns: str) -> str:
    out = kubectl("get", "lease", "-o", "json", namespace=ns, check=False).stdout or "{}"
    return next((l["spec"].get("holderIdentity") or "" for l in json.loads(out).get("items", [])), "")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--lease", type=float, default=8.0)
    ap.add_argument("--renew", type=float, default=5.0)
    ap.add_argument("--retry", type=float, default=1.0)
    args = ap.parse_args()
    lease_s, acts_s, new_s = [], [], []
    with Setup() as s:
        ns = s.namespace
        instance = f"bench-{os.getpid()}"
        os.environ["FLOWRUN_INSTANCE"] = instance  # cluster.flowruns.apply labels runs with it
        s.operator.stop()  # Setup's own: replaced by the two replicas of the instance
        kubectl("apply", "-f", "-", namespace=ns, input=json.dumps({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": CLAIM},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}))
        replicas = {}
        for name in ("a", "b"):
            replicas[name] = OperatorProcess(Path(s.tmp) / f"operator-{name}.log", s.image, namespaces=ns,
                                             FLOWRUN_INSTANCE=instance, FLOWRUN_LEASE_NAMESPACE=ns,
                                             FLOWRUN_LEASE_IDENTITY=name,
                                             FLOWRUN_LEASE_DURATION=str(args.lease),
                                             FLOWRUN_LEASE_RENEW_DEADLINE=str(args.renew),
                                             FLOWRUN_LEASE_RETRY_PERIOD=str(args.retry))
            replicas[name].start()
        jobs = JobRecorder(ns)
        deadlines = []
        try:
            for i in range(args.kills):
                leader = wait_for(lambda: holder(ns), timeout=60, what="a leader")
                standby = "b" if leader == "a" else "a"
                # in flight: a run created suspended (resumed after the kill), a run whose
                # pause deadline falls around the kill, and a paused run resumed after it
                apply(ns, bench_run(f"s{i}", FLOW_QUICK, state="Suspended"))
                apply(ns, bench_run(f"p{i}", FLOW_PAUSE, parameters={"timeout": 600}))
                wait_phase(ns, f"p{i}", "Paused", timeout=180)
                apply(ns, bench_run(f"d{i}", FLOW_PAUSE, parameters={"timeout": 4}))
                wait_phase(ns, f"d{i}", "Paused", timeout=180)
                deadlines.append(f"d{i}")
                replicas[leader].kill()
                killed = time.monotonic()
                patch_fr(ns, f"s{i}", {"spec": {"state": "Running"}})
                patch_fr(ns, f"p{i}", {"spec": {"state": "Running"}})
                apply(ns, bench_run(f"n{i}", FLOW_QUICK))
                got = {}
                while len(got) < 3 and time.monotonic() - killed < 120:
                    now = time.monotonic() - killed
                    if "lease" not in got and holder(ns) == standby:
                        got["lease"] = now
                    if "acts" not in got and names("jobs", ns, f"flowrun.io/run=s{i}"):
                        got["acts"] = now
                    if "new" not in got and names("jobs", ns, f"flowrun.io/run=n{i}"):
                        got["new"] = now
                    time.sleep(0.1)
                lease_s.append(got.get("lease", float("nan")))
                acts_s.append(got.get("acts", float("nan")))
                new_s.append(got.get("new", float("nan")))
                print(f"round {i}: {leader} killed; {standby} leads after {got.get('lease', -1):.1f} s, "
                      f"acts after {got.get('acts', -1):.1f} s, new run's Job after {got.get('new', -1):.1f} s",
                      flush=True)
                replicas[leader].start()  # back as the standby
                for run in (f"s{i}", f"p{i}", f"n{i}"):
                    wait_phase(ns, run, "Completed", "Failed", timeout=180)
                wait_phase(ns, f"d{i}", "Failed", timeout=60)
            fired = {run: sum(1 for h in (get_fr(ns, run).get("status") or {}).get("history", [])
                              if h.get("action") == "timed-out") for run in deadlines}
        finally:
            seen = jobs.close()
            for op in replicas.values():
                op.stop()
            s.operator = replicas["a"]  # Setup's exit deletes the runs while one runs
            replicas["a"].start()
    doubled = {job: uids for job, uids in seen.items() if len(uids) > 1}
    print_table(f"failover: {args.kills} leader kills (lease {args.lease} s, renew deadline {args.renew} s, "
                f"retry {args.retry} s)", [
                    ("kill -> standby holds the Lease", lease_s, "s", "(information)"),
                    ("kill -> standby's first act (resumed run's Job)", acts_s, "s", "< 15 s"),
                    ("kill -> Job of a run created meanwhile", new_s, "s", "< 15 s"),
                ])
    print(f"\nJobs recorded: {len(seen)}; attempts with two Jobs: {doubled or 'none'}")
    print(f"deadline fired per run (must be 1 each): {fired}")


if __name__ == "__main__":
    main()
