# Pattern: a script that finds files next to itself through __file__ (pasted, a cell has no __file__).
# Taught in: tutorials that load a config or data file next to the script.
# Harness: hint
import asyncio
from pathlib import Path


async def main():
    here = Path(__file__).parent
    print("examples folder:", here.name)


asyncio.run(main())
