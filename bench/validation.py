"""Worst cases of checking resume input (contract/inputs.py) and of the UI's selector
parsing (ui/views.py), no cluster needed. Prints median and p95 over --samples runs of
each case, and the machine. Asserts nothing about time.

    .venv/bin/python bench/validation.py [--samples 30]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

from flowrun.contract.inputs import input_errors
from flowrun.ui import views


def cases() -> list[tuple[str, object]]:
    evil = {"type": "object", "properties": {"x": {"type": "string", "pattern": "^(a+)+$"}}}
    many = {"type": "object", "properties": {"x": {"type": "string", "allOf": [
        {"pattern": f"^(a+)+(b|c|{i})*$"} for i in range(100)]}}}
    defs: dict = {f"d{i}": {"anyOf": [{"$ref": f"#/$defs/d{i + 1}"}] * 2} for i in range(60)}
    defs["d60"] = {"type": "integer"}
    chain = {"$defs": defs, "$ref": "#/$defs/d0"}
    enum = {"type": "array", "items": {"enum": list(range(3000))}}
    item = {"type": "object", "required": ["name", "qty"],
            "properties": {"name": {"type": "string", "pattern": "^[a-z0-9]+$"}, "qty": {"type": "integer"},
                           "tags": {"type": "array", "items": {"type": "string"}}}}
    legit = {"type": "object", "properties": {"items": {"type": "array", "items": item}}}
    legit_data = {"items": [{"name": f"n{i}", "qty": i, "tags": ["a", "b"]} for i in range(1500)]}
    selector = ("a in (" + "x," * 600 + "y)," + "b!=c," * 100)[:4096]
    return [
        ("pattern ^(a+)+$ vs 'a'*26+'!'", lambda: input_errors(evil, {"x": "a" * 26 + "!"})),
        ("pattern ^(a+)+$ vs 'a'*60000+'!'", lambda: input_errors(evil, {"x": "a" * 60_000 + "!"})),
        ("100 catastrophic patterns vs 'a'*200+'!' (allOf)", lambda: input_errors(many, {"x": "a" * 200 + "!"})),
        ("anyOf x2 chained 60 deep ($ref): stops at the budget", lambda: input_errors(chain, "x")),
        ("enum of 3000 vs 10000 items: stops at the budget", lambda: input_errors(enum, ["x"] * 10_000)),
        ("legit: 1500 objects, 60 KB, valid", lambda: input_errors(legit, legit_data)),
        ("UI selector of 4096 characters", lambda: views.selector_matcher(selector)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, "
          f"python {platform.python_version()}")
    print(f"| case | median ms | p95 ms | answer |")
    print("| --- | --- | --- | --- |")
    for name, fn in cases():
        fn()  # warm: imports, compiled patterns
        times = []
        for _ in range(args.samples):
            start = time.perf_counter()
            answer = fn()
            times.append((time.perf_counter() - start) * 1000)
        times.sort()
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        said = (answer[0][:60] if isinstance(answer, list) and answer else "valid" if answer == [] else "parsed")
        print(f"| {name} | {statistics.median(times):.1f} | {p95:.1f} | {said} |")


if __name__ == "__main__":
    main()
