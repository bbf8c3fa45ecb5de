"""What recording lock and permit owners costs (issue 20's %why), in one run.

50 tasks x 200 round trips through one asyncio.Lock (``async with lock:
await asyncio.sleep(0)``: contended, every task waits its turn), the same
through a Semaphore(5), and 50 tasks x 200 items through a Queue(10), each
on:

* a plain loop;
* asyncrepl's task registry only (what issue 19 measures: part of asyncrepl's
  cost that is not the locks');
* the owner records only (``_holders.install()``: the wrappers on asyncio's
  Lock, Semaphore and Queue, and the contention hook);
* both, with the deadlock watch listening: asyncrepl loaded, debug mode off.

Then code that uses no lock (50 tasks x 200 ``sleep(0)``) on a plain loop and
with the owner records installed: it must pay nothing measurable.  Best of
several rounds each; ratios against the plain loop of the same run.

Usage: python benchmarks/bench_locks.py [--tasks 50] [--trips 200] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from asyncrepl import _holders
from asyncrepl._deadlocks import DeadlockWatch
from asyncrepl._tasks import TaskRegistry

import _summary  # benchmarks/_summary.py: the ratios for run_all.py


async def through_lock(lock, trips: int) -> None:
    for _ in range(trips):
        async with lock:
            await asyncio.sleep(0)


async def producer(queue, trips: int) -> None:
    for item in range(trips):
        await queue.put(item)


async def consumer(queue, trips: int) -> None:
    for _ in range(trips):
        await queue.get()
        queue.task_done()


async def no_lock(trips: int) -> None:
    for _ in range(trips):
        await asyncio.sleep(0)


def workload(kind: str, tasks: int, trips: int):
    if kind == "Lock":
        lock = asyncio.Lock()
        return [through_lock(lock, trips) for _ in range(tasks)]
    if kind == "Semaphore(5)":
        semaphore = asyncio.Semaphore(5)
        return [through_lock(semaphore, trips) for _ in range(tasks)]
    if kind == "Queue(10)":
        queue = asyncio.Queue(10)
        return [producer(queue, trips) for _ in range(tasks // 2)] + [consumer(queue, trips) for _ in range(tasks // 2)]
    return [no_lock(trips) for _ in range(tasks)]


async def one_round(kind: str, setup: str, tasks: int, trips: int) -> float:
    loop = asyncio.get_running_loop()
    loop.set_debug(False)
    undo = []
    if setup in ("registry", "asyncrepl"):
        registry = TaskRegistry(loop)
        registry.install()
        undo.append(registry.uninstall)
    if setup in ("owners", "asyncrepl"):
        undo.append(_holders.install())
    if setup == "asyncrepl":
        undo.append(DeadlockWatch(registry, lambda site, with_source=True: str(site)).install())
    try:
        coros = workload(kind, tasks, trips)
        start = time.perf_counter()
        await asyncio.gather(*(loop.create_task(coro) for coro in coros))
        return time.perf_counter() - start
    finally:
        for step in reversed(undo):
            step()


SETUPS = ("plain", "registry", "owners", "asyncrepl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--trips", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    _summary.add_arguments(parser)
    args = parser.parse_args()
    rows = []
    print(f"{args.tasks} tasks x {args.trips} round trips, debug mode off, best of {args.rounds}")
    print(f"{'':14}" + "".join(f"{setup:>19}" for setup in SETUPS))
    for kind in ("Lock", "Semaphore(5)", "Queue(10)", "no lock"):
        best = {setup: float("inf") for setup in SETUPS}
        for _ in range(args.rounds):
            for setup in SETUPS:  # interleaved: the machine's drift hits all alike
                best[setup] = min(best[setup], asyncio.run(one_round(kind, setup, args.tasks, args.trips)))
        plain = best["plain"]
        cells = "".join(f"{best[s] * 1e3:9.1f} ms {best[s] / plain:5.2f}x" for s in SETUPS)
        print(f"{kind:14}{cells}")
        rows.append(_summary.row(f"locks: {kind}, asyncrepl (debug off) vs plain", best["asyncrepl"] / plain))
    print("registry: asyncrepl's task registry alone; owners: the lock/permit/queue records alone;")
    print("asyncrepl: both, and the deadlock watch (as loaded, debug off)")
    _summary.write(args, rows)


if __name__ == "__main__":
    main()
