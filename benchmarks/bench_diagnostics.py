"""What asyncrepl's diagnostics cost on task-heavy code, next to asyncio debug mode.

One run, on fresh loops, the configurations in rotated order each round
(medians of the rounds):

* plain: 50,000 tasks that each await ``sleep(0)`` twice, gathered;
* diagnostics: the same on a loop where asyncrepl's Session is started (the
  objects ``asyncrepl/_session.py`` builds and installs: the task registry,
  the loop monitor and its blocked-loop reports, failed-task reports,
  never-awaited warnings, lock owners and the deadlock watch, the loop guard),
  with ``AsyncRepl.debug = False``;
* debug mode: plain asyncio with ``loop.set_debug(True)``;
* asyncrepl's default: the Session with its default settings (debug mode on).

The ratios: diagnostics vs plain (goal 1.5x), and the default vs debug mode
alone (goal 1.1x).  What asyncrepl reports about these loops while they run
(a gather of 50,000 tasks holds the loop for a while) is swallowed, as are
asyncio's own slow-callback records.

Usage: python benchmarks/bench_diagnostics.py [--tasks 50000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time

import _summary
from IPython.core.interactiveshell import InteractiveShell

from asyncrepl._config import AsyncRepl
from asyncrepl._hosts.base import Host
from asyncrepl._session import Session


async def worker():
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def workload(shell, count: int, diagnostics: bool, debug: bool) -> float:
    loop = asyncio.get_running_loop()
    loop.set_debug(debug)
    session = None
    if diagnostics:
        settings = AsyncRepl(debug=debug)
        # The Session as the extension builds it on the shell's loop, with a
        # host that adds nothing of its own (no prompt, no Ctrl-C handler).
        session = Session(shell, loop, settings, Host(shell))
        session.start()
    await asyncio.sleep(0)
    try:
        with _summary.silenced():
            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(count)))
            elapsed = time.perf_counter() - start
            await asyncio.sleep(0)  # the iteration's end, where reports are made
        return elapsed
    finally:
        if session is not None:
            session.stop()


CONFIGURATIONS = [
    ("plain asyncio", False, False),
    ("asyncrepl, debug mode off", True, False),
    ("asyncio debug mode", False, True),
    ("asyncrepl default (debug on)", True, True),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    _summary.add_arguments(parser)
    args = parser.parse_args()
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # debug mode's own slow-callback reports

    shell = InteractiveShell.instance()
    times: dict[str, list[float]] = {name: [] for name, _, _ in CONFIGURATIONS}
    for round_ in range(args.rounds):
        # Rotate the order, so that no configuration always runs first.
        shift = round_ % len(CONFIGURATIONS)
        for name, diagnostics, debug in CONFIGURATIONS[shift:] + CONFIGURATIONS[:shift]:
            times[name].append(asyncio.run(workload(shell, args.tasks, diagnostics, debug)))
    median = {name: statistics.median(values) for name, values in times.items()}

    plain, debug = median["plain asyncio"], median["asyncio debug mode"]
    print(f"{args.tasks:,} gathered tasks, each awaiting sleep(0) twice (median of {args.rounds})")
    print()
    print(f"{'':30} {'time':>9} {'vs plain':>9} {'vs debug':>9}")
    for name, _, _ in CONFIGURATIONS:
        print(f"{name:30} {median[name]:7.3f} s {median[name] / plain:8.2f}x {median[name] / debug:8.2f}x")
    _summary.write(args, [
        _summary.row(f"every diagnostic, {args.tasks:,} gathered tasks, debug off, vs plain",
                     median["asyncrepl, debug mode off"] / plain, 1.5),
        _summary.row("asyncrepl default (debug + diagnostics) vs debug mode alone",
                     median["asyncrepl default (debug on)"] / debug, 1.1),
        _summary.row("asyncio debug mode alone vs plain (for scale)", debug / plain),
    ])


if __name__ == "__main__":
    main()
