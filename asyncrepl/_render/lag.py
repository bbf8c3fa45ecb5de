"""``%asyncdebug``'s report of the loop's lag, and ``%asyncdebug -o``'s result.

Imported when the report is first asked for (``LoopMonitor.lag_report``).
"""

from __future__ import annotations

import linecache
import time
from dataclasses import dataclass, field

from .._frames import CellNamer, code_location
from .._monitor import Hold

__all__ = ["LagReport"]


@dataclass
class LagReport:
    """The loop's lag over the last minute, as ``%asyncdebug -o`` returns it.

    *p50*, *p99*: the lag not exceeded half and 99% of the time (something
    that became ready at a random moment waited at most this long for the
    loop); *max*: the longest iteration; *holds*: the longest steps over the
    threshold, longest first (each with *who*, *duration*, *line*, *end*).
    Seconds throughout.
    """

    seconds: float
    p50: float
    p99: float
    max: float
    holds: list[Hold]
    threshold: float
    cell_namer: CellNamer | None = field(default=None, repr=False, compare=False)

    def lines(self) -> list[str]:
        from .._timing import format_time  # the same units as %timeit_async

        window = f"last {self.seconds:.0f} s" if self.seconds >= 59.5 else f"last {self.seconds:.1f} s (since loading)"
        def short(seconds: float) -> str:
            return format_time(seconds) if seconds > 0 else "0"

        lines = [f"loop lag, {window}  p50 {short(self.p50)}, p99 {short(self.p99)}, max {short(self.max)}"]
        if not self.holds:
            lines.append(f"  no step held the loop over {self.threshold:g} s")
        now = time.monotonic()
        for hold in self.holds:
            where = ""
            if hold.line is not None:
                filename, lineno = hold.line
                source = linecache.getline(filename, lineno).strip()
                where = f" at {code_location(filename, lineno, self.cell_namer)}" + (f": {source}" if source else "")
            ago = now - (hold.end or now)
            lines.append(f"  {hold.duration:.2f} s  {hold.who}{where} ({ago:.0f} s ago)")
        return lines

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(str(self))
