"""%%timeline in a real terminal: what the filer of issue 18 met."""

import re


def test_a_task_alive_the_whole_cell_counts_and_the_value_is_out(terminal):
    term = terminal("asyncrepl")
    term.run("import asyncio\nasync def delay(s):\n    await asyncio.sleep(s)\n    return s")
    out = term.run("%%timeline\nbackground = asyncio.create_task(delay(30))\nawait asyncio.sleep(1)\n42")
    summary = re.search(r"^wall ([\d.]+) s; 1 task lived ([\d.e-]+) s in all; concurrency ([\d.]+)x$", out, re.M)
    assert summary, out
    assert 0.95 <= float(summary[2]) <= float(summary[1]) and float(summary[3]) >= 0.95  # not 0.00041 s, 0.0x
    assert out.splitlines()[-1] == "Out[2]: 42"  # as any cell's value
    assert term.value("_") == "42"
    term.run("background.cancel()")
