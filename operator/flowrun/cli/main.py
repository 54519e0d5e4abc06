"""`flowrun` / `kubectl flowrun`: start, inspect, resume and suspend FlowRuns."""
from __future__ import annotations

import argparse
import sys

from .. import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowrun",
        description="Run Python flows on Kubernetes as FlowRun resources, and pause, "
                    "suspend and resume them.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  flowrun resume joke --input name=Marvin\n  flowrun version")
    parser.add_argument("--version", action="version", version=f"flowrun {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("version", help="print the version")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "version":
        print(f"flowrun {__version__}")
        return 0
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
