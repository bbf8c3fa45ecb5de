"""What task tracking costs, and how fast %tasks is with many tasks.

In one run:

* creating 100,000 tasks (then gathering them) on a plain loop, and on a loop
  with asyncrepl's TaskRegistry installed: ids, creation sites, cancel sites
  and finished-task history (best of several rounds each, debug mode off);
* ``%tasks`` (first rows plus a summary of all) and ``%tasks --tree`` with
  1,000, 10,000 and 100,000 pending tasks, in IPython's in-process shell;
* ``%cancel --all`` of that many tasks, against the hand-written
  ``for t in tasks: t.cancel()`` then ``await asyncio.wait(tasks)`` in a cell
  (both with asyncrepl's default, debug mode on).

Usage: python benchmarks/bench_tasks.py [--tasks 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import logging
import time

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


def tracking_cost(count: int, rounds: int) -> None:
    print(f"task tracking: create {count:,} tasks, then gather them (best of {rounds})")
    print(f"{'':24} {'plain loop':>11} {'tracked':>11} {'ratio':>7} {'per task added':>15}")
    for debug, label in ((False, "debug off"), (True, "debug on")):
        size = count if not debug else count // 10
        results = {False: [], True: []}
        for _ in range(rounds):
            for track in (False, True):
                results[track].append(asyncio.run(create_and_gather(size, track, debug)))
        for index, what in ((0, "create"), (1, "create and run")):
            plain = min(r[index] for r in results[False])
            tracked = min(r[index] for r in results[True])
            added = (tracked - plain) / size * 1e6
            print(f"{label + ', ' + what:24} {plain:9.3f} s {tracked:9.3f} s {tracked / plain:6.2f}x {added:11.2f} us")
    print(f"(debug on is asyncrepl's default; those rows use {count // 10:,} tasks, debug mode being slow)")


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
        ip.run_cell(f"_bench = asyncio.create_task(parent({size - 1}))\nawait asyncio.sleep(0)\nawait asyncio.sleep(0)")
        timings = []
        for line in ("", "--tree"):
            sink = io.StringIO()
            start = time.perf_counter()
            with contextlib.redirect_stdout(sink):
                ip.run_line_magic("tasks", line)
            timings.append(time.perf_counter() - start)
        print(f"{size:>14,} {timings[0]:8.3f} s {timings[1]:12.3f} s")
        ip.run_cell("_bench.cancel()\nawait asyncio.sleep(0)\nawait asyncio.sleep(0)")


def cancel_speed(sizes: list[int]) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()  # loaded by listing_speed
    ip.run_cell("%config AsyncRepl.debug = True")
    print()
    print("cancelling every pending task (in-process shell, debug mode on)")
    print(f"{'pending tasks':>14} {'hand-written':>13} {'%cancel --all':>14} {'ratio':>7}")
    make = "_bench = [asyncio.create_task(parked()) for _ in range({size})]\nawait asyncio.sleep(0)"
    hand_written = "for _t in _bench:\n    _t.cancel()\nawait asyncio.wait(_bench)"
    for size in sizes:
        timings = []
        for cell in (hand_written, "%cancel --all"):
            ip.run_cell(make.format(size=size))
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                ip.run_cell(cell)
            timings.append(time.perf_counter() - start)
            ip.run_cell("del _bench")
        print(f"{size:>14,} {timings[0]:11.3f} s {timings[1]:12.3f} s {timings[1] / timings[0]:6.2f}x")


def main() -> None:
    logging.getLogger("asyncio").setLevel(logging.ERROR)  # debug mode's slow-callback reports
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tracking_cost(args.tasks, args.rounds)
    listing_speed([1_000, 10_000, args.tasks])
    cancel_speed([1_000, 10_000, args.tasks])


if __name__ == "__main__":
    main()
