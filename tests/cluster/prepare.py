"""Make the cluster and the images ready before the test workers start, with progress.

`make test` runs pytest with several workers (pytest-xdist). Their output is not shown
live, and each would otherwise start the cluster or build the images on its own (under
`cluster.machine_lock`, so one after the other). This script does that once, in the open:
progress goes to stderr, and the last line on stdout is the admin kubeconfig's path.

    python tests/cluster/prepare.py            # -> /var/lib/flowrun-cluster/.../admin.conf
    python tests/cluster/prepare.py --finish   # after the suite: the cluster-wide operator
                                               # goes again if the suite installed it
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cluster  # noqa: E402
from cluster.harness import build_test_flows_image, deploy_cluster_wide, release_cluster_wide  # noqa: E402
from cluster.kwok import kwok_binary  # noqa: E402


def main() -> None:
    if sys.argv[1:] == ["--finish"]:  # after the suite: `make test` calls this whatever its result
        release_cluster_wide()
        return
    path = cluster.ensure_cluster()
    cluster.ensure_base_image()
    build_test_flows_image()  # the runner and operator images first (make images)
    kwok_binary()  # the fake nodes of the scale test (built from Go modules once)
    # The chart's operator, cluster-wide, as `make deploy` installs it: the suite must pass
    # beside it (each test session is an operator instance of its own).
    deploy_cluster_wide()
    print(path)


if __name__ == "__main__":
    main()
