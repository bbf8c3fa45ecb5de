"""The status line under the prompt (issue 12), read off a real terminal's
screen: IPython in a pty, its output fed to a terminal emulator (pyte) that
answers prompt_toolkit's cursor position requests as real terminals do."""

import re
import time

import pexpect
import pytest

from harness import ScreenTerminal, fresh_env

pytestmark = [pytest.mark.terminal, pytest.mark.corpus]  # corpus: CI runs it on some Pythons (see .ci/run)

SLEEPER = "import asyncio\nasync def sleeper(n):\n    await asyncio.sleep(n)\n"


@pytest.fixture
def screen():
    started = []

    def start(*args, env=None):
        term = ScreenTerminal("ipython", ("--ext=asyncrepl", *args), env=env)
        started.append(term)
        return term

    yield start
    for term in started:
        term.close()


def has(text):
    return lambda line: text in line


def test_counts_tasks_as_they_start_and_finish(screen):
    term = screen()
    term.settle()
    assert term.bottom_line().startswith("asyncio: 0 tasks · lag ")
    assert term.bottom_line().endswith(" · debug on")
    term.run(SLEEPER)
    term.run("short = [asyncio.create_task(sleeper(1.5)) for _ in range(2)]; long = asyncio.create_task(sleeper(3))")
    term.wait_for_bottom(has("asyncio: 3 tasks · "), timeout=1.4)
    # They finish while the prompt waits, nobody touching a key.
    term.wait_for_bottom(has("asyncio: 1 task · "), timeout=5)
    term.wait_for_bottom(has("asyncio: 0 tasks · "), timeout=5)
    # IPython's and asyncrepl's own tasks never count: a cell that awaits.
    term.run("await asyncio.sleep(0.1)")
    term.settle()
    assert term.bottom_line().startswith("asyncio: 0 tasks · ")


def test_a_failed_task_is_counted_until_looked_at(screen):
    term = screen()
    term.run(SLEEPER + "async def bad():\n    await asyncio.sleep(0.3)\n    raise ValueError('boom')\n")
    term.run("b1 = asyncio.create_task(bad()); b2 = asyncio.create_task(bad())")
    line = term.wait_for_bottom(has("failed"), timeout=5)
    term.settle(0.5)
    assert " · 2 failed (%tasks --done) · " in term.bottom_line(), line
    shown = "\n".join(term.screen.display)
    first_id = re.search(r"task (\d+) '[^']*' \(bad\(\)\) failed", shown).group(1)
    term.run(f"%tasks {first_id}")  # one of them
    term.settle()
    assert " · 1 failed (%tasks --done) · " in term.bottom_line()
    term.run("%tasks --done")
    term.settle()
    assert "failed" not in term.bottom_line()
    assert term.bottom_line().startswith("asyncio: 0 tasks · ")
    term.run("b3 = asyncio.create_task(bad())")
    term.wait_for_bottom(has(" · 1 failed"), timeout=5)
    term.child.send("%debug_task\r")
    term.child.expect(r"ipdb>")
    term.child.send("q\r")
    term.wait()
    term.settle()
    assert "failed" not in term.bottom_line()


def test_a_mark_while_a_task_holds_the_loop_and_ctrl_c_stops_it(screen):
    term = screen()
    term.run("import asyncio\nasync def spin():\n    await asyncio.sleep(1.5)\n    while True:\n        pass\n")
    term.run("spinner = asyncio.create_task(spin())")
    term.settle()
    assert "⚠" not in term.bottom_line()
    held = term.wait_for_bottom(has("⚠"), timeout=5)
    assert held.startswith("asyncio: 1 task · ⚠ task ")
    assert " holds the loop " in held and "(Ctrl-C stops it)" in held
    # The input line is where it was, the cursor on it.
    assert term.cursor_line() == "In [3]:"
    later = term.wait_for_bottom(lambda line: line != held, timeout=3)
    assert "⚠" in later  # the seconds go on
    term.ctrl_c()
    back = term.wait_for_bottom(lambda line: "⚠" not in line, timeout=5)
    assert back.startswith("asyncio: 0 tasks · lag ")
    # prompt_toolkit drew the whole prompt again: no trace of the mark anywhere.
    term.settle(0.5)
    assert not any("⚠" in row for row in term.screen.display)
    assert term.value("spinner.cancelled()") == "True"


def test_a_task_that_spins_from_its_first_step_shows_the_mark(screen):
    # Issue 18: the task's first step runs before the prompt comes back,
    # which left a blank screen, with no prompt and no mark, until Ctrl-C.
    term = screen()
    term.run("import asyncio\nasync def spin():\n    while True:\n        pass\n")
    term.type("spinner = asyncio.create_task(spin())")
    end = time.monotonic() + 5
    while "⚠" not in term.cursor_line() and time.monotonic() < end:
        term.settle(0.1)
    held = term.cursor_line()
    assert held.startswith("asyncio: 1 task · ⚠ task ") and "(Ctrl-C stops it)" in held, held
    time.sleep(0.7)  # Ctrl-C stops a step that has held the loop half a second
    term.ctrl_c()
    out = term.wait(timeout=10)  # the prompt comes back, without the mark
    assert "Ctrl-C cancelled task" in out
    assert not any("⚠" in row for row in term.screen.display)
    assert term.value("spinner.cancelled()") == "True"


def test_off_with_the_setting_and_back(screen):
    term = screen()
    term.settle()
    assert term.bottom_line().startswith("asyncio: ")
    term.run("%config AsyncRepl.status_bar = False")
    term.settle()
    assert not any("asyncio: " in row for row in term.screen.display)
    term.run(SLEEPER + "t = asyncio.create_task(sleeper(0.5))")
    term.settle(1.0)
    assert not any("asyncio: " in row for row in term.screen.display)
    term.run("%config AsyncRepl.status_bar = True")
    term.settle()
    assert term.bottom_line().startswith("asyncio: 0 tasks · ")
    term.run("%unload_ext asyncrepl")
    term.settle()
    assert "asyncio: " not in term.bottom_line()


def test_absent_with_the_simple_prompt():
    env = fresh_env()
    env.pop("PROMPT_TOOLKIT_NO_CPR")
    term = ScreenTerminal("ipython", ("--ext=asyncrepl", "--simple-prompt"), env=env)
    try:
        # input() reads lines: no pastes.
        for number, line in enumerate(["import asyncio", "t = asyncio.create_task(asyncio.sleep(0.5))"], start=2):
            term.child.sendline(line)
            term.child.expect(rf"In \[{number}\]:", timeout=10)
        term.settle(1.0)
        assert "In [3]:" in term.cursor_line()
        assert not any("asyncio: " in row for row in term.screen.display)
    finally:
        term.close()


def test_a_toolbar_of_the_users_own_stays(screen):
    term = ScreenTerminal("ipython")  # without asyncrepl at first
    try:
        term.run("get_ipython().pt_app.bottom_toolbar = 'my own toolbar'")
        out = term.run("%load_ext asyncrepl")
        assert "bottom toolbar of its own: asyncrepl leaves it there" in out
        term.settle()
        assert term.bottom_line() == "my own toolbar"
        term.run("%config AsyncRepl.status_bar = True")
        term.settle()
        assert term.bottom_line() == "my own toolbar"
    finally:
        term.close()


def test_typing_while_tasks_change_is_not_garbled(screen):
    term = screen()
    term.run(SLEEPER)
    term.run("ts = [asyncio.create_task(sleeper(0.2 + 0.15 * n)) for n in range(12)]")
    typed = "x = 'abcdefghijklmnopqrstuvwxyz'"
    seen = set()
    for char in typed:
        term.child.send(char)
        term.settle(0.07)
        seen.add(term.bottom_line().split(" · ")[0])
    term.settle(0.5)
    assert len(seen) >= 4, seen  # the counts changed while the user typed
    assert term.cursor_line() == "In [3]: " + typed
    assert term.screen.cursor.x == len("In [3]: " + typed)
    term.child.send("\r")
    term.wait()
    assert term.value("x") == "'abcdefghijklmnopqrstuvwxyz'"


def test_no_redraws_while_nothing_changes(screen):
    term = screen()
    term.run(SLEEPER + "t = asyncio.create_task(sleeper(100))")
    term.settle(1.0)  # the first iterations at the prompt set the lag figure
    assert term.bottom_line().startswith("asyncio: 1 task · ")
    before = term.received
    term.settle(2.0)
    assert term.received - before == 0


def test_the_screen_is_clean_after_exit(screen):
    term = screen()
    term.run(SLEEPER + "t = asyncio.create_task(sleeper(100))")
    term.settle()
    assert term.bottom_line().startswith("asyncio: 1 task")
    term.child.send("exit\r")
    term.child.expect(pexpect.EOF, timeout=10)
    assert not any("asyncio: " in row for row in term.screen.display)


def test_off_from_the_config(screen):
    term = screen("--AsyncRepl.status_bar=False")
    term.run(SLEEPER + "t = asyncio.create_task(sleeper(100))")
    term.settle(0.5)
    assert not any("asyncio: " in row for row in term.screen.display)
    term.run("%config AsyncRepl.status_bar = True")
    term.settle()
    assert term.bottom_line().startswith("asyncio: 1 task · ")


def test_a_burst_of_changes_is_drawn_a_few_times_a_second(screen):
    term = screen()
    term.run(SLEEPER)
    term.settle(0.5)
    writes = []
    feed = term.write
    term.write = lambda data: (writes.append(data), feed(data))
    # 300 tasks, one ending every 5 ms for 1.5 s: 300 changes of the count.
    term.run("burst = [asyncio.create_task(sleeper(0.5 + n / 200)) for n in range(300)]")
    writes.clear()
    term.wait_for_bottom(has("asyncio: 0 tasks"), timeout=10)
    term.settle(0.5)
    # At most 4 redraws a second over ~2 s (and what pexpect reads in one go
    # may hold two); but the count did move while they ended.
    assert 2 <= len(writes) <= 12, writes
