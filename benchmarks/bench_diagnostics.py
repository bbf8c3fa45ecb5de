"""What asyncrepl's diagnostics cost on task-heavy code, next to asyncio debug mode.

One run, best of several rounds each, on fresh loops:

* plain: 50,000 tasks that each await ``sleep(0)`` twice, gathered;
* diagnostics: the same with everything asyncrepl reports installed (task
  registry, blocked-loop watchdog, failed-task reports, never-awaited
  warnings) and asyncio debug mode off;
* debug mode: plain asyncio with ``loop.set_debug(True)``;
* asyncrepl's default: diagnostics and debug mode together.

Usage: python benchmarks/bench_diagnostics.py [--tasks 50000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

from asyncrepl._diagnostics import FailedTasks, UnawaitedCoroutines
from asyncrepl._monitor import BlockedLoopWatchdog
from asyncrepl._tasks import TaskRegistry


async def worker():
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def workload(count: int, diagnostics, debug: bool) -> float:
    loop = asyncio.get_running_loop()
    loop.set_debug(debug)
    await asyncio.sleep(0)
    installed = []
    if diagnostics == "watchdog":
        watchdog = BlockedLoopWatchdog(loop, None, 0.1)
        watchdog.start()
        installed = [watchdog.stop]
    elif diagnostics:
        registry = TaskRegistry(loop)
        registry.install()
        failed = FailedTasks(loop, registry)
        failed.install()
        watchdog = BlockedLoopWatchdog(loop, registry, 0.1)
        watchdog.start()
        unawaited = UnawaitedCoroutines()
        unawaited.install()
        installed = [unawaited.uninstall, watchdog.stop, failed.uninstall, registry.uninstall]
    try:
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(count)))
        return time.perf_counter() - start
    finally:
        for undo in installed:
            undo()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("asyncio").setLevel(logging.ERROR)  # debug mode's own slow-callback reports

    configurations = [
        ("plain asyncio", False, False),
        ("the watchdog alone", "watchdog", False),
        ("asyncrepl diagnostics", True, False),
        ("asyncio debug mode", False, True),
        ("asyncrepl default (both)", True, True),
    ]
    best = {name: float("inf") for name, _, _ in configurations}
    for round_ in range(args.rounds):
        # Rotate the order, so that no configuration always runs first.
        shift = round_ % len(configurations)
        for name, diagnostics, debug in configurations[shift:] + configurations[:shift]:
            best[name] = min(best[name], asyncio.run(workload(args.tasks, diagnostics, debug)))

    base = best["plain asyncio"]
    print(f"{args.tasks:,} gathered tasks, each awaiting sleep(0) twice (best of {args.rounds})")
    print()
    print(f"{'':26} {'time':>9} {'ratio':>7}")
    for name, _, _ in configurations:
        print(f"{name:26} {best[name]:7.3f} s {best[name] / base:6.2f}x")


if __name__ == "__main__":
    main()
