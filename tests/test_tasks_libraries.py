"""Tasks that libraries make, asyncrepl's own tasks, kept failures, one
resolver for names, what a task waits on, and why a cancelled task goes on:
the engine (asyncrepl._tasks) on a real loop, without IPython.

A small fake library (``fakeweb``, written to a temporary directory that the
registry counts as installed packages, as it counts site-packages) makes its
tasks as aiohttp does: one per connection from a callback the loop calls, and
one per request inside that task.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import inspect
import os
import re
import sys
import sysconfig

import pytest

from asyncrepl import _tasks
from asyncrepl._tasks.resolve import find, resolve_one
from asyncrepl._tasks import TaskRegistry


def line_of(function, marker):
    lines, start = inspect.getsourcelines(function)
    return start + next(i for i, text in enumerate(lines) if marker in text)


async def settle(rounds=5):
    for _ in range(rounds):
        await asyncio.sleep(0)


def run(scenario, history_size=5):
    """Run scenario(registry) on a fresh loop with a registry installed."""

    async def main():
        registry = TaskRegistry(asyncio.get_running_loop(), history_size=history_size)
        registry.install()
        try:
            return await scenario(registry)
        finally:
            for task in registry.pending(include_machinery=True):
                if task is not asyncio.current_task():
                    task.cancel()
            await asyncio.sleep(0)
            registry.uninstall()

    return asyncio.run(main())


async def sleeper(seconds):
    await asyncio.sleep(seconds)


# -- a library's tasks ------------------------------------------------------------------------

FAKEWEB = '''\
import asyncio


class Server:
    """Accepts connections as aiohttp's web_protocol does: the loop calls
    connection_made (a callback), which starts one task per connection; that
    task starts one task per request."""

    def __init__(self, handler, requests):
        self.handler, self.requests, self.tasks = handler, requests, []

    def connection_made(self):
        self.tasks.append(asyncio.get_running_loop().create_task(self.start()))  # CONNECTION TASK

    async def start(self):
        for number in range(self.requests):
            task = asyncio.get_running_loop().create_task(self.handle(number))  # REQUEST TASK
            self.tasks.append(task)
            await task

    async def handle(self, number):
        return await self.handler(number)


def serve(handler, requests=1):
    server = Server(handler, requests)
    asyncio.get_running_loop().call_soon(server.connection_made)
    return server


def spawn(coro):
    return asyncio.get_running_loop().create_task(coro)  # SPAWNED FOR THE CALLER
'''


@pytest.fixture
def fakeweb(tmp_path, monkeypatch):
    """The fake library, importable, its folder counted as installed packages."""
    root = tmp_path / "site-packages"
    (root / "fakeweb").mkdir(parents=True)
    (root / "fakeweb" / "__init__.py").write_text(FAKEWEB)
    monkeypatch.syspath_prepend(str(root))
    roots = _tasks.code._library_roots() + (os.path.normcase(os.path.realpath(root)) + os.sep,)
    monkeypatch.setattr(_tasks.code, "_library_roots", lambda: roots)
    _tasks.code._classify_file.cache_clear()
    module = importlib.import_module("fakeweb")
    yield module
    sys.modules.pop("fakeweb", None)
    _tasks.code._classify_file.cache_clear()
    _tasks.code._code_kinds.clear()


def fakeweb_line(marker):
    return next(number for number, text in enumerate(FAKEWEB.splitlines(), 1) if marker in text)


def test_tasks_a_library_makes_in_its_callbacks_are_credited_to_the_librarys_line(fakeweb):
    # Before: the walk went on past the loop's step (Handle._run) into
    # whatever ran the loop, and credited the first "user" frame there (the
    # asyncrepl console script's sys.exit(main()); here, this test's asyncio.run).
    async def handler(number):
        await asyncio.sleep(30)

    async def scenario(registry):
        server = fakeweb.serve(handler)
        await settle()
        return {task.get_coro().__qualname__: registry.info(task).created_at for task in server.tasks}

    sites = run(scenario)
    connection, request = sites["Server.start"], sites["Server.handle"]
    assert len(connection) == 1 and len(request) == 1
    assert (os.path.basename(connection[0].filename), connection[0].lineno) == ("__init__.py", fakeweb_line("CONNECTION TASK"))
    assert connection[0].filename == fakeweb.__file__ and connection[0].function == "Server.connection_made"
    assert (request[0].filename, request[0].lineno) == (fakeweb.__file__, fakeweb_line("REQUEST TASK"))


def test_a_task_a_library_makes_for_the_users_call_is_credited_to_the_users_line(fakeweb):
    async def scenario(registry):
        task = fakeweb.spawn(sleeper(30))  # THE USER'S CALL
        await settle()
        return registry.info(task).created_at

    sites = run(scenario)
    assert sites[0].filename == __file__
    assert sites[0].lineno == line_of(test_a_task_a_library_makes_for_the_users_call_is_credited_to_the_users_line, "THE USER'S CALL")


def test_a_user_callback_that_makes_a_task_is_credited_with_it_and_nothing_past_the_step():
    made = []

    def callback():
        made.append(asyncio.get_running_loop().create_task(sleeper(30)))  # IN THE CALLBACK

    async def scenario(registry):
        asyncio.get_running_loop().call_soon(callback)
        await settle()
        return registry.info(made[0]).created_at

    sites = run(scenario)
    here = test_a_user_callback_that_makes_a_task_is_credited_with_it_and_nothing_past_the_step
    assert [(site.filename, site.lineno) for site in sites] == [(__file__, line_of(here, "IN THE CALLBACK"))]


def test_the_environments_console_scripts_are_the_repls_not_the_users():
    # The asyncrepl (and ipython) console scripts live in the environment's
    # bin/: before, a frame there counted as the user's code.
    launcher = os.path.join(sysconfig.get_paths()["scripts"], "asyncrepl")
    assert _tasks.code._classify_file(launcher) == "repl"


# -- who cancelled ---------------------------------------------------------------------------


def test_a_taskgroups_cancellations_name_the_group_the_failed_child_and_the_groups_line():
    async def fails():
        await asyncio.sleep(0.01)
        raise ValueError("boom")

    async def grouped(made):
        async with asyncio.TaskGroup() as group:  # THE GROUP
            made.append(group.create_task(sleeper(30), name="sibling"))
            made.append(group.create_task(fails(), name="failing"))

    async def scenario(registry):
        made = []
        parent = asyncio.create_task(grouped(made))
        await asyncio.wait([parent])
        parent.exception()
        return {entry.name: entry for entry in registry.ended.history}, registry.info(made[1]).id

    history, failing_id = run(scenario, history_size=10)
    sibling = history["sibling"]
    assert sibling.outcome == "cancelled"
    assert sibling.cancelled_by == f"its TaskGroup (task {failing_id} failed)"
    here = test_a_taskgroups_cancellations_name_the_group_the_failed_child_and_the_groups_line
    assert (sibling.cancelled_at.filename, sibling.cancelled_at.lineno) == (__file__, line_of(here, "THE GROUP"))


def test_a_taskgroup_cancelling_its_children_as_its_block_raises_names_the_users_line():
    async def grouped():
        async with asyncio.TaskGroup() as group:  # THE BLOCK
            group.create_task(sleeper(30), name="child")
            await asyncio.sleep(0)
            raise KeyError("out")

    async def scenario(registry):
        parent = asyncio.create_task(grouped())
        await asyncio.wait([parent])
        parent.exception()
        return {entry.name: entry for entry in registry.ended.history}

    child = run(scenario, history_size=10)["child"]
    here = test_a_taskgroup_cancelling_its_children_as_its_block_raises_names_the_users_line
    assert child.cancelled_by == "its TaskGroup"
    assert (child.cancelled_at.filename, child.cancelled_at.lineno) == (__file__, line_of(here, "THE BLOCK"))


# -- asyncrepl's own tasks -------------------------------------------------------------------


def test_own_tasks_use_up_no_user_id_are_not_listed_and_leave_no_history():
    async def fails():
        raise ValueError("the REPL's own")

    async def scenario(registry):
        first = asyncio.create_task(sleeper(30), name="first")
        own = registry.create_own_task(sleeper(30), name="In [7]")
        own_failing = registry.create_own_task(fails())
        second = asyncio.create_task(sleeper(30), name="second")
        await settle()
        own_failing.exception()
        this = asyncio.current_task()  # from before the registry
        return (
            [registry.info(task).id for task in (first, own, own_failing, second)],
            [task for task in registry.pending() if task is not this],
            [task for task in registry.pending(include_machinery=True) if task is not this],
            registry.ended.history,
            registry.ended.failures,
            registry.is_own(own),
            own.get_name(),
            (first, own, second),
        )

    ids, pending, everything, history, failures, own_is_own, own_name, (first, own, second) = run(scenario)
    assert ids[1:3] == ["r1", "r2"] and ids[3] == ids[0] + 1
    assert pending == [first, second] and everything[:2] == [first, second] and own in everything
    assert history == [] and failures == [] and own_is_own and own_name == "In [7]"


def test_an_adopted_task_gets_the_next_user_id_is_listed_and_enters_the_history():
    async def ends_later():
        await asyncio.sleep(0.01)
        raise RuntimeError("left running, then failed")

    async def scenario(registry):
        own = registry.create_own_task(ends_later(), name="In [7]")
        before = asyncio.create_task(sleeper(30))
        await asyncio.sleep(0)
        listed_before = own in registry.pending()
        new_id = registry.adopt(own)
        again = registry.adopt(own)
        listed_after = own in registry.pending()
        await asyncio.wait([own])
        await settle()
        own.exception()
        return new_id, again, registry.info(before).id, listed_before, listed_after, registry.ended.history, registry.is_own(own)

    new_id, again, before_id, listed_before, listed_after, history, own = run(scenario)
    assert new_id == before_id + 1 and again == new_id
    assert not listed_before and listed_after and not own
    assert [(entry.id, entry.name, entry.outcome) for entry in history] == [(new_id, "In [7]", "raised")]


def test_tasks_running_an_own_code_are_own_and_the_code_is_held_weakly():
    def harness():
        # Compiled here, as %timeit_async compiles its template: no module
        # holds the code object but the function.
        namespace = {"asyncio": asyncio}
        exec(compile("async def _one():\n    await asyncio.sleep(0)\n", "<harness>", "exec"), namespace)
        return namespace["_one"]

    async def scenario(registry):
        one = harness()
        registry.own_code(one.__code__)
        tasks = [asyncio.create_task(one()) for _ in range(20)]
        user = asyncio.create_task(sleeper(0))
        await asyncio.gather(*tasks, user)
        held = len(registry._own_codes)
        del one, tasks
        await settle()  # (the tasks' done callbacks hold them until they run)
        gc.collect()
        return registry.ended.history, registry.info(user).id, held, len(registry._own_codes)

    history, user_id, held, after = run(scenario, history_size=100)
    assert [entry.id for entry in history] == [user_id]  # none of the 20
    assert held == 1 and after == 0  # (the code object died with the function)


# -- failures kept ---------------------------------------------------------------------------


def test_a_failure_stays_kept_whatever_number_of_tasks_succeed_after_it():
    async def fails():
        raise ValueError("the one that explains the bug")

    async def scenario(registry):
        failing = asyncio.create_task(fails(), name="culprit")
        await asyncio.wait([failing])
        failing.exception()
        for _ in range(200):  # a server's requests, each a task that ends well
            await asyncio.create_task(asyncio.sleep(0))
        return registry.ended.history, registry.ended.failures, registry.ended.latest_failure(), registry.ended.finished_tasks()

    history, failures, latest, finished = run(scenario)
    assert "culprit" not in [entry.name for entry in history] and len(history) == 5
    assert [(entry.name, entry.detail) for entry in failures] == [("culprit", "ValueError: the one that explains the bug")]
    assert latest.name == "culprit" and latest.frames_kept
    assert finished[0].name == "culprit" and len(finished) == 6  # --done: the failure, then the history


def test_the_failure_store_is_bounded_counts_what_it_dropped_and_lets_go_of_old_frames():
    async def fails(number):
        raise ValueError(f"failure {number}")

    async def scenario(registry):
        registry.ended.FAILURES_KEPT, registry.ended.FRAMES_KEPT = 4, 2
        tasks = [asyncio.create_task(fails(n), name=f"f{n}") for n in range(6)]
        registry.ended.unseen_failures.update(registry.info(task).id for task in tasks)  # as if reported
        await asyncio.wait(tasks)
        for task in tasks:
            task.exception()
        kept = registry.ended.failures
        forgotten = registry.ended.forget_failures([kept[0].id])
        return kept, registry.ended.failures_dropped, forgotten, registry.ended.failures, registry.ended.unseen_failures, tasks

    kept, dropped, forgotten, after, unseen, tasks = run(scenario)
    assert [entry.name for entry in kept] == ["f2", "f3", "f4", "f5"] and dropped == 2
    assert [entry.frames_kept for entry in kept] == [False, False, True, True]
    assert kept[0].error is None and "ValueError: failure 2" in "".join(kept[0].traceback)
    assert any("raise ValueError" in line for line in kept[0].traceback)
    from asyncrepl._render import Views

    shown = Views().finished_detail(kept[0], kept[0].ended + 1).text()  # %tasks ID of an old failure
    assert "traceback:" in shown and "raise ValueError(f\"failure {number}\")" in shown
    assert forgotten == [kept[0].id] and [entry.name for entry in after] == ["f3", "f4", "f5"]
    assert len(unseen) == 3  # dropped and forgotten ones are no longer "not looked at"


# -- one resolver ----------------------------------------------------------------------------


def test_names_resolve_the_same_way_for_pending_and_finished_tasks():
    async def crawl(fail):
        await asyncio.sleep(0 if fail else 30)
        if fail:
            raise OSError("unreachable")

    async def scenario(registry):
        old = asyncio.create_task(crawl(True), name="crawler")
        await asyncio.wait([old])
        old.exception()
        new = asyncio.create_task(crawl(False), name="crawler")
        other = asyncio.create_task(crawl(False), name="crawl")  # named as the other's coroutine
        await settle()
        results = {}
        for pattern in ("crawler", "crawl", "'crawler'", str(registry.info(new).id), "crawl*", "nothing"):
            try:
                results[pattern] = resolve_one(registry, pattern)
            except (_tasks.AmbiguousTask, _tasks.NoSuchTask) as error:
                results[pattern] = error
        ids = registry.info(old).id, registry.info(new).id, registry.info(other).id
        cancel_scope = find(registry, ["crawl*"])
        return results, ids, (old, new, other), cancel_scope

    results, (old_id, new_id, other_id), (old, new, other), cancel_scope = run(scenario, history_size=10)
    ambiguous = results["crawler"]
    assert isinstance(ambiguous, _tasks.AmbiguousTask)
    coroutine = re.escape("test_names_resolve_the_same_way_for_pending_and_finished_tasks.<locals>.crawl()")
    assert re.fullmatch(
        rf"'crawler' names 2 tasks: {new_id} 'crawler' \({coroutine}\) waiting, "
        rf"{old_id} 'crawler' \({coroutine}\) raised OSError; give one id",
        str(ambiguous),
    ), str(ambiguous)
    assert results["crawl"] is other  # a name first: not every crawl() task
    assert results[str(new_id)] is new
    assert isinstance(results["'crawler'"], _tasks.NoSuchTask)  # quotes are the magics' to strip
    assert isinstance(results["crawl*"], _tasks.AmbiguousTask) and isinstance(results["nothing"], _tasks.NoSuchTask)
    assert cancel_scope == ([new, other], [])


def test_a_repl_task_is_named_by_its_r_id_only_when_asked_for():
    async def scenario(registry):
        own = registry.create_own_task(sleeper(30))
        await settle()
        ident = registry.info(own).id
        return ident, find(registry, [ident]), find(registry, [ident], include_machinery=True), own

    ident, hidden, shown, own = run(scenario)
    assert ident == "r1" and hidden == ([], ["r1"]) and shown == ([own], [])


# -- what a task waits on --------------------------------------------------------------------


def test_waits_on_names_the_primitive_and_its_counts():
    lock_b = asyncio.Lock()

    class Holder:
        def __init__(self):
            self.gate = asyncio.Semaphore(2)
            self.lock = asyncio.Lock()

        async def locked(self):
            async with self.lock:
                pass

    async def locked_twice(lock):
        async with lock:
            await asyncio.sleep(30)

    async def takes(lock):
        async with lock:
            pass

    async def takes_global():
        await lock_b.acquire()

    async def gets(queue):
        return await queue.get()

    async def puts(jobs):
        await jobs.put("one more")

    async def waits(ready):
        await ready.wait()

    async def passes(pool):
        async with pool:
            await asyncio.sleep(0)

    async def through(holder):
        async with holder.gate:
            await asyncio.sleep(30)

    async def conditioned(cond):
        async with cond:
            await cond.wait()

    async def meets(barrier):
        await barrier.wait()

    async def scenario(registry):
        lock = asyncio.Lock()
        queue = asyncio.Queue(10)
        jobs = asyncio.Queue(2)
        jobs.put_nowait(1)
        jobs.put_nowait(2)
        ready = asyncio.Event()
        pool = asyncio.BoundedSemaphore(3)
        for _ in range(3):
            await pool.acquire()
        holder = Holder()
        cond = asyncio.Condition()
        barrier = asyncio.Barrier(3)
        made = {
            "holds": asyncio.create_task(locked_twice(lock)),
            "takes": asyncio.create_task(takes(lock)),
            "takes2": asyncio.create_task(takes(lock)),
            "gets": asyncio.create_task(gets(queue)),
            "puts": asyncio.create_task(puts(jobs)),
            "waits": asyncio.create_task(waits(ready)),
            "passes": asyncio.create_task(passes(pool)),
            "gate1": asyncio.create_task(through(holder)),
            "gate2": asyncio.create_task(through(holder)),
            "gate3": asyncio.create_task(through(holder)),
            "cond": asyncio.create_task(conditioned(cond)),
            "meets": asyncio.create_task(meets(barrier)),
        }
        await lock_b.acquire()
        made["global"] = asyncio.create_task(takes_global())
        await holder.lock.acquire()
        made["method"] = asyncio.create_task(holder.locked())
        await settle()
        rows = {name: _tasks.row(registry, task).waits_on for name, task in made.items()}
        lock_b.release()
        holder.lock.release()
        return rows

    rows = run(scenario)
    assert rows["holds"].startswith("sleep, ")
    assert rows["takes"] == rows["takes2"] == "Lock lock (locked, 2 waiting)"
    assert rows["global"] == "Lock lock_b (locked, 1 waiting)"
    assert rows["gets"] == "Queue.get() on queue: empty, 0 of 10 items"
    assert rows["puts"] == "Queue.put() on jobs: full, 2 of 2 items"
    assert rows["waits"] == "Event.wait() on ready: not set, 1 waiting"
    assert rows["passes"] == "BoundedSemaphore pool (0 of 3 free, 1 waiting)"
    assert rows["gate3"] == "Semaphore holder.gate (0 free, 1 waiting)"
    assert rows["method"] == "Lock self.lock (locked, 1 waiting)"
    assert rows["cond"] == "Condition.wait() on cond: 1 waiting"
    assert rows["meets"] == "Barrier.wait() on barrier: 1 of 3 waiting"


def test_the_await_chain_follows_async_for_into_the_async_generator():
    async def ticks():
        for number in range(3):
            await asyncio.sleep(30)  # THE GENERATOR WAITS
            yield number

    async def consumer():
        async for _ in ticks():  # THE LOOP
            pass

    async def scenario(registry):
        task = asyncio.create_task(consumer())
        await settle()
        return _tasks.await_chain(task), _tasks.row(registry, task)

    chain, row = run(scenario)
    here = test_the_await_chain_follows_async_for_into_the_async_generator
    assert [link.function.rsplit(".", 1)[-1] for link in chain] == ["consumer", "ticks", "sleep"]
    assert chain[1].lineno == line_of(here, "THE GENERATOR WAITS")
    assert row.suspended_at.lineno == line_of(here, "THE GENERATOR WAITS")
    assert row.waits_on.startswith("sleep, ")


def test_a_row_walks_the_await_chain_once(monkeypatch):
    walks = []
    original = _tasks.awaits._awaitables

    def counting(task):
        walks.append(task)
        return original(task)

    async def scenario(registry):
        task = asyncio.create_task(sleeper(30))
        await settle()
        monkeypatch.setattr(_tasks.rows, "_awaitables", counting)
        monkeypatch.setattr(_tasks.awaits, "_awaitables", counting)
        _tasks.row(registry, task)
        monkeypatch.undo()
        return task, list(walks)

    task, walks_by_row = run(scenario)
    assert walks_by_row == [task]


# -- why a cancelled task goes on -------------------------------------------------------------


async def swallows():  # the first cancel() only: the test's cleanup ends it
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:  # SWALLOWS HERE
        pass
    await asyncio.sleep(30)


async def in_finally():
    try:
        await asyncio.sleep(30)
    finally:
        await asyncio.sleep(30)  # CLEANS UP FOREVER


async def bare():
    try:
        await asyncio.sleep(30)
    except:  # BARE EXCEPT  # noqa: E722
        pass
    await asyncio.sleep(30)


async def in_group():
    async with asyncio.TaskGroup() as group:
        group.create_task(sleeper(30))
        group.create_task(swallows(), name="child")


async def in_gather():  # (without return_exceptions, gather ends at the first child cancelled)
    await asyncio.gather(sleeper(30), swallows(), return_exceptions=True)


@pytest.mark.parametrize(
    "coroutine, culprit, how, marker",
    [
        (swallows, "self", "caught", (swallows, "SWALLOWS HERE")),
        (bare, "self", "caught", (bare, "BARE EXCEPT")),
        (in_finally, "self", "handling", (in_finally, "CLEANS UP FOREVER")),
        (in_group, "swallows", "caught", (swallows, "SWALLOWS HERE")),
        (in_gather, "swallows", "caught", (swallows, "SWALLOWS HERE")),
    ],
)
def test_why_a_cancelled_task_goes_on(coroutine, culprit, how, marker):
    async def scenario(registry):
        task = asyncio.create_task(coroutine())
        await settle()
        task.cancel()
        await settle(10)
        why = _tasks.cancelling.why_still_running(registry, task)
        return why, task, _tasks.coroutine_name(why.task)

    why, task, culprit_coroutine = run(scenario)
    assert (why.task is task) == (culprit == "self")
    if culprit != "self":
        assert culprit_coroutine == culprit
    assert why.how == how
    assert (why.where.filename, why.where.lineno) == (__file__, line_of(*marker))
