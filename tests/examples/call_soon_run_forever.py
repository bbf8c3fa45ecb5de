# Pattern: loop.call_soon / loop.call_later, then loop.run_forever(), with a callback that calls loop.stop().
# Taught in: Python docs, "Event Loop" examples ("Hello World with call_soon()", "Display the current date with
# call_later()").
import asyncio


def hello(loop):
    print("hello from call_soon")


def tick(loop, n):
    print(f"tick {n}")
    if n < 3:
        loop.call_later(0.02, tick, loop, n + 1)
    else:
        loop.stop()


loop = asyncio.new_event_loop()
loop.call_soon(hello, loop)
loop.call_later(0.02, tick, loop, 1)
try:
    loop.run_forever()
finally:
    loop.close()
print("loop stopped and closed")
