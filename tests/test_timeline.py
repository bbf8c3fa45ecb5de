"""Recording and drawing timelines, without IPython."""

import asyncio

import pytest

from asyncrepl._tasks import TaskRegistry
from asyncrepl._timeline import Recorder, Timeline, Track, draw_svg, draw_text, group_by_coroutine, task_wrapper


def fixed():
    """A cell that starts two tasks and waits; known intervals."""
    cell = Track("cell", "cell", "cell", 0.0, steps=[(0.0, 0.1), (0.9, 1.0)], ended=1.0, outcome="returned")
    a = Track(1, "a", "fetch", 0.1, steps=[(0.1, 0.2), (0.5, 0.6)], ended=0.6, outcome="returned")
    b = Track(2, "b", "fetch", 0.1, steps=[(0.2, 0.3)], ended=0.3, outcome="raised")
    return Timeline(1.0, [cell, a, b])


def test_a_fixed_set_of_intervals_gives_a_known_chart():
    text = draw_text(fixed(), width=36)
    assert text.splitlines() == [
        "cell         ███───────────────██●",
        "1 a fetch()    ███─────██●        ",
        "2 b fetch()    ──██✗              ",
        "             ┌───────────────────┬",
        "             0 s               1 s",
        "█ running  ─ waiting  ● returned  ✗ raised  ○ cancelled  → still running",
        "wall 1 s; 2 tasks lived 0.7 s in all; concurrency 0.7x",
    ]
    wide = draw_text(fixed(), width=100).splitlines()
    assert wide[4].split() == ["0", "s", "0.2", "s", "0.4", "s", "0.6", "s", "0.8", "s", "1", "s"]


def test_tracks_know_their_lifetime_running_time_and_waits():
    a = fixed().tasks[0]
    assert a.lifetime == pytest.approx(0.5)
    assert a.running_time == pytest.approx(0.2)
    assert a.waits == [(0.2, 0.5)]


def test_many_rows_are_grouped_by_coroutine():
    cell = Track("cell", "cell", "cell", 0.0, steps=[(0.0, 0.01)], ended=1.0, outcome="returned")
    tasks = [Track(i, f"t{i}", "worker" if i % 2 else "other", 0.0, steps=[(0.1 * (i % 5), 0.1 * (i % 5) + 0.05)], ended=0.9, outcome="returned") for i in range(100)]
    grouped = group_by_coroutine(Timeline(1.0, [cell, *tasks]), limit=40)
    assert grouped.grouped and [t.count for t in grouped.tasks] == [50, 50]
    text = draw_text(Timeline(1.0, [cell, *tasks]), width=80, limit=40)
    assert "50 × other()" in text and "50 × worker()" in text
    assert "100 tasks, shown as one row per coroutine (more than 40 rows)" in text
    assert text.endswith("wall 1 s; 100 tasks lived 90 s in all; concurrency 90.0x")


def test_svg_has_a_row_a_running_bar_and_labelled_ticks_per_task():
    svg = draw_svg(fixed())
    assert svg.startswith("<svg") and svg.count("<title>running") == 5
    assert "1 a fetch()" in svg and ">0.2 s<" in svg and "concurrency 0.7x" in svg


def record(cell_body):
    """Run cell_body under a Recorder, as %%timeline does."""

    async def main():
        loop = asyncio.get_running_loop()
        registry = TaskRegistry(loop)
        registry.install()
        recorder = Recorder()

        wrap = task_wrapper(lambda task: registry.info(task).id)

        registry.wrap_coroutine = wrap
        timed, track = recorder.wrap(cell_body(), "cell")
        task = loop.create_task(timed, context=recorder.context())
        recorder.track_task(task, track)
        outside = asyncio.create_task(asyncio.sleep(0.05))  # not the cell's: not recorded
        try:
            await task
        except Exception:
            pass
        await outside
        registry.uninstall()
        return recorder.finish()

    return asyncio.run(main())


async def delay(seconds):
    await asyncio.sleep(seconds)
    return seconds


def test_three_delays_side_by_side_are_three_times_concurrent():
    async def cell():
        await asyncio.gather(delay(0.2), delay(0.2), delay(0.2))

    timeline = record(cell)
    assert len(timeline.tasks) == 3  # the outside task is not in it
    assert 2.5 <= timeline.concurrency <= 3.1
    for track in timeline.tasks:
        assert track.outcome == "returned" and len(track.steps) == 2 and track.coroutine == "delay"
        assert 0.19 <= track.lifetime <= 0.4


def test_tasks_made_by_tasks_are_recorded_with_names_and_endings():
    async def child():
        await asyncio.sleep(0.01)
        raise ValueError("x")

    async def parent():
        inner = asyncio.create_task(child(), name="inner")
        try:
            await inner
        except ValueError:
            pass

    async def cell():
        await asyncio.create_task(parent(), name="outer")
        asyncio.create_task(delay(10), name="left running")
        await asyncio.sleep(0.01)

    timeline = record(cell)
    by_name = {track.name: track for track in timeline.tasks}
    assert set(by_name) == {"outer", "inner", "left running"}
    assert by_name["outer"].outcome == "returned" and by_name["inner"].outcome == "raised"
    assert by_name["left running"].outcome == "running" and by_name["left running"].ended is None
    assert timeline.cell.outcome == "returned"


def test_a_blocking_step_is_one_long_run():
    import time

    async def cell():
        time.sleep(0.1)
        await asyncio.sleep(0.05)

    timeline = record(cell)
    first, second = timeline.cell.steps
    assert first[1] - first[0] >= 0.09 and second[1] - second[0] < 0.02
    assert timeline.cell.waits and timeline.cell.waits[-1][1] - timeline.cell.waits[-1][0] >= 0.04


def test_a_failing_cell_keeps_what_was_recorded():
    async def cell():
        asyncio.create_task(delay(0.01))
        await asyncio.sleep(0.02)
        raise KeyError("cell")

    timeline = record(cell)
    assert timeline.cell.outcome == "raised" and len(timeline.tasks) == 1
