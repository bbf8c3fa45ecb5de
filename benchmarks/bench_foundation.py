"""What asyncrepl costs: the time to load it, and the time it adds to each cell.

Runs IPython's in-process InteractiveShell and measures, in one run:

* ``%load_ext asyncrepl`` (then ``%unload_ext``), median of many cycles;
* 1000 trivial cells (``x = 1``) and 1000 awaiting cells
  (``await asyncio.sleep(0)``), without and with the extension, in alternating
  blocks so that drift affects both sides alike.

Usage: python benchmarks/bench_foundation.py [--cells 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--blocks", type=int, default=5)
    args = parser.parse_args()

    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_cell("import asyncio")
    quiet = contextlib.redirect_stdout(io.StringIO())

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

    rows = []
    for label, code in (("plain cell  x = 1", "x = 1"), ("await cell  await asyncio.sleep(0)", "await asyncio.sleep(0)")):
        plain, extended = [], []
        block = max(1, args.cells // args.blocks)
        with quiet:
            for _ in range(args.blocks):
                plain.append(per_cell(code, block))
                load()
                extended.append(per_cell(code, block))
                unload()
        rows.append((label, statistics.median(plain), statistics.median(extended)))

    print(f"asyncrepl foundation benchmark ({args.cells} cells per kind, in-process InteractiveShell)")
    print()
    print(f"{'':38} {'plain IPython':>14} {'asyncrepl':>12} {'ratio':>7}")
    for label, plain, extended in rows:
        print(f"{label:38} {plain * 1e6:11.1f} us {extended * 1e6:9.1f} us {extended / plain:6.2f}x")
    print(f"{'%load_ext asyncrepl (median of 50)':38} {'':>14} {statistics.median(load_times) * 1e3:9.2f} ms")


if __name__ == "__main__":
    main()
