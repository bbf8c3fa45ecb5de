"""What each benchmark hands to ``run_all.py``: its ratios, one row each.

A benchmark run as ``python benchmarks/bench_X.py --summary FILE`` writes its
ratios to FILE as JSON (a list of ``{"figure", "ratio", "goal", "note"}``),
besides printing its own table; ``run_all.py`` gathers them into one table.
``goal`` is the upper bound the ratio should stay under, or None.
"""

from __future__ import annotations

import contextlib
import io
import json


def add_arguments(parser) -> None:
    parser.add_argument("--summary", metavar="FILE", help="also write the ratios to FILE as JSON (for run_all.py)")


def write(args, rows: list[dict]) -> None:
    if getattr(args, "summary", None):
        with open(args.summary, "w") as file:
            json.dump(rows, file)


def row(figure: str, ratio: float, goal: float | None = None, note: str = "", unit: str = "x") -> dict:
    return {"figure": figure, "ratio": ratio, "goal": goal, "note": note, "unit": unit}


@contextlib.contextmanager
def silenced():
    """Swallow what is printed while a timed loop runs (asyncrepl's own reports
    about the benchmark's loop: a gather of 50,000 tasks holds the loop)."""
    sink = io.StringIO()
    with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
        yield sink
