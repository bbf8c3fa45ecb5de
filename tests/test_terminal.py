"""asyncrepl in a real IPython terminal, driven through a pty."""

import json
import re
import time

import pytest

from harness import BIN, DIAGNOSED, fresh_env, strip_escapes

pytestmark = pytest.mark.terminal

TICKER = """\
import asyncio, time
ticks = []
async def tick():
    while True:
        ticks.append(1)
        await asyncio.sleep(0.1)
"""


def start_with_ticker(terminal, *args):
    term = terminal("asyncrepl", *args)
    term.run(TICKER)
    term.run("ticker = asyncio.create_task(tick())")
    return term


def count(term, expression):
    return term.value(expression)


# 1 -------------------------------------------------------------------------


def test_load_ext_says_one_line_and_every_cell_has_the_running_loop(terminal):
    term = terminal("ipython")
    out = term.run("%load_ext asyncrepl")
    assert len(out.strip().splitlines()) == 1 and out.startswith("asyncrepl ")
    assert "debug mode on" in out
    assert count(term, "import asyncio; asyncio.get_running_loop().get_debug()") == "True"

    term.run("async def answer():\n    return 42\n")
    assert "Error" not in term.run("t = asyncio.create_task(answer())")
    assert count(term, "t.result()") == "42"  # it ran without any await cell


def test_asyncrepl_command_loads_the_extension(terminal):
    term = terminal("asyncrepl")
    assert term.startup.strip().startswith("asyncrepl ")
    assert count(term, "import asyncio; asyncio.get_running_loop().get_debug()") == "True"


def test_python_m_asyncrepl_passes_arguments_on_to_ipython():
    import pexpect

    child = pexpect.spawn(
        str(BIN / "python"),
        ["-m", "asyncrepl", "--colors=nocolor", "--no-banner", "--TerminalInteractiveShell.term_title=False",
         "-c", "import asyncio; print(asyncio.get_running_loop().get_debug())"],
        env=fresh_env(), encoding="utf-8", timeout=30,
    )
    child.expect(pexpect.EOF)
    # -c without -i prints the code's output only (no banner): see test_hosts_scripts
    assert [line for line in strip_escapes(child.before).splitlines() if line] == ["True"]


def test_config_file_autoloads_and_configures(terminal, tmp_path):
    profile = tmp_path / "profile_default"
    profile.mkdir()
    (profile / "ipython_config.py").write_text(
        'c.InteractiveShellApp.extensions = ["asyncrepl"]\n'
        "c.AsyncRepl.slow_callback_duration = 0.25\n"
    )
    term = terminal("ipython", env=fresh_env(str(tmp_path)))
    assert term.startup.strip().startswith("asyncrepl ")
    assert count(term, "import asyncio; asyncio.get_running_loop().slow_callback_duration") == "0.25"
    out = term.run("%config AsyncRepl")
    assert "AsyncRepl.debug" in out and "Current: 0.25" in out


# 2 -------------------------------------------------------------------------


def test_background_tasks_keep_running_while_the_prompt_waits(terminal):
    term = start_with_ticker(terminal)
    before = int(count(term, "len(ticks)"))
    time.sleep(2)
    after = int(count(term, "len(ticks)"))
    assert 10 <= after - before <= 40  # about 20: one tick per 0.1 s


def test_background_output_appears_above_the_prompt_without_garbling_input(terminal):
    term = terminal("asyncrepl")
    term.run("import asyncio\nasync def talk():\n    for i in range(5):\n        await asyncio.sleep(0.2)\n        print(f'chatter {i}')\n")
    term.run("talker = asyncio.create_task(talk())")
    term.child.send("typed = 'half")  # the user is in the middle of typing
    shown = term.read_pending(1.6)
    term.child.send(" done'\r")
    term.wait()
    assert all(f"chatter {i}" in shown for i in range(5))
    assert count(term, "typed") == "'half done'"


# 3 -------------------------------------------------------------------------


def test_asyncio_run_in_a_cell_runs_as_the_script_would(terminal):
    term = terminal("asyncrepl")
    out = term.run(
        "import asyncio\n\nasync def main():\n    await asyncio.sleep(0.1)\n"
        "    print('hello from main')\n    return 'result'\n\nasyncio.run(main())\n"
    )
    assert "hello from main" in out
    assert "Out[1]: 'result'" in out
    assert out.count("asyncrepl: asyncio.run() runs main() on the REPL's loop") == 1
    out = term.run("result = asyncio.run(main())\nprint(result)")
    assert "asyncrepl:" not in out  # said once
    assert out.splitlines()[-1] == "result"


def test_asyncio_run_from_deeper_code_runs_as_in_a_script(terminal):
    term = terminal("asyncrepl")
    term.run("import asyncio\nasync def main():\n    print('main ran')\n    return 1\n\ndef deeper():\n    return asyncio.run(main())\n")
    out = term.run("deeper()")
    assert "main ran" in out and "Out[2]: 1" in out
    assert "RuntimeError" not in out and "never awaited" not in out


def test_ctrl_c_in_a_script_run_on_a_fresh_loop_does_what_the_script_does(terminal):
    # asyncio.run cancels main() on the first Ctrl-C, then raises KeyboardInterrupt.
    term = terminal("asyncrepl")
    term.run(
        "import asyncio\nasync def main():\n    try:\n        await asyncio.sleep(30)\n"
        "    finally:\n        print('main cleaned up')\n\ndef deeper():\n    return asyncio.run(main())\n"
    )
    term.type("deeper()")
    time.sleep(1)
    term.ctrl_c()
    out = term.wait(timeout=10)
    assert "main cleaned up" in out and "KeyboardInterrupt" in out
    assert term.value("await asyncio.sleep(0.01) or 'healthy'") == "'healthy'"
    # and Ctrl-C is the REPL's again
    term.type("await asyncio.sleep(30)")
    time.sleep(0.5)
    term.ctrl_c()
    assert term.wait(timeout=10).strip().endswith("KeyboardInterrupt: the cell was waiting at In [4] line 1: await asyncio.sleep(30)")


# 4 -------------------------------------------------------------------------


def test_ctrl_c_cancels_what_the_cell_awaits_and_nothing_else(terminal):
    term = start_with_ticker(terminal)
    term.run(
        "resumed = []\nasync def slow():\n    try:\n        await asyncio.sleep(3)\n        resumed.append(True)\n"
        "    except asyncio.CancelledError:\n        print('slow got CancelledError')\n        raise\n"
        "    finally:\n        print('slow cleaned up')\n"
    )
    term.type("await slow()")
    time.sleep(1)
    term.ctrl_c()
    out = term.wait(timeout=10)
    lines = [line.replace("^C", "") for line in out.splitlines()]
    lines = [line for line in lines if line.strip()]
    assert lines[:2] == ["slow got CancelledError", "slow cleaned up"] and len(lines) == 3, lines
    assert re.fullmatch(r"KeyboardInterrupt: the cell was waiting at In \[\d+\] line 4: await asyncio.sleep\(3\)", lines[2]), lines
    before = int(count(term, "len(ticks)"))
    term.run("await asyncio.sleep(3)")  # long enough for slow() to have resumed
    assert count(term, "resumed") == "[]"
    assert count(term, "ticker.done()") == "False"
    assert int(count(term, "len(ticks)")) > before + 10


def test_ctrl_c_in_a_running_cell_is_a_plain_keyboard_interrupt(terminal):
    term = terminal("asyncrepl")
    term.type("import time\nfor i in range(100):\n    time.sleep(0.1)\n")
    time.sleep(1)
    term.ctrl_c()
    out = term.wait(timeout=10)
    assert "KeyboardInterrupt" in out
    assert "base_events" not in out and "asyncio" not in out


# 5 -------------------------------------------------------------------------

SPIN = "async def spin():\n    await asyncio.sleep(0.3)\n    while True:\n        pass\n"


def test_ctrl_c_stops_a_task_that_spins_at_the_prompt(terminal):
    term = start_with_ticker(terminal)
    term.run(SPIN)
    term.run("spinner = asyncio.create_task(spin())")
    time.sleep(1.5)  # the prompt is frozen now
    term.ctrl_c()
    out = term.read_pending(1.5)
    assert re.search(r"asyncrepl: Ctrl-C cancelled task \d+ '[^']+' \(spin\(\)\), which held the loop at In \[\d+\] line [34]", out), out
    assert "escaped interact" not in out
    assert "Executing <Task" not in out  # asyncio does not report the same episode again
    assert count(term, "spinner.cancelled()") == "True"
    before = int(count(term, "len(ticks)"))
    time.sleep(1)
    assert int(count(term, "len(ticks)")) > before + 4


def test_ctrl_c_stops_a_spinning_task_while_a_cell_awaits(terminal):
    term = start_with_ticker(terminal)
    term.run(SPIN)
    term.type("spinner = asyncio.create_task(spin()); await asyncio.sleep(30)")
    time.sleep(1.5)
    term.ctrl_c()
    out = term.wait(timeout=10)
    assert "Ctrl-C cancelled task" in out and "(spin())" in out
    assert "KeyboardInterrupt" in out and "escaped interact" not in out
    assert count(term, "spinner.cancelled(), ticker.done()") == "(True, False)"


def test_ctrl_c_at_an_idle_prompt_clears_the_line(terminal):
    term = terminal("asyncrepl")
    term.child.send("half typed")
    time.sleep(0.5)
    term.ctrl_c()
    time.sleep(0.5)
    term.child.send("1 + 1\r")
    out = term.wait()
    assert "Out[1]: 2" in out
    assert "escaped interact" not in out


# 6 -------------------------------------------------------------------------


def test_load_twice_is_harmless_and_unload_restores_plain_ipython(terminal):
    term = terminal("ipython")
    plain_autoawait = term.run("%autoawait")
    plain_gui = count(term, "str(get_ipython().active_eventloop)")
    term.run("%load_ext asyncrepl")
    assert "already loaded" in term.run("%load_ext asyncrepl")
    term.run(TICKER)
    term.run("ticker = asyncio.create_task(tick())")
    term.run("%unload_ext asyncrepl")
    assert term.run("%autoawait") == plain_autoawait
    assert count(term, "str(get_ipython().active_eventloop)") == plain_gui
    assert "no running event loop" in term.run("asyncio.get_running_loop()")
    # Plain IPython again: the loop (and the ticker) stand still at the prompt.
    before = int(count(term, "len(ticks)"))
    time.sleep(1)
    assert int(count(term, "len(ticks)")) == before
    # ...and run only during await cells, as before asyncrepl was loaded.
    assert count(term, "asyncio.get_running_loop().get_debug() if False else 0") == "0"
    out = term.run("await asyncio.sleep(0.5); len(ticks) > %d" % before)
    assert out.endswith("True")
    assert count(term, "asyncio.get_event_loop_policy() and __import__('IPython').core.async_helpers.get_asyncio_loop().get_debug()") == "False"


def test_a_previous_gui_asyncio_is_taken_over_and_given_back(terminal):
    term = terminal("ipython")
    term.run("%gui asyncio")
    out = term.run("%load_ext asyncrepl")
    assert "also at the prompt" in out
    assert count(term, "str(get_ipython().active_eventloop)") == "'asyncrepl'"
    term.run("%unload_ext asyncrepl")
    assert count(term, "str(get_ipython().active_eventloop)") == "'asyncio'"


# %timeit_async and %time_async ----------------------------------------------

TIMEIT_LINE = re.compile(r"[\d.]+ (s|ms|μs|us|ns) ± [\d.]+ (s|ms|μs|us|ns) per loop \(mean ± std\. dev\. of \d+ runs?, [\d,]+ loops? each\)")


def test_timeit_async_in_the_terminal(terminal):
    term = terminal("asyncrepl")
    term.run("import asyncio\nasync def add_one(x):\n    return x + 1\n")
    out = term.run("%timeit_async -n 3 -r 2 asyncio.sleep(0.02)")
    assert TIMEIT_LINE.fullmatch(out.strip()), out
    mean, unit = out.split()[:2]
    assert unit == "ms" and 20 <= float(mean) < 500  # a 20 ms sleep: at least 20 ms (a sanity bound)
    out = term.run("%%timeit_async -n 10 x = 1\nawait add_one(x)\n")
    # %timeit's own warning may come first on a loaded machine (10 loops of ~1 us).
    assert TIMEIT_LINE.fullmatch(out.strip().splitlines()[-1]), out
    assert all(line.startswith("The slowest run took") for line in out.strip().splitlines()[:-1]), out
    out = term.run("%time_async add_one(41)")
    assert "CPU times: user" in out and "Wall time:" in out and "Out[4]: 42" in out
    assert term.run("%timeit_async 1 + 1").strip() == (
        "UsageError: '1 + 1' is not awaitable (it gives int); to time plain code use %timeit"
    )


def test_ctrl_c_during_timeit_async_gives_the_prompt_back_with_debug_restored(terminal):
    term = start_with_ticker(terminal)
    term.type("%timeit_async asyncio.sleep(1)")
    time.sleep(1.5)
    term.ctrl_c()
    out = term.wait(timeout=10)
    assert "KeyboardInterrupt" in out and "per loop" not in out
    assert count(term, "asyncio.get_running_loop().get_debug(), ticker.done()") == "(True, False)"


# %tasks and %cancel ----------------------------------------------------------------


def test_tasks_and_cancel_in_the_terminal(terminal):
    term = terminal("asyncrepl")
    term.run("import asyncio\nasync def worker(n):\n    await asyncio.sleep(n)\n\nasync def main():\n    await asyncio.gather(worker(30), worker(40))\n")
    term.run("job = asyncio.create_task(main(), name='job')")
    out = term.run("%tasks")
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["id", "name", "state", "coroutine"]
    assert any(" job " in line and "main()" in line and "gather: tasks" in line for line in lines)
    assert sum("worker()" in line for line in lines) == 2
    assert "prompt_toolkit" not in out and "run_cell_async" not in out and "Task-" not in out.split("job")[0]
    tree = term.run("%tasks --tree")
    assert tree.splitlines()[0].endswith("(gather: tasks " + tree.splitlines()[0].split("gather: tasks ")[1])
    assert tree.splitlines()[1].startswith("├── ") and tree.splitlines()[2].startswith("└── ")
    out = term.run("%cancel job")
    assert re.fullmatch(r"cancelled: task \d+ 'job' \(main\(\)\)", out.strip())
    assert term.run("%tasks").strip() == "no pending tasks"  # nor any of the REPL's: no hint about --all
    out = term.run("%tasks --done")
    assert sum("cancelled" in line for line in out.splitlines()) == 3  # job and both workers


# diagnostics -----------------------------------------------------------------------



def test_never_awaited_coroutines_at_the_users_line(terminal):
    term = terminal("asyncrepl")
    term.run(DIAGNOSED)
    out = term.run("add_one(1)")
    assert out.index("Out[2]: <coroutine object add_one") < out.index("asyncrepl: add_one(1) gave a coroutine")
    assert "did you mean: await add_one(1)" in out
    out = term.run("add_one(1);")
    assert out.strip() == "asyncrepl: coroutine add_one() was never awaited, at In [3] line 1: add_one(1);\n  did you mean: await add_one(1)"
    out = term.run("await hello()")
    assert "coroutine add_one() was never awaited, at In [1] line 6: add_one(1)" in out
    out = term.run("result = add_one(1)")
    assert out.strip() == "asyncrepl: result holds a coroutine that has not run (it runs when awaited)\n  did you mean: result = await add_one(1)"
    assert term.run("1 + 1").strip() == "Out[6]: 2"  # nothing repeated


def test_blocked_loop_and_failed_task_reported_above_the_prompt(terminal):
    term = terminal("asyncrepl")
    term.run(DIAGNOSED)
    term.run("b = asyncio.create_task(blocker(), name='blk'); f = asyncio.create_task(bad(), name='bad')")
    shown = term.read_pending(1.5)
    assert re.search(r"asyncrepl: task \d+ 'blk' \(blocker\(\)\) held the loop for 0\.\d+ s at In \[1\] line 11: time\.sleep\(0\.4\)", shown), shown
    assert re.search(r"asyncrepl: task \d+ 'bad' \(bad\(\)\) failed: ValueError: boom, created at In \[2\] line 1", shown), shown
    assert "Executing <Task" not in shown and "never retrieved" not in shown
    assert term.run("time.sleep(0.3)").strip() == ""  # a slow cell is not a blocked loop


def test_the_mark_between_a_cell_and_its_prompt_is_gone_once_the_loop_is_free(terminal):
    # A step that holds the loop right after a cell gets the holding mark on
    # the line the prompt will take, erased once the loop is free: the output
    # read off the screen has the report, never the mark (the pty's raw text
    # has both; a Ctrl-C test read a mark so as a line of its output).
    term = terminal("asyncrepl")
    out = term.run("import asyncio, time; asyncio.get_running_loop().call_soon(time.sleep, 0.8);")
    assert re.fullmatch(r"asyncrepl: a callback held the loop for 0\.8\d s", out.strip()), out
    assert term.value("1 + 1") == "2"


def test_asyncdebug_shows_and_switches(terminal):
    term = terminal("asyncrepl")
    out = term.run("%asyncdebug")
    assert "asyncio debug mode         on" in out and "over 0.1 s" in out
    out = term.run("%asyncdebug off")
    for what in ("asyncio debug mode", "blocked loop", "never-awaited coroutines", "failed background tasks"):
        assert re.search(rf"^{what} +off ", out, re.M), out
    term.run(DIAGNOSED)
    out = term.run("add_one(1);")
    assert "asyncrepl" not in out and "RuntimeWarning: coroutine 'add_one' was never awaited" in out
    assert term.run("%asyncdebug sometimes").strip() == "UsageError: usage: %asyncdebug [on|off|-o], not 'sometimes'"


def test_timeline_in_the_terminal(terminal, tmp_path):
    term = terminal("asyncrepl")
    term.run("import asyncio\nasync def delay(s):\n    await asyncio.sleep(s)\n    return s\n")
    trace = tmp_path / "trace.json"
    out = term.run(f"%%timeline --save {trace}\nawait asyncio.gather(delay(0.5), delay(0.5), delay(0.5))\n")
    lines = out.splitlines()
    assert lines[0].startswith("cell ")
    # Each row: created (a task may wait for its first turn, as long as the
    # machine makes it), ran, waited, ran and returned.  test_timeline_magic
    # checks the drawing against the recording column by column.
    # (a row that ends a column before the cell's ends in a space)
    rows = [line.rstrip() for line in lines if re.match(r"\d+ Task-\d+ delay\(\)\s+[ ─]*█[─█]*─[─█]*● *$", line)]
    assert len(rows) == 3
    assert lines[-2:] == [f"Trace saved to {trace}: open it at https://ui.perfetto.dev (or chrome://tracing, https://www.speedscope.app)", "Out[2]: [0.5, 0.5, 0.5]"]
    chart = lines[:-2]
    assert all(len(line) <= 160 for line in chart) and max(len(line) for line in chart) > 120  # the terminal's width
    assert re.search(r"concurrency (2\.[5-9]|3\.[01])x", chart[-1])
    events = json.loads(trace.read_text())["traceEvents"]
    threads = [e["args"]["name"] for e in events if e["name"] == "thread_name"]
    assert threads == ["cell"] + [re.sub(r"^(\d+) (\S+) delay\(\).*", r"\1 '\2' (delay())", row) for row in rows]
    assert sum(e["name"] == "delay()" for e in events) == 6 and sum(e["name"] == "waiting: sleep" for e in events) == 3


def test_resizing_the_terminal_redraws_the_prompt_at_once(terminal):
    # asyncrepl turns off prompt_toolkit's size polling and passes SIGWINCH on.
    term = terminal("asyncrepl")
    term.child.send("half typed")
    term.read_pending(0.3)
    term.child.setwinsize(30, 100)  # sends SIGWINCH
    redrawn = term.read_pending(0.3)
    assert "In [1]:" in redrawn and "half typed" in redrawn, repr(redrawn)
    term.child.send(" = 1\r")
    term.wait()
    assert "Out[2]: 100" in term.run("import shutil; shutil.get_terminal_size().columns")


def test_autoawait_trio_steps_aside_and_asyncio_comes_back(terminal):
    pytest.importorskip("trio")
    term = terminal("asyncrepl")
    out = term.run("%autoawait trio")
    assert "cells now run with _trio_runner" in out and "'%autoawait asyncio' brings asyncrepl back" in out
    assert "_trio_runner" in term.run("%autoawait")
    assert "Error" not in term.run("import trio\nawait trio.sleep(0.01)\nprint('trio ran')"), "trio cell failed"
    out = term.run("%autoawait asyncio")
    assert "cells run on the REPL's loop again" in out
    assert "asyncrepl" in term.run("%autoawait")
    assert count(term, "import asyncio; asyncio.get_running_loop().get_debug()") == "True"


def test_the_loops_slow_callback_duration_is_asyncrepls_threshold(terminal):
    # Books show `loop.slow_callback_duration = 0.25`; it is one setting with AsyncRepl's.
    term = terminal("asyncrepl")
    term.run("import asyncio, time\nasyncio.get_running_loop().slow_callback_duration = 0.25")
    assert "0.25" in term.run("%config AsyncRepl.slow_callback_duration")
    term.run("async def block(s):\n    time.sleep(s)\n")
    assert "held the loop" not in term.run("await asyncio.create_task(block(0.15))")
    assert "held the loop for 0.3" in term.run("await asyncio.create_task(block(0.35))")
    term.run("%config AsyncRepl.slow_callback_duration = 0.1")
    assert count(term, "asyncio.get_running_loop().slow_callback_duration") == "0.1"
