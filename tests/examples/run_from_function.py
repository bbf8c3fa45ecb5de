# Pattern: asyncio.run() called from a plain function: `def main(): result = asyncio.run(supervisor())`, then `main()`.
# Taught in: a well-known asyncio book's "spinner" example; helper functions in many tutorials.
import asyncio


async def spin(msg):
    for step in range(3):
        print(f"{msg} {step}")
        await asyncio.sleep(0.02)


async def slow():
    await asyncio.sleep(0.1)
    return 42


async def supervisor():
    spinner = asyncio.create_task(spin("thinking"))
    result = await slow()
    spinner.cancel()
    return result


def main():
    result = asyncio.run(supervisor())
    print(f"Answer: {result}")


main()
