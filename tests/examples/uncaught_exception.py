# Pattern: an exception escaping main() through asyncio.run(main()): the traceback names the user's lines.
# Taught in: Python docs, "Developing with asyncio"; every tutorial's first error.
# Exit status: 1
import asyncio


async def parse(text):
    await asyncio.sleep(0.01)
    return int(text)


async def main():
    print("parsing")
    print(await parse("12"))
    print(await parse("twelve"))


asyncio.run(main())
