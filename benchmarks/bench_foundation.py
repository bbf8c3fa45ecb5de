"""What asyncrepl costs: the time to load it, and the time it adds to each cell.

Measured in one run:

* ``%load_ext asyncrepl`` in a fresh process, after the shell is made (so
  that IPython's own import is not counted; asyncrepl's import is), median
  of several processes: IPython's terminal shell (prompt_toolkit has imported
  asyncio), and the in-process InteractiveShell once asyncio is imported, and
  before (the load imports asyncio, and asyncio's own import is counted); the
  bytecode cached, as an installed package has it;
* ``%load_ext asyncrepl`` (then ``%unload_ext``) again in a warm process,
  median of many cycles;
* trivial cells (``x = 1``) and awaiting cells (``await asyncio.sleep(0)``) in
  IPython's in-process InteractiveShell, without and with the extension (its
  default settings: debug mode on), and in plain IPython with its loop in
  asyncio debug mode (which asyncrepl turns on: what asyncrepl adds beyond
  it), and with the extension with debug mode off (``AsyncRepl.debug =
  False``: what asyncrepl itself costs a trivial cell, which runs inside the
  loop, where debug mode records where each of IPython's own coroutines was
  made), in blocks taken in rotated order so that drift affects every side
  alike; medians of the blocks.

Usage: python benchmarks/bench_foundation.py [--cells 2000] [--blocks 10] [--processes 5]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time

import _summary  # benchmarks/_summary.py: the ratios for run_all.py

FRESH_LOAD = """
import contextlib, io, sys, time
from IPython.{module} import {shell}
ip = {shell}.instance()
{before}
start = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    ip.run_line_magic("load_ext", "asyncrepl")
took = time.perf_counter() - start
assert "asyncrepl._attach" not in sys.modules, "%load_ext imported the attach code"
print(took)
"""

SHELLS = {
    # IPython's terminal shell: prompt_toolkit has imported asyncio already.
    "terminal shell": ("terminal.interactiveshell", "TerminalInteractiveShell", ""),
    # The in-process shell, once the session has used asyncio.
    "in-process shell, asyncio imported": ("core.interactiveshell", "InteractiveShell", "import asyncio"),
    # The in-process shell before anything imported asyncio: the load imports
    # it (asyncio's own import, which anything that uses asyncio pays, counted).
    "in-process shell, asyncio not imported yet": ("core.interactiveshell", "InteractiveShell", ""),
}
GOALS = {"terminal shell": 40, "in-process shell, asyncio imported": 40}


def fresh_process_load(processes: int) -> dict[str, list[float]]:
    """Seconds that %load_ext takes in new processes, for each shell, in turns.

    Bytecode is cached as an installed package has it (this environment may
    set PYTHONDONTWRITEBYTECODE): in a directory of its own, filled by a first
    process that is not counted.
    """
    env = dict(os.environ, PYTHONPYCACHEPREFIX=os.path.join(tempfile.gettempdir(), "asyncrepl-bench-pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    times: dict[str, list[float]] = {name: [] for name in SHELLS}
    for number in range(processes + 1):
        for name, (module, shell, before) in SHELLS.items():
            code = FRESH_LOAD.format(module=module, shell=shell, before=before)
            took = float(subprocess.check_output([sys.executable, "-c", code], text=True, env=env, stdin=subprocess.DEVNULL))
            if number:
                times[name].append(took)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=2000, help="cells of each kind on each side")
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--processes", type=int, default=5)
    _summary.add_arguments(parser)
    args = parser.parse_args()

    fresh = fresh_process_load(args.processes)

    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_cell("import asyncio")

    def load() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            ip.run_line_magic("load_ext", "asyncrepl")

    def unload() -> None:
        ip.run_line_magic("unload_ext", "asyncrepl")

    # Warm up imports and caches on both sides.
    load()
    unload()

    load_times = []
    for _ in range(50):
        start = time.perf_counter()
        load()
        load_times.append(time.perf_counter() - start)
        unload()

    def per_cell(code: str, cells: int) -> float:
        start = time.perf_counter()
        for _ in range(cells):
            ip.run_cell(code, store_history=False)
        return (time.perf_counter() - start) / cells

    from IPython.core.async_helpers import get_asyncio_loop  # plain IPython's loop for awaiting cells

    def plain_debug(code: str, cells: int) -> float:
        # Plain IPython with its loop in asyncio debug mode, which asyncrepl
        # turns on by default: what asyncrepl adds beyond it.
        loop = get_asyncio_loop()
        loop.set_debug(True)
        try:
            return per_cell(code, cells)
        finally:
            loop.set_debug(False)

    def extended(code: str, cells: int, debug: bool = True) -> float:
        load()
        if not debug:
            ip.run_line_magic("config", "AsyncRepl.debug = False")
        try:
            return per_cell(code, cells)
        finally:
            if not debug:
                ip.run_line_magic("config", "AsyncRepl.debug = True")
            unload()

    rows = []
    block = max(1, args.cells // args.blocks)
    sides = {"plain": per_cell, "debug": plain_debug, "asyncrepl": extended,
             "asyncrepl, debug off": functools.partial(extended, debug=False)}
    for label, code in (("trivial cell  x = 1", "x = 1"), ("await cell  await asyncio.sleep(0)", "await asyncio.sleep(0)")):
        times: dict[str, list[float]] = {side: [] for side in sides}
        with _summary.silenced():
            per_cell(code, block)  # warm-up
            for number in range(args.blocks):
                turn = number % len(sides)
                order = list(sides)[turn:] + list(sides)[:turn]  # rotated, so drift hits each side alike
                for side in order:
                    times[side].append(sides[side](code, block))
        rows.append((label, *(statistics.median(times[side]) for side in sides)))

    print(f"asyncrepl foundation benchmark ({block * args.blocks} cells per kind and side, in-process InteractiveShell)")
    print()
    print(f"{'':38} {'plain IPython':>14} {'in debug mode':>14} {'asyncrepl':>12} {'vs plain':>9} {'vs debug':>9}"
          f" {'asyncrepl, debug off':>21} {'vs plain':>9}")
    summary = []
    for label, plain, debug, ours, ours_off in rows:
        print(
            f"{label:38} {plain * 1e6:11.1f} us {debug * 1e6:11.1f} us {ours * 1e6:9.1f} us"
            f" {ours / plain:8.2f}x {ours / debug:8.2f}x {ours_off * 1e6:18.1f} us {ours_off / plain:8.2f}x"
        )
        summary.append(_summary.row(f"{label}, vs plain IPython", ours / plain, 1.3,
                                    note=f"{plain * 1e6:.0f} -> {ours * 1e6:.0f} us"))
        summary.append(_summary.row(f"{label}, vs plain IPython in asyncio debug mode", ours / debug,
                                    note=f"{debug * 1e6:.0f} -> {ours * 1e6:.0f} us"))
        summary.append(_summary.row(f"{label}, asyncrepl with debug mode off, vs plain IPython", ours_off / plain,
                                    note=f"{plain * 1e6:.0f} -> {ours_off * 1e6:.0f} us"))
    for name, times in fresh.items():
        took = statistics.median(times) * 1e3
        label = f"%load_ext asyncrepl, fresh process, {name} (median of {args.processes})"
        print(f"{label:64} {took:7.1f} ms")
        summary.append(_summary.row(label, took, GOALS.get(name), unit="ms"))
    print(f"{'%load_ext asyncrepl, warm (median of 50)':64} {statistics.median(load_times) * 1e3:7.2f} ms")
    _summary.write(args, summary)


if __name__ == "__main__":
    main()
