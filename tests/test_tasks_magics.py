"""%tasks and %cancel in IPython's in-process InteractiveShell."""

import io
import re
import time

import pytest

from conftest import run_cell as run

SETUP = """\
import asyncio
async def leaf(n):
    await asyncio.sleep(n)
async def middle():
    await leaf(50)
async def gatherer():
    await asyncio.gather(middle(), leaf(70))
async def stubborn():  # ignores the first cancel()
    try:
        await asyncio.sleep(100)
    except asyncio.CancelledError:
        pass
    await asyncio.sleep(100)
async def bad():
    raise ValueError('boom')
"""


@pytest.fixture
def ip(shell, capsys):
    shell.run_line_magic("load_ext", "asyncrepl")
    shell.run_cell(SETUP, store_history=True)
    capsys.readouterr()
    yield shell
    shell.run_cell("for _t in asyncio.all_tasks():\n    _t is asyncio.current_task() or _t.cancel()")
    shell.run_cell("await asyncio.sleep(0.01)")




def test_nothing_pending_says_so_in_one_line(ip, capsys):
    _, out = run(ip, capsys, "%tasks")
    assert out == "no pending tasks\n"
    # The hint only when --all has more to show: an awaiting cell's own task.
    _, out = run(ip, capsys, "await asyncio.sleep(0)\n%tasks")
    assert out == "no pending tasks (%tasks --all also lists IPython's own)\n"
    _, out = run(ip, capsys, "await asyncio.sleep(0)\n%tasks --all")
    assert "In [" in out and "no pending tasks" not in out


def test_table_lists_user_tasks_with_ids_places_and_waits(ip, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # wide enough for nothing to be clipped
    run(ip, capsys, "g = asyncio.create_task(gatherer(), name='gat')\nm = asyncio.create_task(middle(), name='mid')")
    run(ip, capsys, "await asyncio.sleep(0.05)")
    _, out = run(ip, capsys, "%tasks")
    lines = out.splitlines()
    assert lines[0].split() == ["id", "name", "state", "coroutine", "suspended", "at", "waits", "on", "age", "created", "at"]
    gat = next(line for line in lines if " gat " in line)
    assert "gatherer()" in gat and "waiting" in gat and "gather: tasks" in gat
    mid = next(line for line in lines if " mid " in line)
    assert re.search(r"In \[\d+\] line 3: await asyncio\.sleep\(n\)", mid)
    assert "sleep, 49." in mid and re.search(r"In \[\d+\] line 2\s*$", mid)  # created on line 2 of that cell
    assert "run_cell_async" not in out  # IPython's own task is hidden...
    _, out = run(ip, capsys, "await asyncio.sleep(0)\n%tasks --all")  # (an awaiting cell runs as a task)
    assert "InteractiveShell.run_cell_async()" in out and "* IPython's" in out  # ...unless asked


def test_ids_are_short_stable_and_in_creation_order(ip, capsys):
    run(ip, capsys, "a = asyncio.create_task(leaf(10), name='a'); b = asyncio.create_task(leaf(10), name='b')")
    rows = ip.run_line_magic("tasks", "-o")
    ids = {row.name: row.id for row in rows}
    assert ids["a"] < ids["b"] < 1000
    rows_again = ip.run_line_magic("tasks", "-o")
    assert {row.name: row.id for row in rows_again} == ids


def test_o_returns_rows_with_plain_attributes(ip, capsys):
    run(ip, capsys, "m = asyncio.create_task(middle(), name='mid')\nawait asyncio.sleep(0.01)")
    rows = ip.run_line_magic("tasks", "-o")
    (row,) = [r for r in rows if r.name == "mid"]
    assert (row.state, row.coroutine) == ("waiting", "middle")
    assert row.suspended_at.function == "leaf" and row.age >= 0 and row.task is ip.user_ns["m"]


def test_detail_shows_the_await_chain_creation_and_waiters(ip, capsys):
    run(ip, capsys, "g = asyncio.create_task(gatherer(), name='gat')\nawait asyncio.sleep(0.01)")
    rows = {r.coroutine: r for r in ip.run_line_magic("tasks", "-o")}
    child = rows["middle"]
    _, out = run(ip, capsys, f"%tasks {child.id}")
    assert f"task {child.id} " in out and "(middle()): waiting" in out
    chain = out[out.index("await chain"):out.index("created at")]
    assert "middle()" in chain and "leaf()" in chain and "await asyncio.sleep(n)" in chain
    assert "In [" in out[out.index("created at"):]
    assert f"awaited by: {rows['gatherer'].id} 'gat' (gatherer())" in out


def test_tree_shows_who_awaits_whom(ip, capsys):
    run(ip, capsys, "g = asyncio.create_task(gatherer(), name='gat')\nawait asyncio.sleep(0.01)")
    _, out = run(ip, capsys, "%tasks --tree")
    lines = out.splitlines()
    assert lines[0].startswith(lines[0].split()[0] + " 'gat' (gatherer()) waiting")
    assert lines[1].startswith("├── ") and lines[2].startswith("└── ")
    assert {"middle()" in lines[1] or "middle()" in lines[2], "leaf()" in lines[1] or "leaf()" in lines[2]} == {True}


def test_cancel_reports_cancelled_finished_and_stubborn_tasks(ip, capsys):
    run(ip, capsys, "m = asyncio.create_task(middle(), name='mid'); s = asyncio.create_task(stubborn(), name='stub')")
    run(ip, capsys, "await asyncio.sleep(0.01)")
    _, out = run(ip, capsys, "%cancel mid stub --timeout 0.3")
    lines = out.splitlines()
    assert re.fullmatch(r"cancelled: task \d+ 'mid' \(middle\(\)\)", lines[0])
    assert re.fullmatch(
        r"STILL RUNNING: task \d+ 'stub' \(stubborn\(\)\) - 0\.3 s after cancel\(\) it is still running: "
        r"it caught CancelledError at In \[\d+\] line 11 and went on",  # its except clause
        lines[1],
    )
    assert ip.user_ns["m"].cancelled()


def test_cancel_by_glob_and_all_never_touch_ipythons_tasks(ip, capsys):
    run(ip, capsys, "w1 = asyncio.create_task(leaf(10), name='worker-1'); w2 = asyncio.create_task(leaf(10), name='worker-2'); k = asyncio.create_task(leaf(10), name='keep')")
    _, out = run(ip, capsys, "%cancel worker-*")
    assert out.count("cancelled: task") == 2 and "keep" not in out
    _, out = run(ip, capsys, "%cancel --all")
    assert out.count("cancelled: task") == 1 and "'keep'" in out
    _, out = run(ip, capsys, "print(asyncio.get_running_loop().is_running())")
    assert out == "True\n"  # the cell's own task was not cancelled


def test_cancel_message_reaches_the_task(ip, capsys):
    run(ip, capsys, "async def catcher():\n    try:\n        await asyncio.sleep(10)\n    except asyncio.CancelledError as e:\n        said.append(e.args)\n        raise\nsaid = []\nc = asyncio.create_task(catcher(), name='c')\nawait asyncio.sleep(0)")
    run(ip, capsys, "%cancel c -m 'stop now'")
    assert ip.user_ns["said"] == [("stop now",)]


def test_done_history_shows_how_tasks_ended(ip, capsys):
    run(ip, capsys, "r = asyncio.create_task(leaf(0), name='fine'); b = asyncio.create_task(bad(), name='bad'); m = asyncio.create_task(middle(), name='mid')")
    run(ip, capsys, "await asyncio.sleep(0.05)")
    run(ip, capsys, "%cancel mid")
    _, out = run(ip, capsys, "%tasks --done")
    fine = next(line for line in out.splitlines() if "'fine'" in line or " fine " in line)
    assert "returned" in fine and "None" in fine
    assert re.search(r"bad\(\)\s+raised\s+ValueError: boom", out)
    assert re.search(r"middle\(\)\s+cancelled\s+by %cancel at In \[\d+\] line 1", out)
    bad_id = next(r.id for r in ip.run_line_magic("tasks", "--done -o") if r.name == "bad")
    _, out = run(ip, capsys, f"%tasks {bad_id}")
    assert "raised" in out and "traceback:" in out and "raise ValueError('boom')" in out
    assert re.search(r'File "In \[\d+\]", line 15, in bad\n\s+raise ValueError\(\'boom\'\)', out)
    assert "<ipython-input-" not in out
    run(ip, capsys, "b.exception()")  # retrieved: no warning at exit


def test_history_size_is_a_setting(ip, capsys):
    run(ip, capsys, "%config AsyncRepl.task_history = 2")
    run(ip, capsys, "for _ in range(5):\n    await asyncio.create_task(leaf(0))")
    assert len(ip.run_line_magic("tasks", "--done -o")) == 2


def test_the_table_fits_a_narrow_terminal(ip, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "70")
    run(ip, capsys, "m = asyncio.create_task(middle(), name='mid')\nawait asyncio.sleep(0.01)")
    _, out = run(ip, capsys, "%tasks")
    assert all(len(line) <= 70 for line in out.splitlines())
    assert "…" in out


def test_many_tasks_are_summarized(ip, capsys):
    run(ip, capsys, "many = [asyncio.create_task(leaf(10)) for _ in range(500)] + [asyncio.create_task(middle()) for _ in range(5)]")
    run(ip, capsys, "await asyncio.sleep(0.01)")
    _, out = run(ip, capsys, "%tasks --limit 10")
    assert "showing 10 of 505 pending tasks (495 left out; --limit shows more); all of them:" in out
    assert re.search(r"\s+500\s+leaf\(\)\s+waiting", out) and re.search(r"\s+5\s+middle\(\)\s+waiting", out)
    table_rows = [line for line in out.splitlines() if re.match(r"\d+\s", line)]
    assert len(table_rows) == 10


@pytest.mark.parametrize(
    "cell, message",
    [
        ("%cancel", "UsageError: usage: %cancel ID|NAME|GLOB ... or %cancel --all [-m MSG] [--timeout SECONDS]"),
        ("%cancel nothing-like-this", "UsageError: no task matches 'nothing-like-this' (see %tasks)"),
        ("%cancel --all keep", "UsageError: give task ids, names or globs, or --all, not both"),
        ("%cancel keep --timeout -1", "UsageError: --timeout takes seconds, at least 0, not -1.0"),
        ("%tasks --limit 0", "UsageError: --limit takes a whole number of at least 1, not 0"),
        ("%tasks 9999", "UsageError: no task matches '9999' (see %tasks and %tasks --done)"),
        ("%tasks --bogus", "UsageError: unrecognized arguments: --bogus"),
        ("%tasks keep --tree", "UsageError: --tree shows who awaits whom among all pending tasks: %tasks --tree, without ID|NAME|GLOB"),
        ("%debug_task -z", "UsageError: usage: %debug_task [ID|NAME]: one task, or none for the most recent failure"),
    ],
)
def test_bad_input_gets_one_line_and_changes_nothing(ip, capsys, cell, message):
    run(ip, capsys, "keep = asyncio.create_task(leaf(10), name='keep')")
    result, out = run(ip, capsys, cell)
    assert out.strip() == message
    assert not ip.user_ns["keep"].done()


def test_a_name_of_many_tasks_is_refused_in_one_short_line(ip, capsys):
    # Each of them was described ('12 'Task-12' (RequestHandler._handle_request()) waiting'...):
    # five lines of a terminal for one mistake.
    run(ip, capsys, "many = [asyncio.create_task(leaf(10), name=f'w-{n}') for n in range(12)]\nawait asyncio.sleep(0)")
    _, out = run(ip, capsys, "%why 'w-*'")
    line = out.strip()
    assert re.fullmatch(r"UsageError: 'w-\*' names 12 tasks: (\d+, ){9}\d+, and 2 more; give one id: %why ID", line), line
    assert len(line) < 120


def test_help_is_complete(ip, capsys):
    tasks_doc = ip.find_line_magic("tasks").__doc__
    cancel_doc = ip.find_line_magic("cancel").__doc__
    for flag in ("--all", "--tree", "--done", "--failed", "--clear", "--locals", "--limit", "-o"):
        assert flag in tasks_doc
    for flag in ("--all", "--msg", "--timeout", "--limit", "STILL RUNNING"):
        assert flag in cancel_doc
    debug_doc = ip.find_line_magic("debug_task").__doc__
    assert "%debug_task ID|NAME" in debug_doc and "up/down" in debug_doc


def test_unnamed_tasks_are_called_as_asyncio_calls_them(ip, capsys):
    run(ip, capsys, "t = asyncio.create_task(leaf(10))")
    (row,) = [r for r in ip.run_line_magic("tasks", "-o") if r.task is ip.user_ns["t"]]
    assert re.fullmatch(r"Task-\d+", row.name)
    _, out = run(ip, capsys, "%tasks")
    assert f" {row.name} " in out and "None" not in out


def test_a_tasks_repr_names_the_users_cell_and_no_asyncrepl_callback(ip, capsys):
    run(ip, capsys, "t = asyncio.get_running_loop().create_task(leaf(10))")
    _, out = run(ip, capsys, "print(repr(t))")
    assert re.fullmatch(r"<Task pending name='Task-\d+' coro=<leaf\(\) running at \S+:3> wait_for=<Future pending cb=\[Task\.task_wakeup\(\)\] created at \S+base_events\.py:\d+> created at <ipython-input-\d+-\w+>:1>\n", out)


def test_a_task_factory_set_in_a_cell_is_composed_at_the_next_cell(ip, capsys):
    run(ip, capsys, "made = []\ndef factory(loop, coro, **kwargs):\n    made.append(coro)\n    return asyncio.Task(coro, loop=loop, **kwargs)")
    _, out = run(ip, capsys, "asyncio.get_running_loop().set_task_factory(factory)")
    assert out == ""
    _, out = run(ip, capsys, "t = asyncio.create_task(bad(), name='after')")
    assert out.startswith(
        "asyncrepl: the loop's task factory factory now runs inside asyncrepl's, so %tasks, "
        "%%timeline and failure reports still see every task\n"
    )
    assert out.count("asyncrepl: the loop's task factory") == 1
    _, out = run(ip, capsys, "await asyncio.sleep(0.01)")
    assert re.search(r"asyncrepl: task \d+ 'after' \(bad\(\)\) failed: ValueError: boom, created at In \[\d+\] line 1", out)
    assert [coro.__qualname__ for coro in ip.user_ns["made"]].count("bad") == 1  # the user's factory made it
    _, out = run(ip, capsys, "%tasks --done")
    assert re.search(r"after\s+bad\(\)\s+raised\s+ValueError: boom", out)
    run(ip, capsys, "t.exception()")
    _, out = run(ip, capsys, "x = 1")
    assert out == ""  # said once
    # An unnamed task the user's factory makes keeps its Task-N name (3.13
    # renames it 'None' after any factory: CPython gh-130033).
    run(ip, capsys, "u = asyncio.create_task(leaf(10))")
    (row,) = [r for r in ip.run_line_magic("tasks", "-o") if r.task is ip.user_ns["u"]]
    assert re.fullmatch(r"Task-\d+", row.name), row.name
    run(ip, capsys, "u.cancel()\nasyncio.get_running_loop().set_task_factory(None)")


# -- output that stays readable with many tasks ---------------------------------------------


def test_the_tree_is_bounded_by_limit_and_counts_what_it_left_out(ip, capsys):
    run(ip, capsys, "async def parent():\n    await asyncio.gather(*(leaf(30) for _ in range(50)))\np = asyncio.create_task(parent(), name='parent')\nawait asyncio.sleep(0.01)")
    _, out = run(ip, capsys, "%tasks --tree --limit 5")
    lines = out.splitlines()
    assert lines[0].startswith(lines[0].split()[0] + " 'parent' (parent()) waiting  (gather: tasks ")
    assert [line[:4] for line in lines[1:5]] == ["├── "] * 4 and "leaf()" in lines[4]
    assert lines[5] == "└── … 46 more"
    assert lines[6] == "showing 5 of 51 pending tasks (46 left out; --limit shows more); all of them:"
    assert re.fullmatch(r"\s+50\s+leaf\(\)\s+waiting", lines[7]) and re.fullmatch(r"\s+1\s+parent\(\)\s+waiting", lines[8])
    assert len(lines) == 9


def test_details_of_many_matching_tasks_are_bounded_by_limit(ip, capsys):
    run(ip, capsys, "many = [asyncio.create_task(leaf(30)) for _ in range(40)]\nawait asyncio.sleep(0.01)")
    _, out = run(ip, capsys, "%tasks leaf --limit 3")
    assert out.count("await chain, from the task's coroutine") == 3
    assert re.search(r"\nshowing 3 of 40 matching pending tasks \(37 left out; --limit shows more\); all of them:\n\s+40  leaf\(\)  waiting\n$", out)


def test_cancel_names_at_most_limit_tasks_the_stubborn_first(ip, capsys):
    run(ip, capsys, "many = [asyncio.create_task(leaf(30)) for _ in range(50)]\ns = asyncio.create_task(stubborn(), name='stub')\nawait asyncio.sleep(0.01)")
    _, out = run(ip, capsys, "%cancel --all --limit 5 --timeout 0.2")
    lines = out.splitlines()
    assert len(lines) == 6
    assert sum(line.startswith("cancelled: task ") for line in lines) == 4
    assert any(line.startswith("STILL RUNNING: task ") and "'stub'" in line for line in lines[:5])
    assert lines[5] == "46 more not named; of all 51: 1 STILL RUNNING, 50 cancelled (--limit names more)"
    _, out = run(ip, capsys, "%tasks --done --limit 100")
    assert out.count("by %cancel at In [") == 50


@pytest.mark.kernel
def test_a_failed_tasks_traceback_names_kernel_cells_as_in_n(kernel):
    k = kernel()
    assert k.execute("%load_ext asyncrepl").status == "ok"
    k.execute("import asyncio\nasync def bad():\n    raise ValueError('boom')")
    k.execute("t = asyncio.create_task(bad(), name='bad')\nawait asyncio.sleep(0.05)")
    reply = k.execute("%tasks bad")
    assert reply.status == "ok", reply.error
    out = "\n".join(reply.results) + reply.stdout
    assert re.search(r'File "In \[\d+\]", line 3, in bad\n\s+raise ValueError\(\'boom\'\)', out), out
    assert "ipykernel_" not in out and "/tmp/" not in out


# -- what a suspended task holds, and why a failed one failed -------------------------------


def test_locals_of_each_frame_of_the_await_chain_bounded_and_safe(ip, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    run(ip, capsys, "class Touchy:\n    def __repr__(self):\n        raise RuntimeError('no repr for you')\n"
        "async def holder(n):\n    big = list(range(100_000))\n    touchy = Touchy()\n    await leaf(n)\n"
        "h = asyncio.create_task(holder(40), name='holder')\nawait asyncio.sleep(0.01)")
    _, out = run(ip, capsys, "%tasks holder --locals")
    lines = out.splitlines()
    assert re.fullmatch(r"task \d+ 'holder' \(holder\(\)\): waiting, age \d\.\d s", lines[0])
    assert lines[1] == "locals of each frame, from the task's coroutine to where it waits:"
    assert re.fullmatch(r"  holder\(\)  In \[\d+\] line 7: await leaf\(n\)", lines[2])
    assert lines[3:6] == ["      n      = 40", "      big    = [0, 1, 2, 3, 4, 5, ...]", "      touchy = <repr failed: RuntimeError: no repr for you>"]
    assert re.fullmatch(r"  leaf\(\)  In \[\d+\] line 3: await asyncio.sleep\(n\)", lines[6]) and lines[7] == "      n = 40"
    assert lines[8].startswith("  sleep()  tasks.py:") and "      delay  = 40" in lines
    html = ip.find_line_magic("tasks")  # the same view gives Jupyter a table per frame
    view = __import__("asyncrepl._render", fromlist=["Views"]).Views().task_locals(
        ip.run_line_magic("tasks", "holder -o")[0], __import__("asyncrepl._tasks", fromlist=["chain_locals"]).chain_locals(ip.user_ns["h"])
    )
    assert "<td style='text-align:left'><code>touchy</code></td><td style='text-align:left'><code>&lt;repr failed: RuntimeError: no repr for you&gt;</code></td>" in view._repr_html_()


FAILING = (
    "async def helper(y):\n    raise ValueError(y)\n"
    "async def failing():\n    x = 41\n    await helper(x + 1)\n"
    "f = asyncio.create_task(failing(), name='failing')\nawait asyncio.sleep(0.01)"
)


def test_debug_task_opens_ipythons_debugger_where_the_task_raised(ip, capsys, monkeypatch):
    run(ip, capsys, FAILING)
    monkeypatch.setattr("sys.stdin", io.StringIO("p y\nup\np x\nq\n"))
    _, out = run(ip, capsys, "%debug_task")
    assert "raise ValueError(y)" in out
    assert "ipdb> 42\n" in out and "await helper(x + 1)" in out and "ipdb> 41\n" in out
    run(ip, capsys, "f.exception()")


@pytest.mark.parametrize(
    "cells, line, message",
    [
        ([], "%debug_task", re.escape("no task has failed")),
        ([], "%debug_task nothing", re.escape("no task matches 'nothing' (see %tasks and %tasks --done)")),
        (["k = asyncio.create_task(leaf(10), name='keep')"], "%debug_task keep", r"task \d+ 'keep' \(leaf\(\)\) has not finished: %tasks \d+ --locals shows what it holds"),
        (["r = asyncio.create_task(leaf(0), name='fine')\nawait asyncio.sleep(0.01)"], "%debug_task fine", r"task \d+ 'fine' \(leaf\(\)\) did not fail: it returned None"),
        ([], "%debug_task a b", r"usage: %debug_task \[ID\|NAME\]: one task, or none for the most recent failure"),
    ],
)
def test_debug_task_without_a_failed_task_says_so_in_one_line(ip, capsys, cells, line, message):
    for cell in cells:
        run(ip, capsys, cell)
    _, out = run(ip, capsys, line)
    assert re.fullmatch("UsageError: " + message + "\n", out), out


@pytest.mark.terminal
def test_debug_task_in_the_terminal(terminal):
    from harness import strip_escapes

    term = terminal("ipython", "--ext=asyncrepl")
    term.run("import asyncio")
    term.run(FAILING)
    term.child.logfile_read = seen = io.StringIO()
    term.type("%debug_task")
    for command in ("up", "p x", "q"):
        term.child.expect("ipdb>")
        time.sleep(0.2)  # let the prompt settle before typing
        term.child.sendline(command)
    term.wait()
    transcript = strip_escapes(seen.getvalue())
    raised = transcript.index("----> 2     raise ValueError(y)")
    went_up = transcript.index("----> 5     await helper(x + 1)", raised)
    assert re.search(r"^41\s*$", transcript[went_up:], re.MULTILINE), transcript
    assert term.run("f.exception()").endswith("ValueError(42)")
    assert term.run("asyncio.get_running_loop().is_running()").endswith("True")


@pytest.mark.kernel
def test_debug_task_in_the_kernel_reads_from_the_notebooks_stdin(kernel):
    from harness import strip_escapes

    k = kernel()
    assert k.execute("%load_ext asyncrepl").status == "ok"
    assert k.execute("import asyncio\n" + FAILING).status == "ok"
    msg_id = k.client.execute("%debug_task", allow_stdin=True)
    answers, prompts = ["up", "p x", "q"], []
    while answers:
        request = k.client.get_stdin_msg(timeout=20)
        prompts.append(request["content"]["prompt"])
        k.client.input(answers.pop(0))
    reply = k.finish(msg_id)
    assert reply.status == "ok", reply.error
    reply.stdout = strip_escapes(reply.stdout)
    assert prompts == ["ipdb> "] * 3
    assert "raise ValueError(y)" in reply.stdout and "await helper(x + 1)" in reply.stdout
    assert re.search(r"^41$", reply.stdout, re.MULTILINE), reply.stdout


# -- failures kept, the REPL's own tasks, one resolver ---------------------------------------


def test_a_failure_stays_listed_whatever_number_of_tasks_succeed_until_cleared(ip, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    run(ip, capsys, "async def flaky():\n    raise ConnectionError('reset by peer\\nwhile reading the body')\nf = asyncio.create_task(flaky(), name='flaky')\nawait asyncio.sleep(0.01)")
    run(ip, capsys, "for _ in range(300):\n    await asyncio.create_task(leaf(0))")  # 3 times the history
    _, out = run(ip, capsys, "%tasks --failed")
    rows = [line for line in out.splitlines() if "flaky" in line]
    assert len(rows) == 1, out  # one row, the two-line message on it
    assert "ConnectionError: reset by peer↵while reading the body" in rows[0] and re.search(r"In \[\d+\] line 3", rows[0])
    assert "%tasks --failed --clear forgets them" in out
    _, out = run(ip, capsys, "%tasks --done --limit 200")
    assert "flaky()" in out  # --done lists the failures kept too
    _, out = run(ip, capsys, "%debug_task nothing-like-it")
    assert out.startswith("UsageError: no task matches")
    _, out = run(ip, capsys, "%tasks --failed --clear")
    assert re.fullmatch(r"forgot 1 failed task \(\d+\)\n", out)
    _, out = run(ip, capsys, "%tasks --failed")
    assert out == "no task has failed\n"
    run(ip, capsys, "f.exception()")


def test_done_and_failed_take_patterns(ip, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    run(ip, capsys, "r = asyncio.create_task(leaf(0), name='fine'); b = asyncio.create_task(bad(), name='bad-1'); c = asyncio.create_task(bad(), name='bad-2')\nawait asyncio.sleep(0.05)")
    _, out = run(ip, capsys, "%tasks --done fine")
    assert " fine " in out and "bad-" not in out  # (before: the pattern was ignored)
    _, out = run(ip, capsys, "%tasks --failed 'bad-2'")
    assert "bad-2" in out and "bad-1" not in out
    _, out = run(ip, capsys, "%tasks --failed --clear bad-1")
    assert re.fullmatch(r"forgot 1 failed task \(\d+\)\n", out)
    assert [entry.name for entry in ip.run_line_magic("tasks", "--failed -o")] == ["bad-2"]
    _, out = run(ip, capsys, "%tasks --done nobody")
    assert out == "UsageError: no finished task matches 'nobody' (see %tasks --done)\n"
    _, out = run(ip, capsys, "%tasks --clear")
    assert out == "UsageError: --clear forgets failed tasks: %tasks --failed --clear [ID|NAME|GLOB ...]\n"
    run(ip, capsys, "b.exception(), c.exception()")


def test_a_bare_debug_task_takes_the_last_failure_however_long_ago(ip, capsys, monkeypatch):
    run(ip, capsys, FAILING)
    run(ip, capsys, "for _ in range(300):\n    await asyncio.create_task(leaf(0))")
    monkeypatch.setattr("sys.stdin", io.StringIO("p y\nq\n"))
    _, out = run(ip, capsys, "%debug_task")
    assert "raise ValueError(y)" in out and "ipdb> 42\n" in out
    run(ip, capsys, "f.exception()")


def test_tasks_from_before_a_reload_keep_their_ids_and_new_ones_come_after(ip, capsys):
    run(ip, capsys, "old = asyncio.create_task(leaf(10), name='old')")
    ip.run_line_magic("reload_ext", "asyncrepl")
    capsys.readouterr()
    run(ip, capsys, "new = asyncio.create_task(leaf(10), name='new')")
    ids = {row.name: row.id for row in ip.run_line_magic("tasks", "-o")}
    assert ids["new"] > ids["old"], ids  # (before: both were task 1)
    _, out = run(ip, capsys, f"%cancel {ids['new']}")
    assert "'new'" in out and "'old'" not in out
    run(ip, capsys, "old.cancel()")


def test_timeit_async_and_cells_use_up_none_of_the_users_ids(ip, capsys):
    run(ip, capsys, "first = asyncio.create_task(leaf(10), name='first')")
    run(ip, capsys, "%timeit_async -c 5 -n 3 -r 1 asyncio.sleep(0)")
    run(ip, capsys, "x = 1")
    run(ip, capsys, "await asyncio.sleep(0)")
    run(ip, capsys, "second = asyncio.create_task(leaf(10), name='second')")
    ids = {row.name: row.id for row in ip.run_line_magic("tasks", "-o")}
    assert ids["second"] == ids["first"] + 1  # (before: 25 ids later)
    _, out = run(ip, capsys, "%tasks --done")
    assert "_one()" not in out  # (before: 20 rows of them)
    # From an awaiting cell: its own task is pending (a cell that never awaits runs without one).
    run(ip, capsys, "await asyncio.sleep(0)\n_rows = %tasks --all -o")
    cells = [row for row in ip.user_ns["_rows"] if row.machinery]
    assert cells and all(re.fullmatch(r"r\d+", row.id) for row in cells)
    _, out = run(ip, capsys, "await asyncio.sleep(0)\n%tasks --all")
    assert re.search(r"^r\d+\*\s+In \[\d+\]\s+running.*the REPL$", out, re.MULTILINE), out
    run(ip, capsys, "_rows = %tasks --all -o")
    assert not any(row.name.startswith("In [") for row in ip.user_ns["_rows"])


def test_two_tasks_of_one_name_every_magic_reads_it_the_same_way(ip, capsys):
    run(ip, capsys, "async def crawl(fail):\n    await asyncio.sleep(0 if fail else 30)\n    if fail:\n        raise OSError('unreachable')")
    run(ip, capsys, "old = asyncio.create_task(crawl(True), name='crawler')\nawait asyncio.sleep(0.01)")
    run(ip, capsys, "new = asyncio.create_task(crawl(False), name='crawler')")
    rows = ip.run_line_magic("tasks", "crawler -o")
    assert sorted(item.id for item in rows) == sorted({item.id for item in rows}) and len(rows) == 2
    new_id = next(item.id for item in rows if getattr(item, "state", None) == "waiting")
    old_id = next(item.id for item in rows if getattr(item, "outcome", None) == "raised")
    _, out = run(ip, capsys, "%tasks crawler")
    assert f"task {new_id} 'crawler'" in out and f"task {old_id} 'crawler'" in out
    _, out = run(ip, capsys, "%debug_task crawler")
    assert out == (
        f"UsageError: 'crawler' names 2 tasks: {new_id} 'crawler' (crawl()) waiting, "
        f"{old_id} 'crawler' (crawl()) raised OSError; give one id: %debug_task ID\n"
    )
    run(ip, capsys, "old.exception()")


def test_quoted_names_and_globs_match_as_unquoted(ip, capsys):
    run(ip, capsys, "w = asyncio.create_task(leaf(10), name='worker 1'); t = asyncio.create_task(leaf(10))")
    _, out = run(ip, capsys, '%tasks "worker 1"')
    assert "task " in out and "'worker 1' (leaf())" in out
    _, out = run(ip, capsys, "%cancel 'Task-*'")
    assert out.startswith("cancelled: task ") and "'worker 1'" not in out
    assert ip.user_ns["t"].cancelled() and not ip.user_ns["w"].done()


def test_waits_on_names_the_lock_not_asyncios_insides(ip, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    run(ip, capsys, "lock = asyncio.Lock()\nasync def holds():\n    async with lock:\n        await asyncio.sleep(30)\n"
        "h = asyncio.create_task(holds(), name='holder'); w = asyncio.create_task(holds(), name='waiter')\nawait asyncio.sleep(0.01)")
    _, out = run(ip, capsys, "%tasks")
    waiter = next(line for line in out.splitlines() if " waiter " in line)
    assert "Lock lock (locked, 1 waiting)" in waiter and "_ContextManagerMixin" not in out


def test_cancel_names_the_child_that_swallowed_the_cancellation(ip, capsys):
    run(ip, capsys, "async def child():\n    try:\n        await asyncio.sleep(30)\n    except BaseException:\n        pass\n    await asyncio.sleep(30)\n"
        "async def main():\n    async with asyncio.TaskGroup() as group:\n        group.create_task(child(), name='child')\n"
        "m = asyncio.create_task(main(), name='main')\nawait asyncio.sleep(0.01)")
    _, out = run(ip, capsys, "%cancel main --timeout 0.2")
    assert re.fullmatch(
        r"STILL RUNNING: task (\d+) 'main' \(main\(\)\) - 0\.2 s after cancel\(\) it is still running: "
        r"it waits for task \d+ 'child' \(child\(\)\), which caught CancelledError at In \[\d+\] line 4 and went on\n",
        out,
    ), out
    run(ip, capsys, "%cancel child --timeout 0.2")


def test_the_first_report_about_tasks_adds_no_task_of_asyncrepls_own_to_the_users():
    # The await chains' module, imported at first use with the loop running, made an async
    # generator to learn the types of its steps; on 3.11 and 3.12 the loop
    # finalized it with a task of aclose(), listed as the user's:
    # "2  Task-2  async_generator_athrow()  returned".
    from harness import cells_in_a_fresh_shell

    out = cells_in_a_fresh_shell(
        "import asyncio, gc",
        "async def work():\n    raise ValueError('boom')",
        # Its failure's report imports the await chains' module, with the loop running.
        "mine = asyncio.create_task(work(), name='mine'); await asyncio.sleep(0.05)",
        "gc.collect(); await asyncio.sleep(0.05)",
        "%tasks --done",
    )
    assert "task 1 'mine' (work()) failed: ValueError: boom" in out, out
    assert "async_generator" not in out and "Task-" not in out, out
