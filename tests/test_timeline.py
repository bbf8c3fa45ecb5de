"""Recording and drawing timelines, and their Chrome trace, without IPython."""

import asyncio
import json
import re
import time
import xml.etree.ElementTree as ET

import pytest

from asyncrepl._tasks import TaskRegistry
from asyncrepl._render.timeline import COLOURS, INK, draw_svg, draw_text, group_by_coroutine
from asyncrepl._timeline import Recorder, Timeline, Track, Wait, task_wrapper

SVG = "{http://www.w3.org/2000/svg}"


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
    assert a.waits == [Wait(0.2, 0.5, "", ())]
    b = fixed().tasks[1]
    assert b.waits == [Wait(0.1, 0.2, "its first turn", ())]  # created, not run yet


def test_a_task_running_when_the_recording_ended_lived_until_then():
    cell = Track("cell", "cell", "cell", 0.0, steps=[(0.0, 0.1), (0.9, 1.0)], ended=1.0, outcome="returned", recorded_until=1.0)
    running = Track(3, "c", "loop", 0.2, steps=[(0.2, 0.25)], awaited=[("sleep", ())], recorded_until=1.0)
    assert running.lifetime == pytest.approx(0.8)  # not 0.05, the end of its only step
    assert Timeline(1.0, [cell, running]).summary() == "wall 1 s; 1 task lived 0.8 s in all; concurrency 0.8x"


def test_stretches_tile_a_life_and_a_running_task_waits_to_the_end():
    for track in fixed().tracks:
        stretches = track.stretches(until=1.0)
        assert stretches[0][1] == track.created and stretches[-1][2] == track.ended
        assert all(one[2] == two[1] for one, two in zip(stretches, stretches[1:]))
    running = Track(3, "c", "loop", 0.0, steps=[(0.0, 0.1)], awaited=[("sleep", ())])
    assert running.stretches(until=2.0)[-1] == ("waited", 0.1, 2.0, "sleep", ())


def test_many_rows_are_grouped_by_coroutine():
    cell = Track("cell", "cell", "cell", 0.0, steps=[(0.0, 0.01)], ended=1.0, outcome="returned")
    tasks = [Track(i, f"t{i}", "worker" if i % 2 else "other", 0.0, steps=[(0.1 * (i % 5), 0.1 * (i % 5) + 0.05)], ended=0.9, outcome="returned") for i in range(100)]
    grouped = group_by_coroutine(Timeline(1.0, [cell, *tasks]), limit=40)
    assert grouped.grouped and [t.count for t in grouped.tasks] == [50, 50]
    union = [pytest.approx((0.1 * k, 0.1 * k + 0.05)) for k in range(5)]
    assert grouped.tasks[0].steps == union  # 50 tasks' steps, merged where they overlap
    text = draw_text(Timeline(1.0, [cell, *tasks]), width=80, limit=40)
    assert "50 × other()" in text and "50 × worker()" in text
    assert "100 tasks, shown as one row per coroutine (more than 40 rows)" in text
    assert text.endswith("wall 1 s; 100 tasks lived 90 s in all; concurrency 90.0x")


# -- the SVG ---------------------------------------------------------------------------------


def svg_tree(timeline, **kwargs):
    return ET.fromstring(draw_svg(timeline, **kwargs))  # well-formed XML, or this raises


def texts(root):
    return ["".join(t.itertext()).removeprefix(t.findtext(f"{SVG}title") or "") for t in root.iter(f"{SVG}text")]


def test_svg_has_a_row_and_a_tooltip_for_every_stretch():
    root = svg_tree(fixed())
    shown = texts(root)
    assert shown[:3] == ["cell", "1 a fetch()", "2 b fetch()"]
    tooltips = [rect.findtext(f"{SVG}title") for rect in root.iter(f"{SVG}rect") if rect.find(f"{SVG}title") is not None]
    # cell: ran, waited, ran; a: ran, waited, ran; b: waited for its first turn, ran
    assert tooltips == [
        "cell: ran from 0 s, 100 ms",
        "cell: waited from 0.1 s, 800 ms",
        "cell: ran from 0.9 s, 100 ms",
        "1 a fetch(): ran from 0.1 s, 100 ms",
        "1 a fetch(): waited from 0.2 s, 300 ms",
        "1 a fetch(): ran from 0.5 s, 100 ms",
        "2 b fetch(): waited for its first turn from 0.1 s, 100 ms",
        "2 b fetch(): ran from 0.2 s, 100 ms",
    ]
    marks = [mark.findtext(f"{SVG}title") for mark in root if mark.tag in (f"{SVG}circle", f"{SVG}path") and mark.find(f"{SVG}title") is not None]
    assert marks == ["cell: returned at 1 s", "1 a fetch(): returned at 0.6 s", "2 b fetch(): raised at 0.3 s"]


def test_svg_has_ticks_a_legend_and_the_summary():
    shown = texts(svg_tree(fixed()))
    assert ["0 s", "0.2 s", "0.4 s", "0.6 s", "0.8 s", "1 s"] == [t for t in shown if t.endswith(" s") and t[0].isdigit()]
    assert ["running", "waiting", "returned", "raised", "cancelled", "still running"] == shown[-7:-1]
    assert shown[-1] == "wall 1 s; 2 tasks lived 0.7 s in all; concurrency 0.7x"


def contrast(one: str, two: str) -> float:
    def luminance(colour):
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(one), luminance(two)), reverse=True)
    return (high + 0.05) / (low + 0.05)


# JupyterLab light, JupyterLab dark, VS Code dark
BACKGROUNDS = ("#ffffff", "#111111", "#1e1e1e")


def test_every_colour_reads_on_light_and_dark_backgrounds():
    # 4.08:1 is the most one colour can keep against both #fff and #1e1e1e;
    # 4:1 for text and 3:1 (WCAG's minimum for graphics) for marks.
    root = svg_tree(fixed())
    assert root.get("fill") == INK  # text inherits it
    painted = {(element.tag, value) for element in root.iter() for key in ("fill", "stroke") if (value := element.get(key)) not in (None, "none")}
    colours = {value for _, value in painted}
    assert colours == {INK, *COLOURS.values()} - {COLOURS["cancelled"]} | {COLOURS["cancelled"]}
    for colour in colours:
        assert re.fullmatch(r"#[0-9a-f]{6}", colour)
        for background in BACKGROUNDS:
            assert contrast(colour, background) >= 4.0, (colour, background)


def test_the_svg_is_safe_for_sanitisers_and_for_being_inlined():
    # Nothing a sanitiser strips or a page could run; no ids or <style> that
    # would leak into a page that shows it inline (VS Code).
    root = svg_tree(fixed())
    allowed = {
        "svg": {"xmlns", "width", "height", "viewBox", "font-family", "font-size", "fill"},
        "title": set(),
        "text": {"x", "y", "text-anchor"},
        "rect": {"x", "y", "width", "height", "fill"},
        "circle": {"cx", "cy", "r", "fill", "stroke", "stroke-width"},
        "path": {"d", "fill", "stroke", "stroke-width"},
    }
    for element in root.iter():
        tag = element.tag.removeprefix(SVG)
        assert tag in allowed and set(element.attrib) <= allowed[tag], (tag, element.attrib)
    source = draw_svg(fixed())
    assert "url(" not in source and "href" not in source and "<!" not in source


def long_names(rows=40):
    cell = Track("cell", "cell", "cell", 0.0, steps=[(0.0, 0.01)], ended=1.0, outcome="returned")
    names = ["worker-" + "x" * 60, "中文名字的任务" * 5, "bell\x07and\x1b[2Jescape", "lone \ud800 surrogate"]
    tasks = [Track(i, names[i % 4] + str(i), "fetch_everything_from_everywhere", 0.01, steps=[(0.02, 0.03)], ended=0.5, outcome="returned") for i in range(1, rows)]
    return Timeline(1.0, [cell, *tasks])


def test_long_names_are_cut_with_the_full_name_in_the_tooltip_and_never_overlap():
    from asyncrepl._render.timeline import _CHAR, _columns

    root = svg_tree(long_names(), limit=40)
    labels = [t for t in root.iter(f"{SVG}text") if t.find(f"{SVG}title") is not None]
    assert len(labels) == 40
    first_bar = min(float(r.get("x")) for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None)
    ys = [float(t.get("y")) for t in labels]
    assert all(b - a >= 20 for a, b in zip(ys, ys[1:]))  # rows 20 px apart, 12 px text
    for label in labels:
        shown = "".join(label.itertext()).removeprefix(label.findtext(f"{SVG}title"))
        assert _columns(shown) <= 40 and float(label.get("x")) + _columns(shown) * _CHAR < first_bar
        assert shown.isprintable()
        if shown.endswith("…"):
            assert label.findtext(f"{SVG}title").startswith(shown[:-1])
    assert any(t.findtext(f"{SVG}title").startswith("1 " + "中文名字的任务" * 5 + "1 fetch") for t in labels)
    text = draw_text(long_names(), width=100)
    assert "\x1b" not in text and "\x07" not in text


def test_a_tight_layout_the_height_ends_under_the_last_line():
    root = svg_tree(fixed())
    lowest = max(float(t.get("y")) for t in root.iter(f"{SVG}text"))
    assert 0 < float(root.get("height")) - lowest <= 12


def test_thousands_of_short_steps_are_drawn_as_few_blocks_that_count_them():
    steps = [(i * 1e-4, i * 1e-4 + 5e-5) for i in range(10_000)]
    busy = Track(1, "busy", "spin", 0.0, steps=steps, ended=1.0, outcome="returned")
    cell = Track("cell", "cell", "cell", 0.0, steps=[(0.0, 0.001), (0.999, 1.0)], ended=1.0, outcome="returned")
    svg = draw_svg(Timeline(1.0, [cell, busy]))
    assert len(svg) < 20_000
    assert "1 busy spin(): ran 10000 steps from 0 s to 1 s, 500 ms of it running" in svg


def test_grouped_rows_in_the_svg_say_how_many_tasks():
    cell = Track("cell", "cell", "cell", 0.0, steps=[(0.0, 0.01)], ended=1.0, outcome="returned")
    tasks = [Track(i, f"t{i}", "worker", 0.0, steps=[(0.1, 0.2)], ended=0.9, outcome="returned") for i in range(50)]
    shown = texts(svg_tree(Timeline(1.0, [cell, *tasks]), limit=40))
    assert "50 × worker()" in shown and "50 tasks, shown as one row per coroutine (more than 40 rows)" in shown


# -- recording -----------------------------------------------------------------------------------


def record(cell_body, after=None):
    """Run cell_body under a Recorder, as %%timeline does."""

    async def main():
        loop = asyncio.get_running_loop()
        registry = TaskRegistry(loop)
        registry.install()
        recorder = Recorder(task_id=lambda task: registry.info(task).id)
        registry.wrapping.subscribe(task_wrapper())
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
        timeline = recorder.finish()
        if after is not None:
            await after(timeline, recorder)
        return timeline

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
        assert track.created_by == "cell" and track.awaited == [("sleep", ())]
    ids = tuple(track.id for track in timeline.tasks)
    assert timeline.cell.awaited == [(f"gather of tasks {', '.join(map(str, ids))}", ids)]


def test_tasks_made_by_tasks_are_recorded_with_names_endings_and_who_made_them():
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
    outer, inner, running = by_name["outer"], by_name["inner"], by_name["left running"]
    assert outer.outcome == "returned" and inner.outcome == "raised"
    assert running.outcome == "running" and running.ended is None
    assert timeline.cell.outcome == "returned"
    assert (outer.created_by, inner.created_by, running.created_by) == ("cell", outer.id, "cell")
    assert timeline.cell.awaited[0] == (f"task {outer.id}", (outer.id,))
    assert outer.awaited == [(f"task {inner.id}", (inner.id,))]


def test_what_a_task_waited_on_is_named():
    async def cell():
        event, queue = asyncio.Event(), asyncio.Queue()
        asyncio.get_running_loop().call_later(0.01, event.set)
        asyncio.get_running_loop().call_later(0.02, queue.put_nowait, 1)
        await asyncio.sleep(0)
        await event.wait()
        await queue.get()
        # Long enough for the thread to be still sleeping when the cell awaits
        # (3.15 gives back a future that is done already when it is).
        await asyncio.get_running_loop().run_in_executor(None, time.sleep, 0.05)

    timeline = record(cell)
    assert [on for on, _ in timeline.cell.awaited] == ["its turn (a bare yield, as sleep(0))", "Event.wait()", "Queue.get()", "Future"]
    assert timeline.cell.created == timeline.cell.steps[0][0] == 0  # time starts when the cell runs
    assert [wait.on for wait in timeline.cell.waits] == [on for on, _ in timeline.cell.awaited]


def test_recording_stops_when_the_cell_ends():
    async def ticking():
        while True:
            await asyncio.sleep(0.005)

    async def cell():
        asyncio.create_task(ticking(), name="ticker")
        await asyncio.sleep(0.02)

    async def after(timeline, recorder):
        live = recorder.tracks[1]
        steps = len(live.steps)
        await asyncio.sleep(0.05)
        assert len(live.steps) == steps  # no longer recorded
        recorded = timeline.tasks[0].steps
        assert len(live.steps) == len(recorded) and live.steps[-1][1] - live.steps[0][0] == pytest.approx(recorded[-1][1] - recorded[0][0])
        for task in asyncio.all_tasks():
            if task.get_name() == "ticker":
                task.cancel()

    timeline = record(cell, after)
    assert timeline.tasks[0].outcome == "running" and timeline.tasks[0].awaited[-1] == ("sleep", ())


def test_a_blocking_step_is_one_long_run():
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


def test_a_recorded_timeline_draws_what_each_task_waited_on():
    async def cell():
        await asyncio.gather(delay(0.05), delay(0.1))

    svg = draw_svg(record(cell))
    assert re.search(r"<title>\d+ \S+ delay\(\): waited for sleep from [\d.e-]+ s, \d+(\.\d+)? ms</title>", svg)
    assert re.search(r"<title>cell: waited for gather of tasks \d+, \d+ from", svg)


# -- the Chrome trace ----------------------------------------------------------------------------


def test_the_chrome_trace_holds_every_task_and_step_and_its_durations_add_up():
    async def child():
        await asyncio.sleep(0.02)

    async def parent():
        await asyncio.gather(child(), child())

    async def cell():
        await asyncio.create_task(parent(), name="parent")
        asyncio.create_task(delay(10), name="left running")
        await asyncio.sleep(0.01)

    timeline = record(cell)
    trace = json.loads(json.dumps(timeline.to_chrome_trace()))  # plain JSON
    events = trace["traceEvents"]
    threads = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert list(threads.values()) == ["cell"] + [f"{t.id} {t.name!r} ({t.coroutine}())" for t in timeline.tasks]
    tid_of = {track.id: tid for tid, track in zip(threads, timeline.tracks)}
    for track in timeline.tracks:
        mine = sorted((e for e in events if e["ph"] == "X" and e["tid"] == tid_of[track.id]), key=lambda e: e["ts"])
        runs = [e for e in mine if e["cat"] == "running"]
        assert [(e["ts"], e["dur"]) for e in runs] == [pytest.approx((s * 1e6, (t - s) * 1e6), abs=0.002) for s, t in track.steps]
        assert [e["args"]["step"] for e in runs] == list(range(1, len(track.steps) + 1))
        waits = [e for e in mine if e["cat"] == "waiting"]
        assert [e["args"]["on"] for e in waits] == [w.on for w in track.waits] + (["sleep"] if track.ended is None else [])
        # the slices tile the task's life: from its creation to its end (or the cell's)
        end = track.ended if track.ended is not None else timeline.wall
        assert mine[0]["ts"] == pytest.approx(track.created * 1e6, abs=0.002)
        assert sum(e["dur"] for e in mine) == pytest.approx((end - track.created) * 1e6, abs=0.01 * len(mine))
        for one, two in zip(mine, mine[1:]):  # never overlapping, however a viewer rounds to nanoseconds
            assert int(one["ts"] * 1000) + int(one["dur"] * 1000) <= int(two["ts"] * 1000)
        endings = [e for e in events if e["ph"] == "i" and e["tid"] == tid_of[track.id]]
        assert [e["name"] for e in endings] == ([track.outcome] if track.ended is not None else [])

    # arrows: from the step that created each task, and from the awaited tasks' last steps
    flows = {}
    for e in events:
        if e["ph"] in "sf":
            flows.setdefault(e["id"], {})[e["ph"]] = e
    names = {t.name: t for t in timeline.tasks}
    created = sorted((f["s"]["tid"], f["f"]["tid"]) for f in flows.values() if f["s"]["name"] == "created")
    assert created == sorted((tid_of[t.created_by], tid_of[t.id]) for t in timeline.tasks)
    awaited = sorted((f["s"]["tid"], f["f"]["tid"]) for f in flows.values() if f["s"]["name"] == "awaited by")
    children = [t for t in timeline.tasks if t.created_by == names["parent"].id]
    assert awaited == sorted([(tid_of[names["parent"].id], tid_of["cell"])] + [(tid_of[c.id], tid_of[names["parent"].id]) for c in children])
    for flow in flows.values():  # each end lies inside a slice of its track
        for end in flow.values():
            assert any(e["ph"] == "X" and e["tid"] == end["tid"] and e["ts"] < end["ts"] < e["ts"] + e["dur"] for e in events)
