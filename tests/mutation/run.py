"""`make mutation`: how many one-line bugs in contract/ the fast unit tests catch.

mutmut (3.x, from PyPI) changes one thing at a time in the rules (a `>` into `>=`, a
constant, a condition dropped, a return value replaced) and runs the unit tests that
reach the changed function; a mutant the tests still pass is a "survivor": a bug
nobody would notice. The score is killed / (killed + survived) over contract/.

mutmut imports the mutated code from `mutants/src/`, so the package is staged in
.out/mutation/work with the src layout it expects (the repository keeps it in
operator/, see pyproject.toml): src/flowrun is a copy of operator/flowrun, tests/ a copy
of tests/ (without e2e/). Nothing in the tree itself is changed.

Usage (the Makefile passes its variables through):
    python tests/mutation/run.py [--modules "contract/approvals.py contract/lifecycle/*"]
                                 [--examples 100] [--jobs 2]
Writes .out/mutation/report.md (score per module and in total, every survivor with its
diff, the run time) and prints mutmut's progress as it goes. docs/testing.md says when
to run it and lists the survivors known to be equivalent.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / ".out" / "mutation"
WORK = OUT / "work"
PACKAGE = ROOT / "operator" / "flowrun"

# The unit tests that decide on contract/ rules: its own tables, the webhook's and the
# reconciler's, the SDK's and the interleavings (at FLOWRUN_INTERLEAVINGS examples).
TESTS = ["tests/unit/contract", "tests/unit/controller", "tests/unit/sdk", "tests/unit/runner",
         "tests/unit/cli"]

PYPROJECT = """\
[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = "-ra --strict-markers --import-mode=importlib -p no:cacheprovider"
markers = ["e2e: needs a real Kubernetes cluster"]
timeout = 600

[tool.mutmut]
source_paths = ["src/flowrun"]
only_mutate = {only}
pytest_add_cli_args = ["-m", "not e2e", "-x", "-q", "--hypothesis-seed=0"]
pytest_add_cli_args_test_selection = {tests}
use_git_change_detection = false
also_copy = ["examples", "charts", "crds", "runner-image"]
"""

STATUS_KILLED = {"killed", "timeout", "caught by type check", "segfault"}


def stage(modules: list[str], tests: list[str]) -> None:
    if WORK.exists():
        shutil.rmtree(WORK)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    shutil.copytree(PACKAGE, WORK / "src" / "flowrun", ignore=ignore)
    shutil.copytree(ROOT / "tests", WORK / "tests",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "e2e", "mutation", ".hypothesis"))
    for extra in ("examples", "charts", "crds", "runner-image"):  # some tests read them
        shutil.copytree(ROOT / extra, WORK / extra, ignore=ignore)
    only = [f"src/flowrun/{m}" for m in modules]
    (WORK / "pyproject.toml").write_text(PYPROJECT.format(only=json.dumps(only), tests=json.dumps(tests)))


def module_of(mutant: str) -> str:
    """flowrun.contract.approvals.x_count__mutmut_3 -> contract/approvals.py"""
    match = re.match(r"^(.*?)\.x(?:_|ǁ)", mutant)
    dotted = match.group(1) if match else mutant.rsplit(".", 1)[0]
    return dotted.removeprefix("flowrun.").replace(".", "/") + ".py"


def results() -> dict[str, str]:
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=WORK,
                         capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and name:
            found[name] = status
    return found


DIFFS = """
import sys
from mutmut.mutation.diff_apply import find_mutant, get_diff_for_mutant
for name in sys.stdin.read().split():
    try:
        text = get_diff_for_mutant(name, path=find_mutant(name).path)
    except Exception as exc:  # noqa: BLE001 - a diff is a courtesy of the report
        text = f"(no diff: {exc})"
    print(f"\\0{name}\\0{text}", end="")
"""


def diffs(mutants: list[str]) -> dict[str, str]:
    """Every survivor's diff, from one process (mutmut show is one process a mutant)."""
    if not mutants:
        return {}
    out = subprocess.run([sys.executable, "-c", DIFFS], cwd=WORK, input=" ".join(mutants),
                         capture_output=True, text=True).stdout
    parts = out.split("\0")[1:]
    return {parts[i]: parts[i + 1].strip() for i in range(0, len(parts) - 1, 2)}


def report(found: dict[str, str], seconds: float, args: argparse.Namespace, command: str) -> str:
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for name, status in found.items():
        by_module[module_of(name)]["killed" if status in STATUS_KILLED else status] += 1
    lines = ["# Mutation testing of contract/", "",
             f"- command: `{command}`",
             f"- modules: {' '.join(args.modules)}",
             f"- tests: {' '.join(args.tests)} (FLOWRUN_INTERLEAVINGS={args.examples}, hypothesis seed 0)",
             f"- run time: {seconds / 60:.1f} min on {os.cpu_count()} cores ({args.jobs} mutmut workers)", "",
             "| module | mutants | killed | survived | no tests | other | score |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    total: Counter[str] = Counter()
    for module in sorted(by_module):
        counts = by_module[module]
        total.update(counts)
        lines.append(row(module, counts))
    lines.append(row("**total**", total))
    lines += ["", "Score: killed (timeouts included) / all mutants that ran, `no tests` counted as "
              "survivors.", ""]
    survivors = sorted(n for n, s in found.items() if s not in STATUS_KILLED)
    lines.append(f"## Survivors ({len(survivors)})")
    lines.append("")
    lines.append("Each one is a change of the rules that no unit test notices: kill it with a test, or "
                 "list it in docs/testing.md with why it is equivalent.")
    shown = diffs(survivors)
    for name in survivors:
        lines += ["", f"### {name} ({found[name]})", "", "```diff", shown.get(name, "(no diff)"), "```"]
    return "\n".join(lines) + "\n"


def row(module: str, counts: Counter[str]) -> str:
    n = sum(counts.values())
    killed = counts["killed"]
    survived = counts["survived"]
    no_tests = counts["no tests"]
    other = n - killed - survived - no_tests
    scored = n - counts["skipped"] - counts["not checked"]
    score = f"{100 * killed / scored:.1f} %" if scored else "-"
    return f"| {module} | {n} | {killed} | {survived} | {no_tests} | {other} | {score} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", default="contract/*",
                        help="space-separated paths under flowrun/ to mutate (globs allowed)")
    parser.add_argument("--tests", default=" ".join(TESTS), help="space-separated test paths")
    parser.add_argument("--examples", type=int, default=100, help="FLOWRUN_INTERLEAVINGS for the run")
    parser.add_argument("--jobs", type=int, default=2, help="mutmut's worker processes")
    parser.add_argument("--report-only", action="store_true",
                        help="write the report again from the last run (after `mutmut run NAME` in the work dir)")
    args = parser.parse_args()
    args.modules = args.modules.split()
    args.tests = args.tests.split()
    command = (f"make mutation MODULES='{' '.join(args.modules)}' MUTATION_EXAMPLES={args.examples} "
               f"MUTATION_JOBS={args.jobs}")
    started = time.monotonic()
    returncode = 0
    if not args.report_only:
        stage(args.modules, args.tests)
        print(f"==> mutmut over {' '.join(args.modules)} (staged in {WORK.relative_to(ROOT)})", flush=True)
        env = {**os.environ, "FLOWRUN_INTERLEAVINGS": str(args.examples), "PYTHONDONTWRITEBYTECODE": "1"}
        returncode = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(args.jobs)],
                                    cwd=WORK, env=env).returncode
    seconds = time.monotonic() - started
    found = results()
    if not found:
        print(f"mutmut produced no mutants (exit {returncode}): see its output above", file=sys.stderr)
        return 1
    text = report(found, seconds, args, command)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "report.md").write_text(text)
    table_end = text.index("## Survivors")
    print(text[:table_end])
    print(f"==> {OUT.relative_to(ROOT)}/report.md ({seconds / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
