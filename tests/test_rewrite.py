"""The asyncio.run rewrite, without IPython."""

import ast

import pytest

from asyncrepl._rewrite import rewrite_cell

H = "H"


def rewrite(source, **names):
    result = rewrite_cell(source, helper=H, **names)
    return None if result is None else result.source


@pytest.mark.parametrize(
    "source, expected",
    [
        ("asyncio.run(main())", "(await H.asyncio_run(main()))"),
        ("result = asyncio.run(main())", "result = (await H.asyncio_run(main()))"),
        ("print(asyncio.run(main(1, x=2)))", "print((await H.asyncio_run(main(1, x=2))))"),
        ("asyncio.run(main(), debug=True)", "(await H.asyncio_run(main(), debug=True))"),
        (
            "if __name__ == '__main__':\n    asyncio.run(main())\n",
            "if __name__ == '__main__':\n    (await H.asyncio_run(main()))\n",
        ),
        (
            "loop = asyncio.get_event_loop()\nloop.run_until_complete(main())",
            "loop = asyncio.get_event_loop()\n(await H.run_until_complete(loop, main()))",
        ),
        (
            "asyncio.get_event_loop().run_until_complete(main())",
            "(await H.run_until_complete(asyncio.get_event_loop(), main()))",
        ),
        ("import asyncio as aio\naio.run(main())", "import asyncio as aio\n(await H.asyncio_run(main()))"),
        ("from asyncio import run\nrun(main())", "from asyncio import run\n(await H.asyncio_run(main()))"),
        (
            "x = asyncio.run(\n    main(),\n)\nprint(x)",
            "x = (await H.asyncio_run(\n    main(),\n))\nprint(x)",
        ),
        ("s = 'é'; asyncio.run(main())", "s = 'é'; (await H.asyncio_run(main()))"),
    ],
)
def test_top_level_calls_become_awaits(source, expected):
    assert rewrite(source) == expected
    ast.parse(expected)  # still Python (top-level await parses)


def test_line_numbers_are_kept():
    source = "import asyncio\n\nasync def main():\n    return 1\n\nasyncio.run(main())\nboom()\n"
    new = rewrite(source)
    assert new.count("\n") == source.count("\n")
    assert new.splitlines()[6] == "boom()"


def test_names_bound_in_the_users_namespace_count():
    assert rewrite("aio.run(main())", asyncio_names=["aio"]) == "(await H.asyncio_run(main()))"
    assert rewrite("go(main())", run_names=["go"]) == "(await H.asyncio_run(main()))"
    assert rewrite("aio.run(main())") is None
    assert rewrite("go(main())") is None


@pytest.mark.parametrize(
    "source, expected",
    [
        ("def f():\n    return asyncio.run(main())\n", "def f():\n    return H.run(main())\n"),
        ("async def f():\n    asyncio.run(main())\n", "async def f():\n    H.run(main())\n"),
        ("class C:\n    x = asyncio.run(main())\n", "class C:\n    x = H.run(main())\n"),
        ("f = lambda: asyncio.run(main())", "f = lambda: H.run(main())"),
        ("[asyncio.run(m) for m in ms]", "[H.run(m) for m in ms]"),
        ("gen = (asyncio.run(m) for m in ms)", "gen = (H.run(m) for m in ms)"),
        (
            "def f(loop):\n    loop.run_until_complete(main())\n",
            "def f(loop):\n    H.run_until_complete_sync(loop, main())\n",
        ),
        ("def f(loop):\n    loop.run_forever()\n", "def f(loop):\n    H.run_forever_sync(loop)\n"),
    ],
)
def test_calls_in_code_of_its_own_scope_become_plain_calls_of_the_stand_ins(source, expected):
    # Whether a loop may start there is known only when the code runs.
    assert rewrite(source) == expected
    ast.parse(expected)


@pytest.mark.parametrize(
    "source, expected",
    [
        ("loop.run_forever()", "(await H.run_forever(loop))"),
        (
            "try:\n    loop.run_until_complete(main())\nfinally:\n    loop.close()\n",
            "try:\n    (await H.run_until_complete(loop, main()))\nfinally:\n    loop.close()\n",
        ),
        ("with asyncio.Runner() as r:\n    r.run(main())\n", "with H.Runner() as r:\n    r.run(main())\n"),
        ("from asyncio import Runner as R\nR(debug=True)", "from asyncio import Runner as R\nH.Runner(debug=True)"),
        ("def f():\n    return asyncio.Runner()\n", "def f():\n    return H.Runner()\n"),
    ],
)
def test_run_forever_and_runner_are_rewritten_too(source, expected):
    assert rewrite(source) == expected


def test_runner_names_bound_in_the_users_namespace_count():
    assert rewrite("R()", runner_names=["R"]) == "H.Runner()"


@pytest.mark.parametrize(
    "source",
    [
        "runner.run(main())",
        "loop.run_forever(1)",
        "print('asyncio.run(main())')",
        "subprocess.run(['ls'])",
        "x = 1",
    ],
)
def test_unrelated_calls_are_left_alone(source):
    assert rewrite(source) is None


def test_syntax_errors_are_left_for_ipython_to_report():
    assert rewrite("asyncio.run(main()") is None


def test_nested_call_in_arguments_is_rewritten_once():
    assert rewrite("asyncio.run(asyncio.run(x))") == "(await H.asyncio_run(asyncio.run(x)))"


def test_reports_what_it_rewrote():
    result = rewrite_cell(
        "a = 1\nasyncio.run(main())\nloop.run_until_complete(f())\nget_ipython().run_line_magic('t', 'x')",
        helper=H,
        awaited_magics=["t"],
    )
    assert result.calls == (("asyncio.run", 2), ("run_until_complete", 3), ("magic", 4))


@pytest.mark.parametrize(
    "source, expected",
    [
        (
            "get_ipython().run_line_magic('timeit_async', 'f()')",
            "(await get_ipython().run_line_magic('timeit_async', 'f()'))",
        ),
        (
            "r = get_ipython().run_line_magic('timeit_async', '-o f()')",
            "r = (await get_ipython().run_line_magic('timeit_async', '-o f()'))",
        ),
        (
            "get_ipython().run_cell_magic('timeit_async', 'x = 1', 'await f(x)\\n')",
            "(await get_ipython().run_cell_magic('timeit_async', 'x = 1', 'await f(x)\\n'))",
        ),
    ],
)
def test_async_magic_calls_are_awaited(source, expected):
    assert rewrite(source, awaited_magics=["timeit_async"]) == expected


@pytest.mark.parametrize(
    "source",
    [
        "get_ipython().run_line_magic('timeit', 'f()')",
        "def g():\n    get_ipython().run_line_magic('timeit_async', 'f()')\n",
        "shell.run_line_magic('timeit_async', 'f()')",
    ],
)
def test_other_magic_calls_are_left_alone(source):
    assert rewrite(source, awaited_magics=["timeit_async"]) is None


# -- the AST transformers (asyncrepl._cell.transform) ------------------------------------


def test_the_typed_lines_transformer_never_raises_on_a_lazy_linecache_entry():
    # IPython drops an AST transformer for the rest of the session when it
    # raises; a lazy linecache entry is a 1-tuple (linecache.lazycache), where
    # the old transformer raised IndexError (benchmarks/bench_tasks.py met it).
    import linecache

    from asyncrepl._cell.transform import TypedLines

    linecache.cache["<cell with rewritten lines>"] = (10, None, ["x = (await H.asyncio_run(main()))\n"], "<cell>")
    linecache.cache["<lazy>"] = (lambda: "",)
    try:
        typed = {1: ("x = (await H.asyncio_run(main()))", "x = asyncio.run(main())")}
        tree = ast.parse("x = 1")
        assert TypedLines(typed).visit(tree) is tree
        assert linecache.cache["<cell with rewritten lines>"][2] == ["x = asyncio.run(main())\n"]
        assert typed == {}
    finally:
        linecache.cache.pop("<cell with rewritten lines>", None)
        linecache.cache.pop("<lazy>", None)


def statements_as_tasks(source: str) -> str:
    from asyncrepl._cell.transform import StatementsAsTasks

    return ast.unparse(StatementsAsTasks().visit(ast.parse(source)))


def test_only_top_level_statements_that_await_are_run_as_statements():
    out = statements_as_tasks("x = 1\nasync def f():\n    await g()\nawait f()\ny = await f()\nasync for i in g():\n    pass")
    lines = [line for line in out.splitlines() if line]
    assert lines[:3] == ["x = 1", "async def f():", "    await g()"]  # a function's awaits are its own
    # ``await EXPR`` alone: EXPR is made by the cell's code and handed over
    assert lines[3] == "await __import__('asyncrepl')._entry.drive(f(), 4)"
    assert lines[4] == "y = await __import__('asyncrepl')._entry.drive(f(), 5)"  # the assignment stays the cell's
    # anything else that awaits is kept whole, to be compiled where the cell reaches it
    assert lines[5].startswith("await __import__('asyncrepl')._entry.statement(") and len(lines) == 6


def test_an_await_within_the_awaited_expression_keeps_the_statement_whole():
    out = statements_as_tasks("await f(await g())\nx[await k()] = await f()\nx = [await g()]")
    assert all(line.startswith(("await __import__('asyncrepl')._entry.statement(", "x = await")) for line in out.splitlines())
    assert "drive" not in out


def test_the_statements_transformer_never_raises():
    from asyncrepl._cell.transform import StatementsAsTasks

    odd = ast.Module([ast.Expr(ast.Await(ast.Name("x")))], [])  # no line numbers at all
    assert StatementsAsTasks().visit(odd) is odd
    assert StatementsAsTasks().visit(ast.Expression(ast.Constant(1))) is not None
