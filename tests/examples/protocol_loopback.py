# Pattern: transports and protocols: loop.create_server / loop.create_connection with asyncio.Protocol on loopback.
# Taught in: Python docs, "Transports and Protocols" (TCP echo server and client protocols).
import asyncio


class EchoServer(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        print(f"server got {data.decode()!r}")
        self.transport.write(data.upper())
        self.transport.close()


class Client(asyncio.Protocol):
    def __init__(self, message, done):
        self.message, self.done = message, done

    def connection_made(self, transport):
        transport.write(self.message.encode())

    def data_received(self, data):
        print(f"client got {data.decode()!r}")

    def connection_lost(self, exc):
        print("client: connection closed")
        self.done.set_result(True)


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(EchoServer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    done = loop.create_future()
    transport, _ = await loop.create_connection(lambda: Client("ping", done), "127.0.0.1", port)
    await done
    server.close()
    await server.wait_closed()
    print("done")


asyncio.run(main())
