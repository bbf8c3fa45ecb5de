# Pattern: print(task) of a pending task, in debug mode (its repr then says where it was created).
# Taught in: tutorials and books that print tasks to show their state; Python docs "Developing with asyncio".
import asyncio


async def nap(seconds):
    await asyncio.sleep(seconds)
    return "rested"


async def main():
    task = asyncio.create_task(nap(0.05), name="napper")
    await asyncio.sleep(0)
    print(task)
    print(await task)
    print(task)


asyncio.run(main(), debug=True)
