# Pattern: `if __name__ == "__main__": asyncio.run(main())`.
# Taught in: Python docs ("Runners" and the asyncio HOWTOs), most books' chapter listings.
import asyncio


async def count_down(n):
    while n:
        print(f"{n}...")
        n -= 1
        await asyncio.sleep(0.02)
    return "lift-off"


async def main():
    result = await count_down(3)
    print(result)


if __name__ == "__main__":
    asyncio.run(main())
