"""How close %timeit_async comes to a hand-written timing loop.

All three measure the same coroutines on the same loop (IPython's, in-process),
in one run, as the best time per await over several runs:

* hand-written: ``t0 = perf_counter(); for _ in range(n): await f(); perf_counter() - t0``
  inside one coroutine, the least a harness can add.  This is also pyperf's
  ``bench_async_func`` method (one such coroutine per sample, run by
  ``run_until_complete``), so agreeing with it is agreeing with pyperf;
* naive: ``loop.run_until_complete(f())`` once per call, what timing a
  coroutine with plain ``%timeit`` would have to do;
* ``%timeit_async -o -q -n N -r R f()``.

Usage: python benchmarks/bench_timeit_async.py [--loops 200000] [--runs 7]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import time

import _summary  # benchmarks/_summary.py: the ratios for run_all.py

SETUP = '''
import asyncio

async def noop():
    pass

async def work():
    total = 0
    for i in range(200):
        total += i
    return total

async def yield_once():
    await asyncio.sleep(0)
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=7)
    _summary.add_arguments(parser)
    args = parser.parse_args()
    rows = []

    from IPython.core.async_helpers import get_asyncio_loop
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    with contextlib.redirect_stdout(io.StringIO()):
        ip.run_line_magic("load_ext", "asyncrepl")
    ip.run_cell(SETUP)
    loop = get_asyncio_loop()
    loop.set_debug(False)  # %timeit_async pauses debug mode; the baselines run without it too

    def hand_written(func, loops):
        async def timed():
            t0 = time.perf_counter()
            for _ in range(loops):
                await func()
            return time.perf_counter() - t0

        return best_of(args.runs, lambda: loop.run_until_complete(timed())) / loops

    def naive(func, loops):
        loops = max(1, loops // 20)  # it is slow

        def timed():
            t0 = time.perf_counter()
            for _ in range(loops):
                loop.run_until_complete(func())
            return time.perf_counter() - t0

        return best_of(args.runs, timed) / loops

    def timeit_async(name, loops):
        ip.run_cell(f"_bench = %timeit_async -o -q -n {loops} -r {args.runs} {name}()")
        return ip.user_ns["_bench"].best

    print(f"best time per await, {args.loops:,} awaits x {args.runs} runs, one loop, debug off")
    print()
    print(f"{'coroutine':14} {'hand-written':>13} {'%timeit_async':>14} {'ratio':>7} {'naive':>12} {'ratio':>7}")
    for name in ("noop", "work", "yield_once"):
        func = ip.user_ns[name]
        loops = args.loops if name != "yield_once" else args.loops // 10
        with _summary.silenced():  # asyncrepl says that the timing loops hold the loop, as they do
            base = hand_written(func, loops)
            ours = timeit_async(name, loops)
            slow = naive(func, loops)
        rows.append(_summary.row(f"%timeit_async {name}() vs a hand-written loop", ours / base, 1.3))
        print(
            f"{name + '()':14} {base * 1e9:10.1f} ns {ours * 1e9:11.1f} ns {ours / base:6.2f}x "
            f"{slow * 1e9:9.0f} ns {slow / base:6.1f}x"
        )
    print()
    print("ratios against hand-written (pyperf's method); target for %timeit_async: at most 1.3x")
    _summary.write(args, rows)


def best_of(runs, measure):
    gc.disable()
    try:
        return min(measure() for _ in range(runs))
    finally:
        gc.enable()


if __name__ == "__main__":
    main()
