"""%%timeline in IPython's in-process InteractiveShell."""

import json
import math
import re

import pytest

from asyncrepl._render.timeline import draw_text
from conftest import run_cell as run


@pytest.fixture
def ip(shell, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    shell.run_line_magic("load_ext", "asyncrepl")
    shell.run_cell("import asyncio, time\nasync def delay(s):\n    await asyncio.sleep(s)\n    return s", store_history=True)
    capsys.readouterr()
    return shell




@pytest.fixture
def recorded(monkeypatch):
    """The Timelines that %%timeline draws, as recorded."""
    from asyncrepl import _timeline

    timelines = []
    finish = _timeline.Recorder.finish

    def spy(self):
        timelines.append(finish(self))
        return timelines[-1]

    monkeypatch.setattr(_timeline.Recorder, "finish", spy)
    return timelines


def test_three_delays_draw_three_rows_and_the_concurrency(ip, capsys, recorded):
    result, out = run(ip, capsys, "%%timeline\nresults = await asyncio.gather(delay(0.3), delay(0.3), delay(0.3))")
    assert result.success and ip.user_ns["results"] == [0.3, 0.3, 0.3]
    # What happened: the cell made three tasks in its first step; each ran a
    # step as soon as the loop got to it, slept 0.3 s, ran its last step and
    # returned; the cell woke when the last one returned.
    (timeline,) = recorded
    cell, tasks = timeline.cell, timeline.tasks
    assert [t.coroutine for t in tasks] == ["delay"] * 3 and all(t.created_by == "cell" for t in tasks)
    assert all(cell.steps[0][0] <= t.created <= cell.steps[0][1] for t in tasks)
    assert all(len(t.steps) == 2 and t.awaited == [("sleep", ())] and t.outcome == "returned" for t in tasks)
    assert max(t.steps[0][1] for t in tasks) < min(t.steps[1][0] for t in tasks)  # all started before any woke
    assert all(t.steps[1][0] - t.steps[0][1] >= 0.29 and t.ended == t.steps[1][1] for t in tasks)
    assert cell.steps[1][0] >= max(t.ended for t in tasks) and cell.outcome == "returned"
    # How it is drawn: exactly that recording, to the terminal's width.
    lines = out.splitlines()
    assert out.rstrip("\n") == draw_text(timeline, width=100)
    # (a row that ends a column before the cell's ends in a space)
    rows = [line.rstrip() for line in lines if "delay()" in line]
    assert lines[0].startswith("cell ") and len(rows) == 3
    assert all(re.match(r"\d+ Task-\d+ delay\(\)\s+[ ─]*█[─█]*─[─█]*●$", row) for row in rows), out
    assert all(len(line) <= 100 for line in lines)
    summary = lines[-1]
    match = re.fullmatch(r"wall ([\d.]+) s; 3 tasks lived ([\d.]+) s in all; concurrency ([\d.]+)x", summary)
    assert match and 2.5 <= float(match[3]) <= 3.1


def test_the_cells_value_is_shown_after_the_chart(ip, capsys):
    _, out = run(ip, capsys, "%%timeline\nawait delay(0.01)")
    assert out.rstrip().endswith("0.01")


def test_the_cells_value_is_its_out_like_any_cells(ip, capsys):
    # IPython leaves _ alone once code assigned any of _, __, ___ (the shell is shared by the tests)
    for unders in ("_", "__", "___"):
        ip.user_ns.pop(unders, None)
    result, out = run(ip, capsys, "%%timeline\nawait delay(0.01)")
    number = ip.execution_count - 1
    assert result.result == 0.01 and ip.user_ns["Out"][number] == 0.01 and ip.user_ns["_"] == 0.01
    assert out.rstrip().endswith(f"Out[{number}]: 0.01")
    assert out.index("no tasks were created") < out.index("Out[")  # after the chart
    result, out = run(ip, capsys, "%%timeline\nawait delay(0.02);")  # a ; keeps it quiet, as in any cell
    assert result.result is None and "Out[" not in out and "0.02" not in out.split("no tasks were created")[-1]


def _summary(out: str) -> re.Match:
    match = re.search(r"^wall ([\d.]+) s; (\d+) tasks? lived ([\d.e-]+) s in all; concurrency ([\d.]+)x$", out, re.M)
    assert match, out
    return match


def test_a_task_still_running_when_the_cell_ends_lived_to_its_end(ip, capsys, recorded):
    _, out = run(ip, capsys, "%%timeline\nlonger = asyncio.create_task(delay(30))\nawait asyncio.sleep(0.3)")
    ip.user_ns["longer"].cancel()
    (timeline,) = recorded
    (task,) = timeline.tasks
    cell = timeline.cell
    assert task.outcome == "running" and task.ended is None and len(task.steps) == 1
    assert cell.steps[0][0] <= task.created <= cell.steps[0][1]  # created at the start (in the cell's first step)
    assert task.lifetime == pytest.approx(timeline.wall - task.created)  # ... and alive at the end
    summary = _summary(out)
    assert summary[2] == "1" and summary[3] == f"{task.lifetime:.3g}" and 0.28 <= task.lifetime <= timeline.wall
    assert summary[4] == f"{task.lifetime / timeline.wall:.1f}" and 0.5 <= task.lifetime / timeline.wall <= 1.0
    # Drawn: from the column it was created in, its one step, then waiting up
    # to the last column (the cell's ending's), and → there.  Its first step
    # may come a few columns after its creation: a column is 1/80 of the cell's
    # 0.3 s, under 4 ms, and on a busy machine the OS can hold the process that
    # long (or the cell's first step, after create_task) before the loop gets to
    # the task; it is then drawn waiting for its first turn, as it was.
    (cell_row,) = [line for line in out.splitlines() if line.startswith("cell ")]
    row = re.search(r"^(\d+ Task-\d+ delay\(\) +)(─*)█+─+→$", out, re.M)
    assert row and len(row[0]) == len(cell_row) and cell_row.endswith("●"), out
    chart = len(task.label) + 2  # where the columns start: after the (longest) label and two spaces
    per_column = timeline.wall / (len(row[0]) - chart)
    assert len(row[1]) - chart == math.floor(task.created / per_column), out  # starts where it was created
    assert len(row[1] + row[2]) - chart == math.floor(task.steps[0][0] / per_column), out  # ran where it ran


def test_the_tasks_of_a_cell_that_raised_count_too(ip, capsys, recorded):
    run(ip, capsys, "async def fails_after(s):\n    await asyncio.sleep(s)\n    raise KeyError('late')")
    result, out = run(ip, capsys, "%%timeline\nawait asyncio.gather(delay(30), fails_after(0.3))")
    assert isinstance(result.error_in_exec, KeyError) and out.count("KeyError: 'late'") == 1
    run(ip, capsys, "[t.cancel() for t in asyncio.all_tasks() if 'delay' in repr(t)]")
    (timeline,) = recorded
    assert sorted(t.outcome for t in timeline.tasks) == ["raised", "running"]
    summary = _summary(out)
    # two tasks, each alive for the 0.3 s the cell ran: 0.6 s in all, 2.0x
    assert summary[2] == "2" and 0.58 <= float(summary[3]) <= 2.0 and 1.8 <= float(summary[4]) <= 2.0


def test_o_returns_the_timeline(ip, capsys):
    result, out = run(ip, capsys, "%%timeline -o\nawait asyncio.gather(delay(0.05), delay(0.1))")
    tl = result.result
    assert type(tl).__name__ == "Timeline" and "Out[" in out
    assert [t.coroutine for t in tl.tasks] == ["delay", "delay"]
    assert tl.cell.outcome == "returned" and 0.09 <= tl.wall <= 0.5
    assert all(t.steps and t.ended is not None for t in tl.tasks)


def test_errors_draw_the_timeline_then_show_the_error_once(ip, capsys):
    result, out = run(ip, capsys, "%%timeline\nt = asyncio.create_task(delay(0.05), name='bg')\nawait asyncio.sleep(0.02)\nraise KeyError('oops')")
    assert isinstance(result.error_in_exec, KeyError)
    assert out.index("cell ") < out.index("KeyError")
    assert re.search(r"^cell .*✗ *$", out, re.M) and re.search(r"\d+ bg delay\(\)", out)
    assert out.count("KeyError: 'oops'") == 1 and "_timeline.py" not in out and "_magics" not in out


def test_ctrl_c_draws_the_timeline_so_far_and_names_the_line_the_cell_waited_at(ip, capsys):
    # It drew nothing, and named the magic's own line (line 1, run_cell_magic(...)).
    from test_never_stuck import ctrl_c_after

    ctrl_c_after(0.5)
    result, out = run(ip, capsys, "%%timeline\nawait asyncio.gather(delay(0.1), delay(30))")
    assert isinstance(result.error_in_exec, KeyboardInterrupt), out
    assert re.search(r"^cell ", out, re.M) and re.search(r"\d+ Task-\d+ +delay\(\)", out), out
    cell = ip.execution_count - 1
    assert out.strip().endswith(f"KeyboardInterrupt: the cell was waiting at In [{cell}] line 2: await asyncio.gather(delay(0.1), delay(30))"), out
    assert out.index("cell ") < out.index("KeyboardInterrupt"), out


def test_a_cell_without_tasks_draws_the_cell_alone(ip, capsys):
    _, out = run(ip, capsys, "%%timeline\nx = 1")
    assert out.splitlines()[0].startswith("cell ") and "no tasks were created" in out


def test_many_tasks_are_grouped(ip, capsys):
    _, out = run(ip, capsys, "%%timeline --limit 5\n_ = await asyncio.gather(*(delay(0.01) for _ in range(30)))")
    assert "30 × delay()" in out and "30 tasks, shown as one row per coroutine (more than 5 rows)" in out


@pytest.mark.parametrize(
    "cell, message",
    [
        ("%%timeline --limit 0\nawait delay(0)", "UsageError: --limit takes a whole number of at least 1, not 0"),
        ("%%timeline\n", "UsageError: %%timeline is a cell magic, but the cell body is empty."),
        ("%%timeline --nope\nawait delay(0)", "UsageError: unrecognized arguments: --nope"),
    ],
)
def test_bad_input_gets_one_line(ip, capsys, cell, message):
    _, out = run(ip, capsys, cell)
    assert out.strip() == message


def test_background_tasks_from_before_are_not_recorded(ip, capsys):
    run(ip, capsys, "bg = asyncio.create_task(delay(10), name='background')")
    _, out = run(ip, capsys, "%%timeline\nawait delay(0.05)")
    assert "background" not in out
    run(ip, capsys, "bg.cancel()")


@pytest.fixture
def published(ip, monkeypatch):
    """The mime bundles that display() publishes (what a kernel would send)."""
    bundles = []
    publish = ip.display_pub.publish

    def spy(data, *args, **kwargs):
        bundles.append(data)
        return publish(data, *args, **kwargs)

    monkeypatch.setattr(ip.display_pub, "publish", spy)
    return bundles


def test_the_chart_is_published_as_an_svg_image_with_the_text_chart(ip, capsys, published):
    result, _ = run(ip, capsys, "%%timeline\nawait asyncio.gather(delay(0.01), delay(0.02))")
    (bundle,) = published  # the chart; the cell's value is its result, as any cell's
    assert result.result == [0.01, 0.02]
    assert set(bundle) == {"text/plain", "image/svg+xml"}  # no HTML: nothing for a sanitiser to strip
    assert bundle["image/svg+xml"].startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert "delay()" in bundle["image/svg+xml"] and "<title>" in bundle["image/svg+xml"]
    assert bundle["text/plain"].startswith("cell ") and "concurrency" in bundle["text/plain"]


def test_o_timeline_shows_as_svg_too(ip, capsys):
    result, _ = run(ip, capsys, "%%timeline -o\nawait delay(0.01)")
    formats, _ = ip.display_formatter.format(result.result)
    assert set(formats) == {"text/plain", "image/svg+xml"}
    assert formats["image/svg+xml"].startswith("<svg") and formats["text/plain"].startswith("cell ")


def test_save_writes_a_chrome_trace_of_what_o_returns(ip, capsys, tmp_path):
    path = tmp_path / "trace.json"
    result, out = run(ip, capsys, f"%%timeline -o --save {path}\nawait asyncio.gather(delay(0.01), delay(0.02))")
    assert out.splitlines()[0] == f"Trace saved to {path}: open it at https://ui.perfetto.dev (or chrome://tracing, https://www.speedscope.app)"
    trace = json.loads(path.read_text())
    assert trace == json.loads(json.dumps(result.result.to_chrome_trace()))
    threads = [e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "thread_name"]
    assert threads[0] == "cell" and len(threads) == 3 and all("(delay())" in name for name in threads[1:])


def test_save_expands_the_home_folder_and_draws_the_chart_too(ip, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    _, out = run(ip, capsys, "%%timeline --save ~/t.json\nawait delay(0.01)")
    assert (tmp_path / "t.json").exists() and out.startswith("cell ") and f"Trace saved to {tmp_path / 't.json'}" in out


def test_a_failing_cell_is_saved_up_to_the_error(ip, capsys, tmp_path):
    path = tmp_path / "failed.json"
    result, out = run(ip, capsys, f"%%timeline --save {path}\nawait delay(0.01)\nraise KeyError('oops')")
    assert isinstance(result.error_in_exec, KeyError) and out.count("KeyError: 'oops'") == 1
    assert out.index("Trace saved") < out.index("KeyError")
    events = json.loads(path.read_text())["traceEvents"]
    assert [e["name"] for e in events if e["ph"] == "i"] == ["raised"]


@pytest.mark.parametrize(
    "where, message",
    [
        ("{tmp}/no/such/folder/t.json", "UsageError: --save cannot write '{tmp}/no/such/folder/t.json': there is no folder '{tmp}/no/such/folder'"),
        ("{tmp}", "UsageError: --save takes a file name, and '{tmp}' is a folder"),
        ("{tmp}/" + "x" * 300 + ".json", "UsageError: --save cannot write '{tmp}/" + "x" * 300 + ".json': File name too long"),
        ('"{tmp}/nul\x00.json"', "UsageError: --save cannot write '{tmp}/nul\\x00.json': embedded null byte"),
        ('""', "UsageError: --save takes a file name, e.g. --save trace.json"),
    ],
)
def test_a_bad_save_path_gets_one_line_and_the_cell_does_not_run(ip, capsys, tmp_path, where, message):
    where, message = where.format(tmp=tmp_path), message.format(tmp=tmp_path)
    ip.user_ns.pop("timeline_cell_ran", None)
    result, out = run(ip, capsys, f"%%timeline --save {where}\ntimeline_cell_ran = True\nawait delay(0)")
    assert out.strip() == message and "timeline_cell_ran" not in ip.user_ns


def test_save_takes_a_quoted_name_and_leaves_no_file_when_the_name_is_bad(ip, capsys, tmp_path):
    _, out = run(ip, capsys, f'%%timeline --save "{tmp_path}/with space.json"\nawait delay(0)')
    assert (tmp_path / "with space.json").exists() and f"Trace saved to {tmp_path}/with space.json" in out
    assert [p.name for p in tmp_path.iterdir()] == ["with space.json"]  # the check before the run left nothing


def test_save_without_a_path_gets_one_line(ip, capsys):
    ip.user_ns.pop("timeline_cell_ran", None)
    _, out = run(ip, capsys, "%%timeline --save\ntimeline_cell_ran = True")
    assert out.strip() == "UsageError: argument --save: expected one argument" and "timeline_cell_ran" not in ip.user_ns
