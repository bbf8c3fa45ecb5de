"""What %%timeline's recording costs per task step.

One run, best of several rounds, debug mode off: 2,000 tasks of 100 steps each
(``await asyncio.sleep(0)``), gathered, with and without recording (the task
registry installed in both, so the difference is the recording alone).

Usage: python benchmarks/bench_timeline.py [--tasks 2000] [--steps 100] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from asyncrepl._tasks import TaskRegistry
from asyncrepl._timeline import Recorder, task_wrapper


async def stepper(steps: int) -> None:
    for _ in range(steps):
        await asyncio.sleep(0)


async def cell(tasks: int, steps: int) -> None:
    await asyncio.gather(*(stepper(steps) for _ in range(tasks)))


async def measure(tasks: int, steps: int, record: bool) -> float:
    loop = asyncio.get_running_loop()
    registry = TaskRegistry(loop, history_size=0)
    registry.install()
    recorder = Recorder()

    if record:
        registry.wrap_coroutine = task_wrapper()
    try:
        context = recorder.context() if record else None
        start = time.perf_counter()
        await loop.create_task(cell(tasks, steps), context=context)
        return time.perf_counter() - start
    finally:
        registry.uninstall()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2_000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    best = {False: float("inf"), True: float("inf")}
    for round_ in range(args.rounds):
        for record in ((False, True) if round_ % 2 == 0 else (True, False)):
            best[record] = min(best[record], asyncio.run(measure(args.tasks, args.steps, record)))
    steps = args.tasks * (args.steps + 1)
    plain, recorded = best[False], best[True]
    print(f"{args.tasks:,} tasks x {args.steps} steps, gathered (best of {args.rounds}, debug off)")
    print()
    print(f"{'':12} {'time':>9} {'per step':>10} {'ratio':>7}")
    print(f"{'plain':12} {plain:7.3f} s {plain / steps * 1e6:7.2f} us {1:6.2f}x")
    print(f"{'recorded':12} {recorded:7.3f} s {recorded / steps * 1e6:7.2f} us {recorded / plain:6.2f}x")
    print(f"recording adds {(recorded - plain) / steps * 1e6:.2f} us per step")


if __name__ == "__main__":
    main()
