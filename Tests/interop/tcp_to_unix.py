#!/usr/bin/env python3
"""A TCP-to-Unix-socket forwarder for clients that only speak TCP (schemathesis) against
keyshardd's API socket.

Usage: tcp_to_unix.py SOCKET
Listens on 127.0.0.1 on a port the kernel picks, prints that port on one line, and then copies
bytes both ways between every TCP connection and a new connection to SOCKET. keyshardd sees this
process's uid (SO_PEERCRED) as every caller's, so give it only the role the clients should have.
It exits when its standard input closes, so it cannot outlive the test that started it.
"""
import asyncio
import sys


async def pipe(source: asyncio.StreamReader, destination: asyncio.StreamWriter) -> None:
    """Copies until `source` ends, then half-closes `destination` so the peer sees the end too."""
    try:
        while data := await source.read(65536):
            destination.write(data)
            await destination.drain()
        if destination.can_write_eof():
            destination.write_eof()
    except (ConnectionError, OSError):
        # One side went away; closing both ends (below) tells the other.
        pass


async def forward(socket_path: str, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
    """One TCP connection: a fresh connection to the daemon, bytes copied both ways until both end."""
    try:
        daemon_reader, daemon_writer = await asyncio.open_unix_connection(socket_path)
    except OSError:
        client_writer.close()
        return
    try:
        await asyncio.gather(pipe(client_reader, daemon_writer), pipe(daemon_reader, client_writer))
    finally:
        for writer in (daemon_writer, client_writer):
            writer.close()


async def main() -> None:
    socket_path = sys.argv[1]
    server = await asyncio.start_server(
        lambda reader, writer: forward(socket_path, reader, writer), host="127.0.0.1", port=0)
    print(server.sockets[0].getsockname()[1], flush=True)
    # Standard input at its end means the test is gone: stop rather than linger.
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.buffer.read)
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
