"""What %%timeline costs: recording per task step, and drawing and exporting.

One run, best of several rounds, debug mode off.

Recording: 2,000 tasks of 100 steps each (``await asyncio.sleep(0)``),
gathered, with and without recording (the task registry installed in both, so
the difference is the recording alone).

Drawing and exporting: a recorded cell of 1,000 tasks of 10 steps each, drawn
as text, as SVG (grouped past 40 rows, as by default, and with all 1,000 rows),
and saved as a Chrome trace; each time is also given as a share of the time the
cell itself took.

Usage: python benchmarks/bench_timeline.py [--tasks 2000] [--steps 100] [--rounds 5] [--draw-tasks 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from asyncrepl._tasks import TaskRegistry
from asyncrepl._render.timeline import draw_svg, draw_text
from asyncrepl._timeline import Recorder, task_wrapper

import _summary  # benchmarks/_summary.py: the ratios for run_all.py


async def stepper(steps: int) -> None:
    for _ in range(steps):
        await asyncio.sleep(0)


async def cell(tasks: int, steps: int) -> None:
    await asyncio.gather(*(stepper(steps) for _ in range(tasks)))


async def measure(tasks: int, steps: int, record: bool):
    """(seconds the cell took, its Timeline if recorded)."""
    loop = asyncio.get_running_loop()
    registry = TaskRegistry(loop, history_size=0)
    registry.install()
    recorder = Recorder(task_id=lambda task: registry.info(task).id)
    if record:
        registry.wrapping.subscribe(task_wrapper())
    try:
        if record:
            timed, track = recorder.wrap(cell(tasks, steps), "cell")
            start = time.perf_counter()
            task = loop.create_task(timed, context=recorder.context())
            recorder.track_task(task, track)
            await task
        else:
            start = time.perf_counter()
            await loop.create_task(cell(tasks, steps))
        took = time.perf_counter() - start
        return took, recorder.finish() if record else None
    finally:
        registry.uninstall()


def best(function, rounds: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2_000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--draw-tasks", type=int, default=1_000)
    _summary.add_arguments(parser)
    args = parser.parse_args()

    fastest = {False: float("inf"), True: float("inf")}
    for round_ in range(args.rounds):
        for record in (False, True) if round_ % 2 == 0 else (True, False):
            took, _ = asyncio.run(measure(args.tasks, args.steps, record))
            fastest[record] = min(fastest[record], took)
    steps = args.tasks * (args.steps + 1)
    plain, recorded = fastest[False], fastest[True]
    print(f"recording: {args.tasks:,} tasks x {args.steps} steps, gathered (best of {args.rounds}, debug off)")
    print()
    print(f"{'':12} {'time':>9} {'per step':>10} {'ratio':>7}")
    print(f"{'plain':12} {plain:7.3f} s {plain / steps * 1e6:7.2f} us {1:6.2f}x")
    print(f"{'recorded':12} {recorded:7.3f} s {recorded / steps * 1e6:7.2f} us {recorded / plain:6.2f}x")
    print(f"recording adds {(recorded - plain) / steps * 1e6:.2f} us per step")
    summary = [_summary.row(f"%%timeline recording, {args.tasks:,} tasks x {args.steps} steps, vs not recording", recorded / plain)]

    took, timeline = asyncio.run(measure(args.draw_tasks, 10, True))
    rows = len(timeline.tracks)
    cases = [
        ("text chart", lambda: draw_text(timeline, width=120)),
        ("SVG (grouped past 40 rows)", lambda: draw_svg(timeline)),
        (f"SVG, all {rows:,} rows", lambda: draw_svg(timeline, limit=rows)),
        ("Chrome trace, as JSON", lambda: json.dumps(timeline.to_chrome_trace(), separators=(",", ":"))),
    ]
    print()
    print(f"drawing and exporting {args.draw_tasks:,} tasks x 10 steps (the cell took {took:.3f} s; best of {args.rounds})")
    print()
    print(f"{'':30} {'time':>9} {'size':>9} {'of the cell':>12}")
    for name, function in cases:
        seconds, output = best(function, args.rounds)
        print(f"{name:30} {seconds:7.3f} s {len(output) / 1024:6.0f} KB {seconds / took:11.2f}x")
        summary.append(_summary.row(f"%%timeline drawing: {name}, vs the cell's own time", seconds / took))
    _summary.write(args, summary)


if __name__ == "__main__":
    main()
