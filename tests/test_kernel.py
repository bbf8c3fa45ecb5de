"""asyncrepl in a real ipykernel, driven through jupyter_client."""

import re
import time

import pytest

from harness import DIAGNOSED, fresh_env

pytestmark = pytest.mark.kernel


@pytest.fixture
def loaded(kernel):
    k = kernel()
    reply = k.execute("%load_ext asyncrepl")
    assert reply.status == "ok"
    k.load_reply = reply
    return k


def value(k, expression):
    reply = k.execute(expression)
    assert reply.status == "ok", reply.error
    return reply.results[-1]


def test_load_says_one_line_and_turns_debug_on(loaded):
    out = loaded.load_reply.stdout
    assert len(out.strip().splitlines()) == 1 and out.startswith("asyncrepl ")
    assert value(loaded, "import asyncio; asyncio.get_running_loop().get_debug()") == "True"


def test_plain_cells_have_the_loop_and_tasks_run_between_cells(loaded):
    loaded.execute("import asyncio\nticks = []\nasync def tick():\n    while True:\n        ticks.append(1)\n        await asyncio.sleep(0.05)")
    assert loaded.execute("ticker = asyncio.create_task(tick())").status == "ok"
    before = int(value(loaded, "len(ticks)"))
    time.sleep(1)
    assert int(value(loaded, "len(ticks)")) > before + 5


def test_await_cells_still_work(loaded):
    assert value(loaded, "import asyncio\nawait asyncio.sleep(0.01)\n'awaited'") == "'awaited'"


def test_asyncio_run_in_a_cell_runs_as_the_script_would(loaded):
    reply = loaded.execute(
        "import asyncio\n\nasync def main():\n    await asyncio.sleep(0.05)\n"
        "    print('hello from main')\n    return 'result'\n\nasyncio.run(main())"
    )
    assert reply.status == "ok"
    assert reply.stdout == "hello from main\n"
    assert reply.results == ["'result'"]
    assert reply.stderr.count("asyncio.run() runs main() on the REPL's loop") == 1
    reply = loaded.execute("result = asyncio.run(main())\nprint(result)")
    assert reply.stdout == "hello from main\nresult\n" and reply.stderr == ""


def test_slow_cells_are_not_reported_and_nothing_is_left_without_a_cell(loaded):
    reply = loaded.execute("import time\ntime.sleep(0.3)")
    assert reply.stderr == ""
    time.sleep(0.2)
    reply = loaded.execute("1")
    assert reply.orphans == [] and reply.stderr == ""


def test_asyncdebug_names_a_cells_computing_as_the_cell_in_a_kernel(loaded):
    # ipykernel runs cells in its shell_main task, whose loop iteration may
    # end after the cell did: it was listed as "r11 'Task-21' (Kernel.shell_main())",
    # or as "None (the cell's own code)".
    loaded.execute("import time")
    # A second's computing: time for the monitor's samples on a loaded machine (a hold needs two).
    reply = loaded.execute("x = 0\nstarted = time.perf_counter()\nwhile time.perf_counter() - started < 1:\n    x += 1")
    assert reply.status == "ok"
    out = loaded.execute("%asyncdebug").stdout
    # Named as the cell whose loop it names (IPython 8 and 9 number cells at different moments).
    held = r"^  \d\.\d\d s  In \[(\d+)\] \(the cell's own code\) at In \[\1\] line (3: while time.perf_counter\(\)|4: x \+= 1)"
    assert re.search(held, out, re.M), out
    assert "shell_main" not in out and "None" not in out, out


def test_interrupt_cancels_the_awaited_coroutine_and_keeps_background_tasks(loaded):
    loaded.execute(
        "import asyncio\nticks = []\nasync def tick():\n    while True:\n        ticks.append(1)\n        await asyncio.sleep(0.05)\n"
        "ticker = asyncio.create_task(tick())\nresumed = []\n"
        "async def slow():\n    try:\n        await asyncio.sleep(3)\n        resumed.append(True)\n    finally:\n        print('slow cleaned up')"
    )
    msg_id = loaded.start("await slow()")
    time.sleep(1)
    loaded.interrupt()
    reply = loaded.finish(msg_id)
    assert reply.status == "error"
    assert "slow cleaned up" in reply.stdout
    time.sleep(3)
    assert value(loaded, "resumed, ticker.done()") == "([], False)"


def test_load_twice_is_harmless_and_unload_puts_things_back(kernel):
    k = kernel()
    before = value(k, "import asyncio\nip = get_ipython()\nstate = lambda: (ip.autoawait, ip.loop_runner, ip.trio_runner, list(ip.input_transformers_post), ip.custom_exceptions, asyncio.get_running_loop().get_debug(), list(__import__('logging').getLogger('asyncio').filters), [type(c).__name__ for c in ip.configurables].count('AsyncRepl'), list(ip.events.callbacks['pre_execute']))\nstate()")
    k.execute("%load_ext asyncrepl")
    assert "already loaded" in k.execute("%load_ext asyncrepl").stdout
    assert value(k, "state()") != before
    k.execute("%unload_ext asyncrepl")
    assert value(k, "state()") == before
    reply = k.execute("async def main():\n    return 1\nasyncio.run(main())")
    assert reply.status == "error"  # plain ipykernel again


def test_config_file_autoloads_in_the_kernel(kernel, tmp_path):
    profile = tmp_path / "profile_default"
    profile.mkdir()
    (profile / "ipython_kernel_config.py").write_text(
        'c.InteractiveShellApp.extensions = ["asyncrepl"]\nc.AsyncRepl.slow_callback_duration = 0.3\n'
    )
    k = kernel(env=fresh_env(str(tmp_path)))
    assert value(k, "import asyncio; asyncio.get_running_loop().slow_callback_duration, asyncio.get_running_loop().get_debug()") == "(0.3, True)"
    reply = k.execute("%config AsyncRepl")
    assert "AsyncRepl.slow_callback_duration" in reply.stdout



def test_loaded_from_config_no_output_arrives_without_a_cell(kernel, tmp_path):
    # The load banner belongs to the cell that ran %load_ext; at start-up no
    # cell owns it (jupyter console glued it to In [1]).
    profile = tmp_path / "profile_default"
    profile.mkdir()
    (profile / "ipython_kernel_config.py").write_text('c.InteractiveShellApp.extensions = ["asyncrepl"]\n')
    k = kernel(env=fresh_env(str(tmp_path)))
    orphans = k.drain(1.0)
    reply = k.execute("print('first'); 'asyncrepl' in get_ipython().extension_manager.loaded")
    orphans += reply.orphans + k.drain(0.5)
    assert orphans == []
    assert reply.stdout == "first\n" and reply.results == ["True"]


# %timeit_async and %time_async ----------------------------------------------


def test_timing_magics_in_the_kernel(loaded):
    loaded.execute("import asyncio\nasync def add_one(x):\n    return x + 1\nasync def boom():\n    raise ValueError('boom inside')")
    reply = loaded.execute("%timeit_async -n 3 -r 2 asyncio.sleep(0.02)")
    assert reply.status == "ok"
    assert "per loop (mean ± std. dev. of 2 runs, 3 loops each)" in reply.stdout
    reply = loaded.execute("r = %timeit_async -o -q -n 5 -r 3 add_one(1)\nr.loops, r.repeat, len(r.timings)")
    assert reply.results == ["(5, 3, 3)"] and reply.stdout == ""
    reply = loaded.execute("%time_async add_one(41)")
    assert reply.results == ["42"] and "Wall time:" in reply.stdout
    reply = loaded.execute("%timeit_async boom()", stop_on_error=False)
    assert reply.status == "error" and reply.error["ename"] == "ValueError"
    assert "per loop" not in reply.stdout
    reply = loaded.execute("%timeit_async 1 + 1", stop_on_error=False)
    assert reply.status == "error"
    assert reply.stderr.strip() == "UsageError: '1 + 1' is not awaitable (it gives int); to time plain code use %timeit"
    assert value(loaded, "asyncio.get_running_loop().get_debug()") == "True"


# %tasks and %cancel ------------------------------------------------------------


def test_tasks_table_is_html_with_a_text_fallback_and_hides_the_kernels_tasks(loaded):
    loaded.execute("import asyncio\nasync def worker(n):\n    await asyncio.sleep(n)\nw = asyncio.create_task(worker(30), name='worker-1')")
    reply = loaded.execute("%tasks")
    assert reply.status == "ok"
    assert len(reply.html) == 1 and reply.html[0].startswith("<table>") and "worker-1" in reply.html[0]
    assert "worker-1" in reply.results[0] and "worker()" in reply.results[0]
    assert "shell_main" not in reply.results[0] and "run_cell_async" not in reply.results[0]
    reply = loaded.execute("%tasks --all")
    assert "Kernel." in reply.results[0] or "*" in reply.results[0]


def test_cancel_and_done_in_the_kernel(loaded):
    loaded.execute("import asyncio\nasync def worker(n):\n    await asyncio.sleep(n)\nw = asyncio.create_task(worker(30), name='worker-1')")
    reply = loaded.execute("%cancel worker-1")
    assert reply.status == "ok" and reply.stdout.startswith("cancelled: task ") and "'worker-1' (worker())" in reply.stdout
    reply = loaded.execute("%tasks --done")
    assert "cancelled" in reply.results[0] and "by %cancel" in reply.results[0]
    reply = loaded.execute("%cancel nobody", stop_on_error=False)
    assert reply.status == "error" and reply.stderr.strip() == "UsageError: no task matches 'nobody' (see %tasks)"
    assert value(loaded, "w.cancelled()") == "True"


# diagnostics ---------------------------------------------------------------------



def test_unawaited_coroutines_are_reported_in_the_cell(loaded):
    loaded.execute(DIAGNOSED)
    reply = loaded.execute("add_one(1);")
    assert "asyncrepl: coroutine add_one() was never awaited, at In [" in reply.stderr
    assert "did you mean: await add_one(1)" in reply.stderr
    assert "RuntimeWarning" not in reply.stderr and "interactiveshell" not in reply.stderr
    reply = loaded.execute("add_one(2)")
    assert "gave a coroutine" in reply.stderr and "did you mean: await add_one(2)" in reply.stderr
    reply = loaded.execute("1")
    assert reply.stderr == ""  # not repeated


def test_background_reports_go_to_the_cell_that_made_the_task(loaded):
    loaded.execute(DIAGNOSED)
    blocked_id = loaded.start("b = asyncio.create_task(blocker(), name='blk')")
    loaded.finish(blocked_id)
    failed_id = loaded.start("f = asyncio.create_task(bad(), name='bad')")
    loaded.finish(failed_id)
    orphans = loaded.drain(1.5)
    assert orphans == []
    assert "'blk' (blocker()) held the loop for 0." in loaded.late.get(blocked_id, "")
    assert "time.sleep(0.4)" in loaded.late[blocked_id]
    assert "'bad' (bad()) failed: ValueError: boom" in loaded.late.get(failed_id, "")
    assert "Executing <Task" not in "".join(loaded.late.values())


def test_a_failure_awaited_right_away_is_not_reported(loaded):
    loaded.execute(DIAGNOSED)
    reply = loaded.execute("g = asyncio.create_task(bad())\ntry:\n    await g\nexcept ValueError as e:\n    print('caught', e)")
    assert reply.stdout == "caught boom\n" and reply.stderr == ""
    assert loaded.drain(0.5) == [] and "failed" not in "".join(loaded.late.values())


def test_a_slow_cell_is_not_a_blocked_loop_in_the_kernel(loaded):
    reply = loaded.execute("import time\ntime.sleep(0.4)")
    assert reply.stderr == "" and reply.orphans == []


def test_timeline_is_svg_with_a_text_fallback(loaded):
    loaded.execute("import asyncio\nasync def delay(s):\n    await asyncio.sleep(s)\n    return s")
    reply = loaded.execute("%%timeline\nawait asyncio.gather(delay(0.2), delay(0.2))")
    assert reply.status == "ok"
    assert reply.html == [] and reply.svg and reply.svg[0].startswith("<svg") and "delay()" in reply.svg[0]
    assert reply.results[0].startswith("cell ") and "concurrency" in reply.results[0]
