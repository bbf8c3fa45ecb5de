# Pattern: blocking code off the loop: loop.run_in_executor(None, ...) and asyncio.to_thread(...).
# Taught in: Python docs, "Event Loop" (executing code in thread or process pools) and "Coroutines and Tasks"
# (Running in Threads); books' chapters on mixing blocking code with asyncio.
import asyncio
import concurrent.futures
import threading
import time


def blocking_io(label):
    time.sleep(0.05)
    return f"{label} in a worker thread: {threading.current_thread() is not threading.main_thread()}"


async def main():
    loop = asyncio.get_running_loop()
    print(await loop.run_in_executor(None, blocking_io, "default executor"))
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = await asyncio.gather(*(loop.run_in_executor(pool, blocking_io, f"pool {n}") for n in range(2)))
    print(*results, sep="\n")
    print(await asyncio.to_thread(blocking_io, "to_thread"))


asyncio.run(main())
