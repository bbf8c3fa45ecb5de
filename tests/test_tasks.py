"""Task introspection and its rendering, without IPython."""

import asyncio
import contextvars
import re
import sys

import pytest

from asyncrepl import _tasks
from asyncrepl._tasks.resolve import find
from asyncrepl._render import Table, Views, format_age
from asyncrepl._tasks import TaskRegistry, TaskRow, Link


async def leaf(seconds):
    await asyncio.sleep(seconds)  # LEAF LINE


async def middle():
    await leaf(50)


def line_of(function, marker):
    import inspect

    lines, start = inspect.getsourcelines(function)
    return start + next(i for i, text in enumerate(lines) if marker in text)


async def settle():
    for _ in range(5):
        await asyncio.sleep(0)


def run(scenario):
    """Run scenario(registry) on a fresh loop with a registry installed."""

    async def main():
        registry = TaskRegistry(asyncio.get_running_loop(), history_size=5)
        registry.install()
        try:
            return await scenario(registry)
        finally:
            for task in registry.pending():
                if task is not asyncio.current_task():
                    task.cancel()
            await asyncio.sleep(0)
            registry.uninstall()

    return asyncio.run(main())


def test_ids_follow_creation_order_and_are_never_reused():
    async def scenario(registry):
        first = asyncio.create_task(leaf(10), name="first")
        second = asyncio.create_task(leaf(10), name="second")
        await settle()
        first.cancel()
        await settle()
        third = asyncio.create_task(leaf(10), name="third")
        return [registry.info(t).id for t in (first, second, third)]

    first, second, third = run(scenario)
    assert first < second < third
    assert len({first, second, third}) == 3


def test_what_is_not_a_coroutine_raises_as_without_asyncrepl_and_takes_no_id():
    # asyncio.create_task(asyncio.gather(...)): the next task was task 3, and
    # %tasks 2 was a task nobody ever had.
    async def scenario(registry):
        gathered = asyncio.gather(leaf(0))  # its child is a task: made before the first
        first = asyncio.create_task(leaf(10))
        with pytest.raises(TypeError, match="a coroutine was expected"):
            asyncio.create_task(gathered)
        await gathered
        second = asyncio.create_task(leaf(10))
        return registry.info(first).id, registry.info(second).id

    first, second = run(scenario)
    assert second == first + 1


def test_creation_site_is_the_users_line_for_gather_and_taskgroup_children():
    here = sys._getframe().f_code.co_filename

    async def scenario(registry):
        async def grouped():
            async with asyncio.TaskGroup() as group:
                group.create_task(leaf(10))  # TG LINE
        group_task = asyncio.create_task(grouped())
        gathered = asyncio.ensure_future(asyncio.gather(leaf(10), leaf(10)))  # GATHER LINE
        await settle()
        sites = {}
        for task in registry.pending():
            if not registry.info(task).created_at:
                continue  # the test's own main task, from before the registry
            site = registry.info(task).created_at[0]
            sites.setdefault(_tasks.coroutine_name(task), set()).add((site.filename, site.lineno))
        gathered.cancel()
        group_task.cancel()
        return sites

    sites = run(scenario)
    tg_line = line_of(test_creation_site_is_the_users_line_for_gather_and_taskgroup_children, "TG LINE")
    gather_line = line_of(test_creation_site_is_the_users_line_for_gather_and_taskgroup_children, "GATHER LINE")
    assert sites["leaf"] == {(here, tg_line), (here, gather_line)}
    assert all(f.rsplit("/", 1)[-1] not in ("taskgroups.py", "tasks.py") for f, _ in sites["leaf"])


def test_await_chain_suspension_point_and_what_it_waits_on():
    async def scenario(registry):
        task = asyncio.create_task(middle(), name="mid")
        await settle()
        row = _tasks.row(registry, task)
        return row, _tasks.await_chain(task)

    row, chain = run(scenario)
    assert [link.function for link in chain] == ["middle", "leaf", "sleep"]
    assert row.state == "waiting"
    assert row.suspended_at.function == "leaf" and row.suspended_at.lineno == line_of(leaf, "LEAF LINE")
    assert row.waits_on.startswith("sleep, ") and row.waits_on.endswith(" s left")
    assert 49.0 <= float(row.waits_on.split()[1]) <= 50.0


def test_what_gather_wait_for_taskgroup_and_task_awaits_are_shown_as():
    async def scenario(registry):
        inner = asyncio.create_task(leaf(30), name="inner")

        async def awaits_task():
            await inner

        async def gathers():
            await asyncio.gather(leaf(30), leaf(30))

        async def waits_for():
            await asyncio.wait_for(leaf(30), 20)

        async def groups():
            async with asyncio.TaskGroup() as group:
                group.create_task(leaf(30))

        async def shields():
            await asyncio.shield(leaf(30))

        made = {name: asyncio.create_task(coro(), name=name) for name, coro in
                [("awaits_task", awaits_task), ("gathers", gathers), ("waits_for", waits_for), ("groups", groups), ("shields", shields)]}
        await settle()
        ids = {task.get_name(): registry.info(task).id for task in registry.pending()}
        rows = {name: _tasks.row(registry, task) for name, task in made.items()}
        waited = {name: sorted(registry.info(t).id for t in _tasks.awaited_tasks(task)) for name, task in made.items()}
        return ids, rows, waited

    ids, rows, waited = run(scenario)
    assert rows["awaits_task"].waits_on == f"task {ids['inner']}"
    assert waited["awaits_task"] == [ids["inner"]]
    assert rows["gathers"].waits_on.startswith("gather: tasks ") and "(2 of 2 pending)" in rows["gathers"].waits_on
    assert len(waited["gathers"]) == 2
    if sys.version_info < (3, 12):  # wait_for runs the coroutine as a task of its own
        assert re.fullmatch(r"wait_for\(\), task \d+, times out in (19\.\d|20\.0) s", rows["waits_for"].waits_on)
        assert len(waited["waits_for"]) == 1
    else:  # wait_for awaits the coroutine itself, inside an asyncio.timeout()
        assert re.fullmatch(r"sleep, (29\.\d|30\.0) s left, wait_for\(\) times out in (19\.\d|20\.0) s", rows["waits_for"].waits_on)
        assert waited["waits_for"] == []
    assert rows["groups"].waits_on.startswith("TaskGroup.__aexit__(), task ")
    assert len(waited["groups"]) == 1
    assert rows["shields"].state == "waiting" and rows["shields"].waits_on  # a future, described


def test_awaited_by_links_each_task_to_its_waiters():
    async def scenario(registry):
        inner = asyncio.create_task(leaf(30), name="inner")

        async def outer():
            await inner

        outer_task = asyncio.create_task(outer(), name="outer")
        await settle()
        graph = _tasks.AwaitGraph(registry.pending())
        return graph.awaited_by(inner), outer_task

    waiters, outer_task = run(scenario)
    assert waiters == [outer_task]


def test_history_records_results_errors_and_who_cancelled_from_where():
    async def scenario(registry):
        async def ok():
            return {"answer": 42}

        async def fails():
            raise ValueError("boom")

        done = asyncio.create_task(ok(), name="ok")
        failed = asyncio.create_task(fails(), name="fails")
        victim = asyncio.create_task(leaf(10), name="victim")
        await settle()
        victim.cancel()  # CANCEL LINE
        await settle()
        await done
        failed.exception()  # retrieve it, so asyncio does not warn in this test
        return {entry.name: entry for entry in registry.ended.history}

    history = run(scenario)
    assert history["ok"].outcome == "returned" and history["ok"].detail == "{'answer': 42}"
    assert history["fails"].outcome == "raised" and history["fails"].detail == "ValueError: boom"
    assert any("raise ValueError" in line for line in history["fails"].traceback)
    victim = history["victim"]
    assert victim.outcome == "cancelled"
    assert victim.cancelled_at.lineno == line_of(test_history_records_results_errors_and_who_cancelled_from_where, "CANCEL LINE")
    assert victim.lifetime is not None and victim.lifetime >= 0


def test_reading_a_failure_does_not_hide_asyncios_warning(caplog):
    async def scenario(registry):
        async def fails():
            raise KeyError("lost")

        asyncio.create_task(fails())
        await settle()
        return [entry.outcome for entry in registry.ended.history]

    with caplog.at_level("ERROR", logger="asyncio"):
        outcomes = run(scenario)
        import gc

        gc.collect()
    assert outcomes == ["raised"]
    assert any("exception was never retrieved" in r.getMessage() for r in caplog.records)


def test_history_is_bounded():
    async def scenario(registry):
        for _ in range(12):
            await asyncio.create_task(asyncio.sleep(0))
        return [entry.id for entry in registry.ended.history]

    ids = run(scenario)
    assert len(ids) == 5 and ids == sorted(ids)


def test_no_history_still_keeps_failures():
    # AsyncRepl.task_history = 0 keeps no history, but a failure is kept
    # until the user clears it, whatever the history's size (issue 18).
    async def boom():
        raise ValueError("boom")

    async def main():
        registry = TaskRegistry(asyncio.get_running_loop(), history_size=0)
        registry.install()
        await asyncio.gather(asyncio.create_task(leaf(0)), asyncio.create_task(boom()), return_exceptions=True)
        registry.uninstall()
        return registry.ended.history, [entry.detail for entry in registry.ended.failures]

    assert asyncio.run(main()) == ([], ["ValueError: boom"])


def test_find_by_id_name_and_glob():
    async def scenario(registry):
        a = asyncio.create_task(leaf(10), name="worker-a")
        b = asyncio.create_task(leaf(10), name="worker-b")
        c = asyncio.create_task(middle(), name="other")
        await settle()
        ida = registry.info(a).id
        return (
            find(registry, [str(ida)]),
            find(registry, [f"#{ida}"]),
            find(registry, ["worker-*"]),
            find(registry, ["middle"]),
            find(registry, ["other", "nope"]),
            (a, b, c),
        )

    by_id, by_hash, by_glob, by_coroutine, partly, (a, b, c) = run(scenario)
    assert by_id == ([a], []) and by_hash == ([a], [])
    assert by_glob == ([a, b], [])
    assert by_coroutine[0] == [c]
    assert partly == ([c], ["nope"])


def test_tasks_from_before_the_registry_get_ids_without_sites():
    async def main():
        early = asyncio.create_task(leaf(10), name="early")
        registry = TaskRegistry(asyncio.get_running_loop())
        registry.install()
        info = registry.info(early)
        early.cancel()
        registry.uninstall()
        return info

    info = asyncio.run(main())
    assert info.id >= 1 and info.created is None and info.created_at == ()


def test_install_composes_with_an_existing_factory_and_uninstall_restores_it():
    made = []

    def factory(loop, coro, **kwargs):
        task = asyncio.Task(coro, loop=loop, **kwargs)
        made.append(task)
        return task

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_task_factory(factory)
        registry = TaskRegistry(loop)
        registry.install()
        task = asyncio.create_task(leaf(0))
        await task
        registry.uninstall()
        return loop.get_task_factory(), registry.info(task).created_at, task

    restored, sites, task = asyncio.run(main())
    assert restored is factory and made[0] is task and sites


def test_repls_own_tasks_are_machinery():
    async def main():
        from IPython.core.interactiveshell import InteractiveShell  # only for a code object of IPython's

        async def user():
            pass

        coro = InteractiveShell.run_cell_async.__code__
        return _tasks.code._classify_file(coro.co_filename), _tasks.code._classify_file(user.__code__.co_filename)

    assert asyncio.run(main()) == ("repl", "user")


def test_summary_counts_by_coroutine_and_state():
    async def scenario(registry):
        tasks = [asyncio.create_task(leaf(10)) for _ in range(300)] + [asyncio.create_task(middle()) for _ in range(20)]
        await settle()
        return _tasks.summary(registry.pending())

    counts = run(scenario)
    assert counts[("leaf", "waiting")] == 300 and counts[("middle", "waiting")] == 20


# -- rendering ------------------------------------------------------------------------


def fixed_rows():
    def row(id_, name, coroutine, waits=""):
        return TaskRow(id_, name, "waiting", coroutine, Link("leaf", "/p/app.py", 3), waits, 2.5, None)

    return row(1, "main", "main", "gather: tasks 2, 3"), row(2, "a", "leaf", "sleep, 1.0 s left"), row(3, "b", "leaf")


def test_tree_from_fixed_rows_draws_a_known_picture():
    main, a, b = fixed_rows()
    text = Views().tree([main], {1: [a, b]}).text()
    assert text == (
        "1 'main' (main()) waiting  (gather: tasks 2, 3)\n"
        "├── 2 'a' (leaf()) waiting  (sleep, 1.0 s left)\n"
        "└── 3 'b' (leaf()) waiting"
    )


def test_table_fits_the_width_and_has_html():
    table = Table(["id", "description"], [["1", "x" * 200], ["2", "short"]], notes=["a note"])
    text = table.text(width=60)
    assert all(len(line) <= 60 for line in text.splitlines())
    assert "…" in text and text.endswith("a note")
    html = table._repr_html_()
    assert html.startswith("<table>") and "<td style='text-align:left'>short</td>" in html


def test_pending_table_marks_machinery_and_summarizes_what_it_left_out():
    from collections import Counter

    main, a, b = fixed_rows()
    a.machinery = True
    table = Views().pending_table([main, a], total=1000, counts=Counter({("leaf", "waiting"): 998, ("main", "waiting"): 2}))
    text = table.text(width=200)
    assert "2*" in text and "* IPython's, the kernel's or asyncrepl's own task" in text
    assert "showing 2 of 1,000 pending tasks (998 left out; --limit shows more)" in text
    assert "      998  leaf()  waiting" in text
    assert "app.py:3" in text


@pytest.mark.parametrize("seconds, text", [(None, "?"), (0.04, "0.0 s"), (12.34, "12.3 s"), (125, "2 min 5 s"), (7384, "2 h 3 min")])
def test_ages(seconds, text):
    assert format_age(seconds) == text


# -- every Python's asyncio: names, reprs, timeouts, factories, eager tasks, the call graph ----


def test_unnamed_tasks_keep_asyncios_own_names():
    # 3.13 calls set_name(None) after a task factory (CPython gh-130033).
    async def scenario(registry):
        unnamed = asyncio.create_task(leaf(10))
        by_loop = asyncio.get_running_loop().create_task(leaf(10))
        named = asyncio.create_task(leaf(10), name="mine")
        await settle()
        return unnamed.get_name(), by_loop.get_name(), named.get_name(), _tasks.row(registry, unnamed).name

    unnamed, by_loop, named, row_name = run(scenario)
    assert re.fullmatch(r"Task-\d+", unnamed) and re.fullmatch(r"Task-\d+", by_loop)
    assert named == "mine" and row_name == unnamed


def _reprs_made_here(registry_too: bool, factory=None):
    """Reprs of tasks made on fixed lines of this function, with and without a registry."""

    async def returns():
        return {"answer": 42}

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        if factory is not None:
            loop.set_task_factory(factory)
        registry = TaskRegistry(loop) if registry_too else None
        if registry is not None:
            registry.install()
        waiting = asyncio.create_task(leaf(10))  # MADE HERE
        by_loop = loop.create_task(leaf(10))  # AND HERE
        done = asyncio.create_task(returns())
        await settle()
        reprs = [repr(waiting), repr(by_loop), repr(done)]
        waiting.cancel()
        by_loop.cancel()
        await settle()
        reprs.append(repr(waiting))
        if registry is not None:
            registry.uninstall()
        return reprs

    return [re.sub(r"Task-\d+", "Task-N", text) for text in asyncio.run(main())]


def test_a_tasks_repr_is_what_plain_asyncio_prints():
    plain, ours = _reprs_made_here(False), _reprs_made_here(True)
    assert ours == plain
    here = __file__
    assert f"created at {here}:{line_of(_reprs_made_here, 'MADE HERE')}" not in plain[0]  # asyncio.create_task's line
    assert plain[1].endswith(f"created at {here}:{line_of(_reprs_made_here, 'AND HERE')}>")
    assert all("asyncrepl/_tasks/" not in text and "_finished" not in text for text in ours)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks are 3.12+")
def test_with_the_eager_factory_a_repr_differs_from_plain_asyncio_only_in_asyncios_own_line():
    plain = _reprs_made_here(False, asyncio.eager_task_factory)
    ours = _reprs_made_here(True, asyncio.eager_task_factory)
    if sys.version_info[:2] == (3, 13):  # plain 3.13 names them 'None' (gh-130033): asyncrepl does not
        plain = [text.replace("name='None'", "name='Task-N'") for text in plain]

    def without_site(text):  # plain: always eager_task_factory's line in asyncio
        return re.sub(r" created at \S+>$", ">", text)

    assert [without_site(text) for text in ours] == [without_site(text) for text in plain]
    assert re.search(r"created at \S+/asyncio/tasks\.py:\d+>$", ours[0])  # asyncio.create_task's line, as without a factory
    assert ours[1].endswith(f"created at {__file__}:{line_of(_reprs_made_here, 'AND HERE')}>")  # the user's
    assert all("asyncrepl/_tasks/" not in text and "_finished" not in text for text in ours)


def test_wait_for_and_timeout_blocks_show_their_deadline():
    async def under_timeout():
        async with asyncio.timeout(7):
            await leaf(30)

    async def under_wait_for():
        await asyncio.wait_for(leaf(30), 20)

    async def scenario(registry):
        blocks = asyncio.create_task(under_timeout())
        waits = asyncio.create_task(under_wait_for())
        await settle()
        return _tasks.row(registry, blocks).waits_on, _tasks.row(registry, waits).waits_on

    blocks, waits = run(scenario)
    assert re.fullmatch(r"sleep, (29\.\d|30\.0) s left, timeout\(\) expires in (6\.\d|7\.0) s", blocks)
    if sys.version_info < (3, 12):
        assert re.fullmatch(r"wait_for\(\), task \d+, times out in (19\.\d|20\.0) s", waits)
    else:
        assert re.fullmatch(r"sleep, (29\.\d|30\.0) s left, wait_for\(\) times out in (19\.\d|20\.0) s", waits)


class _Recording:
    """A user's task factory: makes plain asyncio Tasks, passing on what it gets."""

    def __init__(self):
        self.calls = []

    def __call__(self, loop, coro, **kwargs):
        self.calls.append(sorted(kwargs))
        return asyncio.Task(coro, loop=loop, **kwargs)


def test_a_factory_set_after_the_registry_is_composed_at_the_next_look():
    factory = _Recording()

    async def fails():
        raise ValueError("late")

    async def main():
        loop = asyncio.get_running_loop()
        registry = TaskRegistry(loop)
        registry.install()
        assert registry.adopt_task_factory() is None  # nothing changed
        loop.set_task_factory(factory)
        notice = registry.adopt_task_factory()
        task = asyncio.create_task(fails(), name="after")  # CREATED AFTER
        await asyncio.wait([task])
        await settle()
        task.exception()
        again = registry.adopt_task_factory()
        registry.uninstall()
        return notice, again, registry.info(task), registry.ended.history, loop.get_task_factory()

    notice, again, info, history, restored = asyncio.run(main())
    assert notice == (
        "the loop's task factory _Recording now runs inside asyncrepl's, so %tasks, "
        "%%timeline and failure reports still see every task"
    )
    assert again is None and factory.calls[0] == (["name"] if sys.version_info >= (3, 14) else [])
    assert info.created_at[0].lineno == line_of(test_a_factory_set_after_the_registry_is_composed_at_the_next_look, "CREATED AFTER")
    assert [(entry.name, entry.outcome) for entry in history] == [("after", "raised")]
    assert restored is factory


def test_a_factory_that_calls_the_one_it_replaced_makes_each_task_once():
    seen = []

    async def main():
        loop = asyncio.get_running_loop()
        registry = TaskRegistry(loop)
        registry.install()
        replaced = loop.get_task_factory()

        def wrapping(loop, coro, **kwargs):
            task = replaced(loop, coro, **kwargs)
            seen.append(task)
            return task

        loop.set_task_factory(wrapping)
        registry.adopt_task_factory()
        first = asyncio.create_task(leaf(0))
        second = asyncio.create_task(leaf(0))
        await asyncio.gather(first, second)
        registry.uninstall()
        return registry.info(first), registry.info(second), (first, second), registry.ended.history

    first, second, tasks, history = asyncio.run(main())
    assert list(tasks) == seen[:2]  # (then asyncio.run's own, once the registry is gone)
    assert second.id == first.id + 1 and first.created_at
    assert [entry.id for entry in history] == [first.id, second.id]


def _factory_calls():
    """Every way a loop.create_task calls its factory: (loop, coro) and
    context= (3.11-3.13.2), and name=, context=, eager_start= (3.13.3, 3.14+)."""
    calls = [{}, {"context": True}, {"name": "given"}, {"name": "given", "context": True}, {"name": None}]
    if sys.version_info >= (3, 12):
        calls += [
            {"eager_start": True},
            {"name": "given", "context": True, "eager_start": True},
            {"name": None, "context": None, "eager_start": False},
        ]
    return calls


@pytest.mark.parametrize("kwargs", _factory_calls(), ids=str)
@pytest.mark.parametrize("previous", ["none", "user", "eager"])
def test_the_factory_passes_on_whatever_create_task_gives_it(kwargs, previous):
    if previous == "eager" and sys.version_info < (3, 12):
        pytest.skip("eager tasks are 3.12+")
    user_factory = _Recording()
    marker = contextvars.ContextVar("marker")

    async def first_step():
        # Runs inside create_task for an eager task: its id is already known.
        return registry.info(asyncio.current_task()).id, marker.get("unset")

    async def main():
        global registry
        loop = asyncio.get_running_loop()
        loop.set_task_factory({"none": None, "user": user_factory, "eager": getattr(asyncio, "eager_task_factory", None)}[previous])
        registry = TaskRegistry(loop)
        registry.install()
        given = dict(kwargs)
        if given.get("context") is True:
            context = contextvars.copy_context()
            context.run(marker.set, "from the context")
            given["context"] = context
        task = registry.factory._factory(loop, first_step(), **given)
        eager_done = task.done()
        seen_id, seen_marker = await task
        await settle()
        registry.uninstall()
        return task, eager_done, seen_id, seen_marker, registry.info(task), registry.ended.history

    task, eager_done, seen_id, seen_marker, info, history = asyncio.run(main())
    eager = kwargs.get("eager_start", previous == "eager")
    assert eager_done == eager
    assert seen_id == info.id and [entry.id for entry in history] == [info.id]
    assert seen_marker == ("from the context" if kwargs.get("context") is True else "unset")
    if kwargs.get("name"):
        assert task.get_name() == "given"
    else:
        assert re.fullmatch(r"Task-\d+", task.get_name())
    if previous == "user":
        assert user_factory.calls[0] == sorted(kwargs)
    assert info.created_at  # this test's line


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks are 3.12+")
def test_an_eager_task_that_ends_in_its_first_step_gets_an_id_a_site_history_and_a_timeline_row():
    from asyncrepl import _timeline

    async def instant():
        return "done at once"

    async def main():
        loop = asyncio.get_running_loop()
        registry = TaskRegistry(loop)
        registry.install()
        loop.set_task_factory(asyncio.eager_task_factory)
        registry.adopt_task_factory()
        recorder = _timeline.Recorder(task_id=lambda task: registry.info(task).id)
        stop_recording = registry.wrapping.subscribe(_timeline.task_wrapper())
        task = recorder.context().run(asyncio.create_task, instant())  # EAGER LINE
        done_at_once = task.done()
        await settle()
        stop_recording()
        timeline = recorder.finish()
        registry.uninstall()
        return done_at_once, registry.info(task), registry.ended.history, timeline

    done_at_once, info, history, timeline = asyncio.run(main())
    assert done_at_once
    assert info.created_at[0].lineno == line_of(test_an_eager_task_that_ends_in_its_first_step_gets_an_id_a_site_history_and_a_timeline_row, "EAGER LINE")
    assert [(entry.id, entry.coroutine, entry.outcome, entry.detail) for entry in history] == [
        (info.id, "test_an_eager_task_that_ends_in_its_first_step_gets_an_id_a_site_history_and_a_timeline_row.<locals>.instant", "returned", "'done at once'")
    ]
    (track,) = timeline.tracks  # (no cell row: no cell here)
    assert (track.id, track.outcome, len(track.steps)) == (info.id, "returned", 1)


def test_await_chain_and_awaited_by_on_every_version():
    # 3.14+: asyncio's call graph (it also links shield()'s inner task to
    # the task awaiting it); before, frames and futures.
    async def shields():
        await asyncio.shield(leaf(30))

    async def scenario(registry):
        shielding = asyncio.create_task(shields(), name="shielding")
        mid = asyncio.create_task(middle(), name="mid")
        await settle()
        graph = _tasks.AwaitGraph(registry.pending())
        inner = next(task for task in registry.pending() if task.get_name() not in ("shielding", "mid") and _tasks.coroutine_name(task) == "leaf")
        return [link.function for link in _tasks.await_chain(mid)], graph.awaited_by(inner), graph.awaits(shielding), shielding, inner

    chain, inner_awaited_by, shielding_awaits, shielding, inner = run(scenario)
    assert chain[:2] == ["middle", "leaf"] and chain[-1] == "sleep"
    if sys.version_info >= (3, 14):
        assert inner_awaited_by == [shielding] and shielding_awaits == [inner]
    else:
        assert inner_awaited_by == [] and shielding_awaits == []


@pytest.mark.parametrize("pattern, wanted", [("3", 3), ("#3", 3), ("²", None), ("#²", None), ("٣", None), ("x3", None), ("", None)])
def test_only_ascii_digits_name_a_task_id(pattern, wanted):
    assert _tasks.resolve._pattern_id(pattern) == wanted


def test_a_multi_line_exception_message_stays_in_one_table_row():
    from asyncrepl._tasks import Finished

    entry = Finished(7, "flaky", "fetch", "raised", "ConnectionError: reset\nwhile reading", 10.0, 0.5, ())
    text = Views().history_table([entry], now=12.0).text(width=200)
    lines = text.splitlines()
    assert len(lines) == 3 and "ConnectionError: reset↵while reading" in lines[2]


def test_the_table_width_is_the_terminals_now_not_a_columns_variable_from_startup(monkeypatch):
    # A shell or tool that exported COLUMNS when the REPL started pinned every
    # table to that width, whatever the terminal became (shutil prefers it).
    import fcntl
    import os
    import struct
    import termios

    from asyncrepl._render import terminal_width

    leader, follower = os.openpty()
    try:
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 77, 0, 0))
        with open(follower, "w", closefd=False) as stream:
            monkeypatch.setattr("sys.stdout", stream)
            monkeypatch.setenv("COLUMNS", "160")
            assert terminal_width() == 77
            fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 93, 0, 0))  # resized
            assert terminal_width() == 93
    finally:
        os.close(leader)
        os.close(follower)
    monkeypatch.undo()
    monkeypatch.setenv("COLUMNS", "111")  # no terminal (a capture, Jupyter): the variable, as before
    assert terminal_width() == 111
