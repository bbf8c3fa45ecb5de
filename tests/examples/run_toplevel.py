# Pattern: asyncio.run(main()) at module level.
# Taught in: Python docs, "Coroutines and Tasks" (the first example); nearly every tutorial and book listing.
import asyncio


async def greet(name, delay):
    await asyncio.sleep(delay)
    print(f"hello, {name}")


async def main():
    print("start")
    await greet("world", 0.05)
    await greet("asyncio", 0.05)
    print("done")


asyncio.run(main())
