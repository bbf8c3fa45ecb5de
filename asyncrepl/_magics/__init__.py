"""asyncrepl's magics, one module per family, as IPython's ``core/magics``.

Each family is a thin adapter: it parses a line, calls the engine (plain code
over asyncio, in the underscore modules next to this package), and renders.

``%timeit_async``, ``%time_async``, ``%cancel``, ``%%timeline`` and ``%%timeout`` must await,
and a magic cannot: each returns a coroutine, and asyncrepl rewrites the cell's
call of the magic into an ``await`` of it (see ``_rewrite``), so the work runs
on the REPL's loop in the terminal and in Jupyter alike.
"""

from __future__ import annotations

from .diagnostics import DiagnosticsMagics
from .control import TaskControlMagics
from .tasks import TaskMagics
from .timeline import TimelineMagics
from .timing import TimingMagics

#: The Magics classes asyncrepl registers.
FAMILIES = (TaskMagics, TaskControlMagics, TimingMagics, TimelineMagics, DiagnosticsMagics)

#: Magics whose calls asyncrepl turns into awaits.
AWAITED_MAGICS = ("timeit_async", "time_async", "cancel", "timeline", "timeout")
