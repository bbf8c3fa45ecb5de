"""Never stuck: a cell that refuses to stop gives the prompt back (issue 18).

A cell awaiting a TaskGroup (or a gather) whose child swallows the
cancellation can never finish.  The first Ctrl-C (or Jupyter's Interrupt)
cancels it as always; a second one, or a moment past its deadline, lets go of
it: the prompt (the kernel's reply) is back at once, the statement goes on in
the background as a task of the user's named after the cell, and one line
names the task that refuses and where it caught the cancellation.

Each statement that awaits is driven by the cell's own task, step for step,
so that letting go is possible at all: scheduling is exactly a script's.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import pytest

from conftest import run_cell as run

SWALLOWS = """\
import asyncio
released = []  # the tests' cleanup stops it
async def child():
    while not released:
        try:
            await asyncio.sleep(10)
        except BaseException:
            pass
"""

STUCK_IN_FINALLY = """\
import asyncio
released = []
async def child():
    try:
        await asyncio.sleep(10)
    finally:
        while not released:
            await asyncio.sleep(0.05)
"""

GROUP = "async with asyncio.TaskGroup() as tg:\n    tg.create_task(child(), name='stubborn')\n"


@pytest.fixture
def ip(shell):
    shell.run_line_magic("load_ext", "asyncrepl")
    yield shell
    # What refused to stop stops now: the next test starts with no task of these.
    shell.run_cell(
        "released.append(True)\n"
        "_stuck = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()\n"
        "          and (t.get_name() == 'stubborn' or t.get_name().startswith('In ['))]\n"
        "for _t in _stuck:\n"
        "    _t.cancel()  # wakes a child that swallows it, to see it is released\n"
        "if _stuck:\n"
        "    await asyncio.wait(_stuck, timeout=5)\n"
    )


def ctrl_c_after(*delays: float) -> None:
    """SIGINT to this process after each of *delays* seconds (as Ctrl-C sends it)."""

    def send() -> None:
        for delay in delays:
            time.sleep(delay)
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=send, daemon=True).start()


def said_let_go(ip, capsys, out: str, waiting_at: str, because: str) -> tuple[str, str]:
    """Check that a let-go cell ended with exactly two lines: Ctrl-C's, saying
    where it was waiting (*waiting_at*: "LINE: source", a pattern), and what
    goes on in the background, *because* (a pattern; ``\\2`` is that task's
    id).  The cell's name, and the ``%tasks`` row of the task it goes on in."""
    lines = out.strip().splitlines()
    assert re.fullmatch(rf"KeyboardInterrupt: the cell was waiting at In \[\d+\] line {waiting_at}", lines[0]), out
    said = re.fullmatch(
        rf"asyncrepl: (In \[\d+\]) goes on in the background as task (\d+) \(%tasks \2\), because {because}", lines[1]
    )
    assert said and len(lines) == 2, out
    _, table = run(ip, capsys, "%tasks")
    return said.group(1), next(line for line in table.splitlines() if line.startswith(said.group(2) + " "))


# -- in-process ------------------------------------------------------------------------


def test_a_second_ctrl_c_lets_go_of_a_cell_whose_child_swallows_the_cancellation(ip, capsys):
    run(ip, capsys, SWALLOWS)
    ctrl_c_after(0.5, 0.5)
    started = time.monotonic()
    result, out = run(ip, capsys, GROUP)
    assert time.monotonic() - started < 20  # before the fix: never returned
    cell, row = said_let_go(
        ip,
        capsys,
        out,
        r"1: async with asyncio.TaskGroup\(\) as tg:",
        r"task \d+ 'stubborn' \(child\(\)\) caught CancelledError at In \[\d+\] line 7: except BaseException: and went on",
    )
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    # The cell's statement goes on, listed under the cell's name and the id it was given.
    assert cell in row and row.rstrip().endswith(cell + " line 1")  # created where the cell's statement is
    # The REPL is healthy: the next cell awaits and returns.
    result, _ = run(ip, capsys, "await asyncio.sleep(0.01, 'fine')")
    assert result.result == "fine"


def test_a_child_stuck_in_its_finally_is_named_as_still_handling(ip, capsys):
    run(ip, capsys, STUCK_IN_FINALLY)
    ctrl_c_after(0.5, 0.5)
    _, out = run(ip, capsys, "await asyncio.gather(asyncio.create_task(child(), name='stubborn'))")
    assert "KeyboardInterrupt: the cell was waiting at In [" in out
    assert re.search(r"because task \d+ 'stubborn' \(child\(\)\) is still handling CancelledError, waiting at In \[\d+\] line 8: await asyncio.sleep\(0.05\)", out), out


def test_the_cells_deadline_lets_go_of_a_cell_that_refuses_to_stop(ip, capsys):
    run(ip, capsys, SWALLOWS)
    run(ip, capsys, "%config AsyncRepl.cell_timeout = 0.5")
    try:
        started = time.monotonic()
        result, out = run(ip, capsys, GROUP)
        assert time.monotonic() - started < 20
    finally:
        run(ip, capsys, "%config AsyncRepl.cell_timeout = 0")
    lines = out.strip().splitlines()
    assert lines[0].startswith("TimeoutError: the cell was cancelled after 0.5 s; it was waiting at In ["), out
    assert "caught CancelledError at In [" in lines[1] and "goes on in the background as task" in lines[1]
    assert type(result.error_in_exec) is TimeoutError and str(result.error_in_exec) == lines[0].split(": ", 1)[1]


def test_the_timeout_magic_lets_go_of_a_cell_that_refuses_to_stop(ip, capsys):
    run(ip, capsys, SWALLOWS)
    started = time.monotonic()
    result, out = run(ip, capsys, "%%timeout 0.5\n" + GROUP)
    assert time.monotonic() - started < 20
    assert out.startswith("TimeoutError: the cell was cancelled after 0.5 s; it was waiting at In ["), out
    assert "'stubborn' (child()) caught CancelledError at In [" in out
    assert type(result.error_in_exec) is TimeoutError


def test_ctrl_c_says_where_the_cell_was_waiting(ip, capsys):
    run(ip, capsys, "import asyncio\nasync def fetch(q):\n    return await q.get()\n")
    ctrl_c_after(0.5)
    result, out = run(ip, capsys, "q = asyncio.Queue()\ntry:\n    await fetch(q)\nfinally:\n    print('cleaned up')")
    assert out.splitlines() == ["cleaned up", re.sub(r"\d+", lambda m: m.group(), out.splitlines()[1])]
    assert re.fullmatch(r"KeyboardInterrupt: the cell was waiting at In \[\d+\] line 3: return await q.get\(\)", out.splitlines()[1]), out
    assert isinstance(result.error_in_exec, KeyboardInterrupt)


def test_a_cells_await_lets_other_tasks_take_exactly_one_step_as_in_a_script(ip, capsys):
    run(ip, capsys, "import asyncio\nsteps = []\nasync def worker():\n    for n in range(10):\n        steps.append(n)\n        await asyncio.sleep(0)")
    run(ip, capsys, "w = asyncio.create_task(worker())\nawait asyncio.sleep(0)\nfirst = len(steps)\nawait asyncio.sleep(0)\nsecond = len(steps)")
    assert (ip.user_ns["first"], ip.user_ns["second"]) == (1, 2)


def test_an_error_in_an_awaiting_statement_shows_each_cell_line_once(ip, capsys):
    run(ip, capsys, "import asyncio\nasync def boom():\n    raise ValueError('boom')")
    _, out = run(ip, capsys, "async with asyncio.timeout(5):\n    await asyncio.sleep(0)\n    await boom()")
    assert out.count("----> 3     await boom()") == 1 and out.count("Cell In[") == 2, out
    assert out.rstrip().endswith("ValueError: boom") and "asyncrepl" not in out


def test_an_error_in_an_awaited_call_shows_as_plain_ipython_shows_it(ip, capsys):
    # ``await f()`` alone: the cell's own code makes the coroutine, which
    # asyncrepl drives; its frames are not the user's to see.
    run(ip, capsys, "import asyncio\nasync def boom():\n    raise ValueError('boom')")
    _, out = run(ip, capsys, "x = 1\nawait boom()")
    assert out.count("----> 2 await boom()") == 1 and out.count("Cell In[") == 2, out
    assert "skipping hidden" not in out and "asyncrepl" not in out and out.rstrip().endswith("ValueError: boom")
    result, out = run(ip, capsys, "await 1")
    assert "----> 1 await 1" in out and "skipping hidden" not in out and "asyncrepl" not in out, out
    assert out.rstrip().endswith(f"TypeError: {_await_error(1)}")  # Python's own words, which vary by version
    assert type(result.error_in_exec) is TypeError


def _await_error(value) -> str:
    """What Python says when *value* is awaited."""

    async def awaiting():
        await value

    coro = awaiting()
    try:
        coro.send(None)
    except TypeError as error:
        return str(error)
    raise AssertionError(f"{value!r} is awaitable")


def test_a_second_ctrl_c_lets_go_of_an_awaited_call_that_swallows_the_cancellation(ip, capsys):
    run(ip, capsys, SWALLOWS)
    ctrl_c_after(0.5, 0.5)
    result, out = run(ip, capsys, "x = 1\nlet_go_value = await child()")
    cell, row = said_let_go(
        ip,
        capsys,
        out,
        r"6: await asyncio.sleep\(10\)",
        r"task \2 'In \[\d+\]' \(child\(\)\) caught CancelledError at In \[\d+\] line 7: except BaseException: and went on",
    )
    assert row.rstrip().endswith(cell + " line 2"), row  # created where the cell's statement is
    result, _ = run(ip, capsys, "await asyncio.sleep(0.01, 'fine')")
    assert result.result == "fine" and "let_go_value" not in ip.user_ns  # the statement never ended


def test_a_statement_assigns_and_shows_values_as_the_cell_would(ip, capsys):
    result, out = run(ip, capsys, "import asyncio\nx = await asyncio.sleep(0, 3)\nx += await asyncio.sleep(0, 4)\nx")
    assert result.result == 7 and ip.user_ns["x"] == 7
    result, _ = run(ip, capsys, "[await asyncio.sleep(0, n) for n in range(3)]")
    assert result.result == [0, 1, 2]


# -- scripts' loops: Ctrl-C raises KeyboardInterrupt at the call, as in a script --------------------


SERVER = """\
import asyncio
async def handle(reader, writer):
    writer.close()
loop = asyncio.get_event_loop()
server = loop.run_until_complete(asyncio.start_server(handle, '127.0.0.1', 0))
try:
    loop.run_forever()
except KeyboardInterrupt:
    print('stopping')
finally:
    server.close()
    loop.run_until_complete(server.wait_closed())
    loop.close()
print('closed', server.is_serving())
"""


def test_the_classic_server_listing_ends_quietly_on_ctrl_c(ip, capsys):
    ctrl_c_after(0.5)
    result, out = run(ip, capsys, SERVER)
    assert out.splitlines()[-2:] == ["stopping", "closed False"], out
    assert result.success, out


def test_ctrl_c_in_run_until_complete_raises_keyboard_interrupt_at_the_call(ip, capsys):
    ctrl_c_after(0.5)
    result, out = run(
        ip,
        capsys,
        "import asyncio\nloop = asyncio.get_event_loop()\ntry:\n    loop.run_until_complete(asyncio.sleep(30))\n"
        "except KeyboardInterrupt:\n    print('caught at the call')\nawait asyncio.sleep(0.01)\nprint('went on')",
    )
    assert out.splitlines() == ["caught at the call", "went on"] and result.success, out


def test_ctrl_c_in_asyncio_run_raises_keyboard_interrupt_unless_main_returns(ip, capsys):
    run(ip, capsys, "import asyncio\nasync def main(swallow):\n    try:\n        await asyncio.sleep(30)\n    except asyncio.CancelledError:\n        if swallow:\n            return 'main returned'\n        raise")
    ctrl_c_after(0.5)
    result, out = run(ip, capsys, "try:\n    asyncio.run(main(False))\nexcept KeyboardInterrupt:\n    print('KeyboardInterrupt at asyncio.run')")
    assert "KeyboardInterrupt at asyncio.run" in out and result.success, out
    ctrl_c_after(0.5)
    result, out = run(ip, capsys, "asyncio.run(main(True))")
    assert result.result == "main returned", out


# -- a real terminal and a real kernel ------------------------------------------------------------


@pytest.mark.terminal
def test_a_second_ctrl_c_gives_the_prompt_back_in_a_terminal(terminal):
    term = terminal("asyncrepl")
    term.run(SWALLOWS)
    term.type(GROUP)
    time.sleep(1.0)
    term.ctrl_c()
    time.sleep(1.0)
    assert "In [" not in term.read_pending(0.2).split("\n")[-1]  # still cancelling: no prompt yet
    term.ctrl_c()
    out = term.wait(timeout=10)
    assert re.search(r"^KeyboardInterrupt: the cell was waiting at In \[2\] line 1: async with asyncio.TaskGroup\(\) as tg:$", out, re.M), out
    assert re.search(r"^asyncrepl: In \[2\] goes on in the background as task \d+ \(%tasks \d+\), because task \d+ 'stubborn' \(child\(\)\) caught CancelledError at In \[1\] line 7: except BaseException: and went on$", out, re.M), out
    assert "In [2]" in term.run("%tasks")
    assert term.value("await asyncio.sleep(0.01, 'fine')") == "'fine'"
    term.type("await asyncio.sleep(30)")
    time.sleep(0.5)
    term.ctrl_c()
    assert "KeyboardInterrupt: the cell was waiting at In [5] line 1: await asyncio.sleep(30)" in term.wait(timeout=10)


@pytest.mark.terminal
def test_the_server_listing_in_a_terminal(terminal):
    term = terminal("asyncrepl")
    term.type(SERVER)
    time.sleep(1.5)
    term.ctrl_c()
    out = term.wait(timeout=10)
    assert [line for line in out.replace("^C", "").splitlines() if line.strip()] == ["stopping", "closed False"], out


@pytest.mark.kernel
def test_a_second_interrupt_gives_the_kernel_back(kernel):
    k = kernel()
    assert k.execute("%load_ext asyncrepl").status == "ok"
    k.execute(SWALLOWS)
    msg_id = k.start(GROUP, stop_on_error=False)
    time.sleep(1.0)
    k.interrupt()
    time.sleep(1.0)
    k.interrupt()
    reply = k.finish(msg_id, timeout=15)
    assert reply.status == "error" and reply.error["ename"] == "KeyboardInterrupt", reply
    shown = reply.error["traceback"]
    assert re.fullmatch(r"KeyboardInterrupt: the cell was waiting at In \[\d+\] line 1: async with asyncio.TaskGroup\(\) as tg:", shown[0]), shown
    assert re.search(r"because task \d+ 'stubborn' \(child\(\)\) caught CancelledError at In \[\d+\] line 7", shown[1]), shown
    assert k.execute("1 + 1").results == ["2"]
