# Pattern: asyncio.Event: several waiters, one setter.
# Taught in: Python docs, "Synchronization Primitives" -> Event; books' synchronization chapters.
import asyncio


async def waiter(event, name):
    print(f"{name} waiting")
    await event.wait()
    print(f"{name} released")


async def main():
    event = asyncio.Event()
    waiters = [asyncio.create_task(waiter(event, f"w{i}")) for i in range(3)]
    await asyncio.sleep(0.02)
    print("setting the event")
    event.set()
    await asyncio.gather(*waiters)
    print("is_set:", event.is_set())


asyncio.run(main())
