"""A front end's cells in an attached program: each ``execute_request`` runs
as a task on the program's loop, in the program's ``__main__``, one at a
time and in the order they came; its reply says how it went, as
ipykernel's would."""

from __future__ import annotations

import asyncio
import collections
import contextvars
import sys
from typing import TYPE_CHECKING

from .streams import CELL

if TYPE_CHECKING:
    from .server import Attachment

__all__ = ["CellQueue"]


class CellQueue:
    """The cells of one attach, waiting and running.  On the loop's thread."""

    def __init__(self, attachment: Attachment):
        self.attachment = attachment
        self._waiting: collections.deque = collections.deque()
        self._running = None  # (task, cell, idents, msg)

    def submit(self, idents, msg) -> None:
        """An execute_request: run now, or after the cells before it."""
        self._waiting.append((idents, msg))
        if self._running is None:
            self._next()

    def abort(self) -> None:
        """The detach: the waiting cells are answered 'aborted', the running one is cancelled."""
        attachment = self.attachment
        while self._waiting:
            idents, msg = self._waiting.popleft()
            content = {"status": "aborted", "execution_count": attachment.shell.execution_count}
            attachment.server.reply("shell", idents, "execute_reply", content, msg)
        running = self._running
        if running is not None:
            running[0].cancel("asyncrepl: the front end detached")
            attachment.session.cells.end(running[1])

    def _next(self) -> None:
        while self._waiting and self._running is None and not self.attachment.closed:
            idents, msg = self._waiting.popleft()
            self._start(idents, msg)

    def _start(self, idents, msg) -> None:
        attachment = self.attachment
        shell, session = attachment.shell, attachment.session
        content = msg["content"]
        parent = msg["header"]
        code = content.get("code", "")
        silent = bool(content.get("silent", False))
        store_history = bool(content.get("store_history", not silent))
        shell.last_parent = parent
        attachment.server._busy(msg)
        if not silent:
            attachment.publish("execute_input", {"code": code, "execution_count": shell.execution_count}, parent)
        context = contextvars.copy_context()
        context.run(CELL.set, parent)
        preprocessing_exc_tuple = None
        try:
            transformed = shell.transform_cell(code)
        except Exception:  # noqa: BLE001 - IPython shows it as the cell's error
            transformed, preprocessing_exc_tuple = code, sys.exc_info()
        coro = shell.run_cell_async(
            code,
            store_history=store_history,
            silent=silent,
            transformed_cell=transformed,
            preprocessing_exc_tuple=preprocessing_exc_tuple,
        )
        name = f"In [{shell.execution_count}]"
        task = session.registry.create_own_task(coro, name=name, context=context)
        cell = session.cells.begin(task, name)
        self._running = (task, cell, idents, msg)
        task.add_done_callback(self._done, context=context)

    def _done(self, task) -> None:
        running, self._running = self._running, None
        if running is None or running[0] is not task:
            return
        _, cell, idents, msg = running
        attachment = self.attachment
        shell, session = attachment.shell, attachment.session
        silent = bool(msg["content"].get("silent", False))
        result = None
        if not attachment.closed:
            session.cells.end(cell)
        try:
            result = task.result()
        except asyncio.CancelledError:
            result = self._stopped_before_running(msg, cell)
        except BaseException as error:  # noqa: BLE001 - IPython's own failure: shown, the program goes on
            result = self._failed(msg, error)
        if not attachment.closed:
            shell.events.trigger("post_execute")
            if not silent:
                shell.events.trigger("post_run_cell", result)
        attachment.server.reply("shell", idents, "execute_reply", self._reply_content(result, msg), msg)
        attachment.server._idle(msg)
        self._next()

    def _stopped_before_running(self, msg, cell):
        from IPython.core.interactiveshell import ExecutionInfo, ExecutionResult

        from .._cell.outcome import cell_stopped
        from .._hosts.ipython import show_lines

        shown = cell_stopped(cell.stopped_by or self.attachment.interrupt_name, cell.waited_at)
        show_lines(self.attachment.shell, shown, shown._render_traceback_())
        result = ExecutionResult(ExecutionInfo(msg["content"].get("code", ""), True, False, True, None, None))
        result.error_in_exec = shown
        return result

    def _failed(self, msg, error):
        from IPython.core.interactiveshell import ExecutionInfo, ExecutionResult

        self.attachment.shell._showtraceback(type(error), error, [f"{type(error).__name__}: {error}"])
        result = ExecutionResult(ExecutionInfo(msg["content"].get("code", ""), True, False, True, None, None))
        result.error_in_exec = error
        return result

    def _reply_content(self, result, msg) -> dict:
        shell, closed = self.attachment.shell, self.attachment.closed
        content: dict = {"execution_count": shell.execution_count - 1}
        error = None
        if result is not None:
            error = result.error_before_exec if result.error_before_exec is not None else result.error_in_exec
        if result is not None and result.success:
            content["status"] = "ok"
            expressions = msg["content"].get("user_expressions") or {}
            content["user_expressions"] = shell.user_expressions(expressions) if not closed else {}
        else:
            content.update(
                status="error",
                traceback=list(getattr(shell, "_last_traceback", None) or []),
                ename=type(error).__name__ if error is not None else "Error",
                evalue=str(error) if error is not None else "",
                user_expressions={},
            )
        content["payload"] = shell.payload_manager.read_payload()
        shell.payload_manager.clear_payload()
        return content
