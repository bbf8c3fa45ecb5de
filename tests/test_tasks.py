"""Task introspection and its rendering, without IPython."""

import asyncio
import sys

import pytest

from asyncrepl import _tasks
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
    assert rows["waits_for"].waits_on.startswith("wait_for(), ") and " s left, task " in rows["waits_for"].waits_on
    assert len(waited["waits_for"]) == 1
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
        waiters = _tasks.awaited_by(registry.pending())
        return waiters[inner], outer_task

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
        return {entry.name: entry for entry in registry.history}

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
        return [entry.outcome for entry in registry.history]

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
        return [entry.id for entry in registry.history]

    ids = run(scenario)
    assert len(ids) == 5 and ids == sorted(ids)


def test_no_history_means_no_done_callback():
    async def main():
        registry = TaskRegistry(asyncio.get_running_loop(), history_size=0)
        registry.install()
        task = asyncio.create_task(leaf(0))
        callbacks = len(task._callbacks or ())  # before run_until_complete adds its own
        await task
        registry.uninstall()
        return callbacks, registry.history

    assert asyncio.run(main()) == (0, [])


def test_find_by_id_name_and_glob():
    async def scenario(registry):
        a = asyncio.create_task(leaf(10), name="worker-a")
        b = asyncio.create_task(leaf(10), name="worker-b")
        c = asyncio.create_task(middle(), name="other")
        await settle()
        ida = registry.info(a).id
        return (
            registry.find([str(ida)]),
            registry.find([f"#{ida}"]),
            registry.find(["worker-*"]),
            registry.find(["middle"]),
            registry.find(["other", "nope"]),
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
        return _tasks._classify_file(coro.co_filename), _tasks._classify_file(user.__code__.co_filename)

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
    assert "showing 2 of 1,000 pending tasks (998 left out)" in text
    assert "      998  leaf()  waiting" in text
    assert "app.py:3" in text


@pytest.mark.parametrize("seconds, text", [(None, "?"), (0.04, "0.0 s"), (12.34, "12.3 s"), (125, "2 min 5 s"), (7384, "2 h 3 min")])
def test_ages(seconds, text):
    assert format_age(seconds) == text
