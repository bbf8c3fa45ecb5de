"""Run every benchmark in benchmarks/ and print all their ratios in one table.

Each benchmark runs in its own process, prints its own table, and hands its
ratios over (``--summary FILE``, see ``_summary.py``); this prints them at the
end, with the machine (Python, CPU count, load) and the date.  Every ratio is
measured within one benchmark's run against a baseline of that same run.

Usage: python benchmarks/run_all.py [--quick] [--only NAME ...] [--markdown]

``--quick`` runs each benchmark with small sizes (seconds instead of minutes):
for checking that they all work, not for quoting.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name: (what it measures, its real arguments, its quick arguments)
BENCHMARKS = {
    "bench_foundation": (
        "load time, and the cost per cell vs plain IPython (in-process shell)",
        [], ["--cells", "200", "--blocks", "4", "--processes", "3"],
    ),
    "bench_tasks": (
        "task tracking vs a plain loop; %tasks and %cancel --all with many tasks",
        [], ["--tasks", "5000", "--rounds", "2"],
    ),
    "bench_diagnostics": (
        "asyncrepl's Session (every diagnostic) on 50k gathered tasks, vs a plain loop and vs debug mode",
        [], ["--tasks", "5000", "--rounds", "2"],
    ),
    "bench_locks": (
        "lock/permit/queue owner records and the deadlock watch, vs a plain loop",
        [], ["--tasks", "10", "--trips", "50", "--rounds", "2"],
    ),
    "bench_timeline": (
        "%%timeline recording per task step, and drawing/exporting, vs the cell itself",
        [], ["--tasks", "200", "--steps", "20", "--rounds", "2", "--draw-tasks", "100"],
    ),
    "bench_timeit_async": (
        "%timeit_async vs a hand-written timing loop (pyperf's method)",
        [], ["--loops", "5000", "--runs", "3"],
    ),
    "bench_idle": (
        "an idle prompt in a real terminal: CPU and wakeups, and the status line on vs off",
        [], ["--seconds", "1", "--rounds", "1"],
    ),
    "bench_attach": (
        "what serve() and an attached prompt cost a live service's request latency",
        [], ["--seconds", "1", "--rounds", "1", "--quiet", "1"],
    ),
}


def machine() -> str:
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, load average {load}"
    )


def fmt(row: dict) -> str:
    unit, value = row.get("unit", "x"), row["ratio"]
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "%":
        return f"{value:.2f} %"
    return f"{value:.1f}{unit}"


def verdict(row: dict) -> str:
    goal = row.get("goal")
    if goal is None:
        return ""
    return "met" if row["ratio"] <= goal else "NOT met"


def goal_text(row: dict) -> str:
    goal = row.get("goal")
    if goal is None:
        return ""
    return f"<= {goal:g} ms" if row.get("unit") == "ms" else f"<= {goal:g}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: checks that every benchmark runs")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these")
    args = parser.parse_args()

    names = args.only or list(BENCHMARKS)
    started = datetime.datetime.now().astimezone()
    before = machine()
    results: dict[str, list[dict] | str] = {}
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="asyncrepl-bench-") as scratch:
        for name in names:
            _, real, quick = BENCHMARKS[name]
            out = Path(scratch) / f"{name}.json"
            command = [sys.executable, str(HERE / f"{name}.py"), *(quick if args.quick else real), "--summary", str(out)]
            print(f"\n===== {name} {' '.join(command[2:-2])}", flush=True)
            start = time.monotonic()
            code = subprocess.call(command, cwd=HERE.parent)
            seconds[name] = time.monotonic() - start
            if code == 0 and out.exists():
                results[name] = json.loads(out.read_text())
            else:
                results[name] = f"failed (exit code {code})"

    print()
    print(f"## asyncrepl benchmarks, {'QUICK run (small sizes, not for quoting)' if args.quick else 'one run'}")
    print()
    print(f"- date: {started:%Y-%m-%d %H:%M %Z}")
    print(f"- machine: {before} at the start; load average {machine().rsplit('load average ', 1)[1]} at the end")
    print(f"- command: python benchmarks/run_all.py{' --quick' if args.quick else ''}")
    print()
    width = max(len(row["figure"]) for rows in results.values() if isinstance(rows, list) for row in rows)
    width = max(width, 40)
    print("```text")
    print(f"{'figure':{width}}  {'measured':>10}  {'goal':>9}  {'':7}")
    failed = False
    for name in names:
        rows = results[name]
        print(f"-- {name} ({seconds[name]:.0f} s): {BENCHMARKS[name][0]}")
        if isinstance(rows, str):
            failed = True
            print(f"   {rows}")
            continue
        for row in rows:
            note = f"  ({row['note']})" if row.get("note") else ""
            print(f"{row['figure']:{width}}  {fmt(row):>10}  {goal_text(row):>9}  {verdict(row):7}{note}")
    print("```")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
