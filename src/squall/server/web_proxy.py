"""The gateway's direct path: a web request proxied straight to a ready container's own HTTP listener.

A request on the input path (server/gateway.py) is a function input: committed to the Store,
fetched by the container's agent over gRPC through the worker's socket, answered as outputs
committed again. That costs milliseconds and several processes' CPU per request. Once a
container of the function is ready and reachable, the gateway instead opens (or reuses) a
keep-alive HTTP/1.1 connection to its agent's listener (container/web_listener.py) on the
container's address in its network namespace, writes the request and streams the response
back: no Store write, no other process in between.

What stays the same as the input path:
- Autoscaling: a request in flight counts as demand of the function and as one of its
  container's slots (@concurrent max_inputs, shared with inputs the container runs); a request
  that finds every reachable container full waits here, counted as demand too, so the
  autoscaler adds containers up to max_containers; containers busy with direct requests do
  not scale down. The least busy container takes the next request.
- Scale from zero: with no reachable container the request goes the input path (which holds it
  while the container starts, and reports a container that cannot start as a 502).
- Timeouts: the response must complete within the function's timeout, else 504 (or, once the
  response has started, the client connection is cut).
- A client that leaves closes the connection to the container, which cancels the app's handler.
- A container that dies mid-request: its connections break (the control plane also aborts them
  when it learns the container exited), and the client gets 502, never a hang.

Where it does not apply, requests take the input path: WebSockets; functions with max_inputs;
containers without a network namespace (block_network, or gVisor without network); and
containers on a worker on another machine (their namespace address is reachable from that
machine only).
"""

from __future__ import annotations

import asyncio
import logging
import socket

from aiohttp import web

log = logging.getLogger("squall.gateway")

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection", "squall-forwarded"}
IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"}
BODY_PIECE = 256 * 1024
INLINE_BODY = 256 * 1024  # request bodies up to this are read whole and can be sent again on a fresh connection
MAX_POOL = 64  # idle connections kept per container
CONNECT_TIMEOUT_S = 2.0
READ_LIMIT = 1 << 20
RESPONSE_PIECE = 256 * 1024


class DirectPathUnavailable(Exception):
    """The container's listener could not be reached: send the request as an input instead."""


class DirectProxy:
    def __init__(self, cp, server: tuple[str, int]) -> None:
        self.cp = cp
        self.server = server  # the gateway's own (host, port), for the ASGI scope

    async def handle(self, request: web.BaseRequest, fn, path: str, plain) -> web.StreamResponse | None:
        """The response, or None when the direct path does not apply now."""
        budget = fn.options.timeout_s or 300.0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        while True:
            c, reachable = self.cp.web_target(fn)
            if c is not None:
                break
            if not reachable:
                return None
            remaining = deadline - loop.time()
            if remaining <= 0:
                return plain(504, f"{fn.definition.function_name} had no free container within its timeout of {budget:g} s")
            await self.cp.web_wait(fn, min(remaining, 1.0))
        self.cp.web_begin(fn, c)
        began = loop.time()
        exchange = _Exchange(c)
        try:
            async with asyncio.timeout_at(deadline):
                return await self._forward(request, fn, exchange, path, plain)
        except TimeoutError:
            exchange.discard()
            if exchange.response is None:
                return plain(504, f"{fn.definition.function_name} did not complete its response within its timeout of {budget:g} s")
            exchange.cut_client(request)  # the response has started: the client must not mistake it for a whole one
            return exchange.response
        except DirectPathUnavailable as exc:
            log.warning("container %s: its web listener is unreachable (%s); its requests go as inputs", c.container_id, exc)
            c.web_port = 0
            return None
        except BaseException:
            exchange.discard()
            raise
        finally:
            self.cp.web_end(fn, c, loop.time() - began)

    # -- one request -----------------------------------------------------------------------------
    def _head(self, request: web.BaseRequest, path: str) -> bytes:
        target = path + ("?" + request.query_string if request.query_string else "")
        peer = request.transport.get_extra_info("peername") if request.transport is not None else None
        client = f"{peer[0]} {peer[1]}" if peer else "- 0"
        forwarded = f"{client} {request.scheme} {request.version.major}.{request.version.minor} {self.server[0]} {self.server[1]}"
        lines = [f"{request.method} {target} HTTP/1.1".encode("latin-1")]
        lines += [k + b": " + v for k, v in request.raw_headers if k.decode("latin-1").lower() not in HOP_BY_HOP and k.lower() != b"content-length"]
        lines.append(b"squall-forwarded: " + forwarded.encode("latin-1"))
        return b"\r\n".join(lines)

    async def _forward(self, request: web.BaseRequest, fn, ex: _Exchange, path: str, plain) -> web.StreamResponse:
        c = ex.c
        head = self._head(request, path)
        length = request.content_length
        chunked = length is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        body: bytes | None = None
        if not chunked and (length or 0) <= INLINE_BODY:
            body = await request.read() if length else b""
        # Sent again on a fresh connection when a pooled one turns out closed: only what is safe to repeat.
        may_retry = body is not None and request.method in IDEMPOTENT
        for attempt in range(2):  # a pooled connection the container closed meanwhile: once more on a fresh one
            reused = bool(c.web_pool)
            ex.take(c.web_pool.pop() if reused else await self._connect(c))
            try:
                if body is not None:
                    ex.writer.write(head + b"\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
                else:
                    await self._send_streamed_body(request, ex.writer, head, length)
                response_head = await ex.reader.readuntil(b"\r\n\r\n")
                break
            except asyncio.IncompleteReadError as exc:
                ex.discard()
                if reused and not exc.partial and may_retry and attempt == 0 and c.state == "running":
                    continue
                return self._broken(fn, c, ConnectionResetError("the container closed the connection"), plain)
            except asyncio.LimitOverrunError:
                ex.discard()
                return plain(502, f"{fn.definition.function_name} sent a response head over {READ_LIMIT} bytes")
            except (ConnectionError, OSError) as exc:
                ex.discard()
                if reused and may_retry and attempt == 0 and c.state == "running":
                    continue
                return self._broken(fn, c, exc, plain)
        return await self._relay(request, fn, ex, response_head, plain)

    async def _connect(self, c) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        address = self.cp.web_address(c)
        if address is None:
            raise DirectPathUnavailable("it has no address")
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*address, limit=READ_LIMIT), CONNECT_TIMEOUT_S)
        except (TimeoutError, OSError) as exc:
            if c.state != "running":
                raise ConnectionResetError(f"container {c.container_id} is {c.state}") from exc
            raise DirectPathUnavailable(f"{address[0]}:{address[1]}: {exc or type(exc).__name__}") from exc
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return reader, writer

    @staticmethod
    async def _send_streamed_body(request: web.BaseRequest, writer: asyncio.StreamWriter, head: bytes, length: int | None) -> None:
        if length is not None:
            writer.write(head + b"\r\ncontent-length: %d\r\n\r\n" % length)
            async for piece in request.content.iter_chunked(BODY_PIECE):
                writer.write(piece)
                await writer.drain()
            return
        writer.write(head + b"\r\ntransfer-encoding: chunked\r\n\r\n")
        async for piece in request.content.iter_chunked(BODY_PIECE):
            writer.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")

    async def _relay(self, request, fn, ex: _Exchange, response_head: bytes, plain) -> web.StreamResponse:
        """Pass the container's response on: whole when small and complete, else streamed."""
        reader, c = ex.reader, ex.c
        lines = response_head.decode("latin-1").split("\r\n")
        parts = lines[0].split(None, 2)
        try:
            status = int(parts[1])
        except (IndexError, ValueError):
            ex.discard()
            return plain(502, f"{fn.definition.function_name} answered {lines[0][:80]!r}, not HTTP")
        headers: list[tuple[str, str]] = []
        length: int | None = None
        chunked = close = False
        for line in lines[1:]:
            if not line:
                continue
            k, _, v = line.partition(":")
            k, v = k.strip(), v.strip()
            lk = k.lower()
            if lk == "content-length":
                length = int(v)
            elif lk == "transfer-encoding":
                chunked = "chunked" in v.lower()
            elif lk == "connection":
                close = "close" in v.lower()
            elif lk not in HOP_BY_HOP:
                headers.append((k, v))
        no_body = request.method == "HEAD" or status in (204, 304) or 100 <= status < 200
        if no_body or (length is not None and length <= RESPONSE_PIECE):
            try:
                data = b"" if no_body else await reader.readexactly(length or 0)
            except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
                ex.discard()
                return self._broken(fn, c, exc, plain)
            ex.release(close)
            response = web.Response(status=status, body=None if no_body else data)
            for k, v in headers:
                response.headers.add(k, v)
            if no_body and length is not None:
                response.headers["Content-Length"] = str(length)
            return response
        response = ex.response = web.StreamResponse(status=status)
        for k, v in headers:
            response.headers.add(k, v)
        if length is not None:
            response.content_length = length
        await response.prepare(request)
        try:
            if chunked:
                while True:
                    size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        await reader.readline()
                        break
                    await response.write(await reader.readexactly(size))
                    await reader.readexactly(2)
            elif length is not None:
                left = length
                while left:
                    piece = await reader.read(min(left, RESPONSE_PIECE))
                    if not piece:
                        raise ConnectionResetError("the container closed the connection mid-response")
                    left -= len(piece)
                    await response.write(piece)
            else:  # until the container closes the connection
                close = True
                while piece := await reader.read(RESPONSE_PIECE):
                    await response.write(piece)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            ex.discard()
            log.warning("%s: the response from container %s broke off: %r", fn.definition.function_name, c.container_id, exc)
            ex.cut_client(request)
            return response
        ex.release(close)
        await response.write_eof()
        return response

    @staticmethod
    def _broken(fn, c, exc: BaseException, plain) -> web.Response:
        why = c.stop_reason or f"the connection to it broke ({exc!r})"
        return plain(502, f"{fn.definition.function_name} could not answer: its container {c.container_id} failed: {why}")


class _Exchange:
    """One request's connection to a container (its writer is in c.web_conns while in use, so a
    container that exits aborts it) and the response, once it has started."""

    def __init__(self, c) -> None:
        self.c = c
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.response: web.StreamResponse | None = None

    def take(self, conn) -> None:
        self.reader, self.writer = conn
        self.c.web_conns.add(self.writer)

    def release(self, close: bool) -> None:
        """Done with the connection: back to the pool if it can carry another request."""
        c, writer = self.c, self.writer
        if writer is None:
            return
        c.web_conns.discard(writer)
        self.writer = None
        if close or c.state != "running" or len(c.web_pool) >= MAX_POOL or self.reader.at_eof():
            writer.transport.abort()
        else:
            c.web_pool.append((self.reader, writer))

    def discard(self) -> None:
        """Done with the connection, which cannot be reused; closing it stops the app's handler."""
        if self.writer is not None:
            self.c.web_conns.discard(self.writer)
            self.writer.transport.abort()
            self.writer = None

    @staticmethod
    def cut_client(request: web.BaseRequest) -> None:
        if request.transport is not None:
            request.transport.abort()
