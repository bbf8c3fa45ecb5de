"""The corpus in tests/examples/: each program, run as a script, then pasted whole
as one cell into a real asyncrepl terminal and a real kernel, prints the same lines.

Every example in ``tests/examples/*.py`` is one loop-management pattern or API
that published asyncio examples use (its header names it and where it is
taught).  For each example and each host (terminal, kernel):

1. ``python example.py`` gives the expected output (stdout and stderr merged
   for the terminal, where a pty merges them too; apart for the kernel, which
   sends them as two streams).
2. The file's text is pasted as one cell (or, for a file whose header says
   ``# Harness: %run``, run with ``%run FILE``), and what the cell printed is
   compared line by line with the script's, after :func:`normalise`.
3. Then the REPL must be healthy: a cell that drops the last error's
   traceback (sys.last_*, IPython's copy kept for %debug, and the example's
   ExecutionResult, which IPython keeps until the next cell ends) and collects garbage (a script's end would have: so what an
   example leaves to be reported at garbage collection shows up here, and is
   not blamed on the next example), awaits, and answers ``(2, repr(SIGINT handler))`` with
   the SIGINT handler it had before the example; anything else that cell
   prints is output the example left behind, and is compared as part of the
   example's output.  Then Ctrl-C (the kernel's interrupt) must stop an
   ``await asyncio.sleep(30)``.  An unhealthy REPL is restarted for the next
   example.

A file whose header says ``# Harness: hint`` is one a REPL cannot run as its
script does (it reads ``__file__``): the cell must fail with the script's
NameError and exactly one ``asyncrepl:`` line that points to ``%run``.

One terminal and one kernel serve the whole corpus while they stay healthy, so
the corpus runs in a few minutes.  Patterns that do not run as their script
today are marked ``xfail(strict=True)`` in TERMINAL_DIFFERS / KERNEL_DIFFERS,
with what differs: when one is fixed, its test fails and says to remove the mark.
"""

from __future__ import annotations

import difflib
import re
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

import pexpect
import pytest

from harness import Kernel, Terminal, fresh_env, strip_escapes

EXAMPLES_DIR = Path(__file__).parent / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.py"))
CELL_TIMEOUT = 15  # seconds; every example runs in well under 2 s as a script

# asyncrepl's own notes that may appear where the script printed nothing: the
# issue allows a note that asyncio.run() ran on the REPL's loop (said once), and
# one that a run's tasks are not on the REPL's loop.  Nothing else.
ALLOWED_NOTES = (
    re.compile(r"^asyncrepl: asyncio\.run\(\) runs \S+ on the REPL's loop"),
    re.compile(r"^asyncrepl: .*not on the REPL's loop"),
)

_STDLIB = sysconfig.get_paths()["stdlib"]
# What a REPL calls the cell: terminal IPython's linecache name, ipykernel's
# temporary file, IPython's traceback header.
_CELL_NAMES = re.compile(r"<ipython-input-\d+-[0-9a-f]+>|\S*/ipykernel_\d+/-?\d+\.py|Cell In\s?\[\d+\]")
_FRAME = re.compile(r'^(\s*)File "([^"]+)", line \d+, in ')
# asyncio's slow-callback warning in a script, asyncrepl's blocked-loop report in a REPL.
_ASYNCIO_SLOW = re.compile(r"^Executing <(?:Task|Handle|TimerHandle)\b.*?(?:coro=<([\w.<>]+)\(\)|<\w*Handle ([\w.<>]+)\().* took \d+\.\d+ seconds$")
_ASYNCREPL_BLOCKED = re.compile(r"^asyncrepl: (?:task|callback) .*?\(?([\w.<>]+)\(\)\)? held the loop for ")
# asyncio's "Task exception was never retrieved" block in a script, asyncrepl's failed-task report in a REPL.
_NEVER_RETRIEVED_TASK = re.compile(r"^future: <Task .*?coro=<([\w.<>]+)\(\)")
_ASYNCREPL_FAILED = re.compile(r"^asyncrepl: task \d+ '[^']*' \(([\w.<>]+)\(\)\) failed: (.*?), created at ")
_ASYNCREPL_FAILED_MORE = re.compile(r"^\s+%tasks \d+ shows the traceback")


def header(example: Path) -> dict[str, str]:
    """The example's ``# Key: value`` header lines."""
    fields = {}
    for line in example.read_text().splitlines():
        match = re.match(r"# (Pattern|Taught in|Harness|Exit status): (.*)", line)
        if match:
            fields[match.group(1)] = match.group(2).strip()
        elif not line.startswith("#"):
            break
    return fields


def normalise(text: str, example: Path) -> list[str]:
    """The lines of *text* that must match between a script and a REPL.

    * terminal escapes are removed;
    * the example's path (script) and the cell's name (REPL) -> ``<example>``;
    * addresses ``0x7f..`` -> ``0x?``; asyncio's global task counter
      ``Task-123`` -> ``Task-N`` (in a REPL prompt_toolkit's tasks count too);
      loopback ports and PIDs -> ``PORT`` / ``PID``;
    * a traceback, in Python's format (script, logging) or IPython's, becomes
      ``Traceback:``, one ``at FILE:LINE: source`` line per frame, and the
      exception line; frames in the standard library are dropped
      (``asyncio.run``'s own frames cannot exist where the REPL runs ``main()``
      another way), frames in IPython, asyncrepl or the example stay, so a
      traceback must show the line the user typed, not a rewritten one;
    * asyncio's "Executing <Task ... coro=<f()>> took 0.351 seconds" and
      asyncrepl's "task ... (f()) held the loop for 0.35 s ..." both become
      ``[loop blocked by f()]``: one report per step that held the loop;
    * asyncio's "Task exception was never retrieved" block (with its
      tracebacks) and asyncrepl's "task N 'name' (f()) failed: E: msg, created
      at ..." report (with its "%tasks N" line) both become
      ``[task f() failed: E: msg]``: one report per failed task nobody awaited;
    * asyncrepl notes in ALLOWED_NOTES are dropped; blank lines and rules of
      dashes (IPython's, above a traceback) are dropped,
      trailing spaces stripped.
    """
    text = strip_escapes(text).replace(str(example), "<example>")
    text = _CELL_NAMES.sub("<example>", text)
    text = re.sub(r"0x[0-9a-fA-F]+", "0x?", text)
    text = re.sub(r"\bTask-\d+\b", "Task-N", text)
    text = re.sub(r"(127\.0\.0\.1['\"]?,\s*)\d+", r"\1PORT", text)
    text = re.sub(r"\bpid[= ]\d+", "pid=PID", text)
    lines: list[str] = []
    failed_task = None  # inside asyncio's "never retrieved" block: the task's coroutine
    for line in _canonical_tracebacks(text.splitlines()):
        if line == "Task exception was never retrieved":
            failed_task = "?"
            continue
        if failed_task is not None:
            named = _NEVER_RETRIEVED_TASK.match(line)
            if named:
                failed_task = named.group(1)
            if line and not line[0].isspace() and not line.startswith(("future:", "source_traceback:", "Traceback", "at ")):
                lines.append(f"[task {failed_task}() failed: {line}]")
                failed_task = None
            continue
        failed = _ASYNCREPL_FAILED.match(line)
        if failed:
            lines.append(f"[task {failed.group(1)}() failed: {failed.group(2)}]")
            continue
        if _ASYNCREPL_FAILED_MORE.match(line):
            continue
        if not line.strip() or _RULE.match(line) or any(note.match(line) for note in ALLOWED_NOTES):
            continue
        slow = _ASYNCIO_SLOW.match(line) or _ASYNCREPL_BLOCKED.match(line)
        if slow:
            line = f"[loop blocked by {next(g for g in slow.groups() if g)}()]"
        lines.append(line)
    return lines


# IPython's traceback: a rule of dashes, "ValueError    Traceback (most recent call last)",
# then per frame a header ("<example>, line 8, in main()" or "File ~/x.py:596, in f(self)"),
# numbered context lines, "---> 8 source" at the frame's line; ends with "ValueError: msg".
_IPYTHON_TB_START = re.compile(r"^\S+\s+Traceback \(most recent call last\)$")
_IPYTHON_FRAME = re.compile(r"^(?:File (.+?):(\d+)(?:, in .*)?|(<example>), line (\d+)(?:, in .*)?)$")
_IPYTHON_CURRENT = re.compile(r"^-*> ?(\d+) ?(.*)$")
_RULE = re.compile(r"^-{20,}$")  # IPython's rule above a traceback
_IPYTHON_NOISE = re.compile(r"^(\s+\d+( .*)?|\s+\(\.\.\.\).*|\s*\[\.\.\. skipping .*\])$")
_CARETS = re.compile(r"^\s*[\^~]+\s*$")


def _in_stdlib(path: str) -> bool:
    return str(Path(path).expanduser()).startswith(_STDLIB)


def _canonical_tracebacks(lines: list[str]) -> list[str]:
    """Both traceback formats as ``Traceback:`` / ``at FILE:N: source`` / the rest (see normalise)."""
    out: list[str] = []
    ipython_frame = None  # inside an IPython traceback: the current frame's file, or "" before the first
    index = 0
    while index < len(lines):
        line = lines[index].rstrip()
        index += 1
        if line == "Traceback (most recent call last):" or _IPYTHON_TB_START.match(line):
            ipython_frame = "" if _IPYTHON_TB_START.match(line) else None
            out.append("Traceback:")
            continue
        frame = _FRAME.match(line)
        if frame:  # Python's format: the frame's source line follows, then maybe carets
            source = ""
            if index < len(lines) and lines[index].startswith(frame.group(1) + "  ") and not _FRAME.match(lines[index]):
                source = lines[index].strip()
                index += 1
            while index < len(lines) and _CARETS.match(lines[index]):
                index += 1
            if not _in_stdlib(frame.group(2)):
                number = re.search(r", line (\d+)", line).group(1)
                out.append(f"at {frame.group(2)}:{number}: {source}")
            continue
        if ipython_frame is not None:
            header = _IPYTHON_FRAME.match(line)
            if header:
                ipython_frame = header.group(1) or header.group(3)
                continue
            current = _IPYTHON_CURRENT.match(line)
            if current and ipython_frame:
                if not _in_stdlib(ipython_frame):
                    out.append(f"at {ipython_frame}:{current.group(1)}: {current.group(2).strip()}")
                continue
            if _IPYTHON_NOISE.match(line) or not line.strip():
                continue
            if not line[0].isspace():
                ipython_frame = None  # the exception line ends the traceback
        out.append(line)
    return out


@dataclass
class Outcome:
    """What a REPL showed for one example, normalised, and what was wrong with it afterwards."""

    lines: list[str] = field(default_factory=list)  # terminal: merged; kernel: see streams
    streams: dict[str, list[str]] = field(default_factory=dict)
    unhealthy: list[str] = field(default_factory=list)


def timed(function, *args, **kwargs):
    started = time.monotonic()
    result = function(*args, **kwargs)
    return result, time.monotonic() - started


def assert_about_as_long(took: float, script_took: float) -> None:
    # A sanity bound, not a measurement: the REPL's run (with its health check,
    # a Ctrl-C included) may not take much longer than the script's.
    assert took <= 3 * script_took + 6, f"the REPL took {took:.1f} s, the script {script_took:.1f} s"


def run_script(example: Path, merged: bool) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(example)],
        cwd=example.parent,
        env=fresh_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merged else subprocess.PIPE,
        text=True,
        timeout=30,
    )


def cell_for(example: Path) -> str:
    if header(example).get("Harness") == "%run":
        return f"%run {example}"
    return example.read_text()


HEALTH_CELL = (
    "import asyncio as _asyncio, gc as _gc, signal as _signal, sys as _sys\n"
    "_sys.last_type = _sys.last_value = _sys.last_traceback = _sys.last_exc = None\n"
    "get_ipython().InteractiveTB.tb = get_ipython().last_execution_result = None\n"
    "_gc.collect(); await _asyncio.sleep(0.2)\n"
    "(1 + 1, repr(_signal.getsignal(_signal.SIGINT)))"
)
CTRL_C_CELL = "await _asyncio.sleep(30)"


class TerminalHost:
    """One asyncrepl terminal for the corpus, restarted when an example leaves it unhealthy."""

    def __init__(self):
        self.term: Terminal | None = None
        self.expected_health = ""

    def ensure(self) -> Terminal:
        if self.term is None:
            self.term = Terminal("asyncrepl", timeout=CELL_TIMEOUT)
            # A REPL wedged by an example may print tracebacks without end:
            # search only the newest output, so a timeout still comes in time.
            self.term.child.searchwindowsize = 4000
            self.expected_health = self.term.value(HEALTH_CELL)
        return self.term

    def discard(self) -> None:
        if self.term is not None:
            self.term.child.close(force=True)
            self.term = None

    def run(self, example: Path) -> Outcome:
        term = self.ensure()
        outcome = Outcome()
        try:
            text = term.run(cell_for(example))
        except (pexpect.TIMEOUT, pexpect.EOF) as error:
            outcome.lines = normalise(strip_escapes(term.child.before or ""), example)
            outcome.unhealthy.append(f"the cell did not end within {CELL_TIMEOUT} s ({type(error).__name__})")
            self.discard()
            return outcome
        outcome.lines = normalise(text, example)
        try:
            health = term.run(HEALTH_CELL)
        except (pexpect.TIMEOUT, pexpect.EOF) as error:
            outcome.unhealthy.append(f"the health cell (an await) did not answer ({type(error).__name__})")
            self.discard()
            return outcome
        answer = re.search(r"^Out\[\d+\]: (.*)$", health, re.M)
        left_behind = health[: answer.start()] if answer else health
        outcome.lines += normalise(left_behind, example)
        if not answer or answer.group(1) != self.expected_health:
            outcome.unhealthy.append(
                f"health cell answered {answer.group(1) if answer else health!r}, expected {self.expected_health}"
            )
        term.type(CTRL_C_CELL)
        time.sleep(0.5)
        term.ctrl_c()
        try:
            stopped = term.wait(timeout=10)
        except (pexpect.TIMEOUT, pexpect.EOF) as error:
            outcome.unhealthy.append(f"Ctrl-C did not stop 'await asyncio.sleep(30)' ({type(error).__name__})")
            self.discard()
            return outcome
        if "KeyboardInterrupt" not in stopped and "CancelledError" not in stopped:
            outcome.unhealthy.append(f"Ctrl-C during an await printed {stopped!r}")
        if outcome.unhealthy:
            self.discard()
        return outcome


class KernelHost:
    """One kernel with asyncrepl loaded for the corpus, restarted when an example leaves it unhealthy."""

    def __init__(self):
        self.kernel: Kernel | None = None
        self.expected_health = ""

    def ensure(self) -> Kernel:
        if self.kernel is None:
            self.kernel = Kernel()
            assert self.kernel.execute("%load_ext asyncrepl").status == "ok"
            self.expected_health = self.kernel.execute(HEALTH_CELL).results[-1]
        return self.kernel

    def discard(self) -> None:
        if self.kernel is not None:
            try:
                self.kernel.close()
            except Exception:
                pass
            self.kernel = None

    def run(self, example: Path) -> Outcome:
        k = self.ensure()
        outcome = Outcome()
        msg_id = k.start(cell_for(example))
        try:
            reply = k.finish(msg_id, timeout=CELL_TIMEOUT)
        except (TimeoutError, Exception) as error:  # a dead kernel raises queue.Empty-like errors
            outcome.unhealthy.append(f"the cell did not end within {CELL_TIMEOUT} s ({type(error).__name__})")
            self.discard()
            return outcome
        stdout, stderr = reply.stdout, reply.stderr
        if reply.error:
            # The traceback a notebook shows (IPython's format, with the notes).
            stderr += strip_escapes("\n".join(reply.error["traceback"])) + "\n"
        try:
            health = k.execute(HEALTH_CELL, timeout=CELL_TIMEOUT)
        except Exception as error:
            outcome.unhealthy.append(f"the health cell (an await) did not answer ({type(error).__name__})")
            self.discard()
            return outcome
        # Output the example's cell sent after it ended (a task it made, a report
        # at garbage collection) still shows in that cell in Jupyter; the
        # harness keeps it without its stream: diagnostics go to stderr.
        stdout += health.stdout
        stderr += k.late.pop(msg_id, "") + health.stderr
        orphans = reply.orphans + health.orphans
        stderr += "".join(f"[output no cell owns] {m['content'].get('text', '')}" for m in orphans)
        outcome.streams = {"stdout": normalise(stdout, example), "stderr": normalise(stderr, example)}
        answer = health.results[-1] if health.results else None
        if health.status != "ok" or answer != self.expected_health:
            error = health.error and f"{health.error['ename']}: {health.error['evalue']}"
            outcome.unhealthy.append(f"health cell answered {answer or error!r}, expected {self.expected_health}")
        sleeper = k.start(CTRL_C_CELL)
        time.sleep(0.5)
        k.interrupt()
        try:
            stopped = k.finish(sleeper, timeout=10)
            if stopped.status != "error":
                outcome.unhealthy.append(f"interrupt during an await left status {stopped.status!r}")
        except Exception as error:
            outcome.unhealthy.append(f"interrupt did not stop 'await asyncio.sleep(30)' ({type(error).__name__})")
        if not k.manager.is_alive():
            outcome.unhealthy.append("the kernel died")
        if outcome.unhealthy:
            self.discard()
        return outcome


@pytest.fixture(scope="module")
def terminal_host():
    host = TerminalHost()
    yield host
    if host.term is not None:
        host.term.close()


@pytest.fixture(scope="module")
def kernel_host():
    host = KernelHost()
    yield host
    host.discard()


def _diff(expected: list[str], got: list[str], what: str) -> str:
    return "\n".join(difflib.unified_diff(expected, got, f"script {what}", f"REPL {what}", lineterm="", n=2))


def _check_hint(lines: list[str]) -> list[str]:
    """A cell that reads __file__: the script's NameError, and one asyncrepl line naming %run."""
    problems = []
    if not any("NameError" in line and "__file__" in line for line in lines):
        problems.append("no NameError for __file__")
    notes = [line for line in lines if line.startswith("asyncrepl:")]
    if len(notes) != 1 or "%run" not in notes[0]:
        problems.append(f"expected exactly one asyncrepl line pointing to %run, got {notes}")
    return problems


def _problems(expected: dict[str, list[str]], got: dict[str, list[str]], outcome: Outcome, example: Path) -> str:
    problems = list(outcome.unhealthy)
    if header(example).get("Harness") == "hint":
        problems += _check_hint([line for lines in got.values() for line in lines])
    else:
        for stream, lines in expected.items():
            if got.get(stream, []) != lines:
                problems.append(_diff(lines, got.get(stream, []), stream))
    return "\n".join(problems)


# What differs today, per example (file stem), for each host.  Each reason names
# what the REPL does differently; fixing one makes its strict xfail fail.
_SHARED_DIFFERS = {
    "get_event_loop_close": (
        "after set_event_loop(new_event_loop()), get_event_loop() in a cell returns the REPL's running loop "
        "(a running loop comes first, as asyncio has it): both runs print, but loop.close() leaves the REPL's "
        "loop open, so the last line reads 'closed: False' where the script prints 'closed: True'"
    ),
}
TERMINAL_DIFFERS: dict[str, str] = dict(_SHARED_DIFFERS)
KERNEL_DIFFERS: dict[str, str] = dict(_SHARED_DIFFERS)


def _params(differs: dict[str, str]):
    return [
        pytest.param(
            example,
            id=example.stem,
            marks=[pytest.mark.xfail(strict=True, reason=differs[example.stem])] if example.stem in differs else [],
        )
        for example in EXAMPLES
    ]


@pytest.mark.parametrize("example", [pytest.param(e, id=e.stem) for e in EXAMPLES])
def test_example_is_a_quick_deterministic_script_that_names_its_pattern(example):
    fields = header(example)
    assert fields.get("Pattern") and fields.get("Taught in"), "the header names the pattern and where it is taught"
    started = time.monotonic()
    first = run_script(example, merged=True)
    took = time.monotonic() - started
    assert first.returncode == int(fields.get("Exit status", 0)), first.stdout
    assert took < 5, f"{example.name} took {took:.1f} s (it should take well under 2 s)"
    second = run_script(example, merged=True)
    assert normalise(first.stdout, example) == normalise(second.stdout, example), "the output is deterministic"
    assert normalise(first.stdout, example), "the example prints something to compare"


@pytest.mark.terminal
@pytest.mark.corpus
@pytest.mark.examples
@pytest.mark.timeout(60)
@pytest.mark.parametrize("example", _params(TERMINAL_DIFFERS))
def test_example_pasted_into_the_terminal_prints_what_the_script_does(example, terminal_host):
    script, script_took = timed(run_script, example, merged=True)
    expected = {"output": normalise(script.stdout, example)}
    try:
        outcome, took = timed(terminal_host.run, example)
    except BaseException:  # pytest-timeout: a terminal wedged past the pexpect timeouts (3.13.0)
        terminal_host.discard()
        raise
    problems = _problems(expected, {"output": outcome.lines}, outcome, example)
    assert not problems, f"{example.name} in the terminal:\n{problems}"
    assert_about_as_long(took, script_took)


@pytest.mark.kernel
@pytest.mark.corpus
@pytest.mark.examples
@pytest.mark.timeout(60)
@pytest.mark.parametrize("example", _params(KERNEL_DIFFERS))
def test_example_run_in_the_kernel_prints_what_the_script_does(example, kernel_host):
    script, script_took = timed(run_script, example, merged=False)
    expected = {"stdout": normalise(script.stdout, example), "stderr": normalise(script.stderr, example)}
    try:
        outcome, took = timed(kernel_host.run, example)
    except BaseException:
        kernel_host.discard()
        raise
    problems = _problems(expected, outcome.streams, outcome, example)
    assert not problems, f"{example.name} in the kernel:\n{problems}"
    assert_about_as_long(took, script_took)
