"""`python -m flowrun.controller`: run the operator (see --help)."""
from __future__ import annotations

import argparse
import logging
import os
import sys

import kopf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flowrun.controller",
        description="Run the flowrun operator: reconcile FlowRun resources into Jobs, "
                    "enforce pause/suspend deadlines and serve the admission webhook.",
        epilog="Settings come from the environment (FLOWRUN_RUNNER_IMAGE, "
               "FLOWRUN_DEFAULT_TIMEOUT, ...): see docs/operations.md.")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", default=[],
                       help="watch only this namespace (repeatable)")
    scope.add_argument("-A", "--all-namespaces", action="store_true",
                       help="watch the whole cluster (the default)")
    parser.add_argument("--instance", default=None,
                        help="handle only FlowRuns labelled flowrun.io/instance=ID (default: "
                             "FLOWRUN_INSTANCE; none: only FlowRuns without that label)")
    parser.add_argument("--liveness", default=None,
                        help="serve kopf's liveness probe, e.g. http://0.0.0.0:8080/healthz")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.instance is not None:
        os.environ["FLOWRUN_INSTANCE"] = args.instance  # read by Settings.from_env below
    from . import handlers  # noqa: F401  (registers the handlers)
    kopf.run(
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=args.liveness,
        # kopf's peering would freeze rather than elect: replicas elect a leader with a
        # Lease of their own (controller/leader.py).
        standalone=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
