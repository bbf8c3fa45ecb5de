# Pattern: asyncio.Lock guarding a shared counter, and asyncio.Semaphore limiting concurrency.
# Taught in: Python docs, "Synchronization Primitives"; books' chapters on race conditions and rate limiting.
import asyncio

counter = 0
active = 0
peak = 0


async def increment(lock):
    global counter
    async with lock:
        value = counter
        await asyncio.sleep(0.001)
        counter = value + 1


async def limited(sem, n):
    global active, peak
    async with sem:
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        return n


async def main():
    lock = asyncio.Lock()
    await asyncio.gather(*(increment(lock) for _ in range(20)))
    print("counter:", counter)
    sem = asyncio.Semaphore(3)
    results = await asyncio.gather(*(limited(sem, n) for n in range(10)))
    print("results:", results, "peak concurrency:", peak)


asyncio.run(main())
