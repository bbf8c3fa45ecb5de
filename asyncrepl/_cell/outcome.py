"""A cell's outcome: the one place that turns how a cell ended into what the user sees.

* A cell cancelled by Ctrl-C (or Jupyter's Interrupt) shows one line,
  ``KeyboardInterrupt: the cell was waiting at In [5] line 3: await q.get()``;
  one cancelled at its deadline, ``TimeoutError: the cell was cancelled after
  2 s; ...``; one let go of while it refused to stop, that line and one more
  naming the task that refuses and where it was.  The exception the cell
  reports (``result.error_in_exec``, ipykernel's reply) is the one shown.
* A KeyboardInterrupt raised in the cell's own code shows the user's lines
  only; asyncio's "a loop is already running" errors get a hint that fits the
  call; a pasted script that reads ``__file__`` gets a pointer to ``%run``.
* Every other exception is shown as IPython shows it, except that the cell's
  line is shown once where a statement ran as a task of its own (see
  ``statements``).

:func:`outcome_handler` is the shell's custom exception handler (IPython's
documented ``set_custom_exc``); it chains to the one that was there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .._frames import in_asyncrepl
from . import statements

__all__ = ["CellAbandoned", "cell_stopped", "cell_timeout", "outcome_handler", "without_statement_frames"]

def _one_line(error: BaseException, lines: list[str]) -> BaseException:
    """*error*, shown by IPython as *lines* instead of a traceback."""
    error._render_traceback_ = lambda: list(lines)  # IPython's hook for a custom display
    error.asyncrepl_outcome = True
    return error


def cell_timeout(seconds: float, where: str | None) -> TimeoutError:
    """What a cell cancelled at its deadline raises: a TimeoutError, shown in one line."""
    waited = f"; it was waiting at {where}" if where else ""
    message = f"the cell was cancelled after {seconds:g} s{waited}"
    return _one_line(TimeoutError(message), [f"TimeoutError: {message}"])


def cell_stopped(by: str, where: str | None) -> KeyboardInterrupt:
    """What a cell cancelled by Ctrl-C or Interrupt raises, shown in one line."""
    message = f"the cell was waiting at {where}" if where else ""
    return _one_line(KeyboardInterrupt(message) if message else KeyboardInterrupt(), [_line("KeyboardInterrupt", message)])


def CellAbandoned(  # noqa: N802 (it makes the exception a cell ends with)
    *,
    cell: str,
    by: str,
    task: str,
    task_id: int,
    refusing: str,
    how: str | None,
    where: str | None,
    waited_at: str | None,
    seconds: float | None,
) -> BaseException:
    """What a cell that was let go of ends with: the line of its Ctrl-C (or
    deadline), and a line naming the task that refuses to stop, and where
    (see ``TaskRegistry.why_still_running``)."""
    if by == "timeout":
        first = cell_timeout(seconds or 0.0, waited_at)
    else:
        first = cell_stopped(by, waited_at)
    if how == "caught":
        why = f"task {refusing} caught CancelledError" + (f" at {where}" if where else "") + " and went on"
    elif how == "handling":
        why = f"task {refusing} is still handling CancelledError" + (f", waiting at {where}" if where else "")
    else:
        why = f"task {refusing} did not stop when cancelled" + (f"; it waits at {where}" if where else "")
    lines = first._render_traceback_() + [
        f"asyncrepl: {cell} goes on in the background as task {task_id} (%tasks {task_id}), because {why}"
    ]
    first._render_traceback_ = lambda: list(lines)
    return first


def _line(name: str, message: str) -> str:
    return f"{name}: {message}" if message else name


def without_statement_frames(tb, is_asyncrepl: Callable[[str], bool], is_driver: Callable[[str], bool]):
    """*tb* with the cell's line shown once where a statement ran as a task of
    its own: the cell's module frame that awaited the statement (and
    asyncrepl's frames in between) is dropped in front of the statement's own
    module frame of the same cell, which shows the line and what it awaited;
    where the cell's own code made what the statement awaits (``await f()``),
    the frames of the driver between them (files *is_driver* names) are
    dropped, as an ``await`` has none."""
    head = tb
    previous = None
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == "<module>":
            following, driven = tb.tb_next, True
            while following is not None and is_asyncrepl(following.tb_frame.f_code.co_filename):
                driven = driven and is_driver(following.tb_frame.f_code.co_filename)
                following = following.tb_next
            if (
                following is not None
                and following.tb_frame.f_code.co_name == "<module>"
                and following.tb_frame.f_code.co_filename == code.co_filename
            ):
                if previous is None:
                    head = following
                else:
                    previous.tb_next = following
                tb = following
                continue
            if driven and following is not tb.tb_next:
                tb.tb_next = following
        previous, tb = tb, tb.tb_next
    return head


def outcome_handler(
    *,
    cells,
    without_handler_frames: Callable,
    loop_busy_messages: tuple[str, ...],
    loop_busy_hint: Callable,
    close_abandoned_coroutine: Callable,
    previous_types: tuple,
    previous_handler,
) -> Callable:
    """The shell's custom exception handler (see the module's docstring).
    *cells*: a callable giving the session's Cells, or None before it exists."""

    def handler(shell, etype, value, tb, tb_offset=None):
        if tb is not None and tb.tb_frame.f_code.co_name != "run_code":
            return _before_running(shell, etype, value, tb, tb_offset)
        tracker = cells() if cells is not None else None
        if issubclass(etype, asyncio.CancelledError) and tracker is not None:
            shown = _stopped(tracker.current)
            if shown is not None:
                tracker.current.shown = shown  # what the cell's result will name (see lifecycle)
                shell._showtraceback(type(shown), shown, shown._render_traceback_())
                return None
        if getattr(value, "asyncrepl_outcome", False):
            shell._showtraceback(etype, value, value._render_traceback_())
            return None
        if previous_types and issubclass(etype, previous_types):
            return previous_handler(etype, value, tb, tb_offset=tb_offset)
        if issubclass(etype, KeyboardInterrupt):
            tb = without_handler_frames(tb)
        elif (
            issubclass(etype, RuntimeError)
            and str(value) in loop_busy_messages
            and not _noted(value)
        ):
            value.add_note(loop_busy_hint(value))
            close_abandoned_coroutine(tb)
        elif issubclass(etype, NameError) and getattr(value, "name", None) == "__file__" and not _noted(value):
            # A script pasted into a cell: the one thing a REPL cannot give it.
            value.add_note(
                "asyncrepl: code typed or pasted into a cell has no __file__; "
                "%run FILE runs the file as the script it is"
            )
        tb = without_statement_frames(tb, in_asyncrepl, _is_driver)
        if getattr(value, "asyncrepl_as_asyncio", False):
            tb = _without_trailing_frames(tb, in_asyncrepl)  # raised as asyncio would: it ends at the user's call
        value.__traceback__ = tb
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset, running_compiled_code=True)
        return None

    return handler


def _without_trailing_frames(tb, is_asyncrepl: Callable[[str], bool]):
    """*tb* without the asyncrepl frames at its end."""
    head, last_kept = tb, None
    while tb is not None:
        if not is_asyncrepl(tb.tb_frame.f_code.co_filename):
            last_kept = tb
        tb = tb.tb_next
    if last_kept is not None:
        last_kept.tb_next = None
    return head


def _before_running(shell, etype, value, tb, tb_offset):
    """An error in compiling or transforming the cell (IPython hands those to
    the custom handler too, before its own): shown as IPython shows them."""
    if issubclass(etype, IndentationError):
        shell.showindentationerror()
    elif issubclass(etype, (OverflowError, SyntaxError, ValueError, TypeError, MemoryError)):
        shell.showsyntaxerror()
    else:
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
    return None


def _stopped(cell) -> BaseException | None:
    """What a cancelled cell shows, if Ctrl-C or its deadline cancelled it."""
    if cell is None or cell.stopped_by is None:
        return None
    if cell.stopped_by == "timeout":
        return cell_timeout(cell.seconds or 0.0, cell.waited_at)
    return cell_stopped(cell.stopped_by, cell.waited_at)


def _noted(error: BaseException) -> bool:
    return any(note.startswith("asyncrepl:") for note in getattr(error, "__notes__", ()))


# The driver of a statement the cell's code made (statements._Driving, awaiting).
_DRIVER = statements.__file__


def _is_driver(filename: str) -> bool:
    return filename == _DRIVER
