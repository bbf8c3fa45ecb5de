# Pattern: two CPU-bound tasks run back to back; debug mode with loop.slow_callback_duration = 0.25 reports each.
# Taught in: books' chapter on CPU-bound work and the blocked loop (asyncio.run(main(), debug=True) and
# slow_callback_duration); Python docs "Developing with asyncio" -> "Debug Mode".
import asyncio
import time


async def cpu_bound_work(seconds):
    end = time.perf_counter() + seconds
    count = 0
    while time.perf_counter() < end:
        count += 1
    return "worked"


async def main():
    loop = asyncio.get_running_loop()
    loop.slow_callback_duration = 0.25
    task_one = asyncio.create_task(cpu_bound_work(0.35))
    task_two = asyncio.create_task(cpu_bound_work(0.35))
    print(await task_one, await task_two)


asyncio.run(main(), debug=True)
