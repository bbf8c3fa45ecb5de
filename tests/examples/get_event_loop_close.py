# Pattern: asyncio.get_event_loop() + run_until_complete(...) + finally: loop.close().
# Taught in: pre-3.7 tutorials and books. Written here with set_event_loop(new_event_loop()) first, as it must be
# on 3.14, where get_event_loop() no longer creates a loop.
import asyncio


async def hello(name):
    await asyncio.sleep(0.02)
    print(f"hello {name}")


asyncio.set_event_loop(asyncio.new_event_loop())
loop = asyncio.get_event_loop()
try:
    loop.run_until_complete(hello("first"))
    loop.run_until_complete(hello("second"))
finally:
    loop.close()
print("closed:", loop.is_closed())
