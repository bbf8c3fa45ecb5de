"""The detectors, without IPython."""

import ast
import asyncio
import gc
import logging
import re
import sys
import warnings

import pytest

from asyncrepl._diagnostics import (
    FailedTasks,
    StoppedByCtrlC,
    UnawaitedCoroutines,
    enclosing_scope,
    suggest_await,
    suggest_fix,
    unstarted,
    users_frames,
)
from asyncrepl._tasks import TaskRegistry


async def add_one(x):
    return x + 1


def line_of(function, marker):
    import inspect

    lines, start = inspect.getsourcelines(function)
    return start + next(i for i, text in enumerate(lines) if marker in text)


@pytest.mark.parametrize(
    "line, function, fix",
    [
        ("add_one(1);", "add_one", "await add_one(1)"),
        ("x = add_one(1); del x", "add_one", "await add_one(1)"),
        ("    client.fetch(url, timeout=3)", "fetch", "await client.fetch(url, timeout=3)"),
        ("print('no call here')", "add_one", None),
        ("if x:", "add_one", None),
    ],
)
def test_the_fix_awaits_the_call(line, function, fix):
    assert suggest_await(line, function) == fix


@pytest.fixture
def unawaited(capsys):
    detector = UnawaitedCoroutines()
    detector.install()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = detector.showwarning  # catch_warnings saved and will restore it
        yield detector
    detector.uninstall()


def test_a_dropped_coroutine_is_reported_at_the_users_line_with_the_fix(unawaited, capsys):
    async def drop():
        add_one(1)  # DROP LINE

    asyncio.run(drop())
    gc.collect()
    err = capsys.readouterr().err
    line = line_of(test_a_dropped_coroutine_is_reported_at_the_users_line_with_the_fix, "DROP LINE")
    assert err.startswith(f"asyncrepl: coroutine add_one() was never awaited, at test_diagnostics.py:{line}: add_one(1)")
    assert err.rstrip().endswith("did you mean: await add_one(1)")
    assert err.count("asyncrepl:") == 1


def test_in_a_plain_def_the_fix_is_a_task_or_an_async_def_never_await_there(unawaited, capsys):
    def compute():
        add_one(1)  # SYNC LINE

    async def main():
        compute()  # a plain def called where a loop runs

    asyncio.run(main())
    gc.collect()
    err = capsys.readouterr().err
    line = line_of(test_in_a_plain_def_the_fix_is_a_task_or_an_async_def_never_await_there, "SYNC LINE")
    assert err.startswith(f"asyncrepl: coroutine add_one() was never awaited, at test_diagnostics.py:{line}: add_one(1)")
    assert "did you mean: await" not in err
    assert "\n  did you mean: asyncio.create_task(add_one(1))  (runs it in the background; keep a reference to the task)\n" in err
    assert err.rstrip().endswith("or make compute() an async def: await add_one(1) in it, and await compute() where it is called")


def test_in_a_plain_def_without_a_running_loop_the_fix_runs_it(unawaited, capsys):
    def compute():
        add_one(1)

    compute()  # no loop runs in this thread: create_task would fail
    gc.collect()
    err = capsys.readouterr().err
    assert "did you mean: asyncio.run(add_one(1))  (runs it to the end; no loop runs in this thread)" in err
    assert "or make compute() an async def: await add_one(1) in it" in err


CELL = """\
import asyncio
async def add_one(x):
    return x + 1

def plain():
    total = add_one(1)

async def in_async():
    add_one(1)

class Holder:
    value = add_one(1)

on_click = lambda: add_one(1)

def outer():
    async def inner():
        add_one(1)

@decorate(add_one(1))
def decorated(x=[add_one(2) for _ in range(1)]):
    return x

add_one(1)
[add_one(i) for i in range(3)]
"""


def _line(text: str, number: int) -> str:
    return text.splitlines()[number - 1]


@pytest.mark.parametrize(
    "line, is_cell, scope",
    [
        (6, True, ("def", "plain")),
        (9, True, ("async def", "in_async")),
        (12, True, ("class", "Holder")),
        (14, True, ("lambda", None)),
        (18, True, ("async def", "inner")),  # the innermost scope
        (20, True, ("cell", None)),  # a decorator is evaluated where the def is
        (21, True, ("cell", None)),  # so are defaults, comprehensions included
        (24, True, ("cell", None)),
        (25, True, ("cell", None)),  # a comprehension is no scope for await
        (24, False, ("module", None)),  # a file's top level is no place for await
    ],
)
def test_the_scope_of_a_call_decides_the_fix(line, is_cell, scope, tmp_path):
    import linecache

    filename = str(tmp_path / "code.py")
    linecache.cache[filename] = (len(CELL), None, CELL.splitlines(True), filename)
    try:
        assert tuple(enclosing_scope(filename, line, "add_one", is_cell=is_cell)) == scope
    finally:
        linecache.cache.pop(filename, None)


@pytest.mark.parametrize("line", [6, 9, 12, 14, 18, 24, 25])
@pytest.mark.parametrize("loop_running", [True, False])
def test_every_fix_suggested_compiles_where_the_call_is(line, loop_running, tmp_path):
    """The "did you mean" code, put in place of the call, is valid Python there."""
    import linecache

    filename = str(tmp_path / "cell.py")
    linecache.cache[filename] = (len(CELL), None, CELL.splitlines(True), filename)
    try:
        scope = enclosing_scope(filename, line, "add_one", is_cell=True)
    finally:
        linecache.cache.pop(filename, None)
    source_line = _line(CELL, line)
    call = "add_one(i)" if "add_one(i)" in source_line else "add_one(1)"
    fix = suggest_fix(call, scope, loop_running)
    first = fix.split("\n")[0].split("  (")[0]  # the code on the "did you mean:" line
    lines = CELL.splitlines()
    lines[line - 1] = source_line.replace(call, first)
    compile("\n".join(lines), filename, "exec", ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)  # a cell: top-level await
    if scope.kind == "def":  # and the other way: the def made async, the call awaited in it
        assert f"or make {scope.name}() an async def: await {call} in it" in fix
        lines = CELL.splitlines()
        lines[line - 1] = source_line.replace(call, f"await {call}")
        def_line = next(i for i, text in enumerate(lines) if text.startswith(f"def {scope.name}("))
        lines[def_line] = "async " + lines[def_line]
        compile("\n".join(lines), filename, "exec", ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if scope.kind not in ("cell", "async def"):
        with pytest.raises(SyntaxError):  # what was suggested before, in a def
            lines = CELL.splitlines()
            lines[line - 1] = source_line.replace(call, f"await {call}")
            compile("\n".join(lines), filename, "exec", ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def test_the_origin_is_used_when_tracked(unawaited, capsys):
    sys.set_coroutine_origin_tracking_depth(10)
    try:
        coro = add_one(1)  # MADE HERE
        holder = [coro]
        del coro

        def drop_elsewhere():
            holder.clear()

        drop_elsewhere()
        gc.collect()
    finally:
        sys.set_coroutine_origin_tracking_depth(0)
    err = capsys.readouterr().err
    assert f"test_diagnostics.py:{line_of(test_the_origin_is_used_when_tracked, 'MADE HERE')}" in err


def passed_on(detector):
    seen = []
    detector._previous = lambda message, category, *rest: seen.append((str(message), category))
    return seen


def test_other_warnings_pass_through(unawaited, capsys):
    seen = passed_on(unawaited)
    warnings.warn("something else", UserWarning)
    assert seen == [("something else", UserWarning)] and capsys.readouterr().err == ""


def test_a_coroutine_already_reported_is_not_reported_again(unawaited, capsys):
    coro = add_one(1)
    unawaited.said(coro)
    del coro
    gc.collect()
    assert capsys.readouterr().err == ""
    add_one(2)  # a new one is
    gc.collect()
    assert "never awaited" in capsys.readouterr().err


def test_disabled_passes_the_warning_on(unawaited, capsys):
    seen = passed_on(unawaited)
    unawaited.enabled = False
    add_one(1)
    gc.collect()
    assert seen == [("coroutine 'add_one' was never awaited", RuntimeWarning)]
    assert capsys.readouterr().err == ""


def test_a_program_that_logs_warnings_still_logs_the_never_awaited_one(capsys, programs_logging):
    logging.captureWarnings(True)  # before asyncrepl: warnings go to the program's logging
    detector = UnawaitedCoroutines()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            detector.install()
            add_one(1)
            gc.collect()
            detector.uninstall()
    finally:
        logging.captureWarnings(False)
    assert "asyncrepl: coroutine add_one() was never awaited" in capsys.readouterr().err
    assert [r.name for r in programs_logging.records] == ["py.warnings"]
    assert "coroutine 'add_one' was never awaited" in programs_logging.records[0].getMessage()


def test_unstarted():
    coro = add_one(1)
    assert unstarted(coro)
    coro.close()
    assert not unstarted(coro) and not unstarted(42)


def failing(scenario):
    async def main():
        loop = asyncio.get_running_loop()
        registry = TaskRegistry(loop)
        registry.install()
        failed = FailedTasks(loop, registry)
        failed.install()
        try:
            return await scenario()
        finally:
            failed.uninstall()
            registry.uninstall()

    return asyncio.run(main())


async def bad():
    raise ValueError("boom")


class Records(logging.Handler):
    """The records a program's own logging configuration would receive."""

    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def messages(self) -> list[str]:
        return [record.getMessage().splitlines()[0] for record in self.records]


@pytest.fixture
def programs_logging():
    """As ``logging.basicConfig(...)`` in the user's program: a handler on the root logger."""
    handler = Records()
    logging.root.addHandler(handler)
    yield handler
    logging.root.removeHandler(handler)


@pytest.fixture
def no_logging_configured(monkeypatch):
    """No handler anywhere (pytest's own taken away): asyncio's records go to
    logging.lastResort, which prints them on stderr."""
    monkeypatch.setattr(logging.root, "handlers", [])
    monkeypatch.setattr(logging.getLogger("asyncio"), "handlers", [])


def test_a_failed_task_nobody_awaits_is_reported_as_it_ends(capsys, programs_logging):
    async def scenario():
        asyncio.create_task(bad(), name="bad")
        await asyncio.sleep(0.01)

    failing(scenario)
    err = capsys.readouterr().err
    assert "'bad' (bad()) failed: ValueError: boom, created at test_diagnostics.py:" in err
    assert re.search(r"\n  %tasks (\d+) shows the traceback, %debug_task \1 to debug\n", err), err


def test_the_programs_logging_still_gets_asyncios_record_of_a_failed_task(capsys, programs_logging):
    async def scenario():
        asyncio.create_task(bad(), name="bad")  # nobody holds it: collected as it ends
        await asyncio.sleep(0.01)

    failing(scenario)
    assert programs_logging.messages() == ["Task exception was never retrieved"]
    (record,) = programs_logging.records
    assert record.name == "asyncio" and record.exc_info[0] is ValueError and "name='bad'" in record.getMessage()
    assert capsys.readouterr().err.count("asyncrepl: task") == 1  # and asyncrepl's report, once


def test_without_logging_configured_the_report_stands_in_for_asyncios_record(capsys, no_logging_configured):
    async def scenario():
        asyncio.create_task(bad(), name="bad")
        await asyncio.sleep(0.01)
        loop = asyncio.get_running_loop()
        asyncio.create_task(asyncio.wait_for(loop.create_future(), None), name="orphan")
        await asyncio.sleep(0)
        gc.collect()  # the orphan is destroyed while pending
        await asyncio.sleep(0)

    failing(scenario)
    err = capsys.readouterr().err
    # Only logging.lastResort would print asyncio's records, on this same stderr: said once, by asyncrepl.
    assert "'bad' (bad()) failed: ValueError: boom" in err and "never retrieved" not in err
    assert "'orphan' (" in err and "was destroyed while still pending" in err
    assert "Task was destroyed but it is pending" not in err


def test_a_task_destroyed_while_pending_is_explained_and_logged(capsys, programs_logging):
    async def scenario():
        loop = asyncio.get_running_loop()
        asyncio.create_task(asyncio.wait_for(loop.create_future(), None), name="orphan")
        await asyncio.sleep(0)
        gc.collect()
        await asyncio.sleep(0)

    failing(scenario)
    assert "was destroyed while still pending" in capsys.readouterr().err
    assert programs_logging.messages() == ["Task was destroyed but it is pending!"]


def test_a_failure_taken_later_is_not_logged_as_asyncio_would_not(capsys, programs_logging):
    async def scenario():
        task = asyncio.create_task(bad(), name="kept")
        await asyncio.sleep(0.01)  # reported: nobody has taken it yet
        with pytest.raises(ValueError):
            await task  # the user looks later
        del task
        gc.collect()

    failing(scenario)
    assert "'kept' (bad()) failed" in capsys.readouterr().err
    assert programs_logging.records == []


def test_an_exception_handler_the_program_set_gets_what_asyncio_says(capsys):
    seen = []

    async def scenario():
        asyncio.create_task(bad(), name="bad")
        await asyncio.sleep(0.01)

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda loop, context: seen.append(context["message"]))
        registry = TaskRegistry(loop)
        registry.install()
        failed = FailedTasks(loop, registry)
        failed.install()
        try:
            await scenario()
        finally:
            failed.uninstall()
            registry.uninstall()

    asyncio.run(main())
    assert seen == ["Task exception was never retrieved"]
    assert "'bad' (bad()) failed" in capsys.readouterr().err


def test_a_task_ctrl_c_stopped_is_not_logged(capsys, programs_logging):
    async def stopped():
        raise StoppedByCtrlC()

    async def scenario():
        asyncio.create_task(stopped())
        await asyncio.sleep(0.01)

    failing(scenario)
    assert capsys.readouterr().err == "" and programs_logging.records == []


def test_a_failed_task_that_is_awaited_is_not_reported(capsys):
    async def scenario():
        task = asyncio.create_task(bad())
        with pytest.raises(ValueError):
            await task
        gathered = asyncio.gather(bad(), return_exceptions=True)
        await gathered
        await asyncio.sleep(0.01)

    failing(scenario)
    assert capsys.readouterr().err == ""


def test_a_failure_a_pending_gather_will_take_is_not_reported(capsys):
    # gather(return_exceptions=True) takes its children's exceptions only once
    # every child is done; the failing one ended long before.
    async def scenario():
        async def background():
            results = await asyncio.gather(bad(), asyncio.sleep(0.05, "slow"), return_exceptions=True)
            assert isinstance(results[0], ValueError)

        await asyncio.create_task(background())

    failing(scenario)
    assert capsys.readouterr().err == ""


def test_a_failure_taken_after_asyncio_wait_returns_is_not_reported(capsys):
    # asyncio.wait() wakes its caller an iteration after the task ends;
    # the caller then takes the exception.
    async def scenario():
        async def background():
            failing_task = asyncio.create_task(bad())
            slow = asyncio.create_task(asyncio.sleep(1))
            done, _ = await asyncio.wait({failing_task, slow}, return_when=asyncio.FIRST_COMPLETED)
            assert [type(task.exception()) for task in done] == [ValueError]
            slow.cancel()

        await asyncio.create_task(background())

    failing(scenario)
    assert capsys.readouterr().err == ""


def test_a_task_destroyed_while_pending_is_explained(capsys):
    async def scenario():
        loop = asyncio.get_running_loop()
        never = loop.create_future()

        async def waits():
            await never

        asyncio.create_task(waits(), name="orphan")
        await asyncio.sleep(0)
        del never  # nothing references the task or what it waits for now
        gc.collect()
        await asyncio.sleep(0)

    failing(scenario)
    err = capsys.readouterr().err
    assert "'orphan' (" in err and "was destroyed while still pending" in err
    assert "keep a reference to tasks you create" in err


# -- debug mode's "Object created at" tracebacks ------------------------------------------------


def _frames(*places):
    import traceback

    return traceback.StackSummary.from_list([(file, line, name, "") for file, line, name in places])


def _places(frames):
    return [(frame.filename, frame.name) for frame in frames]


def _repl_stack():
    """What a task created in a cell of the asyncrepl console script has
    above the cell (as seen on 3.11, IPython 9.18)."""
    import asyncio.base_events as base_events
    import asyncio.events as events

    import IPython
    import IPython.core.interactiveshell as shell
    import traitlets.config.application as application

    import asyncrepl._cell.runner as repl_loop

    return [
        (sys.prefix + "/bin/asyncrepl", 8, "<module>"),
        (IPython.__file__, 130, "start_ipython"),
        (application.__file__, 1080, "launch_instance"),
        (shell.__file__, 3100, "run_cell"),
        (repl_loop.__file__, 120, "__call__"),
        (base_events.__file__, 640, "run_until_complete"),
        (events.__file__, 80, "_run"),
        (shell.__file__, 3823, "run_code"),
    ]


def test_a_cells_objects_were_created_from_the_cell_inward():
    import asyncio.tasks as tasks

    frames = _frames(*_repl_stack(), ("<ipython-input-3-abc>", 1, "<module>"), ("<ipython-input-2-abc>", 4, "helper"), (tasks.__file__, 384, "create_task"))
    assert _places(users_frames(frames)) == [
        ("<ipython-input-3-abc>", "<module>"),
        ("<ipython-input-2-abc>", "helper"),
        (tasks.__file__, "create_task"),  # as in a script: asyncio's frames inside the user's stay
    ]


def test_asyncrepls_frames_inside_the_users_are_left_out():
    import asyncio.tasks as tasks

    import asyncrepl._scripts as scripts

    frames = _frames(*_repl_stack(), ("<ipython-input-3-abc>", 12, "<module>"), (scripts.__file__, 200, "run"), (tasks.__file__, 384, "create_task"))
    assert _places(users_frames(frames)) == [("<ipython-input-3-abc>", "<module>"), (tasks.__file__, "create_task")]


def test_a_librarys_objects_begin_at_the_library():
    import asyncio.selector_events as selector_events
    import asyncio.tasks as tasks
    import json.decoder as some_library  # any file of an installed package

    frames = _frames(*_repl_stack()[:-1], (selector_events.__file__, 1000, "_read_ready"), (some_library.__file__, 300, "data_received"), (tasks.__file__, 384, "create_task"))
    assert _places(users_frames(frames)) == [(some_library.__file__, "data_received"), (tasks.__file__, "create_task")]


def test_a_script_like_traceback_and_the_machinerys_own_are_kept_whole():
    import asyncio.base_events as base_events

    import IPython.core.interactiveshell as shell

    script = _frames((__file__, 10, "<module>"), (base_events.__file__, 640, "run_until_complete"), (__file__, 20, "main"))
    assert users_frames(script) is script
    machinery = _frames((shell.__file__, 3100, "run_cell"), (base_events.__file__, 640, "run_until_complete"))
    assert users_frames(machinery) is machinery
