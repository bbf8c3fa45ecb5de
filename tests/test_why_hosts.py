"""%why and the deadlock report in a real terminal and a real kernel."""

import re

import pytest

DEADLOCK = """\
import asyncio
locks = {"a": asyncio.Lock(), "b": asyncio.Lock()}
async def transfer(src, dst):
    async with locks[src]:
        await asyncio.sleep(0.05)
        async with locks[dst]:
            pass
"""

START = "one = asyncio.create_task(transfer('a', 'b')); two = asyncio.create_task(transfer('b', 'a'))"

REPORT = re.compile(
    r"asyncrepl: deadlock: task (\d+) holds lock locks\['a'\] \(taken at In \[\d+\] line 4\) and waits for lock "
    r"locks\['b'\] at In \[\d+\] line 6, held by task (\d+); task \2 holds lock locks\['b'\] \(taken at In \[\d+\] line 4\) "
    r"and waits for lock locks\['a'\] at In \[\d+\] line 6, held by task \1\n  %why \1 shows the chain"
)


@pytest.mark.terminal
def test_a_deadlock_is_reported_once_by_itself_and_why_explains_it_in_the_terminal(terminal):
    term = terminal("asyncrepl", timeout=20)
    term.run(DEADLOCK)
    term.run(START)
    out = term.read_pending(3.5)
    assert len(REPORT.findall(out)) == 1, out
    out += term.read_pending(1.5)
    assert len(REPORT.findall(out)) == 1, out  # once
    why = term.run("%why 1")
    assert "is stuck: deadlock: tasks 1, 2 wait on each other" in why, why
    assert "task 1 waits at In [1] line 6: async with locks[dst]:" in why


@pytest.mark.terminal
def test_the_report_can_be_turned_off(terminal):
    term = terminal("asyncrepl", timeout=20)
    term.run("%config AsyncRepl.report_deadlocks = False")
    term.run(DEADLOCK)
    term.run(START)
    out = term.read_pending(3.5)
    assert "deadlock" not in out, out
    assert "deadlock: tasks 1, 2 wait on each other" in term.run("%why")


@pytest.mark.kernel
def test_the_deadlock_report_lands_in_the_cell_that_made_the_tasks_and_why_is_html(kernel):
    k = kernel()
    assert k.execute("%load_ext asyncrepl").status == "ok"
    k.execute(DEADLOCK)
    started = k.start(START)
    k.finish(started)
    assert k.drain(3.5) == []  # no output that no cell owns
    late = k.late.get(started, "")
    assert len(REPORT.findall(late)) == 1, late
    reply = k.execute("%why")
    ids = REPORT.search(late).group(1, 2)
    heading = f"deadlock: tasks {ids[0]}, {ids[1]} wait on each other"
    assert reply.html and f"<b>{heading}</b>" in reply.html[0], reply
    assert reply.results[0].startswith(heading)
