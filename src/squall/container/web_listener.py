"""A web endpoint container's own HTTP/1.1 listener: the far end of the gateway's direct path.

Once a web function's container is ready, the gateway sends HTTP requests straight here (to
the container's address in its network namespace) instead of turning each one into a
function input; see server/web_proxy.py. The listener runs the same ASGI app as the input
path (container/web.py: WebHandler.app) on the agent's event loop.

Its only client is the gateway, so it speaks the part of HTTP/1.1 the gateway sends: one
request at a time per keep-alive connection, a body framed by Content-Length or chunked,
no trailers. The gateway adds one header, `squall-forwarded`, with what the ASGI scope needs
from the original request (client address, scheme, HTTP version, the gateway's own address);
the app never sees it. A connection that closes mid-request cancels the app's handler, as a
cancelled input does. Standard library only: it runs in every image.
"""

from __future__ import annotations

import asyncio
import sys
import traceback

FORWARDED = b"squall-forwarded"
MAX_HEAD = 64 * 1024
READ_AHEAD = 1024 * 1024  # request body bytes buffered before reading pauses
HEADERS_ALONE_AFTER_S = 0.01  # a response whose body is slow to start (SSE) gets its headers out first
_REASONS = {200: b"OK", 201: b"Created", 204: b"No Content", 301: b"Moved Permanently", 302: b"Found", 304: b"Not Modified",
            400: b"Bad Request", 401: b"Unauthorized", 403: b"Forbidden", 404: b"Not Found", 405: b"Method Not Allowed",
            500: b"Internal Server Error", 502: b"Bad Gateway", 503: b"Service Unavailable"}


class WebListener:
    """Serves `app` (ASGI) over HTTP/1.1."""

    def __init__(self, app) -> None:
        self.app = app
        self.active: set[_Request] = set()
        self._server: asyncio.base_events.Server | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (port 0: one the kernel picks); the port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port, backlog=1024, reuse_address=True)
        return self._server.sockets[0].getsockname()[1]

    async def drain(self, timeout: float) -> None:
        """Stop accepting; give requests in flight up to `timeout` seconds to finish."""
        if self._server is not None:
            self._server.close()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            pass

    def _started(self, req: _Request) -> None:
        self.active.add(req)
        self._idle.clear()

    def _finished(self, req: _Request) -> None:
        self.active.discard(req)
        if not self.active:
            self._idle.set()


class _Connection(asyncio.Protocol):
    def __init__(self, listener: WebListener) -> None:
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.request: _Request | None = None
        self.closed = False
        self.writable = asyncio.Event()
        self.writable.set()

    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            import socket

            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.writable.set()
        if self.request is not None:
            self.request.disconnected()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._advance()

    def _advance(self) -> None:
        req = self.request
        if req is not None:
            if not req.body_done:
                req.feed(self.buf)
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEAD:
                self._reject(b"431", b"request head too large")
            return
        head = bytes(self.buf[:end])
        del self.buf[: end + 4]
        try:
            self.request = _Request(self, head)
        except ValueError as exc:
            self._reject(b"400", str(exc).encode())
            return
        self.request.feed(self.buf)
        self.request.start()

    def request_done(self, keep_alive: bool) -> None:
        self.request = None
        if not keep_alive or self.closed:
            if self.transport is not None:
                self.transport.close()
            return
        self.transport.resume_reading()
        if self.buf:
            self._advance()

    def _reject(self, status: bytes, why: bytes) -> None:
        self.transport.write(b"HTTP/1.1 " + status + b" Bad Request\r\ncontent-length: " + str(len(why)).encode() + b"\r\nconnection: close\r\n\r\n" + why)
        self.transport.close()


class _Request:
    def __init__(self, conn: _Connection, head: bytes) -> None:
        self.conn = conn
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            raise ValueError(f"not an HTTP/1.1 request line: {lines[0][:80]!r}")
        method, target, _ = parts
        headers = []
        length = 0
        chunked = False
        forwarded = None
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise ValueError(f"bad header line {line[:80]!r}")
            name, value = name.strip().lower(), value.strip()
            if name == FORWARDED:
                forwarded = value
                continue
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            headers.append((name, value))
        path, _, query = target.partition(b"?")
        client, scheme, version, server = None, "http", "1.1", None
        if forwarded is not None:  # "client-host client-port scheme http-version server-host server-port"
            f = forwarded.decode("latin-1").split(" ")
            client, scheme, version, server = (f[0], int(f[1])), f[2], f[3], (f[4], int(f[5]))
        else:
            peer = conn.transport.get_extra_info("peername")
            client = (peer[0], peer[1]) if peer else None
        spath = path.decode("latin-1")
        self.method = method.decode("latin-1")
        # The same scope the input path builds (server/gateway.py: Gateway._scope).
        self.scope = {
            "type": "http", "method": self.method, "scheme": scheme, "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": version,
            "path": spath, "raw_path": path, "query_string": query, "root_path": "", "headers": headers, "client": client, "server": server,
        }
        self.remaining = length
        self.chunked = chunked
        self.chunk_left = -1  # -1: expecting a chunk size line; -2: the CRLF after a chunk's data
        self.body_done = not chunked and length == 0
        self.body_given = False  # the app has had the last piece of the body
        self.parts: list[bytes] = []
        self.buffered = 0
        self.arrived = asyncio.Event()
        self.finished = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.status: int | None = None
        self.headers: list = []
        self.head_sent = False
        self.chunked_out = False
        self.complete = False
        self.head_timer: asyncio.TimerHandle | None = None

    # -- the request body -----------------------------------------------------------------------
    def feed(self, buf: bytearray) -> None:
        if self.body_done or not buf:
            return
        if not self.chunked:
            take = min(self.remaining, len(buf))
            self._part(bytes(buf[:take]))
            del buf[:take]
            self.remaining -= take
            self.body_done = self.remaining == 0
        else:
            while buf and not self.body_done:
                if self.chunk_left > 0:
                    take = min(self.chunk_left, len(buf))
                    self._part(bytes(buf[:take]))
                    del buf[:take]
                    self.chunk_left -= take
                    if self.chunk_left == 0:
                        self.chunk_left = -2
                elif self.chunk_left == -2:
                    if len(buf) < 2:
                        break
                    del buf[:2]
                    self.chunk_left = -1
                else:
                    end = buf.find(b"\r\n")
                    if end < 0:
                        break
                    size = int(bytes(buf[:end]).split(b";")[0].strip() or b"0", 16)
                    del buf[: end + 2]
                    if size == 0:
                        self.chunk_left = -2  # the empty line that ends the body (no trailers)
                        self.body_done = True
                        if len(buf) >= 2:
                            del buf[:2]
                    else:
                        self.chunk_left = size
        if self.buffered > READ_AHEAD and not self.body_done:
            self.conn.transport.pause_reading()
        self.arrived.set()

    def _part(self, data: bytes) -> None:
        if data:
            self.parts.append(data)
            self.buffered += len(data)

    async def receive(self) -> dict:
        if not self.body_given:
            while not self.parts and not self.body_done and not self.conn.closed:
                self.arrived.clear()
                self.conn.transport.resume_reading()
                await self.arrived.wait()
            if self.parts or self.body_done:
                body = b"".join(self.parts)
                self.parts.clear()
                self.buffered = 0
                self.body_given = self.body_done
                if not self.body_done:
                    self.conn.transport.resume_reading()
                return {"type": "http.request", "body": body, "more_body": not self.body_done}
        await self.finished.wait()
        return {"type": "http.disconnect"}

    # -- running the app ------------------------------------------------------------------------
    def start(self) -> None:
        self.conn.listener._started(self)
        self.task = asyncio.get_running_loop().create_task(self._run())

    def disconnected(self) -> None:
        """The gateway closed the connection: its client left, or it gave up. Stop the app's handler."""
        self.finished.set()
        self.arrived.set()
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def _run(self) -> None:
        keep_alive = False
        try:
            await self.conn.listener.app(self.scope, self.receive, self.send)
            if self.conn.closed:
                return
            if self.status is None:
                await self._error_response("the app returned without sending a response")
            elif not self.complete:
                await self.send({"type": "http.response.body", "body": b"", "more_body": False})
            keep_alive = self.body_done
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # noqa: BLE001 - reported to the client as a 500 when it can be
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
            if self.status is None and not self.head_sent and not self.conn.closed:
                await self._error_response(f"the app raised {type(exc).__name__}: {exc}")
                keep_alive = self.body_done
        finally:
            if self.head_timer is not None:
                self.head_timer.cancel()
            self.finished.set()
            self.conn.listener._finished(self)
            self.conn.request_done(keep_alive and self.complete)

    async def _error_response(self, why: str) -> None:
        self.status, self.headers = 500, [(b"content-type", b"text/plain; charset=utf-8")]
        await self.send({"type": "http.response.body", "body": f"Internal Server Error: {why}\n".encode(), "more_body": False})

    async def send(self, message: dict) -> None:
        kind = message["type"]
        if self.conn.closed or self.complete:
            return
        if kind == "http.response.start":
            self.status = message["status"]
            self.headers = [(bytes(k).lower(), bytes(v)) for k, v in message.get("headers", ())]
            self.head_timer = asyncio.get_running_loop().call_later(HEADERS_ALONE_AFTER_S, self._head_alone)
            return
        if kind != "http.response.body":
            return
        if self.status is None:
            raise RuntimeError("the app sent a response body before http.response.start")
        body = bytes(message.get("body", b""))
        more = bool(message.get("more_body", False))
        write = self.conn.transport.write
        if not self.head_sent:
            if self.head_timer is not None:
                self.head_timer.cancel()
            write(self._head(None if more else len(body)))
        if self.method == "HEAD":
            body = b""
        if self.chunked_out:
            if body:
                write(b"%x\r\n" % len(body) + body + b"\r\n")
            if not more:
                write(b"0\r\n\r\n")
        elif body:
            write(body)
        if not more:
            self.complete = True
        if not self.conn.writable.is_set():
            await self.conn.writable.wait()

    def _head_alone(self) -> None:
        self.head_timer = None
        if not self.head_sent and not self.conn.closed:
            self.conn.transport.write(self._head(None))

    def _head(self, length: int | None) -> bytes:
        """The status line and headers; `length` is the whole body's when it is known now."""
        self.head_sent = True
        lines = [b"HTTP/1.1 %d %s" % (self.status, _REASONS.get(self.status, b"Status"))]
        has_length = False
        for k, v in self.headers:
            if k in (b"transfer-encoding", b"connection", b"keep-alive"):
                continue
            if k == b"content-length":
                has_length = True
            lines.append(k + b": " + v)
        if not has_length and self.status not in (204, 304) and not (100 <= self.status < 200):
            if length is not None:
                lines.append(b"content-length: %d" % length)
            elif self.method != "HEAD":
                lines.append(b"transfer-encoding: chunked")
                self.chunked_out = True
        return b"\r\n".join(lines) + b"\r\n\r\n"
