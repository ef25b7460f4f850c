"""The containers' only way out: a unix socket, bind-mounted into each container, whose
connections the worker splices through to the control plane. Containers have no network
of their own; their token (not the socket) says who they are."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib

BUFFER = 256 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(BUFFER):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class SocketProxy:
    def __init__(self, socket_path: pathlib.Path, upstream_host: str, upstream_port: int):
        self.socket_path = socket_path
        self.upstream = (upstream_host, upstream_port)
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._handle, path=str(self.socket_path))
        self.socket_path.chmod(0o666)

    async def _handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        try:
            u_reader, u_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            c_writer.close()
            return
        sock = u_writer.get_extra_info("socket")
        if sock is not None:
            import socket

            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair = [asyncio.create_task(_pipe(c_reader, u_writer)), asyncio.create_task(_pipe(u_reader, c_writer))]
        self._tasks.update(pair)
        await asyncio.gather(*pair, return_exceptions=True)
        self._tasks.difference_update(pair)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in list(self._tasks):
            t.cancel()
        self.socket_path.unlink(missing_ok=True)
