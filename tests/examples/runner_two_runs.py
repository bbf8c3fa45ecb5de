# Pattern: asyncio.Runner as a context manager, running two coroutines in the same loop.
# Taught in: Python docs, "Runners" (asyncio.Runner, 3.11+).
import asyncio

counter = []


async def step(label):
    await asyncio.sleep(0.02)
    counter.append(label)
    loop_id = id(asyncio.get_running_loop())
    return label, loop_id


with asyncio.Runner() as runner:
    first, loop_a = runner.run(step("first"))
    second, loop_b = runner.run(step("second"))
    print(first, second)
    print("same loop:", loop_a == loop_b)
print(counter)
