"""Timing awaitables the way IPython's ``%timeit`` times statements.

The statement is compiled into one coroutine function from a template, as
``%timeit`` does for plain code, so the timed loop runs inside a single
coroutine on the running loop and the harness adds almost nothing per loop::

    async def inner(_it, _timer, ...):
        setup
        _t0 = _timer()
        for _i in _it:
            await STATEMENT          # or the statement's own code with awaits
        _t1 = _timer()
        return _t1 - _t0

Nothing here knows IPython; ``_magics.timing`` adapts it.
"""

from __future__ import annotations

import ast
import asyncio
import gc
import inspect
import itertools
import math
import os
import sys
import time
from dataclasses import dataclass, replace

try:
    import resource
except ImportError:  # Windows
    resource = None

__all__ = [
    "AsyncTimeitResult",
    "AsyncTimer",
    "NotAwaitableError",
    "NothingToAwaitError",
    "TimingPlan",
    "format_time",
    "paused_debug",
    "plan_timing",
    "time_once",
]

_AUTORANGE_TARGET = 0.2  # seconds per run, as %timeit


class NotAwaitableError(TypeError):
    """The timed expression gave something that cannot be awaited."""

    def __init__(self, value):
        super().__init__(f"not awaitable: {type(value).__name__}")
        self.value = value


class NothingToAwaitError(ValueError):
    """The code neither awaits nor is an expression that could be awaited."""


@dataclass(frozen=True)
class TimingPlan:
    """What to time: *statement* is Python code; *awaitable* says whether it is
    an expression whose value gets awaited (``add_one(1)``, ``await add_one(1)``),
    rather than code that does its own awaiting (``await f(); await g()``).

    The code is compiled as lines *setup_line* and *statement_line* on of the
    file *filename*, so that tracebacks show the lines as the user typed them.
    """

    setup: str
    statement: str
    awaitable: bool
    filename: str = "<statement>"
    setup_line: int = 1
    statement_line: int = 1


def _awaits(tree: ast.AST) -> bool:
    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
    pending = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Await, ast.AsyncFor, ast.AsyncWith)):
            return True
        if isinstance(node, scopes):
            continue
        pending.extend(ast.iter_child_nodes(node))
    return False


def _compile_as_cell(source: str, filename: str, line: int):
    """Compile *source* as the lines of a cell from *line* on, with top-level
    await, as IPython compiles a cell: so ``return``, ``yield``, ``break``
    and ``nonlocal`` are SyntaxErrors here as there, rather than changing what
    the timing function does (a ``return 0`` in its loop would time nothing)."""
    padded = "\n" * (line - 1) + source
    return compile(padded, filename, "exec", ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)


def _parse(source: str, filename: str, line: int) -> ast.Module:
    return ast.parse("\n" * (line - 1) + source, filename, "exec")


def plan_timing(
    statement: str,
    setup: str = "pass",
    filename: str = "<statement>",
    statement_line: int = 1,
    setup_line: int = 1,
) -> TimingPlan:
    """Decide how to time *statement*; raises SyntaxError or NothingToAwaitError.

    A single expression is awaited (a leading ``await`` is allowed);
    code that contains ``await`` is timed as it is.  Both must be valid as a
    cell (see ``_compile_as_cell``).
    """
    statement, setup = statement.strip("\n"), setup or "pass"
    _compile_as_cell(setup, filename, setup_line)
    _compile_as_cell(statement, filename, statement_line)
    plan = TimingPlan(setup, statement, True, filename, setup_line, statement_line)
    tree = _parse(statement, filename, statement_line)
    if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
        expression = tree.body[0].value
        if isinstance(expression, ast.Await) and not _awaits(expression.value):
            return plan
        if not _awaits(expression):
            return plan
    if _awaits(tree):
        return replace(plan, awaitable=False)
    raise NothingToAwaitError(statement)


def _awaited_expression(plan: TimingPlan) -> ast.expr:
    """The expression an awaitable plan awaits, without its leading ``await``."""
    # Parsed as a statement, as plan_timing did: "*a, f()" is an expression
    # statement, but no expression for mode "eval".
    expression = _parse(plan.statement, plan.filename, plan.statement_line).body[0].value
    return expression.value if isinstance(expression, ast.Await) else expression


# The helpers come in through a closure, so that a traceback through the
# timed code reads "in inner(_it, _timer)", as one through %timeit's does.
_TEMPLATE = """\
def make(_gather, _copies, _isawaitable, _not_awaitable):
    async def inner(_it, _timer):
        setup
        _t0 = _timer()
        for _i in _it:
            stmt
        _t1 = _timer()
        return _t1 - _t0
    return inner
"""

_CONCURRENT_TEMPLATE = """\
def make(_gather, _copies, _isawaitable, _not_awaitable):
    async def inner(_it, _timer):
        setup
        async def _one():
            stmt
        _t0 = _timer()
        for _i in _it:
            await _gather(*[_one() for _c in _copies])
        _t1 = _timer()
        return _t1 - _t0
    return inner
"""

# The first run checks that the expression really gives an awaitable.
_CHECKED_AWAIT = """\
_v = EXPR
if not _isawaitable(_v):
    raise _not_awaitable(_v)
await _v
"""


def _fill(template: str, location: ast.AST, **parts: list[ast.stmt]) -> ast.Module:
    """Replace each bare name statement ``setup`` / ``stmt`` by the given
    statements; the template's own code is placed at *location* (the user's
    statement), so that a traceback through it shows the user's line."""
    module = ast.parse(template)
    for node in ast.walk(module):
        if isinstance(node, (ast.stmt, ast.expr)):
            ast.copy_location(node, location)
    for node in ast.walk(module):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        filled = []
        for child in body:
            name = child.value.id if isinstance(child, ast.Expr) and isinstance(child.value, ast.Name) else None
            filled.extend(parts[name] if name in parts else [child])
        node.body = filled
    return ast.fix_missing_locations(module)


def _timed_statements(plan: TimingPlan, checked: bool) -> list[ast.stmt]:
    if not plan.awaitable:
        return _parse(plan.statement, plan.filename, plan.statement_line).body
    expression = _awaited_expression(plan)
    if checked:
        checks = ast.parse(_CHECKED_AWAIT).body
        for node in checks:
            for child in ast.walk(node):
                ast.copy_location(child, expression)
        checks[0].value = expression
        return checks
    return [ast.copy_location(ast.Expr(ast.copy_location(ast.Await(expression), expression)), expression)]


class AsyncTimer:
    """Times a plan in a namespace; every method is a coroutine to await on the loop."""

    def __init__(self, plan: TimingPlan, namespace: dict, concurrency: int = 1, timer=time.perf_counter):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.plan = plan
        self.concurrency = concurrency
        self.timer = timer
        started = time.perf_counter()
        self._inner = self._compile(namespace, checked=False)
        self.compile_time = time.perf_counter() - started
        self._checked_inner = self._compile(namespace, checked=True)
        # -c N gathers N copies of _one() in each loop: the harness's tasks,
        # not the user's (TaskRegistry.own_code keeps them out of %tasks).
        self.task_codes = tuple(
            const
            for inner in (self._inner, self._checked_inner)
            for const in inner.__code__.co_consts
            if isinstance(const, type(inner.__code__)) and const.co_name == "_one"
        )

    def _compile(self, namespace: dict, checked: bool):
        plan = self.plan
        template = _TEMPLATE if self.concurrency == 1 else _CONCURRENT_TEMPLATE
        stmt = _timed_statements(plan, checked)
        module = _fill(
            template,
            stmt[0],
            setup=_parse(plan.setup, plan.filename, plan.setup_line).body,
            stmt=stmt,
        )
        code = compile(module, plan.filename, "exec", dont_inherit=True)
        local: dict = {}
        exec(code, namespace, local)
        return local["make"](asyncio.gather, range(self.concurrency), inspect.isawaitable, NotAwaitableError)

    async def check(self) -> float:
        """Run once, checking the expression is awaitable; the run also warms up."""
        __tracebackhide__ = True
        return await self._checked_inner(itertools.repeat(None, 1), self.timer)

    async def timeit(self, number: int) -> float:
        """Seconds taken by *number* loops; the garbage collector is off meanwhile, as in %timeit."""
        __tracebackhide__ = True
        collecting = gc.isenabled()
        gc.disable()
        try:
            return await self._inner(itertools.repeat(None, number), self.timer)
        finally:
            if collecting:
                gc.enable()

    async def repeat(self, repeat: int, number: int) -> list[float]:
        __tracebackhide__ = True
        return [await self.timeit(number) for _ in range(repeat)]

    async def autorange(self) -> int:
        """The loop count 1, 10, 100, ... whose run takes at least 0.2 s, as %timeit picks it."""
        __tracebackhide__ = True
        for power in range(10):
            number = 10**power
            if await self.timeit(number) >= _AUTORANGE_TARGET:
                break
        return number


class AsyncTimeitResult:
    """The result of ``%timeit_async -o``, with the attributes of IPython's ``TimeitResult``.

    loops: loops per run; repeat: runs; best, worst: seconds per loop of the
    fastest and slowest run; all_runs: seconds of each run; timings: seconds
    per loop of each run; average, stdev: their mean and (population) standard
    deviation; compile_time: seconds spent compiling; concurrency: copies run
    at once in each loop; throughput: copies completed per second on average.
    """

    def __init__(self, loops, repeat, best, worst, all_runs, compile_time, precision=3, concurrency=1):
        self.loops = loops
        self.repeat = repeat
        self.best = best
        self.worst = worst
        self.all_runs = all_runs
        self.compile_time = compile_time
        self.concurrency = concurrency
        self._precision = precision
        self.timings = [run / loops for run in all_runs]

    @property
    def average(self) -> float:
        return math.fsum(self.timings) / len(self.timings)

    @property
    def stdev(self) -> float:
        mean = self.average
        return (math.fsum((t - mean) ** 2 for t in self.timings) / len(self.timings)) ** 0.5

    @property
    def throughput(self) -> float:
        return self.concurrency / self.average if self.average > 0 else math.inf

    def __str__(self) -> str:
        pm = _plus_minus()
        runs, loops = self.repeat, self.loops
        line = (
            f"{format_time(self.average, self._precision)} {pm} {format_time(self.stdev, self._precision)} "
            f"per loop (mean {pm} std. dev. of {runs} run{'' if runs == 1 else 's'}, "
            f"{loops:,} loop{'' if loops == 1 else 's'} each)"
        )
        if self.concurrency > 1:
            line += (
                f"; each loop ran {self.concurrency:,} at once: "
                f"{_format_rate(self.throughput)} completed per second"
            )
        return line

    def __repr__(self) -> str:
        return f"<AsyncTimeitResult : {self}>"

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(repr(self))


def _format_rate(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:.3g}"


def _unicode_ok(text: str) -> bool:
    encoding = getattr(sys.stdout, "encoding", None)
    if not encoding:
        return False
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _plus_minus() -> str:
    return "\xb1" if _unicode_ok("\xb1") else "+-"


def format_time(seconds: float, precision: int = 3) -> str:
    """A duration as IPython's %timeit prints it: ``10.1 ms``, ``72 ns``, ``1min 3s``."""
    if seconds >= 60.0:
        parts = []
        leftover = seconds
        for suffix, length in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
            value = int(leftover / length)
            if value > 0:
                leftover = leftover % length
                parts.append(f"{value}{suffix}")
            if leftover < 1:
                break
        return " ".join(parts)
    units = ["s", "ms", "μs" if _unicode_ok("μ") else "us", "ns"]
    scales = (1, 1e3, 1e6, 1e9)
    order = min(-int(math.floor(math.log10(seconds)) // 3), 3) if seconds > 0.0 else 3
    if order > 0 and float("%.*g" % (precision, seconds * scales[order])) >= 1000:
        order -= 1  # 999.96 ns rounds to 1000: "1 μs", not "1e+03 ns"
    return "%.*g %s" % (precision, seconds * scales[order], units[order])


class paused_debug:
    """``async with paused_debug(loop):`` turns the loop's debug mode (and with
    it coroutine origin tracking) off while timing, and puts it back
    afterwards, whatever happens; *keep* leaves it as it is.

    "Whatever happens" includes Ctrl-C at any moment: the SIGINT handler
    raises KeyboardInterrupt in the cell's code between any two bytecodes,
    also where no ``with`` or ``try`` covers it (inside ``async with``'s own
    entry, before its block starts, or inside ``__aexit__`` before the
    restoring line).  So the task that paused debug mode puts it back when it
    ends too (a done callback, as a last resort), and putting it back is
    retried until it has happened.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, keep: bool = False):
        self.loop = loop
        self.keep = keep
        self._paused = False
        self._task: asyncio.Task | None = None

    async def __aenter__(self):
        loop = self.loop
        if self.keep or not loop.get_debug():
            return self
        task = asyncio.current_task(loop)
        if task is not None:
            task.add_done_callback(self._restore_when_done)
            self._task = task
        self._paused = True  # first: an interrupt inside set_debug leaves debug mode to restore
        try:
            loop.set_debug(False)
            # set_debug stops origin tracking through a callback: let it run
            # first.  A cancellation can land here too.
            await asyncio.sleep(0)
        except BaseException:
            self._restore()
            raise
        return self

    async def __aexit__(self, *exc_info) -> bool:
        self._restore()
        return False

    def _restore_when_done(self, task: asyncio.Task) -> None:
        self._restore()

    def _restore(self) -> None:
        interrupted = None
        while self._paused:
            try:
                if not self.loop.is_closed():
                    self.loop.set_debug(True)
                self._paused = False
            except KeyboardInterrupt as error:  # Ctrl-C again, inside set_debug: again
                interrupted = error
        task, self._task = self._task, None
        if task is not None:
            task.remove_done_callback(self._restore_when_done)
        if interrupted is not None:
            raise interrupted


@dataclass(frozen=True)
class OneRun:
    """What ``%time_async`` measured: the value, and wall, user and system seconds."""

    value: object
    wall: float
    user: float
    system: float

    def __str__(self) -> str:
        return (
            f"CPU times: user {format_time(self.user)}, sys: {format_time(self.system)}, "
            f"total: {format_time(self.user + self.system)}\nWall time: {format_time(self.wall)}"
        )


async def time_once(plan: TimingPlan, namespace: dict, compile_flags: int = 0) -> OneRun:
    """Run a plan once in *namespace* (so its assignments stay there) and time it.

    The value is that of the expression, or of the code's last expression.
    """
    __tracebackhide__ = True
    if plan.awaitable:
        expression = _awaited_expression(plan)
        awaited = ast.copy_location(ast.Await(_checked_awaitable_call(expression)), expression)
        code = compile_with_value([], awaited, plan.filename, compile_flags)
    else:
        body = _parse(plan.statement, plan.filename, plan.statement_line).body
        code = compile_with_value(*split_value(body), plan.filename, compile_flags)
    namespace.setdefault("__builtins__", __builtins__)
    helpers = {"_asyncrepl_checked": _check_awaitable}
    (user0, system0), started = _cpu_times(), time.perf_counter()
    value = await run_with_value(*code, namespace, helpers)
    wall, (user1, system1) = time.perf_counter() - started, _cpu_times()
    return OneRun(value, wall, user1 - user0, system1 - system0)


def _cpu_times() -> tuple[float, float]:
    """User and system seconds of this process, finely where the OS allows."""
    if resource is not None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime, usage.ru_stime
    times = os.times()
    return times.user, times.system


def _check_awaitable(value):
    if not inspect.isawaitable(value):
        raise NotAwaitableError(value)
    return value


def _checked_awaitable_call(expression: ast.expr) -> ast.expr:
    check = ast.copy_location(ast.Name("_asyncrepl_checked", ast.Load()), expression)
    return ast.copy_location(ast.Call(check, [expression], []), expression)


def split_value(body: list[ast.stmt]) -> tuple[list[ast.stmt], ast.expr | None]:
    """The statements, and the last one's expression if it is one (a cell's value)."""
    if body and isinstance(body[-1], ast.Expr):
        return body[:-1], body[-1].value
    return body, None


def compile_with_value(body: list[ast.stmt], last: ast.expr | None, filename: str, flags: int = 0):
    """Compile cell statements and the expression that gives the cell's value,
    with top-level await, and without this module's ``__future__`` imports."""
    flags |= ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    module = compile(ast.fix_missing_locations(ast.Module(body, [])), filename, "exec", flags, dont_inherit=True)
    if last is None:
        return module, None
    return module, compile(ast.fix_missing_locations(ast.Expression(last)), filename, "eval", flags, dont_inherit=True)


async def run_with_value(module, final, namespace: dict, helpers: dict | None = None):
    """Run what compile_with_value made in *namespace*; give the value."""
    __tracebackhide__ = True
    await _run_code(module, namespace)
    return None if final is None else await _run_code(final, namespace, helpers)


async def _run_code(code, namespace: dict, helpers: dict | None = None):
    __tracebackhide__ = True
    local = dict(helpers) if helpers else None
    result = eval(code, namespace, local)
    if code.co_flags & inspect.CO_COROUTINE:
        result = await result
    return result
