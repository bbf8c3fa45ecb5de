# Pattern: loop.create_task(...) then loop.run_forever(), where the task calls loop.stop() when it is done.
# Taught in: older tutorials and books (servers and workers run "forever" until a task stops the loop).
import asyncio


async def worker(loop, jobs):
    for job in jobs:
        await asyncio.sleep(0.01)
        print(f"did {job}")
    print("worker stops the loop")
    loop.stop()


loop = asyncio.new_event_loop()
task = loop.create_task(worker(loop, ["a", "b", "c"]))
try:
    loop.run_forever()
finally:
    loop.close()
print("task done:", task.done())
