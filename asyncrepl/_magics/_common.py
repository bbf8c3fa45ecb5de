"""What the magic families share: the engine they adapt, and how errors show."""

from __future__ import annotations

import ast
import getopt
import math
import shlex
import sys
from typing import TYPE_CHECKING

from IPython.core.error import UsageError
from IPython.core.magic import Magics
from IPython.core.magic_arguments import construct_parser, magic_arguments, parse_argstring

from .._hosts.ipython import running_cell_number
from .. import _tasks

if TYPE_CHECKING:
    from .._render import Views
    from .._tasks import TaskRegistry


class ReplMagics(Magics):
    """A family of asyncrepl magics, given the session they work on (see ``_session``)."""

    def __init__(self, shell, session):
        super().__init__(shell)
        self.session = session
        self._settings = session.settings

    def _tasks_registry(self) -> TaskRegistry:
        return self.session.registry

    def _views(self) -> Views:
        return self.session.views

    def _running_cell_number(self) -> int:
        """The number of the cell running now (``In [N]``)."""
        return running_cell_number(self.shell)

    def _compile_cell_body(self, cell: str):
        """A cell magic's code, compiled as a cell (top-level await, the value
        of its last expression) under the running cell's name, its lines
        numbered as the user typed them (the magic's line is line 1); a
        SyntaxError is shown as for a cell."""
        from .._timing import compile_with_value, split_value

        try:
            source = "\n" + self.shell.transform_cell(cell)
            filename = self.shell.compile.cache(source, self._running_cell_number())
            tree = ast.parse(source, filename, "exec")
            return compile_with_value(*split_value(tree.body), filename, self.shell.compile.flags)
        except SyntaxError as error:
            raise StatementSyntaxError(self.shell, error) from None


def one_task(registry: TaskRegistry, word: str, usage: str, variables=None):
    """The task (or ended task) *word* names, as every magic reads it (a
    variable of *variables*, the user's namespace, last); else a UsageError
    that says none or which ones (*usage*: the magic's form, as ``%why ID``)."""
    from .._tasks.resolve import resolve_one

    try:
        return resolve_one(registry, word, variables=variables)
    except _tasks.NoSuchTask:
        raise UsageError(f"no task matches {word!r} (see %tasks and %tasks --done)") from None
    except _tasks.AmbiguousTask as error:
        raise UsageError(f"{error}: {usage}") from None


class arguments(magic_arguments):
    """IPython's ``@magic_arguments()``, with the parser made at the magic's
    first use, not at import: the four parsers (with the help text each
    writes into its magic's docstring) were a tenth of ``%load_ext``.  The
    first call, or ``%name?`` (IPython's inspector asks ``getdoc()`` before
    ``__doc__``), makes it."""

    def __call__(self, func):
        if not getattr(func, "has_arguments", False):  # as magic_arguments does
            func.has_arguments, func.decorators = True, []
        if self.name is not None:
            func.argcmd_name = self.name
        func.parser = _ParserAtFirstUse(func)
        func.getdoc = lambda: func.parser.made() and func.__doc__
        return func


class _ParserAtFirstUse:
    """Stands for a magic's parser until it is first asked for anything."""

    def __init__(self, func):
        self._func, self._parser = func, None

    def made(self):
        if self._parser is None:
            self._parser = construct_parser(self._func)  # also writes the help into __doc__
        return self._parser

    def __getattr__(self, name: str):
        return getattr(self.made(), name)


def parse_arguments(magic, line: str):
    """The arguments of a ``magic_arguments`` magic, with every mistake in the
    line a UsageError: an unbalanced quote, a number that is not finite
    (argparse's ``float`` takes ``nan`` and ``inf``), and a ``--limit`` (every
    listing magic's) under 1."""
    try:
        args = parse_argstring(magic, line)
    except ValueError as error:  # from shlex: "No closing quotation"
        raise UsageError(f"{str(error).lower()} in {line.strip()!r}") from None
    for name, value in vars(args).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"{_argument_named(magic, name)} takes a finite number, not {value}")
    limit = getattr(args, "limit", None)
    if isinstance(limit, int) and limit < 1:
        raise UsageError(f"--limit takes a whole number of at least 1, not {limit}")
    return args


def _argument_named(magic, dest: str) -> str:
    """How the line names the argument stored as *dest*: ``seconds`` for a
    positional one, ``--timeout`` for an option (read from the magic's
    ``@argument`` decorators, as IPython's parser is built from them)."""
    for decorator in getattr(magic, "decorators", ()):
        names = getattr(decorator, "args", ())
        if dest in names:
            return dest  # positional: named as declared
    return f"--{dest.replace('_', '-')}"


def unquoted(word: str) -> str:
    """*word* without one pair of matching quotes around it: ``'Task-*'`` and
    ``"worker 1"`` as the user means them.  IPython's ``magic_arguments``
    splits a line at spaces but keeps the quotes (on every OS), so every
    argument a magic takes as a name, a glob, a message or a file name goes
    through this."""
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":
        return word[1:-1]
    return word


def split_words(line: str) -> list[str]:
    """The words of a magic's line, split at whitespace as ``magic_arguments``
    splits it (a quoted word may hold spaces), each :func:`unquoted`; an
    unbalanced quote is a UsageError."""
    lexer = shlex.shlex(line, posix=False)
    lexer.whitespace_split, lexer.commenters = True, ""
    try:
        return [unquoted(word) for word in lexer]
    except ValueError as error:  # "No closing quotation"
        raise UsageError(f"{str(error).lower()} in {line.strip()!r}") from None


def parse_options(line: str, short: str, *long: str) -> tuple[dict[str, str], str]:
    """Options in front of Python code, as ``%timeit`` takes them: the options
    (by letter or long name, each given at most once), and the code, exactly
    as typed after them.

    *short* and *long* are getopt's (``"n:r:q"``, ``"concurrency="``).  Unlike
    ``Magics.parse_options``, the code is cut from the line where the options
    end, rather than by deleting each option's text wherever it first occurs
    (which turns ``-qn1 f()`` into ``n f()``), and an option given twice is
    a UsageError rather than a list.
    """
    words = _words(line)
    try:
        pairs, rest = getopt.getopt(words, short, long)
    except getopt.GetoptError as error:
        allowed = " ".join([f"-{letter}" for letter in short.replace(":", "")] + [f"--{name.rstrip('=')}" for name in long])
        raise UsageError(f"{error.msg} (options: {allowed})") from None
    options: dict[str, str] = {}
    for flag, value in pairs:
        name = flag.lstrip("-")
        if name in options:
            raise UsageError(f"{flag} is given twice")
        options[name] = value
    position = 0
    for word in words[: len(words) - len(rest)]:
        position = line.index(word, position) + len(word)
    return options, line[position:].strip()


def _words(line: str) -> list[str]:
    """The line split at whitespace, as ``Magics.parse_options`` splits it on
    POSIX, each word an unchanged piece of the line (quotes kept); from an
    unbalanced quote on, the rest of the line is one word (it is code)."""
    lexer = shlex.shlex(line, posix=False)
    lexer.whitespace_split, lexer.commenters = True, ""
    words = []
    while True:
        try:
            words.append(next(lexer))
        except StopIteration:
            return words
        except ValueError:  # no closing quotation
            return words + [lexer.token]


def positive(raw, default: int, flag: str, what: str, most: int = sys.maxsize) -> int:
    """An option's whole number from 1 to *most*, or a UsageError saying what it takes."""
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"{flag} takes a whole number ({what}), not {raw!r}") from None
    if value < 1:
        raise UsageError(f"{flag} takes a whole number of at least 1 ({what}), not {value}")
    if value > most:
        raise UsageError(f"{flag} takes a whole number from 1 to {most:,} ({what}), not {value:,}")
    return value


class StatementSyntaxError(Exception):
    """A syntax error in a magic's statement, shown briefly, as IPython shows
    one in a cell, rather than as a traceback through the magic."""

    def __init__(self, shell, error: SyntaxError):
        super().__init__(f"{error.msg} ({error.text or ''!s})".strip())
        self.shell, self.error = shell, error

    def _render_traceback_(self) -> list[str]:  # IPython's hook for custom display
        error = self.error
        return self.shell.SyntaxTB.structured_traceback(type(error), error, [])
