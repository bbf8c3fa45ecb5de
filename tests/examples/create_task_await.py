# Pattern: asyncio.create_task() to run coroutines concurrently, then await each task.
# Taught in: Python docs, "Coroutines and Tasks" (say_after with create_task); every introductory tutorial.
import asyncio


async def say_after(delay, what):
    await asyncio.sleep(delay)
    print(what)
    return what.upper()


async def main():
    task1 = asyncio.create_task(say_after(0.05, "hello"))
    task2 = asyncio.create_task(say_after(0.1, "world"))
    print("tasks started")
    first = await task1
    second = await task2
    print(first, second)


asyncio.run(main())
