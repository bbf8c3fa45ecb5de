"""Rendering: tables and text blocks as plain text (terminal) and HTML (Jupyter).

Each view is an object with ``_repr_pretty_`` and ``_repr_html_``, so IPython's
``display`` gives a terminal the text and a notebook both forms.
"""

from __future__ import annotations

import copy
import linecache
import os
import shutil
import sys
import traceback
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._frames import CellNamer, code_location
from .._tasks.naming import task_label

if TYPE_CHECKING:
    from .._tasks import Finished, Link, Site, TaskRow


def _escape(text: str) -> str:
    import html  # at the first HTML view, not at %load_ext (html.entities is large)

    return html.escape(text)

_ELLIPSIS = "…"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + _ELLIPSIS


def terminal_width() -> int:
    """The width of the terminal the output goes to, as it is now.

    A terminal is asked directly: ``shutil.get_terminal_size`` prefers the
    COLUMNS environment variable, which a shell or a tool may have exported
    when the REPL started, and which never changes after a resize.  Output
    that is not a terminal (Jupyter, a capture, a pipe) gets COLUMNS, else 120;
    an attached front end's, the width its terminal said it has.
    """
    columns = getattr(sys.stdout, "columns", None)
    if isinstance(columns, int) and columns > 0:
        return columns
    try:
        descriptor = sys.stdout.fileno()
        if os.isatty(descriptor):
            return os.get_terminal_size(descriptor).columns or 120
    except (AttributeError, OSError, ValueError):  # no real file behind sys.stdout
        pass
    return shutil.get_terminal_size((120, 24)).columns


def _one_line(text: str) -> str:
    """A cell's text on one line: a multi-line exception message (or task
    name) must not break the table; its line breaks show as ↵."""
    if "\n" not in text and "\r" not in text and "\t" not in text:
        return text
    return text.replace("\r\n", "↵").replace("\n", "↵").replace("\r", "↵").replace("\t", " ")


class Table:
    """Rows under headers; the text form narrows the widest columns to fit."""

    def __init__(self, headers: Sequence[str], rows: Sequence[Sequence[str]], notes: Sequence[str] = ()):
        self.headers = list(headers)
        self.rows = [[_one_line(str(cell)) for cell in row] for row in rows]
        self.notes = list(notes)

    def text(self, width: int | None = None) -> str:
        width = width or terminal_width()
        widths = [len(header) for header in self.headers]
        for row in self.rows:
            widths = [max(w, len(cell)) for w, cell in zip(widths, row)]
        gap = 2
        while sum(widths) + gap * (len(widths) - 1) > width:
            widest = max(range(len(widths)), key=widths.__getitem__)
            if widths[widest] <= max(8, len(self.headers[widest])):
                break
            widths[widest] -= 1

        def line(cells):
            # Columns narrowed to their minimum may still overflow a very
            # narrow terminal: then the line itself is clipped.
            text = (" " * gap).join(_clip(cell, w).ljust(w) for cell, w in zip(cells, widths)).rstrip()
            return _clip(text, width)

        lines = [line(self.headers), line(["-" * w for w in widths])]
        lines.extend(line(row) for row in self.rows)
        lines.extend(self.notes)
        return "\n".join(lines)

    def html(self) -> str:
        head = "".join(f"<th style='text-align:left'>{_escape(h)}</th>" for h in self.headers)
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'>{_escape(cell)}</td>" for cell in row) + "</tr>"
            for row in self.rows
        )
        notes = "".join(f"<p>{_escape(note)}</p>" for note in self.notes)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}"

    def __str__(self) -> str:
        return self.text()

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(self.text())

    def _repr_html_(self) -> str:
        return self.html()


class TextBlock:
    """Preformatted lines (details, trees): ``<pre>`` in HTML."""

    def __init__(self, lines: Sequence[str]):
        self.lines = list(lines)

    def text(self) -> str:
        return "\n".join(self.lines)

    def __str__(self) -> str:
        return self.text()

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(self.text())

    def _repr_html_(self) -> str:
        return f"<pre>{_escape(self.text())}</pre>"


class LocalsView:
    """Frames, each with its local variables: indented text, or a table per frame in HTML."""

    def __init__(self, title: str, frames: Sequence[tuple[str, Sequence[tuple[str, str]]]]):
        self.title = title
        self.frames = [(heading, list(variables)) for heading, variables in frames]

    def text(self) -> str:
        lines = [self.title, "locals of each frame, from the task's coroutine to where it waits:"]
        for heading, variables in self.frames:
            lines.append(f"  {heading}")
            width = max((len(name) for name, _ in variables), default=0)
            lines.extend(f"      {name.ljust(width)} = {value}" for name, value in variables)
            if not variables:
                lines.append("      (no local variables)")
        if not self.frames:
            lines.append("  (no frames: not started yet)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(self.text())

    def _repr_html_(self) -> str:
        parts = [f"<p>{_escape(self.title)}</p>"]
        for heading, variables in self.frames:
            rows = "".join(
                f"<tr><td style='text-align:left'><code>{_escape(name)}</code></td>"
                f"<td style='text-align:left'><code>{_escape(value)}</code></td></tr>"
                for name, value in variables
            )
            parts.append(f"<p><code>{_escape(heading)}</code></p><table><tbody>{rows}</tbody></table>")
        return "".join(parts)


class Views:
    """Task views, naming code places as the REPL user knows them."""

    def __init__(self, cell_namer: CellNamer | None = None):
        self.cell_namer = cell_namer

    def _created_at(self, row: TaskRow) -> str:
        if row.created_at is None and row.machinery:
            return "the REPL"  # a cell's task: no creation site is looked for
        return self.place(row.created_at, with_source=False)

    def place(self, where: Link | Site | None, with_source: bool = True) -> str:
        if where is None:
            return "?"
        location = code_location(where.filename, where.lineno, self.cell_namer)
        source = linecache.getline(where.filename, where.lineno).strip() if with_source else ""
        return f"{location}: {source}" if source else location

    def task_label(self, row_or_entry) -> str:
        return task_label(row_or_entry.id, row_or_entry.name, row_or_entry.coroutine)

    def pending_table(self, rows: list[TaskRow], total: int, counts: Counter | None) -> Table:
        body = [
            [
                f"{row.id}{'*' if row.machinery else ''}",
                row.name,
                row.state,
                f"{row.coroutine}()",
                self.place(row.suspended_at),
                row.waits_on,
                format_age(row.age),
                self._created_at(row),
            ]
            for row in rows
        ]
        notes = []
        if any(row.machinery for row in rows):
            notes.append("* IPython's, the kernel's or asyncrepl's own task (ids r1, r2...: they use up none of yours)")
        if counts is not None:
            notes.extend(left_out(len(rows), total, counts))
        headers = ["id", "name", "state", "coroutine", "suspended at", "waits on", "age", "created at"]
        return Table(headers, body, notes)

    def ending(self, entry: Finished) -> str:
        """The result, the exception, or who cancelled it and from where."""
        if entry.outcome != "cancelled":
            return entry.detail
        parts = [f"by {entry.cancelled_by}"] if entry.cancelled_by else []
        if entry.cancelled_at is not None:
            parts.append(f"at {self.place(entry.cancelled_at, with_source=False)}")
        return " ".join(parts)

    def failures_table(self, entries: list[Finished], now: float, notes: Sequence[str] = ()) -> Table:
        """Failed tasks: what each raised, when, and where it was created."""
        body = [
            [
                str(entry.id),
                entry.name,
                f"{entry.coroutine}()",
                entry.detail,
                f"{format_age(now - entry.ended)} ago",
                format_age(entry.lifetime),
                self.place(entry.created_at[0] if entry.created_at else None, with_source=False),
            ]
            for entry in entries
        ]
        headers = ["id", "name", "coroutine", "raised", "when", "lived", "created at"]
        return Table(headers, body, notes)

    def history_table(self, entries: list[Finished], now: float) -> Table:
        body = [
            [
                str(entry.id),
                entry.name,
                f"{entry.coroutine}()",
                entry.outcome,
                self.ending(entry),
                f"{format_age(now - entry.ended)} ago",
                format_age(entry.lifetime),
            ]
            for entry in entries
        ]
        return Table(["id", "name", "coroutine", "ended", "detail", "when", "lived"], body)

    def detail(self, row: TaskRow, chain: list[Link], created_at: Sequence[Site], awaited_by: list[TaskRow]) -> TextBlock:
        lines = [
            f"task {self.task_label(row)}: {row.state}, age {format_age(row.age)}",
        ]
        if row.waits_on:
            lines.append(f"  waits on: {row.waits_on}")
        lines.append("await chain, from the task's coroutine to where it waits:")
        lines.extend(f"  {link.function}()  {self.place(link)}" for link in chain)
        if not chain:
            lines.append("  (not started yet)")
        if created_at:
            lines.append("created at, innermost first:")
        elif row.machinery:
            lines.append("created at: by the REPL")
        else:
            lines.append("created at: unknown (before asyncrepl was loaded)")
        lines.extend(f"  {site.function}  {self.place(site)}" for site in created_at)
        if awaited_by:
            lines.append("awaited by: " + ", ".join(self.task_label(waiter) for waiter in awaited_by))
        else:
            lines.append("awaited by: no task")
        return TextBlock(lines)

    def task_locals(self, row: TaskRow, chain: list[tuple[Link, list[tuple[str, str]]]]) -> LocalsView:
        """What a suspended task holds: each frame of its await chain and its locals."""
        title = f"task {self.task_label(row)}: {row.state}, age {format_age(row.age)}"
        frames = [(f"{link.function}()  {self.place(link)}", variables) for link, variables in chain]
        return LocalsView(title, frames)

    def finished_detail(self, entry: Finished, now: float) -> TextBlock:
        lines = [
            f"task {self.task_label(entry)}: {entry.outcome} {format_age(now - entry.ended)} ago, "
            f"after {format_age(entry.lifetime)}",
        ]
        if self.ending(entry):
            lines.append(f"  {self.ending(entry)}")
        if entry.created_at:
            lines.append("created at, innermost first:")
            lines.extend(f"  {site.function}  {self.place(site)}" for site in entry.created_at)
        if entry.error is not None or entry.trace is not None:
            lines.append("traceback:")
            lines.extend("  " + text for text in self.traceback(entry.error if entry.error is not None else entry.trace))
        return TextBlock(lines)

    def traceback(self, error: BaseException | traceback.TracebackException) -> list[str]:
        """The traceback of *error* (an exception, or one kept as a
        TracebackException) as Python prints it, its frames in cells named
        ``In [3]`` (not ``<ipython-input-3-...>`` or ``/tmp/ipykernel_…``)."""
        if isinstance(error, traceback.TracebackException):
            formatted = copy.deepcopy(error)  # the kept one keeps its file names
        else:
            formatted = traceback.TracebackException.from_exception(error)
        pending, seen = [formatted], set()
        while pending:  # the exception, its causes and contexts, a group's members
            current = pending.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            for frame in current.stack:
                if self.cell_namer is not None and self.cell_namer(frame.filename) is not None:
                    frame.filename = code_location(frame.filename, frame.lineno, self.cell_namer).rsplit(" line ", 1)[0]
            pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
            pending.extend(getattr(current, "exceptions", None) or ())
        return "".join(formatted.format()).rstrip("\n").split("\n")

    def tree(self, roots: list[TaskRow], children: dict[int, list[TaskRow | str]], notes: Sequence[str] = ()) -> TextBlock:
        """Each root and, under it, what it awaits; a str child is drawn as is (``… 46 more``)."""
        lines: list[str] = []
        seen: set[int] = set()

        def walk(row: TaskRow | str, prefix: str, last: bool, top: bool) -> None:
            branch = "" if top else ("└── " if last else "├── ")
            if isinstance(row, str):  # what a bounded tree left out here
                lines.append(f"{prefix}{branch}{row}")
                return
            waits = f"  ({row.waits_on})" if row.waits_on else ""
            lines.append(f"{prefix}{branch}{self.task_label(row)} {row.state}{waits}")
            if row.id in seen:
                return
            seen.add(row.id)
            kids = children.get(row.id, [])
            inner = prefix if top else prefix + ("    " if last else "│   ")
            for index, kid in enumerate(kids):
                walk(kid, inner, index == len(kids) - 1, False)

        for root in roots:
            walk(root, "", True, True)
        return TextBlock(lines + list(notes))


def left_out(shown: int, total: int, counts: Counter | None = None, what: str = "pending tasks") -> list[str]:
    """What a bounded listing left out: a line, and counts of all by coroutine and state."""
    if total <= shown:
        return []
    lines = [f"showing {shown:,} of {total:,} {what} ({total - shown:,} left out; --limit shows more)"]
    if counts:
        lines[0] += "; all of them:"
        for (coroutine, state), count in counts.most_common(10):
            lines.append(f"  {count:>9,}  {coroutine}()  {state}")
        if len(counts) > 10:
            rest = sum(count for _, count in counts.most_common()[10:])
            lines.append(f"  {rest:>9,}  in {len(counts) - 10} more groups")
    return lines


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
