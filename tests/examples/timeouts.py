# Pattern: asyncio.timeout() (3.11+) and asyncio.wait_for() with the timeout hit.
# Taught in: Python docs, "Coroutines and Tasks" -> "Timeouts"; books' chapters on cancellation and timeouts.
import asyncio


async def slow_operation():
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        print("slow_operation was cancelled")
        raise


async def main():
    try:
        async with asyncio.timeout(0.05):
            await slow_operation()
    except TimeoutError:
        print("asyncio.timeout: timed out")

    try:
        await asyncio.wait_for(slow_operation(), timeout=0.05)
    except TimeoutError:
        print("wait_for: timed out")

    result = await asyncio.wait_for(asyncio.sleep(0.01, result="in time"), timeout=1)
    print(result)


asyncio.run(main())
