"""The status line's text (asyncrepl._status), without IPython: a real loop,
a real TaskRegistry and FailedTasks, and the counts the line must show."""

import asyncio
import os

import pytest

import asyncrepl
from asyncrepl._diagnostics import FailedTasks
from asyncrepl._status import Status, StatusLine, short_seconds
from asyncrepl._tasks import TaskRegistry


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0.0, "0 ms"),
        (0.00004, "0.04 ms"),
        (0.00041, "0.4 ms"),
        (0.0031, "3 ms"),
        (0.0096, "10 ms"),
        (0.045, "45 ms"),
        (0.9996, "1.0 s"),
        (1.24, "1.2 s"),
    ],
)
def test_short_seconds(seconds, text):
    assert short_seconds(seconds) == text


def test_the_line_reads_as_the_issue_shows_it():
    assert str(Status(tasks=3, lag=0.0004, failed=1, debug=True)) == (
        "asyncio: 3 tasks · lag 0.4 ms · 1 failed (%tasks --done) · debug on"
    )
    assert str(Status(tasks=1, lag=0.0, failed=0, debug=False)) == "asyncio: 1 task · lag 0 ms · debug off"
    held = Status(tasks=2, lag=0.0, failed=0, debug=True, holding="task 7", held=1.26)
    assert str(held) == "asyncio: 2 tasks · ⚠ task 7 holds the loop 1.3 s (Ctrl-C stops it) · debug on"


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


@pytest.fixture
def registry(loop):
    registry = TaskRegistry(loop)
    registry.install()
    yield registry
    registry.uninstall()


def _machinery_coroutine():
    """A coroutine whose code lives in asyncrepl's folder, as the REPL's own tasks' does."""
    namespace = {"asyncio": asyncio}
    filename = os.path.join(os.path.dirname(asyncrepl.__file__), "_machinery_for_tests.py")
    exec(compile("async def machinery():\n    await asyncio.sleep(10)\n", filename, "exec"), namespace)
    return namespace["machinery"]()


def test_counts_the_users_pending_tasks_never_the_repls(loop, registry):
    line = StatusLine(registry)
    assert line.refresh() is True  # the first text
    assert line.text.startswith("asyncio: 0 tasks · ")
    assert line.refresh() is False  # nothing changed

    async def nap(seconds):
        await asyncio.sleep(seconds)

    before = line.signature()
    short = [loop.create_task(nap(0.01)) for _ in range(2)]
    long = loop.create_task(nap(10))
    machinery = loop.create_task(_machinery_coroutine())
    assert line.signature() != before
    assert line.refresh() is True
    assert line.status.tasks == 3

    loop.run_until_complete(asyncio.wait(short))
    assert line.refresh() is True
    assert line.status.tasks == 1 and line.text.startswith("asyncio: 1 task · ")

    for task in (long, machinery):
        task.cancel()
    loop.run_until_complete(asyncio.wait([long, machinery]))
    assert line.refresh() is True
    assert line.status.tasks == 0


def test_the_signature_moves_only_with_what_the_line_shows(loop, registry):
    line = StatusLine(registry)
    line.refresh()
    quiet = line.signature()
    assert line.signature() == quiet
    line.iteration(0.0, 0.00001)  # the figure stays "0.01 ms"
    first = line.signature()
    line.iteration(0.0, 0.000011)
    assert line.signature() == first  # same figure: no redraw
    line.iteration(0.0, 0.003)
    assert line.signature() != first
    assert line.refresh() is True and "lag 3 ms" in line.text
    line.iteration(0.0, 0.001)  # shorter: the longest stays
    line.refresh()
    assert "lag 3 ms" in line.text
    line.new_prompt()
    assert line.refresh() is True and "lag 0 ms" in line.text
    loop.set_debug(False)  # (python -X dev starts loops in debug mode)
    line.refresh()
    assert line.text.endswith("debug off")
    loop.set_debug(True)
    assert line.refresh() is True and line.text.endswith("debug on")


def test_failed_tasks_count_until_looked_at(loop, registry):
    failed = FailedTasks(loop, registry)
    failed.install()
    line = StatusLine(registry)
    try:
        async def boom(n):
            raise ValueError(n)

        tasks = [loop.create_task(boom(n)) for n in range(2)]
        loop.run_until_complete(asyncio.sleep(0.01))  # ended, and reported in the next iteration
        reported = sorted(registry.info(task).id for task in tasks)
        assert line.refresh() is True
        assert line.status.failed == 2 and "2 failed (%tasks --done)" in line.text
        registry.ended.looked_at([reported[0]])  # %tasks ID of one
        assert line.refresh() is True and "1 failed" in line.text
        registry.ended.looked_at()  # %tasks --done
        assert line.refresh() is True and "failed" not in line.text
    finally:
        failed.uninstall()


def test_while_held_keeps_the_last_counts_and_adds_the_mark(loop, registry):
    line = StatusLine(registry)

    async def nap():
        await asyncio.sleep(10)

    task = loop.create_task(nap())
    line.refresh()
    text = line.while_held(line.who(task), 0.25)
    assert text.startswith("asyncio: 1 task · ⚠ task ")
    assert f"task {registry.info(task).id} holds the loop 250 ms (Ctrl-C stops it)" in text
    assert "lag" not in text
    assert line.who(None) == "a callback"
    assert line.text != text  # the mark is never the text prompt_toolkit keeps
    task.cancel()
    loop.run_until_complete(asyncio.wait([task]))


def test_asyncrepls_own_tasks_are_not_counted_until_adopted(loop, registry):
    line = StatusLine(registry)

    async def nap():
        await asyncio.sleep(10)

    user = loop.create_task(nap())
    cell = registry.create_own_task(nap(), name="In [3]")  # a cell's task, as _loop makes it
    line.refresh()
    assert line.status.tasks == 1
    registry.adopt(cell)  # a cell that refused to stop, left running
    assert line.refresh() is True and line.status.tasks == 2
    for task in (user, cell):
        task.cancel()
    loop.run_until_complete(asyncio.wait([user, cell]))


def test_harness_tasks_running_an_own_code_are_not_counted(loop, registry):
    line = StatusLine(registry)
    namespace = {"asyncio": asyncio}
    exec(compile("async def _one():\n    await asyncio.sleep(10)\n", "<timeit>", "exec"), namespace)
    registry.own_code(namespace["_one"].__code__)
    copies = [loop.create_task(namespace["_one"]()) for _ in range(5)]
    line.refresh()
    assert line.status.tasks == 0
    for task in copies:
        task.cancel()
    loop.run_until_complete(asyncio.wait(copies))
