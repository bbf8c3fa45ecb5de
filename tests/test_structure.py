"""Issue 19's structure goals, as a maintainer meets the code: no class over
250 lines, no function over 60 (read from the AST of every module)."""

import ast
import pathlib

import asyncrepl

PACKAGE = pathlib.Path(asyncrepl.__file__).parent


def _too_long():
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            lines = getattr(node, "end_lineno", 0) - getattr(node, "lineno", 0) + 1
            if isinstance(node, ast.ClassDef) and lines > 250:
                yield f"class {node.name} ({path.relative_to(PACKAGE)}): {lines} lines"
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and lines > 60:
                yield f"function {node.name} ({path.relative_to(PACKAGE)}): {lines} lines"


def test_no_class_over_250_lines_and_no_function_over_60():
    assert list(_too_long()) == []
