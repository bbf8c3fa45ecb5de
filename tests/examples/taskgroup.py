# Pattern: asyncio.TaskGroup (3.11+), including a failing child that cancels its siblings (ExceptionGroup).
# Taught in: Python docs, "Coroutines and Tasks" -> "Task Groups"; newer tutorials on structured concurrency.
import asyncio


async def job(n, delay):
    try:
        await asyncio.sleep(delay)
        print(f"job {n} finished")
        return n
    except asyncio.CancelledError:
        print(f"job {n} cancelled")
        raise


async def broken():
    await asyncio.sleep(0.02)
    raise RuntimeError("broken job")


async def main():
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(job(n, 0.01 * n)) for n in range(1, 4)]
    print("all done:", [t.result() for t in tasks])
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(job(10, 1))
            tg.create_task(broken())
    except* RuntimeError as group:
        print("caught:", [str(e) for e in group.exceptions])


asyncio.run(main())
