"""Rewrite the calls that start an event loop, so that a cell runs as its script would.

Book listings start their loop themselves: ``asyncio.run(main())``,
``loop.run_until_complete(main())``, ``loop.run_forever()``, ``asyncio.Runner``.
In a REPL whose loop always runs, each of those fails as written.  This module
finds them in a cell's source and puts a call of asyncrepl's stand-ins in their
place (see ``_scripts``):

* at the cell's top level (also inside ``if``, ``try``, ``with``, ``for``),
  ``asyncio.run(ARGS)`` becomes ``(await H.asyncio_run(ARGS))``, and likewise
  ``X.run_until_complete(ARGS)`` and ``X.run_forever()``: the cell awaits them,
  on the REPL's loop when X is that loop;
* in code that runs later or in its own scope (a function, a lambda, a
  comprehension, a class body), they become plain calls of the synchronous
  stand-ins ``H.run``, ``H.run_until_complete_sync``, ``H.run_forever_sync``,
  which decide when called whether the script would have started a loop there;
* ``asyncio.Runner(...)`` becomes ``H.Runner(...)`` everywhere.

asyncrepl's timing magics return coroutines, since a magic cannot await; a
top-level call of one (``get_ipython().run_line_magic('timeit_async', ...)``,
as IPython transforms ``%timeit_async ...``) is awaited the same way.

Only the call itself is replaced, in place, so line numbers stay those the
user typed (and ``_loop`` shows the user's own text in tracebacks).  This
module knows nothing of IPython.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

__all__ = ["Rewrite", "names_in", "rewrite_cell"]

_NAME = re.compile(r"[A-Za-z_]\w*")


def names_in(source: str) -> set[str]:
    """Every word of *source* that could be a name (a look at the names a cell
    mentions, far cheaper than a look at every name it could reach)."""
    return set(_NAME.findall(source))

# Code that runs later, or in its own scope, must keep its calls as they are:
# an ``await`` there would change what the function or generator is.
_OWN_SCOPES = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Lambda,
    ast.GeneratorExp,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
)


class Rewrite(NamedTuple):
    """Where the rewritten calls start: ``(kind, line)`` pairs, and the new source.

    *kind* is ``"asyncio.run"``, ``"run_until_complete"``, ``"run_forever"``,
    ``"Runner"`` or ``"magic"``.
    """

    source: str
    calls: tuple[tuple[str, int], ...]


class _CallFinder(ast.NodeVisitor):
    """Finds the calls to rewrite, each with whether it runs at the cell's top level."""

    def __init__(self, module_names: set[str], run_names: set[str], runner_names: set[str], magics: set[str]):
        self.module_names = module_names
        self.run_names = run_names
        self.runner_names = runner_names
        self.magics = magics
        self.found: list[tuple[str, ast.Call, bool]] = []  # (kind, call, at top level)
        self._depth = 0  # how many scopes of their own we are inside

    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(node, _OWN_SCOPES):
            self._depth += 1
            try:
                super().generic_visit(node)
            finally:
                self._depth -= 1
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "asyncio":
                    self.module_names.add(alias.asname or "asyncio")
        elif isinstance(node, ast.ImportFrom) and node.module == "asyncio":
            for alias in node.names:
                if alias.name == "run":
                    self.run_names.add(alias.asname or "run")
                elif alias.name == "Runner":
                    self.runner_names.add(alias.asname or "Runner")
        elif isinstance(node, ast.Call):
            kind = self._kind(node)
            if kind is not None:
                self.found.append((kind, node, self._depth == 0))
                # A nested call inside the arguments would be rewritten into
                # text we are about to replace; leave the arguments alone.
                return
        super().generic_visit(node)

    def _kind(self, call: ast.Call) -> str | None:
        func = call.func
        if isinstance(func, ast.Name):
            if func.id in self.run_names:
                return "asyncio.run"
            if func.id in self.runner_names:
                return "Runner"
            return None
        if not isinstance(func, ast.Attribute):
            return None
        on_module = isinstance(func.value, ast.Name) and func.value.id in self.module_names
        if on_module and func.attr in ("run", "Runner"):
            return "asyncio.run" if func.attr == "run" else "Runner"
        if func.attr == "run_until_complete":
            return "run_until_complete"
        if func.attr == "run_forever" and not call.args and not call.keywords:
            return "run_forever"
        if func.attr in ("run_line_magic", "run_cell_magic") and self._depth == 0 and self._is_get_ipython(func.value):
            name = call.args[0] if call.args else None
            if isinstance(name, ast.Constant) and name.value in self.magics:
                return "magic"
        return None

    @staticmethod
    def _is_get_ipython(node: ast.expr) -> bool:
        return (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "get_ipython"
        )


def _char_offsets(source: str) -> Sequence[int]:
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def _offset(source_lines: list[str], starts: Sequence[int], lineno: int, col: int) -> int:
    # ast columns count UTF-8 bytes; the text we edit counts characters.
    line = source_lines[lineno - 1]
    return starts[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8", "replace"))


def rewrite_cell(
    source: str,
    *,
    helper: str,
    asyncio_names: Iterable[str] = (),
    run_names: Iterable[str] = (),
    runner_names: Iterable[str] = (),
    awaited_magics: Iterable[str] = (),
) -> Rewrite | None:
    """Rewrite the loop-starting calls of a cell, and its async magic calls (see the module's docstring).

    *helper* is an expression naming the object with the stand-ins.
    *asyncio_names* are extra names bound to the asyncio module, *run_names*
    names bound to ``asyncio.run`` and *runner_names* to ``asyncio.Runner``
    (the user's namespace knows them; imports in the cell itself are found
    here).  A ``get_ipython().run_line_magic('NAME', ...)`` (or
    ``run_cell_magic``) at top level, for a NAME in *awaited_magics*, is
    awaited.  Returns None when there is nothing to rewrite or the source
    does not parse.
    """
    run_names, runner_names, magics = set(run_names), set(runner_names), set(awaited_magics)
    if not any(word in source for word in ("run", "Run", *run_names, *runner_names)):
        return None  # every call we rewrite has one of these in it
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    finder = _CallFinder({"asyncio", *asyncio_names}, run_names, runner_names, magics)
    for statement in tree.body:
        finder.visit(statement)
    if not finder.found:
        return None

    edits = [edit for kind, call, top_level in finder.found for edit in _edits(source, helper, kind, call, top_level)]
    new = source
    for begin, stop, text in sorted(edits, key=lambda edit: edit[0], reverse=True):
        new = new[:begin] + text + new[stop:]
    return Rewrite(new, tuple((kind, call.lineno) for kind, call, _ in finder.found))


def _edits(source: str, helper: str, kind: str, call: ast.Call, top_level: bool) -> list[tuple[int, int, str]]:
    """The text edits, (start, end, new text), that rewrite one call found."""
    lines = source.splitlines(keepends=True)
    starts = _char_offsets(source)
    start = _offset(lines, starts, call.lineno, call.col_offset)
    end = _offset(lines, starts, call.end_lineno, call.end_col_offset)
    func = call.func
    func_end = _offset(lines, starts, func.end_lineno, func.end_col_offset)
    if kind == "magic":
        return [(start, start, "(await "), (end, end, ")")]
    if kind == "Runner":
        return [(start, func_end, f"{helper}.Runner")]
    if kind == "asyncio.run":
        # "asyncio.run(main())" -> "(await H.asyncio_run(main()))", or "H.run(main())"
        if top_level:
            return [(start, func_end, f"(await {helper}.asyncio_run"), (end, end, ")")]
        return [(start, func_end, f"{helper}.run")]
    # "loop.run_until_complete(main())" -> "(await H.run_until_complete(loop, main()))",
    # or "H.run_until_complete_sync(loop, main())"; run_forever() likewise.
    assert isinstance(func, ast.Attribute)
    target_end = _offset(lines, starts, func.value.end_lineno, func.value.end_col_offset)
    target = source[start:target_end]
    paren = source.index("(", func_end)
    after_target = ", " if kind == "run_until_complete" else ""
    if top_level:
        return [(start, paren + 1, f"(await {helper}.{kind}({target}{after_target}"), (end, end, ")")]
    return [(start, paren + 1, f"{helper}.{kind}_sync({target}{after_target}")]
