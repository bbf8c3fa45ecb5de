"""A cell's first stage: what asyncrepl changes in its source before it runs.

* :class:`LoopEntryRewrite` (an input transformer, on the text): the calls
  that start an event loop (``asyncio.run(main())``, ``loop.run_forever()``...)
  and asyncrepl's awaited magics become calls of asyncrepl's stand-ins (see
  ``_rewrite`` and ``_scripts``).
* :class:`TypedLines` (an AST transformer that changes no code): tracebacks,
  ``inspect`` and ``%pdb`` show the lines as the user typed them, not as
  rewritten.
* :class:`StatementsAsTasks` (an AST transformer): each top-level statement
  that awaits is driven by a ``statements.Statement`` in the cell's task, so
  that a cell whose statement refuses to stop can be let go of (the
  statement moves to a task of its own), in a terminal and in a kernel
  alike: ``await EXPR`` (alone, or as an assignment's value) becomes
  ``await H.drive(EXPR, LINE)``; any other statement that awaits is kept and
  becomes ``await H.statement(KEY)``.

The AST transformers are in IPython's list only for the cells that need them
(lines were rewritten, or the cell may await: see :func:`needs_ast_pass`):
as soon as one is there, IPython runs ``ast.fix_missing_locations`` over every
cell's tree (5 us for ``x = 1``, 30 us for a four-line loop).

IPython drops an AST transformer for the rest of the session when it raises,
and an input transformer's error fails the cell: none of these ever raises;
on anything unexpected they leave the cell as it is.
"""

from __future__ import annotations

import ast
import asyncio
import linecache
import re
from collections.abc import Callable

from .._rewrite import names_in, rewrite_cell
from .statements import keep_statement

__all__ = ["HELPER", "LoopEntryRewrite", "StatementsAsTasks", "TypedLines", "awaits_at_top_level", "may_await"]

#: What rewritten code calls: the stand-ins of the session whose loop runs it.
HELPER = "__import__('asyncrepl')._entry"

_AWAIT_WORDS = re.compile(r"\b(?:await|async)\b")


def may_await(source: str) -> bool:
    """Whether *source* may await at its top level: ``await``, ``async for``,
    ``async with`` and async comprehensions all need one of the two words (a
    false alarm, ``async def`` or a word in a string, only costs the look)."""
    return _AWAIT_WORDS.search(source) is not None


class LoopEntryRewrite:
    """The input transformer that puts asyncrepl's stand-ins in place of
    loop-starting calls and awaits asyncrepl's awaited magics.

    It notes which lines it changed (in *typed*, read by :class:`TypedLines`).
    """

    has_side_effects = False  # IPython may run it for completions and checks too

    def __init__(self, namespace: dict, awaited_magics: tuple[str, ...], ast_pass: Callable[[bool], None] = lambda needed: None):
        self.namespace = namespace
        self.awaited_magics = awaited_magics
        self.typed: dict[int, tuple[str, str]] = {}  # line number -> (rewritten, as typed)
        self.ast_pass = ast_pass  # called with whether the cell needs the AST transformers

    def __call__(self, lines: list[str]) -> list[str]:
        self.typed.clear()
        try:
            lines = self._rewrite(lines)
        except Exception:
            pass
        try:
            self.ast_pass(needs_ast_pass(lines, self.typed))
        except Exception:
            pass
        return lines

    def _rewrite(self, lines: list[str]) -> list[str]:
        source = "".join(lines)
        if "(" not in source:
            return lines  # every rewritten call is a call
        asyncio_names, run_names, runner_names = [], [], []
        namespace = self.namespace
        # Only the names the cell mentions can be aliases of asyncio's (a scan
        # of the whole namespace would cost every cell as much as it holds).
        for name in names_in(source):
            value = namespace.get(name)
            if value is asyncio:
                asyncio_names.append(name)
            elif value is asyncio.run:
                run_names.append(name)
            elif value is asyncio.Runner:
                runner_names.append(name)
        rewrite = rewrite_cell(
            source,
            helper=HELPER,
            asyncio_names=asyncio_names,
            run_names=run_names,
            runner_names=runner_names,
            awaited_magics=self.awaited_magics,
        )
        if rewrite is None:
            return lines
        for number, (old, new) in enumerate(zip(source.splitlines(), rewrite.source.splitlines()), 1):
            if old != new:
                self.typed[number] = (new, old)
        return rewrite.source.splitlines(keepends=True)


def needs_ast_pass(lines: list[str], typed: dict) -> bool:
    """Whether a cell (its lines as IPython will parse them) needs asyncrepl's
    AST transformers: lines were rewritten, or it may await (a word is enough:
    a false alarm costs only the look for awaits)."""
    return bool(typed) or may_await("".join(lines))


class TypedLines(ast.NodeTransformer):
    """Puts the lines the user typed back into the cell's cached source, in
    place of the rewritten calls (``_rewrite`` keeps every line where it was).

    IPython caches the transformed text (``compile.cache``, in linecache)
    just before it runs the AST transformers; this one changes no code, only
    that cache.
    """

    def __init__(self, typed: dict[int, tuple[str, str]]):
        self.typed = typed  # filled by LoopEntryRewrite for the cell being run

    def visit(self, node):
        try:
            self._show_typed_lines()
        except Exception:
            pass  # the rewritten text shows instead: nothing worse
        return node

    def _show_typed_lines(self) -> None:
        typed = self.typed
        if not typed:
            return
        try:
            for name in reversed(list(linecache.cache)):  # the newest entry first
                entry = linecache.cache[name]
                if len(entry) < 3 or not isinstance(entry[2], list):
                    continue  # a lazy entry (a 1-tuple), not a cell's text
                lines = entry[2]
                if all(number <= len(lines) and lines[number - 1].rstrip("\n") == new for number, (new, _) in typed.items()):
                    for number, (_, old) in typed.items():
                        lines[number - 1] = old + "\n"
                    return
        finally:
            typed.clear()


# Code that runs later, or in a scope of its own: its awaits are not the cell's.
_OWN_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_AWAITING = (ast.Await, ast.AsyncFor, ast.AsyncWith)


def awaits_at_top_level(node: ast.AST) -> bool:
    """Whether *node* awaits in the scope it is in: not in the body of a
    function or class it defines (its decorators and defaults are evaluated
    where it stands)."""
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, _AWAITING):
            return True
        if isinstance(current, ast.comprehension) and current.is_async:
            return True
        if isinstance(current, _OWN_SCOPES):
            pending.extend(_evaluated_where_defined(current))
            continue
        pending.extend(ast.iter_child_nodes(current))
    return False


def _evaluated_where_defined(node: ast.AST) -> list:
    """What of a def, lambda or class runs where it stands, not when called."""
    if isinstance(node, ast.Lambda):
        return [*node.args.defaults, *filter(None, node.args.kw_defaults)]
    if isinstance(node, ast.ClassDef):
        return [*node.decorator_list, *node.bases, *node.keywords]
    return [*node.decorator_list, *node.args.defaults, *filter(None, node.args.kw_defaults)]


class StatementsAsTasks(ast.NodeTransformer):
    """Puts ``await H.drive(EXPR, LINE)`` in place of a top-level ``await
    EXPR`` (alone, or an assignment's value), and ``await H.statement(KEY)``
    in place of any other top-level statement that awaits (for an
    assignment, in place of its value), keeping the statement for the cell
    to compile where it reaches it (see ``statements``)."""

    def visit(self, node):
        try:
            if isinstance(node, ast.Module):
                node.body = [self._rewritten(statement) for statement in node.body]
        except Exception:
            pass  # the cell runs as it is: only the letting go of a stuck statement is lost
        return node

    def _rewritten(self, statement: ast.stmt) -> ast.stmt:
        value = getattr(statement, "value", None)
        if (
            isinstance(value, ast.Await)
            and isinstance(statement, (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign))
            and not awaits_at_top_level(value.value)
            and not any(map(awaits_at_top_level, _targets(statement)))
        ):
            # The common ``await f()`` and ``x = await f()``: the awaitable is
            # made in the cell's own code and handed over, with nothing kept or
            # compiled again (that cost an awaiting cell a third of its time).
            statement.value = self._driven(value)
            return statement
        return self._statement(statement) if awaits_at_top_level(statement) else statement

    def _statement(self, statement: ast.stmt) -> ast.stmt:
        if isinstance(statement, ast.Expr):
            return ast.copy_location(ast.Expr(self._awaited(statement.value, statement)), statement)
        if isinstance(statement, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and statement.value is not None:
            if not any(map(awaits_at_top_level, _targets(statement))):
                statement.value = self._awaited(statement.value, statement.value)
                return statement
        return ast.copy_location(ast.Expr(self._awaited(statement, statement)), statement)

    @staticmethod
    def _driven(awaiting: ast.Await) -> ast.expr:
        """``await H.drive(EXPR, LINE)`` in place of ``await EXPR``."""
        at = _place_of(awaiting)
        line = ast.Constant(awaiting.lineno, **at)
        return ast.Await(_helper_call("drive", [awaiting.value, line], at), **at)

    @staticmethod
    def _awaited(kept: ast.AST, where: ast.AST) -> ast.expr:
        """``await H.statement(KEY)``, placed where *where* is.

        Its nodes are made with their places (``ast.copy_location`` over
        ``ast.walk`` cost an awaiting cell 25 us); the kept statement keeps the
        places it was parsed with (``compile_statement`` fills any missing).
        """
        if isinstance(kept, ast.expr):
            key = keep_statement(ast.Expression(kept), "eval")
        else:
            key = keep_statement(ast.Module([kept], []), "exec")
        at = _place_of(where)
        return ast.Await(_helper_call("statement", [ast.Constant(key, **at)], at), **at)


_PLACE = ("lineno", "col_offset", "end_lineno", "end_col_offset")


def _targets(statement: ast.stmt) -> list:
    """What an assignment assigns to (nothing, for other statements)."""
    if isinstance(statement, ast.Assign):
        return statement.targets
    return [statement.target] if isinstance(statement, (ast.AugAssign, ast.AnnAssign)) else []


def _place_of(node: ast.AST) -> dict:
    at = {name: getattr(node, name, None) for name in _PLACE}
    at["lineno"] = at["lineno"] or 1
    at["col_offset"] = at["col_offset"] or 0
    return at


def _helper_call(method: str, arguments: list, at: dict) -> ast.Call:
    """``HELPER.method(*arguments)``, every node made at *at*."""
    load = ast.Load()
    imported = ast.Call(ast.Name("__import__", load, **at), [ast.Constant("asyncrepl", **at)], [], **at)
    helper = ast.Attribute(imported, "_entry", load, **at)
    return ast.Call(ast.Attribute(helper, method, load, **at), arguments, [], **at)
