# Pattern: loop.add_reader() on a socket, then loop.run_forever(); the reader callback stops the loop.
# Taught in: Python docs, "Event Loop" example "Watch a file descriptor for read events".
import asyncio
import socket


def reader(loop, sock):
    data = sock.recv(100)
    print("received:", data.decode())
    loop.remove_reader(sock)
    loop.stop()


loop = asyncio.new_event_loop()
rsock, wsock = socket.socketpair()
loop.add_reader(rsock, reader, loop, rsock)
loop.call_soon(wsock.send, b"abc")
try:
    loop.run_forever()
finally:
    rsock.close()
    wsock.close()
    loop.close()
print("reader done")
