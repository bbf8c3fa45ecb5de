"""One of the real services of tests/services/, made attachable: ``python service.py NAME [--serve]``.

Runs ``tests/services/NAME.py``'s ``start()`` on a loop of its own, as that
file's ``main()`` does, with ``asyncrepl.serve()`` first if ``--serve``;
prints ``serving on URL``; SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


async def main(name: str, serve: bool) -> None:
    if serve:
        import asyncrepl

        asyncrepl.serve()
    service_module = importlib.import_module(f"services.{name}")
    service = await service_module.start(0)
    print(f"serving on {service.url}", flush=True)
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    try:
        await stopping.wait()
    finally:
        await service.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--serve", action="store_true")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.name, arguments.serve))
