# Pattern: a task whose exception is never retrieved (asyncio logs "Task exception was never retrieved").
# Taught in: Python docs, "Developing with asyncio" -> "Detect never-retrieved exceptions".
import asyncio


async def bug():
    raise Exception("not consumed")


async def main():
    asyncio.create_task(bug())


asyncio.run(main(), debug=True)
