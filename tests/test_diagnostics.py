"""The detectors, without IPython."""

import asyncio
import gc
import re
import sys
import warnings

import pytest

from asyncrepl._diagnostics import (
    FailedTasks,
    UnawaitedCoroutines,
    suggest_await,
    unstarted,
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
    def drop():
        add_one(1)  # DROP LINE

    drop()
    gc.collect()
    err = capsys.readouterr().err
    line = line_of(test_a_dropped_coroutine_is_reported_at_the_users_line_with_the_fix, "DROP LINE")
    assert err.startswith(f"asyncrepl: coroutine add_one() was never awaited, at test_diagnostics.py:{line}: add_one(1)")
    assert err.rstrip().endswith("did you mean: await add_one(1)")
    assert err.count("asyncrepl:") == 1


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


def test_a_failed_task_nobody_awaits_is_reported_as_it_ends(capsys, caplog):
    async def scenario():
        task = asyncio.create_task(bad(), name="bad")
        await asyncio.sleep(0.01)
        return task

    with caplog.at_level("ERROR", logger="asyncio"):
        task = failing(scenario)
        del task
        gc.collect()
    err = capsys.readouterr().err
    assert "'bad' (bad()) failed: ValueError: boom, created at test_diagnostics.py:" in err
    assert re.search(r"\n  %tasks (\d+) shows the traceback, %debug_task \1 to debug\n", err), err
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]  # not twice


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
