"""%%timeline in IPython's in-process InteractiveShell."""

import re

import pytest

from conftest import run_cell as run


@pytest.fixture
def ip(shell, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    shell.run_line_magic("load_ext", "asyncrepl")
    shell.run_cell("import asyncio, time\nasync def delay(s):\n    await asyncio.sleep(s)\n    return s", store_history=True)
    capsys.readouterr()
    return shell




def test_three_delays_draw_three_rows_and_the_concurrency(ip, capsys):
    result, out = run(ip, capsys, "%%timeline\nresults = await asyncio.gather(delay(0.3), delay(0.3), delay(0.3))")
    assert result.success and ip.user_ns["results"] == [0.3, 0.3, 0.3]
    lines = out.splitlines()
    assert lines[0].startswith("cell ")
    rows = [line for line in lines if "delay()" in line]
    assert len(rows) == 3 and all(re.match(r"\d+ Task-\d+ delay\(\)\s+─?█[─█]+●$", row) for row in rows)
    assert all(len(line) <= 100 for line in lines)
    assert "0 s" in lines[5] or "0 ms" in lines[5]
    summary = lines[-1]
    match = re.fullmatch(r"wall ([\d.]+) s; 3 tasks lived ([\d.]+) s in all; concurrency ([\d.]+)x", summary)
    assert match and 2.5 <= float(match[3]) <= 3.1


def test_the_cells_value_is_shown_after_the_chart(ip, capsys):
    _, out = run(ip, capsys, "%%timeline\nawait delay(0.01)")
    assert out.rstrip().endswith("0.01")


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
    assert re.search(r"^cell .*✗$", out, re.M) and re.search(r"\d+ bg delay\(\)", out)
    assert out.count("KeyError: 'oops'") == 1 and "_timeline.py" not in out and "_magics" not in out


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
