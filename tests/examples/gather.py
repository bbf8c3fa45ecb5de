# Pattern: asyncio.gather() of several coroutines; results in argument order; return_exceptions=True.
# Taught in: Python docs, "Coroutines and Tasks" (the factorial example); every book's concurrency chapter.
import asyncio


async def factorial(name, number):
    f = 1
    for i in range(2, number + 1):
        print(f"Task {name}: compute factorial({number}), currently i={i}...")
        await asyncio.sleep(0.01)
        f *= i
    print(f"Task {name}: factorial({number}) = {f}")
    return f


async def fails():
    await asyncio.sleep(0)
    raise ValueError("bad input")


async def main():
    results = await asyncio.gather(factorial("A", 2), factorial("B", 3), factorial("C", 4))
    print(results)
    mixed = await asyncio.gather(factorial("D", 2), fails(), return_exceptions=True)
    print(mixed)


asyncio.run(main())
