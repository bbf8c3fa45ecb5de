# Pattern: a script run with %run in IPython: asyncio.run(main()) inside it, reading __file__ and sys.argv.
# Taught in: IPython docs (%run); every tutorial's "save this as example.py and run it".
# Harness: %run
import asyncio
import sys
from pathlib import Path


async def main(args):
    await asyncio.sleep(0.02)
    print("script:", Path(__file__).name)
    print("arguments:", args)
    return len(args)


if __name__ == "__main__":
    count = asyncio.run(main(sys.argv[1:]))
    print("counted", count)
