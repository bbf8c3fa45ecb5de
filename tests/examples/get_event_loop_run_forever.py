# Pattern: loop = asyncio.get_event_loop(); loop.create_task(worker(loop)); loop.run_forever(); the task stops the loop.
# Taught in: pre-3.7 tutorials and books (servers and background workers "run forever").
# Written with set_event_loop(new_event_loop()) first, as it must be on 3.14.
import asyncio


async def worker(loop):
    for n in range(3):
        await asyncio.sleep(0.01)
        print(f"working {n}")
    print("stopping the loop")
    loop.stop()


asyncio.set_event_loop(asyncio.new_event_loop())
loop = asyncio.get_event_loop()
loop.create_task(worker(loop))
try:
    loop.run_forever()
finally:
    loop.close()
print("after run_forever")
