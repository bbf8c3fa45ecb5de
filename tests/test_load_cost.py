"""What %load_ext imports, and the after-cell look for unstarted coroutines
(which parses a cell only when a coroutine is there to be reported).  No timing
here: the costs are measured by benchmarks/bench_foundation.py."""

from __future__ import annotations

import subprocess
import sys

from conftest import run_cell

LOAD_AND_LIST = """
import contextlib, io, sys
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
with contextlib.redirect_stdout(io.StringIO()):
    ip.run_line_magic("load_ext", "asyncrepl")
print(" ".join(sorted(sys.modules)))
"""


def test_load_ext_imports_neither_the_attach_code_nor_what_only_some_magics_need():
    modules = set(subprocess.check_output([sys.executable, "-c", LOAD_AND_LIST], text=True).split())
    assert "asyncrepl._session" in modules  # it did load
    deferred = [
        "asyncrepl._attach",
        "zmq",
        "asyncrepl._why",
        "asyncrepl._timeline",
        "asyncrepl._render.timeline",
        # imported by the first magic or report that needs them
        "asyncrepl._tasks.awaits",
        "asyncrepl._tasks.cancelling",
        "asyncrepl._tasks.resolve",
        "asyncrepl._tasks.rows",
        "asyncrepl._timing",
    ]
    assert [name for name in deferred if name in modules] == []


HELP_OF_EACH_PARSED_MAGIC = """
import contextlib, io
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
with contextlib.redirect_stdout(io.StringIO()):
    ip.run_line_magic("load_ext", "asyncrepl")
magics = {"tasks": "line", "cancel": "line", "timeline": "cell", "timeout": "cell"}
made = [name for name, kind in magics.items() if "::" in ip.find_magic(name, kind).__doc__]
print("made at load:", made)
for name, kind in magics.items():
    page = io.StringIO()
    with contextlib.redirect_stdout(page):
        ip.run_line_magic("pinfo", ("%" if kind == "line" else "%%") + name)
    print(page.getvalue())
"""


def test_each_magics_parser_is_made_at_its_first_use_and_its_help_shows_every_option():
    out = subprocess.check_output([sys.executable, "-c", HELP_OF_EACH_PARSED_MAGIC], text=True)
    assert "made at load: []" in out
    for usage in ("%tasks [--all] [--tree]", "%cancel [--all]", "%timeline [-o] [--limit LIMIT]", "%timeout seconds"):
        assert usage in out, usage
    assert "List the pending tasks of the REPL's loop" in out  # the docstring's own text, kept


def test_unstarted_coroutines_are_reported_after_the_cell_and_only_then(shell, capsys):
    shell.run_line_magic("load_ext", "asyncrepl")
    run_cell(shell, capsys, "async def add_one(x):\n    return x + 1")
    _, out = run_cell(shell, capsys, "result = add_one(1)")
    assert "result holds a coroutine that has not run (it runs when awaited)" in out
    assert "did you mean: result = await add_one(1)" in out
    _, out = run_cell(shell, capsys, "y = 2")  # the coroutine is still there, reported already: nothing new
    assert "holds a coroutine" not in out
    _, out = run_cell(shell, capsys, "other = add_one(2); z = 3")
    assert "other holds a coroutine that has not run" in out
    assert "result holds" not in out  # only what this cell assigned
    _, out = run_cell(shell, capsys, "add_one(3)")
    assert "add_one(3) gave a coroutine, which does nothing until it is awaited" in out
    run_cell(shell, capsys, "_.close(); result.close(); other.close(); del result, other")  # no warnings at exit
    _, out = run_cell(shell, capsys, "x = 1")
    assert "coroutine" not in out


def test_a_cell_that_unloads_asyncrepl_still_ends(shell, capsys):
    # The loop monitor stops the loop once a cell's task is done; unloaded
    # during the cell, it hands that over to a done callback.
    shell.run_line_magic("load_ext", "asyncrepl")
    result, _ = run_cell(shell, capsys, "import asyncio\nawait asyncio.sleep(0)\n%unload_ext asyncrepl\nawait asyncio.sleep(0.01)\n'ended'")
    assert result.result == "ended"
    assert "asyncrepl" not in shell.extension_manager.loaded
    result, _ = run_cell(shell, capsys, "await asyncio.sleep(0)\n'again'")  # plain IPython's runner again
    assert result.result == "again"
