"""%%timeout and AsyncRepl.cell_timeout: a cell cancelled at its deadline, with one line saying where it waited."""

import re
import time

import pytest

from conftest import run_cell

WAITER = """\
import asyncio
events = []
async def background():
    await asyncio.sleep(0.6)
    events.append('background done')
"""


@pytest.fixture
def ip(shell, capsys):
    shell.run_line_magic("load_ext", "asyncrepl")
    run_cell(shell, capsys, WAITER)
    return shell


def test_timeout_cancels_the_cell_runs_its_finally_and_says_where_it_waited(ip, capsys):
    result, out = run_cell(
        ip,
        capsys,
        "%%timeout 0.3\n"
        "started = asyncio.create_task(background())\n"
        "try:\n"
        "    await asyncio.sleep(10)\n"
        "finally:\n"
        "    print('cleaned up')\n",
    )
    number = ip.execution_count - 1
    assert out.splitlines() == [
        "cleaned up",
        f"TimeoutError: the cell was cancelled after 0.3 s; it was waiting at In [{number}] line 4: await asyncio.sleep(10)",
    ], out
    assert isinstance(result.error_in_exec, TimeoutError)
    run_cell(ip, capsys, "await asyncio.sleep(0.5)")
    assert ip.user_ns["events"] == ["background done"]  # what the cell started went on


def test_a_cell_that_ends_in_time_shows_its_value(ip, capsys):
    result, out = run_cell(ip, capsys, "%%timeout 5\nawait asyncio.sleep(0.01)\n6 * 7")
    assert result.success and result.result == 42


def test_the_deadline_names_the_innermost_line_of_your_code(ip, capsys):
    run_cell(ip, capsys, "async def fetch():\n    await asyncio.sleep(10)  # SLOW\n\nasync def main():\n    return await fetch()\n")
    fetch_cell = ip.execution_count - 1
    _, out = run_cell(ip, capsys, "%%timeout 0.2\nawait main()")
    assert f"it was waiting at In [{fetch_cell}] line 2: await asyncio.sleep(10)  # SLOW" in out


DEAF = """\
async def deaf_to_timeouts():
    for _ in range(2):  # the deadline's cancellation, then the test's own
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            pass
"""


def test_a_cell_that_refuses_its_deadline_goes_on_named_after_the_cell_and_the_users_coroutine(ip, capsys):
    run_cell(ip, capsys, DEAF)
    _, out = run_cell(ip, capsys, "%%timeout 0.2\nawait deaf_to_timeouts()")
    cell = ip.execution_count - 1
    match = re.search(r"In \[(\d+)\] goes on in the background as task (\d+) \(%tasks \d+\), because task \d+ '(.*?)' \(([\w.]+\(\))\)", out)
    assert match, out
    assert match[1] == str(cell) and match[3] == f"In [{cell}]" and match[4] == "deaf_to_timeouts()", out
    task_id = match[2]
    _, out = run_cell(ip, capsys, f"%tasks {task_id}")
    assert f"In [{cell}]" in out and "deaf_to_timeouts()" in out and "run_with_value" not in out, out
    _, out = run_cell(ip, capsys, f"%why {task_id}")
    assert f"cancelled by %%timeout at In [{cell}] line 1" in out, out
    _, out = run_cell(ip, capsys, f"%cancel {task_id}")
    assert "finished anyway" in out, out  # it ended: nothing left for the tests after this one


@pytest.mark.parametrize(
    "line, message",
    [
        ("", "UsageError: the following arguments are required: seconds"),
        ("0", "UsageError: %%timeout takes seconds, more than 0, not 0"),
        ("-1", "UsageError: %%timeout takes seconds, more than 0, not -1"),
        ("nan", "UsageError: seconds takes a finite number, not nan"),
        ("1e400", "UsageError: seconds takes a finite number, not inf"),
        ("soon", "UsageError: argument seconds: invalid float value: 'soon'"),
    ],
)
def test_bad_seconds_get_one_line_and_the_cell_does_not_run(ip, capsys, line, message):
    ip.user_ns.pop("ran", None)
    _, out = run_cell(ip, capsys, f"%%timeout {line}\nran = True\n")
    assert out.strip() == message and "ran" not in ip.user_ns


def test_cell_timeout_puts_a_deadline_on_every_awaiting_cell(ip, capsys):
    run_cell(ip, capsys, "%config AsyncRepl.cell_timeout = 0.3")
    result, out = run_cell(ip, capsys, "started = asyncio.create_task(background())\nawait asyncio.sleep(10)")
    assert re.fullmatch(
        r"TimeoutError: the cell was cancelled after 0\.3 s; it was waiting at In \[\d+\] line 2: await asyncio.sleep\(10\)\n",
        out,
    ), out
    assert isinstance(result.error_in_exec, TimeoutError)
    result, out = run_cell(ip, capsys, "import time\ntime.sleep(0.4)\n'a plain cell is not cancelled'")
    assert result.success and "Error" not in out
    result, _ = run_cell(ip, capsys, "await asyncio.sleep(0.25)\nevents")
    assert result.result == ["background done"]  # background tasks are never affected
    run_cell(ip, capsys, "%config AsyncRepl.cell_timeout = 0")
    result, _ = run_cell(ip, capsys, "await asyncio.sleep(0.4)\n'no deadline'")
    assert result.success


@pytest.mark.terminal
def test_timeout_in_the_terminal(terminal):
    term = terminal("asyncrepl")
    term.run("import asyncio")
    out = term.run("%%timeout 0.5\ntry:\n    await asyncio.sleep(10)\nfinally:\n    print('cleaned up')\n")
    assert out.splitlines()[-2:] == [
        "cleaned up",
        "TimeoutError: the cell was cancelled after 0.5 s; it was waiting at In [2] line 3: await asyncio.sleep(10)",
    ], out


@pytest.mark.kernel
def test_cell_timeout_in_a_kernel(kernel):
    k = kernel()
    assert k.execute("%load_ext asyncrepl\n%config AsyncRepl.cell_timeout = 0.5").status == "ok"
    start = time.monotonic()
    reply = k.execute("import asyncio\ntry:\n    await asyncio.sleep(10)\nfinally:\n    print('cleaned up')\n", stop_on_error=False)
    assert time.monotonic() - start < 5
    assert reply.stdout == "cleaned up\n"
    assert reply.error["ename"] == "TimeoutError"
    assert reply.error["traceback"] == [
        "TimeoutError: the cell was cancelled after 0.5 s; it was waiting at In [2] line 3: await asyncio.sleep(10)"
    ]
    assert k.execute("1 + 1").results == ["2"]
