"""Bad input to any asyncrepl magic or setting: one clear line, and nothing changed.

Every line typed at an asyncrepl magic (or ``%config AsyncRepl``) gives its
output, a UsageError, or a SyntaxError shown as IPython shows one for a cell;
the user's own exceptions are shown with the user's lines; no traceback ever
goes through asyncrepl's frames; and nothing changes but what the line asked
for.  First the classes of mistakes found so far, each as a regression test;
then a property-based test (hypothesis) over every registered magic and
every option its help names, so magics added later are covered too.

The fuzz test runs the ``asyncrepl-fuzz`` profile (150 examples, about 10 s); for a longer
run (3,000 examples, about 2 minutes)::

    ASYNCREPL_FUZZ=asyncrepl-fuzz-long python -m pytest tests/test_fuzz.py
"""

import math
import os
import re
import traceback

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.async_helpers import get_asyncio_loop
from IPython.core.error import UsageError

import asyncrepl
from asyncrepl import AsyncRepl
from conftest import run_cell as run
from conftest import shell_state

PACKAGE = os.path.dirname(asyncrepl.__file__)
# A traceback in plain Python's form: IPython shows a SyntaxError raised while
# running code (rather than compiling the cell) so, through every frame.
PLAIN_TRACEBACK = re.compile(r"^Traceback \(most recent call last\):$", re.MULTILINE)

SETUP = """\
import asyncio
async def noop():
    pass
async def add_one(x):
    return x + 1
async def boom():
    raise ValueError('boom inside')
async def worker():
    while True:
        await asyncio.sleep(0.005)
async def finished():
    return 'done'
"""
WORKERS = "workers = [asyncio.create_task(worker(), name=f'worker-{i}') for i in range(2)]"


@pytest.fixture
def ip(shell, capsys, monkeypatch, tmp_path):
    import asyncrepl._timing

    monkeypatch.chdir(tmp_path)  # where a random --save PATH writes
    monkeypatch.setattr(asyncrepl._timing, "_AUTORANGE_TARGET", 0.002)  # %timeit_async in ms, not s
    before = {kind: set(table) for kind, table in shell.magics_manager.magics.items()}
    shell.run_line_magic("load_ext", "asyncrepl")
    shell.asyncrepl_magics = sorted(
        (kind, name) for kind, table in shell.magics_manager.magics.items() for name in set(table) - before[kind]
    )
    shell.run_cell(SETUP, store_history=True)
    shell.run_cell("%config AsyncRepl.debug = True")  # IPython makes its own magics' configurables on first use
    shell.run_cell("await asyncio.create_task(finished(), name='finished')", store_history=True)
    capsys.readouterr()
    yield shell
    # Every worker any example made (an example may run WORKERS again): none outlives the test.
    shell.run_cell("for task in asyncio.all_tasks():\n    if task.get_name().startswith('worker-'):\n        task.cancel()")


def settings_of(ip) -> AsyncRepl:
    return next(c for c in ip.configurables if isinstance(c, AsyncRepl))


def one_line(out: str) -> str:
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    return lines[0]


# ---------------------------------------------------------------- regressions


@pytest.mark.parametrize(
    "cell, message",
    [
        # shlex's "No closing quotation" came out as a ValueError traceback
        ("%tasks '", """UsageError: no closing quotation in "'\""""),
        ('%cancel "worker', """UsageError: no closing quotation in '"worker'"""),
        ("%%timeline '\nawait noop()", """UsageError: no closing quotation in "'\""""),
        # str.isdigit takes '²', which int() refuses: a ValueError traceback
        ("%tasks ²", "UsageError: no task matches '²' (see %tasks and %tasks --done)"),
        ("%tasks #²", "UsageError: no task matches '#²' (see %tasks and %tasks --done)"),
        ("%cancel ²", "UsageError: no task matches '²' (see %tasks)"),
        # argparse's float takes nan, which would corrupt the loop's timer heap
        ("%cancel --timeout nan --all", "UsageError: --timeout takes a finite number, not nan"),
        ("%cancel --timeout inf --all", "UsageError: --timeout takes a finite number, not inf"),
    ],
)
def test_bad_arguments_get_one_line_and_change_nothing(ip, capsys, cell, message):
    run(ip, capsys, WORKERS)
    before = shell_state(ip)
    result, out = run(ip, capsys, cell)
    assert isinstance(result.error_in_exec, UsageError)
    assert one_line(out) == message
    assert shell_state(ip) == before
    assert not any(task.done() for task in ip.user_ns["workers"])


@pytest.mark.parametrize("code", ["return 1", "await noop()\nyield 1", "break", "nonlocal x", "ran = 1\ncontinue"])
def test_timeline_of_code_a_cell_cannot_hold_is_a_syntax_error_as_for_a_cell(ip, capsys, code):
    # It was a SyntaxError raised through the magic: a traceback through
    # asyncrepl's frames, then the error.
    ip.user_ns.pop("ran", None)
    result, out = run(ip, capsys, "%%timeline\n" + code)
    assert not result.success and not PLAIN_TRACEBACK.search(out) and PACKAGE not in out
    assert "ran" not in ip.user_ns  # nothing ran
    _, as_a_cell = run(ip, capsys, code)
    last = as_a_cell.strip().splitlines()[-1]
    assert last.startswith("SyntaxError: ") and out.strip().splitlines()[-1] == last


@pytest.mark.parametrize(
    "value, message",
    [
        ("float('nan')", "should be seconds from 0.001 to 3600, but nan was specified"),
        ("float('inf')", "should not be greater than 3600.0, but a value of inf was specified"),
        ("1e300", "should not be greater than 3600.0"),
        ("-1", "should not be less than 0.001"),
    ],
)
def test_a_threshold_that_would_turn_the_watchdog_off_is_refused(ip, capsys, caplog, value, message):
    run(ip, capsys, "%config AsyncRepl.slow_callback_duration = 0.25")
    result, out = run(ip, capsys, f"%config AsyncRepl.slow_callback_duration = {value}")
    shown = [record.getMessage() for record in caplog.records] + out.splitlines()
    assert len(shown) == 1 and message in shown[0] and not PLAIN_TRACEBACK.search(out)
    assert settings_of(ip).slow_callback_duration == 0.25
    _, out = run(ip, capsys, "print(asyncio.get_running_loop().slow_callback_duration)\n%asyncdebug")
    assert out.startswith("0.25\n") and "over 0.25 s" in out


def test_a_history_too_long_to_keep_is_refused(ip, capsys, caplog):
    # It was taken, then the history could not be resized: the setting and
    # the history disagreed.
    result, out = run(ip, capsys, "%config AsyncRepl.task_history = 10**20")
    assert [record.getMessage() for record in caplog.records] == [
        "The value of the 'task_history' trait of an AsyncRepl instance should not be greater than "
        "1000000, but a value of 100000000000000000000 was specified"
    ]
    assert settings_of(ip).task_history == 100


# ---------------------------------------------------------------- the fuzz test

settings.register_profile(
    "asyncrepl-fuzz",
    max_examples=150,
    deadline=None,
    database=None,  # no .hypothesis folder in the checkout; a failure prints its example
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile("asyncrepl-fuzz-long", settings.get_profile("asyncrepl-fuzz"), max_examples=3000)

OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")

NUMBERS = ["1", "2", "3", "0", "-1", "x", "²", "٣", "1e3", "0.01", "nan", "inf", "-inf", "99999999999999999999", "''"]
PATTERNS = ["worker-0", "worker-*", "*", "1", "#1", "#²", "²", "٣", "finished", "noop*", "[", "]", "'", '"', "#", "-"]
STATEMENTS = [
    "noop()",
    "await noop()",
    "add_one(1)",
    "asyncio.sleep(0)",
    "await asyncio.sleep(0.001)",
    "x = await add_one(1)",
    "await noop(); await noop()",
    "async with asyncio.Lock():\n    await noop()",
    "boom()",
    "await boom()",
    "missing()",
    "1 + 1",
    "x = 1",
    "1/0",
    "return 0",
    "await noop(); return 0",
    "yield 1",
    "await noop(); yield 1",
    "break",
    "continue",
    "nonlocal x",
    "global x\nx = await add_one(2)",
    "from os import *",
    "noop(",
    "'",
    "\\",
    "lambda: await noop()",
    "async def f():\n    pass",
    "await (await add_one(1))",
    "*noop(), noop()",
    "[await add_one(i) for i in range(2)]",
    "del missing",
    "%tasks",
    "await noop()\n  x",
]
CONFIG_VALUES = ["0", "1", "-1", "0.5", "0.001", "3600", "True", "False", "None", "'x'", "[]", "10**20",
                 "float('nan')", "float('inf')", "1e300", "2**63"]
TEXT = st.text(st.sampled_from(list("abn019 -_*#'\"()[]:;=.,\\%\t²٣é")), max_size=25)
# IPython's history names, Python's warning registry, and __doc__, which a cell
# that starts with a string sets (in IPython as in a module)
IPYTHON_NAMES = re.compile(r"_+|_\d+|_i+\d*|_oh|_dh|Out|In|exit|quit|get_ipython|__warningregistry__|__doc__")


def magic_options(ip, kind, name):
    """The options a magic's help (its docstring, %name?) names."""
    function = ip.magics_manager.magics[kind][name]
    return sorted(set(OPTION.findall(function.__doc__ or "")))


@st.composite
def magic_lines(draw, ip):
    kind, name = draw(st.sampled_from(ip.asyncrepl_magics + [("config", "AsyncRepl")]))
    if kind == "config":
        trait = draw(st.sampled_from(sorted(settings_of(ip).traits(config=True))))
        return draw(st.sampled_from([
            f"%config AsyncRepl.{trait} = {draw(st.sampled_from(CONFIG_VALUES))}",
            f"%config AsyncRepl.{trait}",
        ]))
    options = magic_options(ip, kind, name)
    words = draw(st.lists(st.one_of(
        st.sampled_from(options or ["-"]),
        st.sampled_from(NUMBERS),
        st.sampled_from(PATTERNS),
        st.sampled_from(["on", "off", "ON", "--", "-v r", "-o", "--limit 1", "--all"]),
        TEXT,
    ), max_size=4))
    code = draw(st.one_of(st.sampled_from(STATEMENTS), TEXT, st.just("")))
    line = " ".join(words)
    if kind == "line":
        return f"%{name} {line} {code}".rstrip()
    body = draw(st.lists(st.one_of(st.sampled_from(STATEMENTS), TEXT), max_size=3))
    return f"%%{name} {line}".rstrip() + "\n" + "\n".join(body)


def snapshot(ip):
    state = shell_state(ip)
    values = settings_of(ip)
    state["settings"] = {name: getattr(values, name) for name in values.traits(config=True)}
    state["namespace"] = {name: id(value) for name, value in ip.user_ns.items()}
    state["workers"] = [task.done() for task in ip.user_ns.get("workers", [])]
    return state


def legitimate_changes(line: str, before: dict, after: dict, succeeded: bool) -> dict:
    """*after*, with what the line may change put back to *before*."""
    after = dict(after)
    named = set(re.findall(r"[^\W\d]\w*", line))
    # the user's own names that the line names, and IPython's history names
    names = before["namespace"].keys() | after["namespace"].keys()
    keep = {name for name in names if name in named or IPYTHON_NAMES.fullmatch(name) or "import *" in line}
    after["namespace"] = {
        **{name: value for name, value in after["namespace"].items() if name not in keep},
        **{name: value for name, value in before["namespace"].items() if name in keep},
    }
    if succeeded and line.startswith(("%asyncdebug", "%config")):
        after["settings"], after["loop debug"] = before["settings"], before["loop debug"]
        after["slow_callback_duration"] = before["slow_callback_duration"]
    if succeeded and line.startswith("%cancel"):
        after["workers"] = before["workers"]
    return after


def check_shown(ip, line, result, out):
    """What the user saw was output, one UsageError line, a SyntaxError as
    for a cell, or the user's own error; never asyncrepl's frames."""
    assert PACKAGE not in out, out
    assert "Could not get source" not in out, out
    error = result.error_before_exec or result.error_in_exec
    if error is None:
        return
    last = out.strip().splitlines()[-1] if out.strip() else ""
    if isinstance(error, UsageError):
        # one line; after the output of the user's code, if it had to run to
        # show the mistake ("not awaitable")
        assert last.startswith("UsageError: ") and out.count("UsageError") == 1, out
    elif isinstance(error, SyntaxError) or type(error).__name__ == "StatementSyntaxError":
        assert not PLAIN_TRACEBACK.search(out) and re.match(r"\w*Error: ", last), out
        assert isinstance(getattr(error, "error", error), SyntaxError)
    else:
        # The user's error: it came from the user's code, or what it called.
        frames = []
        tb = error.__traceback__
        while tb is not None:
            frames.append(tb.tb_frame.f_code.co_filename)
            tb = tb.tb_next
        users = [i for i, name in enumerate(frames) if name in ip.compile._filename_map]
        assert users, (line, frames)
        assert not any(name.startswith(PACKAGE) for name in frames[users[-1]:]), (line, frames)
        assert not PLAIN_TRACEBACK.search(out), out
        shown = traceback.format_exception_only(type(error), error)[-1].strip()
        assert out.count(shown) == 1, out  # once, maybe followed by asyncrepl's reports


def _difference(before, after):
    if isinstance(before, dict) and isinstance(after, dict):
        return {key: (before.get(key), after.get(key)) for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    return before, after


def check_invariants(ip):
    values = settings_of(ip)
    loop = get_asyncio_loop()
    assert loop.get_debug() == values.debug, "debug mode is not what %asyncdebug says"
    assert loop.slow_callback_duration == values.slow_callback_duration
    assert math.isfinite(values.slow_callback_duration) and 0.001 <= values.slow_callback_duration <= 3600


PROFILE = os.environ.get("ASYNCREPL_FUZZ", "asyncrepl-fuzz")


@pytest.mark.timeout(120 if PROFILE == "asyncrepl-fuzz" else 0)
@settings(settings.get_profile(PROFILE))
@given(data=st.data())
def test_any_line_gives_output_a_usage_error_or_a_syntax_error_and_changes_nothing_else(ip, capsys, data):
    magics = {name for _, name in ip.asyncrepl_magics}
    assert {"tasks", "cancel", "timeit_async", "time_async", "timeline", "asyncdebug"} <= magics
    values = settings_of(ip)
    for name, trait in values.traits(config=True).items():
        setattr(values, name, trait.default())
    workers = ip.user_ns.get("workers")
    if not workers or any(task.done() for task in workers):
        run(ip, capsys, WORKERS)
    for line in data.draw(st.lists(magic_lines(ip), min_size=1, max_size=3), label="lines"):
        before = snapshot(ip)
        result, out = run(ip, capsys, line)
        check_shown(ip, line, result, out)
        after = snapshot(ip)
        succeeded = result.error_before_exec is None and result.error_in_exec is None
        allowed = legitimate_changes(line, before, after, succeeded)
        changed = {key: _difference(before[key], allowed[key]) for key in before if allowed[key] != before[key]}
        assert not changed, (line, out, changed)
        check_invariants(ip)
    ip.run_line_magic("config", "AsyncRepl.cell_timeout = 0")  # a deadline the lines set is not the loop's health
    result, _ = run(ip, capsys, "await asyncio.sleep(0.001)")
    assert result.success  # the loop still runs cells
