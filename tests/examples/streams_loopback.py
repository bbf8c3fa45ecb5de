# Pattern: streams: asyncio.start_server + asyncio.open_connection on 127.0.0.1, port 0 (an echo server).
# Taught in: Python docs, "Streams" (TCP echo client and server); books' networking chapters.
import asyncio


async def handle_echo(reader, writer):
    data = await reader.readline()
    message = data.decode().strip()
    print(f"server received {message!r}")
    writer.write(f"echo: {message}\n".encode())
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def client(port, message):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{message}\n".encode())
    await writer.drain()
    reply = await reader.readline()
    print(f"client got {reply.decode().strip()!r}")
    writer.close()
    await writer.wait_closed()


async def main():
    server = await asyncio.start_server(handle_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        await client(port, "hello")
        await client(port, "bye")
    print("server closed")


asyncio.run(main())
