# Pattern: loop.add_signal_handler(signal.SIGINT, ...) inside main(), left installed when main() returns.
# Taught in: Python docs, "Event Loop", example "Set signal handlers for SIGINT and SIGTERM".
# (This program sends itself no signal.)
import asyncio
import functools
import signal


def ask_exit(signame, loop):
    print(f"got signal {signame}: exit")
    loop.stop()


async def main():
    loop = asyncio.get_running_loop()
    for signame in ("SIGINT", "SIGTERM"):
        loop.add_signal_handler(getattr(signal, signame), functools.partial(ask_exit, signame, loop))
    print("handlers installed; working")
    await asyncio.sleep(0.05)
    print("work done")


asyncio.run(main())
