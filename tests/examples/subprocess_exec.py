# Pattern: asyncio.create_subprocess_exec of sys.executable, reading its output with communicate().
# Taught in: Python docs, "Subprocesses"; books' chapters on running external programs.
import asyncio
import sys


async def run(code):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await proc.communicate()
    return f"exit {proc.returncode}: {stdout.decode().strip()!r} {(stderr.decode().strip().splitlines() or [''])[-1]!r}"


async def main():
    print(await run("print('hello from a child')"))
    both = await asyncio.gather(run("print(6 * 7)"), run("import sys; sys.exit(3)"))
    print(*both, sep="\n")
    print(await run("import sys; sys.exit('child failed')"))


asyncio.run(main())
