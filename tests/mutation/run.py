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
                                 [--examples 50] [--jobs 2] [--work .out/mutation/work]
    python tests/mutation/run.py --report-only --work ".out/mutation/a .out/mutation/b"
    python tests/mutation/run.py --survivors --work ".out/mutation/a"   # after new tests
Writes .out/mutation/report.md (score per module and in total, every survivor with its
diff, the run time; the runs of several work directories merged) and prints mutmut's
progress as it goes. docs/testing.md says when
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
WORK = OUT / "work"  # --work names another (two runs side by side, or runs merged in one report)
PACKAGE = ROOT / "operator" / "flowrun"

# The fast unit tests that decide on contract/ rules: its own tables, the webhook's and the
# reconciler's, the SDK's, the runner's, the CLI's and the UI's (which test the plans of
# lifecycle/people.py), and the interleavings (at FLOWRUN_INTERLEAVINGS examples).
TESTS = ["tests/unit/contract", "tests/unit/controller", "tests/unit/sdk", "tests/unit/runner",
         "tests/unit/cli", "tests/unit/ui"]

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


def stage(modules: list[str], tests: list[str], work: Path) -> None:
    if work.exists():
        shutil.rmtree(work)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    shutil.copytree(PACKAGE, work / "src" / "flowrun", ignore=ignore)
    copy_tests(work)
    for extra in ("examples", "charts", "crds", "runner-image"):  # some tests read them
        shutil.copytree(ROOT / extra, work / extra, ignore=ignore)
    only = [f"src/flowrun/{m}" for m in modules]
    (work / "pyproject.toml").write_text(PYPROJECT.format(only=json.dumps(only), tests=json.dumps(tests)))


def copy_tests(work: Path) -> None:
    """The tree's tests/ (without e2e/) into the work directory, replacing what is there."""
    if (work / "tests").exists():
        shutil.rmtree(work / "tests")
    shutil.copytree(ROOT / "tests", work / "tests",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "e2e", "mutation", ".hypothesis"))
    # checks the UI's vendored files against operator/flowrun/ui/static, which the src layout
    # moves; it reaches no rule of contract/
    (work / "tests" / "unit" / "ui" / "test_static.py").unlink(missing_ok=True)


def rerun_survivors(work: Path, jobs: int, examples: int) -> None:
    """After new tests: check again only the mutants that survived in `work`, with the
    tree's source and tests as they are now (mutmut keeps the results of the functions
    that did not change and forgets those of the ones that did: those are then `not
    checked`). Recorded in run.json."""
    names = sorted(n for n, status in results(work).items() if status in ("survived", "no tests"))
    if not names:
        print(f"==> no survivors in {work.relative_to(ROOT)}")
        return
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    shutil.rmtree(work / "src" / "flowrun")
    shutil.copytree(PACKAGE, work / "src" / "flowrun", ignore=ignore)
    copy_tests(work)
    # mutmut regenerates mutants/ only for changed .py files: bring the package's other
    # files (the UI's templates and static files) and the copied directories up to date too
    staged = work / "mutants" / "src" / "flowrun"
    if staged.exists():
        for source in PACKAGE.rglob("*"):
            if source.is_file() and source.suffix not in (".py", ".pyc") and "__pycache__" not in source.parts:
                target = staged / source.relative_to(PACKAGE)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    for extra in ("examples", "charts", "crds", "runner-image"):  # some tests read them (also_copy)
        for where in (work, work / "mutants"):
            if where.exists():
                shutil.rmtree(where / extra, ignore_errors=True)
                shutil.copytree(ROOT / extra, where / extra, ignore=ignore)
    print(f"==> {len(names)} survivors of {work.relative_to(ROOT)} again, with the tests as they are now", flush=True)
    env = {**os.environ, "FLOWRUN_INTERLEAVINGS": str(examples), "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs), *names], cwd=work, env=env,
                   stdout=subprocess.DEVNULL)
    info = json.loads((work / "run.json").read_text()) if (work / "run.json").exists() else {}
    info.setdefault("reruns", []).append({
        "command": f"make mutation-survivors MUTATION_WORK='{work.relative_to(ROOT)}' MUTATION_EXAMPLES={examples} "
                   f"MUTATION_JOBS={jobs}",
        "mutants": len(names), "seconds": round(time.monotonic() - started),
        "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
    (work / "run.json").write_text(json.dumps(info))


def module_of(mutant: str) -> str:
    """flowrun.contract.approvals.x_count__mutmut_3 -> contract/approvals.py"""
    match = re.match(r"^(.*?)\.x(?:_|ǁ)", mutant)
    dotted = match.group(1) if match else mutant.rsplit(".", 1)[0]
    return dotted.removeprefix("flowrun.").replace(".", "/") + ".py"


def results(work: Path) -> dict[str, str]:
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=work,
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


def diffs(mutants: list[str], work: Path) -> dict[str, str]:
    """Every survivor's diff, from one process (mutmut show is one process a mutant)."""
    if not mutants:
        return {}
    out = subprocess.run([sys.executable, "-c", DIFFS], cwd=work, input=" ".join(mutants),
                         capture_output=True, text=True).stdout
    parts = out.split("\0")[1:]
    return {parts[i]: parts[i + 1].strip() for i in range(0, len(parts) - 1, 2)}


def report(found: dict[str, tuple[str, Path]], runs: list[dict[str, object]]) -> str:
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for name, (status, _) in found.items():
        by_module[module_of(name)]["killed" if status in STATUS_KILLED else status] += 1
    lines = ["# Mutation testing of contract/", ""]
    for run in runs:
        if "command" not in run:  # the run was stopped before it finished: no record of it
            lines.append("- a run stopped before it finished (its mutants not reached are `not checked`)")
        else:
            lines.append(f"- `{run['command']}`: {run['modules']}, tests {run['tests']} "
                         f"(FLOWRUN_INTERLEAVINGS={run['examples']}, hypothesis seed 0), "
                         f"{float(str(run['seconds'])) / 60:.1f} min on {os.cpu_count()} cores, {run['jobs']} "
                         f"workers, finished {run['finished']}")
        for again in run.get("reruns") or []:  # type: ignore[attr-defined]
            lines.append(f"  - then `{again['command']}`: its {again['mutants']} survivors checked again with the "
                         f"tests of then, {float(again['seconds']) / 60:.1f} min, finished {again['finished']}")
    lines += ["", "| module | mutants | killed | survived | no tests | other | score |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    total: Counter[str] = Counter()
    for module in sorted(by_module):
        counts = by_module[module]
        total.update(counts)
        lines.append(row(module, counts))
    lines.append(row("**total**", total))
    lines += ["", "Score: killed (timeouts included) / all mutants checked; `no tests` counts as survived, "
              "`other` (not checked yet, suspicious) is left out.", ""]
    survivors = sorted(n for n, (s, _) in found.items() if s in ("survived", "no tests", "suspicious"))
    lines.append(f"## Survivors ({len(survivors)})")
    lines.append("")
    lines.append("Each one is a change of the rules that no unit test notices: kill it with a test, or "
                 "list it in docs/testing.md with why it is equivalent.")
    shown: dict[str, str] = {}
    for work in {w for _, w in found.values()}:
        shown.update(diffs([n for n in survivors if found[n][1] == work], work))
    for name in survivors:
        lines += ["", f"### {name} ({found[name][0]})", "", "```diff", shown.get(name, "(no diff)"), "```"]
    return "\n".join(lines) + "\n"


def row(module: str, counts: Counter[str]) -> str:
    n = sum(counts.values())
    killed = counts["killed"]
    survived = counts["survived"]
    no_tests = counts["no tests"]
    other = n - killed - survived - no_tests
    scored = killed + survived + no_tests
    score = f"{100 * killed / scored:.1f} %" if scored else "-"
    return f"| {module} | {n} | {killed} | {survived} | {no_tests} | {other} | {score} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", default="contract/*",
                        help="space-separated paths under flowrun/ to mutate (globs allowed)")
    parser.add_argument("--tests", default=" ".join(TESTS), help="space-separated test paths")
    parser.add_argument("--examples", type=int, default=50, help="FLOWRUN_INTERLEAVINGS for the run")
    parser.add_argument("--jobs", type=int, default=2, help="mutmut's worker processes")
    parser.add_argument("--work", default=str(WORK.relative_to(ROOT)),
                        help="the work directory; with --report-only, several (space-separated) merge in one report")
    parser.add_argument("--report-only", action="store_true",
                        help="write the report again from earlier runs (e.g. after `mutmut run NAME` in a work dir)")
    parser.add_argument("--survivors", action="store_true",
                        help="check again only the survivors of the --work directories, with the tests as they are now")
    args = parser.parse_args()
    works = [ROOT / w for w in args.work.split()]
    if args.survivors:
        for work in works:
            rerun_survivors(work, args.jobs, args.examples)
    elif not args.report_only:
        if len(works) != 1:
            parser.error("one --work directory for a run")
        work = works[0]
        modules, tests = args.modules.split(), args.tests.split()
        stage(modules, tests, work)
        print(f"==> mutmut over {' '.join(modules)} (staged in {work.relative_to(ROOT)})", flush=True)
        env = {**os.environ, "FLOWRUN_INTERLEAVINGS": str(args.examples), "PYTHONDONTWRITEBYTECODE": "1"}
        started = time.monotonic()
        returncode = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(args.jobs)],
                                    cwd=work, env=env).returncode
        (work / "run.json").write_text(json.dumps({
            "command": f"make mutation MODULES='{' '.join(modules)}' MUTATION_EXAMPLES={args.examples} "
                       f"MUTATION_JOBS={args.jobs}",
            "modules": " ".join(modules), "tests": " ".join(tests), "examples": args.examples, "jobs": args.jobs,
            "seconds": round(time.monotonic() - started), "returncode": returncode,
            "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}))
    found: dict[str, tuple[str, Path]] = {}
    runs = []
    for work in works:
        found.update({name: (status, work) for name, status in results(work).items()})
        if (work / "run.json").exists():
            runs.append(json.loads((work / "run.json").read_text()))
    if not found:
        print("mutmut produced no mutants: see its output above", file=sys.stderr)
        return 1
    text = report(found, runs)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "report.md").write_text(text)
    print(text[:text.index("## Survivors")])
    print(f"==> {OUT.relative_to(ROOT)}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
