"""What an idle prompt costs: CPU time and wakeups per second, plain IPython vs asyncrepl.

Starts each REPL in a real terminal (a pty), waits for its prompt, and lets it
sit with nothing running for --seconds.  Reads, for the whole process (all its
threads), the CPU time (/proc/PID/stat utime + stime, in clock ticks) and the
context switches (/proc/PID/task/*/status), i.e. how often a thread woke up.
All variants run in one go, in rotated order, --rounds times; medians shown.

Variants: plain IPython; asyncrepl (default settings); asyncrepl with
AsyncRepl.report_blocking off; asyncrepl with 20 tasks each waking every
0.1 s (for scale: what running something costs).  The status line under the
prompt (AsyncRepl.status_bar) is on in those; pairs that differ only in that
setting (idle, one task pending, the 20 ticking tasks) give its cost as on/off
ratios.

The terminal answers prompt_toolkit's cursor position requests, as real
terminals do (without the answer prompt_toolkit draws no bottom toolbar, and
the status line would cost nothing because it would not be there).

Linux only.  Usage: python benchmarks/bench_idle.py [--seconds 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pexpect

import _summary  # benchmarks/_summary.py: the ratios for run_all.py

BIN = Path(sys.executable).parent

STATUS_ON = "%config AsyncRepl.status_bar = True"  # the default: a cell like the off one's
STATUS_OFF = "%config AsyncRepl.status_bar = False"
ONE_PENDING = "import asyncio\nt = asyncio.create_task(asyncio.sleep(1e6))\n"
TICKING = (
    "import asyncio\nasync def tick():\n    while True:\n        await asyncio.sleep(0.1)\n"
    "ticks = [asyncio.create_task(tick()) for _ in range(20)]\n"
)

VARIANTS = {
    "plain IPython": ("ipython", []),
    "asyncrepl": ("asyncrepl", []),
    "asyncrepl, report_blocking off": ("asyncrepl", ["%config AsyncRepl.report_blocking = False"]),
    "asyncrepl, 20 tasks ticking at 10 Hz": ("asyncrepl", [TICKING]),
    "asyncrepl, status line on": ("asyncrepl", [STATUS_ON]),
    "asyncrepl, status line off": ("asyncrepl", [STATUS_OFF]),
    "asyncrepl, 1 task pending, status line on": ("asyncrepl", [STATUS_ON, ONE_PENDING]),
    "asyncrepl, 1 task pending, status line off": ("asyncrepl", [STATUS_OFF, ONE_PENDING]),
    "asyncrepl, 20 ticking, status line on": ("asyncrepl", [STATUS_ON, TICKING]),
    "asyncrepl, 20 ticking, status line off": ("asyncrepl", [STATUS_OFF, TICKING]),
}

# (status line on, status line off): the same session but for AsyncRepl.status_bar.
STATUS_PAIRS = [
    ("asyncrepl, status line on", "asyncrepl, status line off"),
    ("asyncrepl, 1 task pending, status line on", "asyncrepl, 1 task pending, status line off"),
    ("asyncrepl, 20 ticking, status line on", "asyncrepl, 20 ticking, status line off"),
]


class _AnswersCursorRequests:
    """pexpect's logfile_read: answers "where is the cursor?" (CSI 6n) with row 1, column 1."""

    def __init__(self):
        self.child = None

    def write(self, data: str) -> None:
        if self.child is not None:
            for _ in range(data.count("\x1b[6n")):
                self.child.send("\x1b[1;1R")

    def flush(self) -> None:
        pass


def process_counters(pid: int) -> tuple[int, int]:
    """(CPU clock ticks, context switches) of the process, all threads."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    switches = 0
    for status in glob.glob(f"/proc/{pid}/task/*/status"):
        try:
            with open(status) as handle:
                for line in handle:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        switches += int(line.split()[1])
        except FileNotFoundError:  # a thread ended meanwhile
            pass
    return ticks, switches


def measure(command: str, setup: list[str], seconds: float) -> tuple[float, float]:
    env = dict(os.environ, IPYTHONDIR=tempfile.mkdtemp(prefix="bench-idle-"), TERM="xterm")
    env.pop("PROMPT_TOOLKIT_NO_CPR", None)
    answers = _AnswersCursorRequests()
    child = pexpect.spawn(
        str(BIN / command),
        ["--colors=nocolor", "--no-banner", "--TerminalInteractiveShell.term_title=False"],
        env=env,
        encoding="utf-8",
        timeout=30,
        dimensions=(50, 160),
    )
    answers.child = child
    child.logfile_read = answers
    try:
        number = 1
        child.expect(rf"In \[{number}\]:")
        for cell in setup:
            child.send("\x1b[200~" + cell + "\x1b[201~\r")
            number += 1
            child.expect(rf"In \[{number}\]:")
        time.sleep(2)  # let start-up work settle
        ticks0, switches0 = process_counters(child.pid)
        time.sleep(seconds)
        ticks1, switches1 = process_counters(child.pid)
    finally:
        child.sendline("exit")
        child.close(force=True)
    hz = os.sysconf("SC_CLK_TCK")
    return (ticks1 - ticks0) / hz / seconds * 100, (switches1 - switches0) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    _summary.add_arguments(parser)
    args = parser.parse_args()

    names = list(VARIANTS)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for round_ in range(args.rounds):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            results[name].append(measure(*VARIANTS[name], args.seconds))

    base_cpu = statistics.median(cpu for cpu, _ in results["plain IPython"])
    base_wakeups = statistics.median(w for _, w in results["plain IPython"])
    print(f"Idle prompt, {args.seconds:g} s x {args.rounds} rounds (medians), whole process")
    print()
    print(f"{'':44} {'CPU % of a core':>16} {'wakeups/s':>10} {'vs plain':>16}")
    for name in names:
        cpu = statistics.median(c for c, _ in results[name])
        wakeups = statistics.median(w for _, w in results[name])
        ratio = f"{wakeups / base_wakeups:.1f}x wakeups" if base_wakeups else "-"
        print(f"{name:44} {cpu:16.2f} {wakeups:10.1f} {ratio:>16}")
    print()
    print(f"(plain IPython: {base_cpu:.2f}% of a core, {base_wakeups:.1f} wakeups/s)")
    print()
    print("The status line (AsyncRepl.status_bar), on vs off in the same run:")
    idle_cpu = statistics.median(c for c, _ in results["asyncrepl"])
    idle_wakeups = statistics.median(w for _, w in results["asyncrepl"])
    rows = [
        _summary.row("idle prompt, asyncrepl: CPU % of a core", idle_cpu, unit="%",
                     note=f"plain IPython {base_cpu:.2f}%"),
        _summary.row("idle prompt, asyncrepl: wakeups/s", idle_wakeups, unit="/s",
                     note=f"plain IPython {base_wakeups:.1f}/s"),
    ]
    for on, off in STATUS_PAIRS:
        cpu_on, cpu_off = (statistics.median(c for c, _ in results[name]) for name in (on, off))
        wake_on, wake_off = (statistics.median(w for _, w in results[name]) for name in (on, off))
        cpu_ratio = f"{cpu_on / cpu_off:.2f}x" if cpu_off else ("0 and 0" if not cpu_on else f"{cpu_on:.2f}% vs 0")
        wake_ratio = f"{wake_on / wake_off:.2f}x" if wake_off else ("0 and 0" if not wake_on else f"{wake_on:.1f}/s vs 0")
        print(f"  {on:44} CPU {cpu_ratio:>12}   wakeups {wake_ratio:>12}")
        if on.startswith("asyncrepl, 20 ticking") and cpu_off and wake_off:
            rows.append(_summary.row("idle: status line on vs off, 20 tasks ticking, CPU", cpu_on / cpu_off))
            rows.append(_summary.row("idle: status line on vs off, 20 tasks ticking, wakeups", wake_on / wake_off))
    _summary.write(args, rows)


if __name__ == "__main__":
    main()
