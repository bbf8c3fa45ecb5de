"""Rewrite a cell's top-level ``asyncio.run(main())`` (and async magics) into an ``await``.

Book listings end in ``asyncio.run(main())`` (or the older
``loop.run_until_complete(main())``).  Both fail on a loop that is already
running, and the REPL's loop always is.  Executed at the top level of a cell,
though, such a call can simply become an ``await``: this module finds those
calls and rewrites the source text so the cell compiles as a coroutine, which
is also what tells IPython and ipykernel to run the cell on the loop.

asyncrepl's timing magics return coroutines, since a magic cannot await; a
top-level call of one (``get_ipython().run_line_magic('timeit_async', ...)``,
as IPython transforms ``%timeit_async ...``) is awaited the same way.

Only the call itself is replaced, in place, so line numbers in tracebacks stay
those the user typed.  This module knows nothing of IPython.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Rewrite", "rewrite_cell"]

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


@dataclass(frozen=True)
class Rewrite:
    """Where the rewritten calls start: ``(kind, line)`` pairs, and the new source.

    *kind* is ``"asyncio.run"``, ``"run_until_complete"`` or ``"magic"``.
    """

    source: str
    calls: tuple[tuple[str, int], ...]


class _CallFinder(ast.NodeVisitor):
    def __init__(self, module_names: set[str], run_names: set[str], magics: set[str]):
        self.module_names = module_names
        self.run_names = run_names
        self.magics = magics
        self.found: list[tuple[str, ast.Call]] = []

    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(node, _OWN_SCOPES):
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "asyncio":
                    self.module_names.add(alias.asname or "asyncio")
        elif isinstance(node, ast.ImportFrom) and node.module == "asyncio":
            for alias in node.names:
                if alias.name == "run":
                    self.run_names.add(alias.asname or "run")
        elif isinstance(node, ast.Call):
            kind = self._kind(node)
            if kind is not None:
                self.found.append((kind, node))
                # A nested call inside the arguments would be rewritten into
                # text we are about to replace; leave the arguments alone.
                return
        super().generic_visit(node)

    def _kind(self, call: ast.Call) -> str | None:
        func = call.func
        if isinstance(func, ast.Name) and func.id in self.run_names:
            return "asyncio.run"
        if isinstance(func, ast.Attribute):
            if (
                func.attr == "run"
                and isinstance(func.value, ast.Name)
                and func.value.id in self.module_names
            ):
                return "asyncio.run"
            if func.attr == "run_until_complete":
                return "run_until_complete"
            if func.attr in ("run_line_magic", "run_cell_magic") and self._is_get_ipython(func.value):
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
    awaited_magics: Iterable[str] = (),
) -> Rewrite | None:
    """Rewrite top-level ``asyncio.run(...)``, ``X.run_until_complete(...)`` and
    async magic calls into awaits.

    ``asyncio.run(ARGS)`` becomes ``(await HELPER.asyncio_run(ARGS))``,
    ``X.run_until_complete(ARGS)`` becomes
    ``(await HELPER.run_until_complete(X, ARGS))``, where *helper* is an
    expression naming an object with those two coroutine functions, and
    ``get_ipython().run_line_magic('NAME', ...)`` for a NAME in
    *awaited_magics* becomes ``(await get_ipython().run_line_magic('NAME', ...))``.

    *asyncio_names* are extra names bound to the asyncio module and *run_names*
    names bound to ``asyncio.run`` (the user's namespace knows them; imports in
    the cell itself are found here).  Returns None when there is nothing to
    rewrite or the source does not parse.
    """
    run_names, magics = set(run_names), set(awaited_magics)
    if "run" not in source and not any(name in source for name in run_names):
        return None  # every call we rewrite has "run" in it, or one of run_names
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    finder = _CallFinder({"asyncio", *asyncio_names}, run_names, magics)
    for statement in tree.body:
        finder.visit(statement)
    if not finder.found:
        return None

    lines = source.splitlines(keepends=True)
    starts = _char_offsets(source)
    edits: list[tuple[int, int, str]] = []
    for kind, call in finder.found:
        start = _offset(lines, starts, call.lineno, call.col_offset)
        end = _offset(lines, starts, call.end_lineno, call.end_col_offset)
        func = call.func
        func_end = _offset(lines, starts, func.end_lineno, func.end_col_offset)
        if kind == "magic":
            edits.append((start, start, "(await "))
        elif kind == "asyncio.run":
            # "asyncio.run(main())" -> "(await H.asyncio_run(main()))"
            edits.append((start, func_end, f"(await {helper}.asyncio_run"))
        else:
            # "loop.run_until_complete(main())" -> "(await H.run_until_complete(loop, main()))"
            assert isinstance(func, ast.Attribute)
            target_end = _offset(lines, starts, func.value.end_lineno, func.value.end_col_offset)
            target = source[start:target_end]
            paren = source.index("(", func_end)
            edits.append((start, paren + 1, f"(await {helper}.run_until_complete({target}, "))
        edits.append((end, end, ")"))

    new = source
    for begin, stop, text in sorted(edits, key=lambda edit: edit[0], reverse=True):
        new = new[:begin] + text + new[stop:]
    return Rewrite(new, tuple((kind, call.lineno) for kind, call in finder.found))
