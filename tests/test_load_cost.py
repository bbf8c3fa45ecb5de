"""What %load_ext imports, and the after-cell look for unstarted coroutines
(which parses a cell only when a coroutine is there to be reported).  No timing
here: the costs are measured by benchmarks/bench_foundation.py."""

from __future__ import annotations

import subprocess
import sys

from conftest import run_cell
from harness import cells_in_a_fresh_shell

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
        "asyncrepl._tasks.finished",  # a finished task's record: made when someone looks
        "asyncrepl._render.lag",  # %asyncdebug's report
    ]
    assert [name for name in deferred if name in modules] == []


DATACLASSES_MADE_AT_LOAD = """
import contextlib, dataclasses, io, sys
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
with contextlib.redirect_stdout(io.StringIO()):
    ip.run_line_magic("load_ext", "asyncrepl")
print(sorted(
    f"{name}.{attribute}"
    for name, module in list(sys.modules.items()) if name.startswith("asyncrepl")
    for attribute, value in vars(module).items()
    if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == name
))
"""


def test_load_ext_makes_no_dataclass():
    # Making a dataclass costs about a millisecond (its methods are generated
    # and compiled): the classes %load_ext needs are plain ones.
    assert subprocess.check_output([sys.executable, "-c", DATACLASSES_MADE_AT_LOAD], text=True).strip() == "[]"


def test_load_ext_leaves_ipythons_lazily_declared_run_magic_unimported():
    # IPython 9.17+ imports ExecutionMagics (%run, %time, %timeit...) at the
    # first use of one of them; asyncrepl's %run wrapper used to import it at
    # load (a quarter of the load's time).  Older IPython imports it at start.
    code = LOAD_AND_LIST.replace("with contextlib", "print(' '.join(sorted(sys.modules)))\nwith contextlib")
    before, after = (set(line.split()) for line in subprocess.check_output([sys.executable, "-c", code], text=True).splitlines())
    execution = "IPython.core.magics.execution"
    assert execution in before or execution not in after


def with_script(tmp_path, *cells):
    """*cells* in a fresh shell, SCRIPT in them a script that calls asyncio.run()."""
    script = tmp_path / "script.py"
    script.write_text("import asyncio\nasync def main():\n    return 42\nprint('script says', asyncio.run(main()))\n")
    return cells_in_a_fresh_shell(*(cell.replace("SCRIPT", str(script)) for cell in cells))


def test_run_runs_a_script_as_a_script_whichever_of_ipythons_magics_came_first(tmp_path):
    # %run first; %time first (which loads %run's class while the wrapper holds its place).
    assert "script says 42" in with_script(tmp_path, "%run SCRIPT")
    out = with_script(tmp_path, "%time x = 1", "%run SCRIPT")
    assert "Wall time" in out and "script says 42" in out and "Traceback" not in out, out
    # asyncrepl unloaded before and after any use: IPython's own %run works again.
    for first in ("x = 1", "%time x = 1", "%run SCRIPT"):
        out = with_script(tmp_path, first, "%unload_ext asyncrepl", "%run SCRIPT", "print(type(get_ipython().find_line_magic('run')).__name__)")
        assert "RuntimeError" not in out and "UsageError" not in out and "Traceback" not in out, out
        assert out.rstrip().endswith("method"), out  # IPython's bound method again, not asyncrepl's wrapper


def test_the_help_of_run_is_ipythons():
    out = cells_in_a_fresh_shell("%run?")
    assert "Run the named file inside IPython as a program." in out, out


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
