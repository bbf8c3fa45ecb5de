# Pattern: loop = asyncio.new_event_loop(); try: loop.run_until_complete(main()) finally: loop.close().
# Taught in: older tutorials and books written before asyncio.run (3.6 era), still widely copied.
import asyncio


async def fetch(n):
    await asyncio.sleep(0.01 * n)
    return n * n


async def main():
    results = await asyncio.gather(*(fetch(n) for n in range(1, 4)))
    print("results:", results)


loop = asyncio.new_event_loop()
try:
    loop.run_until_complete(main())
finally:
    loop.close()
print("closed:", loop.is_closed())
