"""The loop-side pieces that need asyncio but not IPython."""

import asyncio
import os
import re
import logging
import time

import pytest

from asyncrepl._frames import code_location
from asyncrepl._monitor import _MachineryFilter
from asyncrepl._scripts import LoopEntry, LoopGuard
from asyncrepl._tasks import TaskRegistry


def cell_namer(filename):
    return ("Cell", "In[7]") if filename == "<ipython-input-7-abc>" else None


def test_code_location_names_cells_and_files():
    assert code_location("<ipython-input-7-abc>", 3, cell_namer) == "In [7] line 3"
    assert code_location("/home/me/project/app.py", 42, cell_namer) == "app.py:42"
    assert code_location("/home/me/project/app.py", 42) == "app.py:42"


def slow_callback_records(coro_factory, log_filter=None):
    """Run *coro_factory* on a debug-mode loop; return asyncio's slow-callback
    records that *log_filter*, on the asyncio logger meanwhile, lets through."""
    records = []

    class Collect(logging.Handler):
        def emit(self, record):
            if record.msg.startswith("Executing"):
                records.append(record)

    handler = Collect()
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    if log_filter is not None:
        logger.addFilter(log_filter)
    try:
        asyncio.run(coro_factory(), debug=True)
    finally:
        logger.removeHandler(handler)
        if log_filter is not None:
            logger.removeFilter(log_filter)
    return records


async def blocker():
    time.sleep(0.15)


def _coroutine_function_in(package, source: str, name: str):
    """A coroutine function whose code lives in *package*'s folder, as the
    REPL's machinery (IPython's run_cell_async, ipykernel's tasks) does."""
    filename = os.path.join(os.path.dirname(package.__file__), "asyncrepl_test_machinery.py")
    namespace = {"time": time}
    exec(compile(source, filename, "exec"), namespace)
    return namespace[name]


def test_filter_drops_reports_about_the_repls_own_tasks_and_tasks_ctrl_c_stopped():
    import IPython

    run_cell_async = _coroutine_function_in(IPython, "async def run_cell_async():\n    time.sleep(0.15)\n", "run_cell_async")
    stopped_by_ctrl_c = set()

    async def main():
        quiet = asyncio.create_task(blocker(), name="stopped")
        stopped_by_ctrl_c.add(quiet)
        await asyncio.gather(run_cell_async(), asyncio.create_task(blocker(), name="user"), quiet)

    assert len(slow_callback_records(main)) >= 3  # asyncio reports all three...
    kept = slow_callback_records(main, _MachineryFilter(stopped_by_ctrl_c))
    assert len(kept) == 1  # ...the filter keeps the user's task only
    assert "name='user'" in str(kept[0].args[0])
    assert slow_callback_records(main, _MachineryFilter(replaced=lambda task, seconds, callback: True)) == []


def attached_entry():
    """A stand-in object attached to the running loop, as the extension attaches it."""
    loop = asyncio.get_running_loop()
    registry = TaskRegistry(loop, 10)
    registry.install()
    guard = LoopGuard(loop)
    guard.install()
    entry = LoopEntry(loop, guard, registry.context_of)
    return entry


def test_asyncio_run_helper_runs_main_as_a_task_and_cancels_only_its_leftovers(capsys):
    seen = {}

    async def forever(key):
        try:
            await asyncio.sleep(3600)
        finally:
            seen[key] = True

    async def main():
        seen["task"] = asyncio.current_task()
        asyncio.create_task(forever("leftover cancelled"))
        await asyncio.sleep(0)
        return 42

    async def cell():
        entry = attached_entry()
        seen["cell"] = asyncio.current_task()
        other = asyncio.create_task(forever("other cancelled"))  # not main()'s
        first = await entry.asyncio_run(main())
        second = await entry.asyncio_run(main())
        seen["other pending"] = not other.done()
        other.cancel()
        return first, second

    assert asyncio.run(cell()) == (42, 42)
    assert seen["task"] is not seen["cell"]
    assert seen["leftover cancelled"] and seen["other pending"]
    notices = capsys.readouterr().err.splitlines()
    assert notices == ["asyncrepl: asyncio.run() runs main() on the REPL's loop, as 'await main()' would (said once)"]


@pytest.mark.parametrize("attach", [True, False])
def test_asyncio_run_helper_rejects_what_asyncio_run_rejects(attach):
    with pytest.raises((ValueError, TypeError)) as plain:
        asyncio.run(42)  # this Python's own words (3.14 takes awaitables, and says so)

    async def cell():
        entry = attached_entry() if attach else LoopEntry()
        await entry.asyncio_run(42)

    with pytest.raises(type(plain.value), match=re.escape(str(plain.value))):
        asyncio.run(cell())


def test_run_until_complete_helper_awaits_on_the_repls_loop_and_runs_another_as_a_script():
    async def answer():
        return 7

    async def loop_seen():
        return asyncio.get_running_loop()

    async def cell():
        entry = attached_entry()
        here = await entry.run_until_complete(asyncio.get_running_loop(), answer())
        other = asyncio.new_event_loop()
        try:
            there = await entry.run_until_complete(other, loop_seen())
        finally:
            other.close()
        assert asyncio.get_running_loop() is not other  # the REPL's loop is back
        return here, there is other

    assert asyncio.run(cell()) == (7, True)



def test_the_code_kind_cache_does_not_keep_every_cells_code_alive():
    import gc
    import weakref

    from asyncrepl._tasks import code as code_kinds

    kept = []
    for n in range(code_kinds._CODE_KINDS_KEPT + 10):
        code = compile(f"x = {n}", f"<ipython-input-{n}-0>", "exec")
        code_kinds._kind_of_code(code)
        if n == 0:
            kept.append(weakref.ref(code))
        del code
    gc.collect()
    assert len(code_kinds._code_kinds) <= code_kinds._CODE_KINDS_KEPT
    assert kept[0]() is None  # the first cell's code is gone
