# Pattern: asyncio.Queue with producers and consumers, queue.join() and task_done(), workers cancelled at the end.
# Taught in: Python docs, "Queues" (the workers example); every book's producer/consumer section.
import asyncio


async def producer(queue, name, items):
    for item in items:
        await queue.put((name, item))
        await asyncio.sleep(0.005)


async def consumer(queue, name, seen):
    while True:
        source, item = await queue.get()
        seen.append((source, item))
        await asyncio.sleep(0.002)
        queue.task_done()


async def main():
    queue = asyncio.Queue(maxsize=3)
    seen = []
    consumers = [asyncio.create_task(consumer(queue, f"c{i}", seen)) for i in range(2)]
    await asyncio.gather(producer(queue, "p1", range(5)), producer(queue, "p2", range(5, 10)))
    await queue.join()
    for c in consumers:
        c.cancel()
    await asyncio.gather(*consumers, return_exceptions=True)
    print("consumed", len(seen), "items:", sorted(item for _, item in seen))


asyncio.run(main())
