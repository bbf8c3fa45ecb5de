"""What task tracking costs, and how fast %tasks is with many tasks.

In one run:

* creating 100,000 tasks (then gathering them) on a plain loop, and on a loop
  with asyncrepl's TaskRegistry installed: ids, creation sites, cancel sites
  and finished-task history (medians of alternating rounds, debug mode off;
  debug mode on with a tenth of the tasks);
* ``%tasks`` (first rows plus a summary of all) and ``%tasks --tree`` with
  1,000, 10,000 and 100,000 pending tasks, in IPython's in-process shell;
* ``%cancel --all`` of that many tasks, against the hand-written
  ``for t in tasks: t.cancel()`` then ``await asyncio.wait(tasks)`` in a cell
  (both with asyncrepl's default, debug mode on).

Usage: python benchmarks/bench_tasks.py [--tasks 100000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import logging
import statistics
import time

import _summary  # benchmarks/_summary.py: the ratios for run_all.py

from asyncrepl._tasks import TaskRegistry


async def noop():
    pass


async def create_and_gather(count: int, track: bool, debug: bool = False) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    loop.set_debug(debug)
    await asyncio.sleep(0)
    registry = None
    if track:
        registry = TaskRegistry(loop)
        registry.install()
    try:
        start = time.perf_counter()
        tasks = [loop.create_task(noop()) for _ in range(count)]
        created = time.perf_counter()
        await asyncio.gather(*tasks)
        finished = time.perf_counter()
    finally:
        if registry is not None:
            registry.uninstall()
    return created - start, finished - start


def tracking_cost(count: int, rounds: int) -> list[dict]:
    rows = []
    print(f"task tracking: create {count:,} tasks, then gather them (median of {rounds})")
    print(f"{'':24} {'plain loop':>11} {'tracked':>11} {'ratio':>7} {'per task added':>15}")
    for debug, label in ((False, "debug off"), (True, "debug on")):
        size = count if not debug else count // 10
        results = {False: [], True: []}
        for round_ in range(rounds):
            for track in (False, True) if round_ % 2 == 0 else (True, False):
                results[track].append(asyncio.run(create_and_gather(size, track, debug)))
        for index, what in ((0, "create"), (1, "create and run")):
            plain = statistics.median(r[index] for r in results[False])
            tracked = statistics.median(r[index] for r in results[True])
            goal = 1.5 if (debug, index) == (False, 1) else None
            rows.append(_summary.row(f"task tracking, {size:,} tasks, {label}, {what}, vs plain", tracked / plain, goal))
            added = (tracked - plain) / size * 1e6
            print(f"{label + ', ' + what:24} {plain:9.3f} s {tracked:9.3f} s {tracked / plain:6.2f}x {added:11.2f} us")
    print(f"(debug on is asyncrepl's default; those rows use {count // 10:,} tasks, debug mode being slow)")
    return rows


def listing_speed(sizes: list[int]) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    with contextlib.redirect_stdout(io.StringIO()):
        ip.run_line_magic("load_ext", "asyncrepl")
    ip.run_cell("import asyncio\nasync def parked():\n    await asyncio.sleep(3600)\nasync def parent(n):\n    await asyncio.gather(*(parked() for _ in range(n)))")
    ip.run_cell("%config AsyncRepl.debug = False")
    print()
    print("%tasks with many pending tasks (in-process shell)")
    print(f"{'pending tasks':>14} {'%tasks':>10} {'%tasks --tree':>14}")
    for size in sizes:
        with _summary.silenced():  # asyncrepl says that starting so many tasks held the loop
            ip.run_cell(f"_bench = asyncio.create_task(parent({size - 1}))\nawait asyncio.sleep(0)\nawait asyncio.sleep(0)")
        timings = []
        for line in ("", "--tree"):
            sink = io.StringIO()
            start = time.perf_counter()
            with contextlib.redirect_stdout(sink):
                ip.run_line_magic("tasks", line)
            timings.append(time.perf_counter() - start)
        print(f"{size:>14,} {timings[0]:8.3f} s {timings[1]:12.3f} s")
        with _summary.silenced():
            ip.run_cell("_bench.cancel()\nawait asyncio.sleep(0)\nawait asyncio.sleep(0)")


def cancel_speed(sizes: list[int]) -> list[dict]:
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()  # loaded by listing_speed
    ip.run_cell("%config AsyncRepl.debug = True")
    print()
    print("cancelling every pending task (in-process shell, debug mode on)")
    print(f"{'pending tasks':>14} {'hand-written':>13} {'%cancel --all':>14} {'ratio':>7}")
    make = "_bench = [asyncio.create_task(parked()) for _ in range({size})]\nawait asyncio.sleep(0)"
    hand_written = "for _t in _bench:\n    _t.cancel()\nawait asyncio.wait(_bench)"
    rows = []
    for size in sizes:
        timings = []
        for cell in (hand_written, "%cancel --all"):
            with _summary.silenced():
                ip.run_cell(make.format(size=size))
                start = time.perf_counter()
                ip.run_cell(cell)
                timings.append(time.perf_counter() - start)
                ip.run_cell("del _bench")
        print(f"{size:>14,} {timings[0]:11.3f} s {timings[1]:12.3f} s {timings[1] / timings[0]:6.2f}x")
        rows.append(_summary.row(f"%cancel --all of {size:,} tasks vs a hand-written cancel loop", timings[1] / timings[0]))
    return rows


def main() -> None:
    logging.getLogger("asyncio").setLevel(logging.ERROR)  # debug mode's slow-callback reports
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    _summary.add_arguments(parser)
    args = parser.parse_args()
    rows = tracking_cost(args.tasks, args.rounds)
    sizes = sorted({size for size in (1_000, 10_000) if size < args.tasks} | {args.tasks})
    listing_speed(sizes)
    rows += cancel_speed(sizes)
    _summary.write(args, rows)


if __name__ == "__main__":
    main()
