"""The container side of web endpoints: turn the user's function into an ASGI app, and run
one HTTP request (an input) through it as an async generator of response pieces (outputs).

The gateway sends each request as one input: `{"scope": <ASGI HTTP scope>, "body": bytes}`.
The handler yields `(status, headers, body_chunk, more_body)` tuples; the first carries the
status and headers, the rest have None there. `more_body=False` ends the response. Streaming
responses (SSE) yield as the app sends, so each chunk reaches the client as it is produced.

Per kind:
- fastapi_endpoint: a FastAPI app with the function as its one route at "/" (needs fastapi in
  the image);
- asgi_app: the function is called once and returns the app (its lifespan startup runs then);
  WebSockets work too: the connection is one input, the app's messages are its outputs, and
  the client's messages are fetched from the server (WebSocketService) as the app receives;
- wsgi_app: the function returns a WSGI app, run in a thread per request;
- web_server: the function starts a server on `port`; once the port opens (within
  startup_timeout) requests are forwarded to 127.0.0.1:port over HTTP/1.1.

Only the standard library is used here: it runs in every container.
"""

from __future__ import annotations

import asyncio
import io
import socket
import sys
import threading
import time
import traceback

HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade", b"proxy-connection"}
MAX_PIECE = 1024 * 1024  # bytes of response body per output
HEADERS_ALONE_AFTER_S = 0.01  # a response that sends headers and then waits (SSE) gets its headers out first


class WebHandler:
    def __init__(self, endpoint, raw, run_in_loop):
        self.endpoint = endpoint
        kind = endpoint.kind
        if kind == "asgi_app":
            self.app = raw()
            if self.app is None or not callable(self.app):
                raise TypeError(f"@asgi_app function {raw.__name__} must return an ASGI app (e.g. a FastAPI() instance), not {self.app!r}")
            run_in_loop(_lifespan_startup(self.app))
        elif kind == "wsgi_app":
            wsgi = raw()
            if wsgi is None or not callable(wsgi):
                raise TypeError(f"@wsgi_app function {raw.__name__} must return a WSGI app (e.g. a Flask() instance), not {wsgi!r}")
            self.app = WsgiApp(wsgi)
        elif kind == "fastapi_endpoint":
            self.app = _fastapi_app(raw, endpoint)
            run_in_loop(_lifespan_startup(self.app))
        elif kind == "web_server":
            raw()
            _wait_for_port(endpoint.port, endpoint.startup_timeout_s or 5.0)
            self.app = PortProxy(endpoint.port)
        else:
            raise ValueError(f"unknown web endpoint kind {kind!r}")

    async def handle(self, request: dict):
        """One request: yields (status, headers, chunk, more_body) as the app answers (for a
        WebSocket: ("accept"|"send"|"close", ...) as the app sends)."""
        if request["scope"]["type"] == "websocket":
            async for item in self._websocket(request):
                yield item
            return
        scope, body, body_key = request["scope"], request["body"], request.get("body_key")
        messages: asyncio.Queue = asyncio.Queue()
        finished = asyncio.Event()
        body_sent = False
        pieces: list[dict] = []
        loop = asyncio.get_running_loop()

        async def receive():
            nonlocal body_sent
            if not body_sent:
                if body_key is None:
                    body_sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                while not pieces:  # a large body: fetched from the gateway as the app reads it
                    pieces.extend(await loop.run_in_executor(None, _fetch_socket_messages, body_key))
                msg = pieces.pop(0)
                if msg["type"] != "http.request":  # the request is gone (the client left)
                    body_sent = True
                    return {"type": "http.disconnect"}
                body_sent = not msg["more_body"]
                return msg
            await finished.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            await messages.put(message)

        task = asyncio.ensure_future(self.app(scope, receive, send))
        status = headers = None
        started = False
        try:
            while True:
                getter = asyncio.ensure_future(messages.get())
                timeout = HEADERS_ALONE_AFTER_S if status is not None and not started else None
                await asyncio.wait({getter, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    if not task.done():  # headers are ready and the body is slow to come: send the headers now
                        yield status, headers, b"", True
                        started = True
                        continue
                    if not messages.empty():
                        continue
                    exc = task.exception()
                    if exc is not None:
                        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
                    if status is None:
                        why = f"the app raised {type(exc).__name__}: {exc}" if exc is not None else "the app returned without sending a response"
                        yield 500, [(b"content-type", b"text/plain; charset=utf-8")], f"Internal Server Error: {why}\n".encode(), False
                    else:
                        yield (None, None, b"", False) if started else (status, headers, b"", False)
                    return
                msg = getter.result()
                kind = msg.get("type")
                if kind == "http.response.start":
                    status, headers = msg["status"], [(bytes(k), bytes(v)) for k, v in msg.get("headers", [])]
                elif kind == "http.response.body":
                    more = bool(msg.get("more_body", False))
                    chunk = bytes(msg.get("body", b""))
                    if status is None:
                        raise RuntimeError("the app sent a response body before http.response.start")
                    # Pieces of at most MAX_PIECE: an output that large would travel as a blob reference.
                    for i in range(0, max(1, len(chunk)), MAX_PIECE):
                        piece, last = chunk[i : i + MAX_PIECE], i + MAX_PIECE >= len(chunk)
                        yield (None, None, piece, more or not last) if started else (status, headers, piece, more or not last)
                        started = True
                    if not more:
                        return
        except BaseException:  # cancelled (the client went away) or failed: stop the app's handler now
            task.cancel()
            raise
        finally:
            finished.set()  # the app's next receive() says http.disconnect
            if not task.done():
                try:
                    await asyncio.wait_for(task, 5.0)
                except BaseException:  # noqa: BLE001 - the response is complete; a slow or failing tail is the app's
                    pass


    async def _websocket(self, request: dict):
        scope, key = request["scope"], request["socket_key"]
        loop = asyncio.get_running_loop()
        outgoing: asyncio.Queue = asyncio.Queue()
        incoming: list[dict] = []
        connected = False

        async def receive():
            nonlocal connected
            if not connected:
                connected = True
                return {"type": "websocket.connect"}
            while not incoming:
                incoming.extend(await loop.run_in_executor(None, _fetch_socket_messages, key))
            return incoming.pop(0)

        async def send(message):
            await outgoing.put(message)

        task = asyncio.ensure_future(self.app(scope, receive, send))
        try:
            while True:
                getter = asyncio.ensure_future(outgoing.get())
                await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    msg = getter.result()
                    kind = msg.get("type")
                    if kind == "websocket.accept":
                        yield "accept", msg.get("subprotocol"), None
                    elif kind == "websocket.send":
                        yield "send", msg.get("text"), msg.get("bytes")
                    elif kind == "websocket.close":
                        yield "close", msg.get("code", 1000), msg.get("reason") or ""
                    continue
                getter.cancel()
                if not outgoing.empty():
                    continue
                exc = task.exception()
                if exc is not None:
                    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
                    yield "close", 1011, f"{type(exc).__name__}: {exc}"[:120]
                return
        finally:
            if not task.done():
                task.cancel()


_socket_stub = None


def _fetch_socket_messages(key: str) -> list[dict]:
    """What the WebSocket's client sent since the last call (waits up to 20 s for something)."""
    global _socket_stub
    import os

    import grpc

    from squall import config
    from squall._proto.squall.v1 import web_pb2, web_pb2_grpc

    md = (("x-squall-container-token", os.environ[config.ENV_CONTAINER_TOKEN]),)
    if _socket_stub is None:
        _socket_stub = web_pb2_grpc.WebSocketServiceStub(grpc.insecure_channel(os.environ[config.ENV_CONTAINER_SERVER], options=config.grpc_options()))
    try:
        resp = _socket_stub.WebSocketReceive(web_pb2.WebSocketReceiveRequest(socket_key=key, wait_s=20.0), metadata=md, timeout=40)
    except grpc.RpcError:
        return [{"type": "websocket.disconnect", "code": 1006}]
    out = []
    for m in resp.messages:
        if m.type == "http.request":
            out.append({"type": "http.request", "body": m.data, "more_body": True})
        elif m.type == "http.request.end":
            out.append({"type": "http.request", "body": b"", "more_body": False})
        elif m.type == "websocket.disconnect":
            out.append({"type": "websocket.disconnect", "code": m.code or 1005})
        elif m.is_text:
            out.append({"type": "websocket.receive", "text": m.text})
        else:
            out.append({"type": "websocket.receive", "bytes": m.data})
    return out


async def _lifespan_startup(app) -> None:
    """Run the app's lifespan startup (FastAPI on_startup / lifespan); apps without lifespan
    support simply raise or return, which is fine."""
    to_app: asyncio.Queue = asyncio.Queue()
    from_app: asyncio.Queue = asyncio.Queue()
    await to_app.put({"type": "lifespan.startup"})

    async def receive():
        return await to_app.get()

    async def send(message):
        await from_app.put(message)

    task = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}, receive, send))
    getter = asyncio.ensure_future(from_app.get())
    await asyncio.wait({task, getter}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if getter.done():
        msg = getter.result()
        if msg.get("type") == "lifespan.startup.failed":
            raise RuntimeError(f"the app's lifespan startup failed: {msg.get('message', '')}")
    else:
        getter.cancel()
        if task.done() and task.exception() is not None:
            task.exception()  # no lifespan support: that is allowed


def _fastapi_app(raw, endpoint):
    try:
        from fastapi import FastAPI
    except ImportError:
        raise ImportError("@fastapi_endpoint needs fastapi in the function's image: use e.g. "
                          "image=squall.Image.debian_slim().pip_install(\"fastapi[standard]\")") from None
    app = FastAPI(openapi_url="/openapi.json" if endpoint.docs else None, docs_url="/docs" if endpoint.docs else None, redoc_url=None)
    app.add_api_route("/", raw, methods=[endpoint.method or "GET"])
    return app


def _wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"@web_server(port={port}): nothing listened on port {port} within startup_timeout={timeout:g} s; "
                                   f"start the server in the function (e.g. subprocess.Popen([...])) listening on 0.0.0.0:{port}, "
                                   f"or raise startup_timeout") from None
            time.sleep(0.05)


async def _read_body(receive) -> bytes:
    """The whole request body of an ASGI http request."""
    parts = []
    while True:
        msg = await receive()
        parts.append(msg.get("body", b""))
        if not msg.get("more_body"):
            return b"".join(parts)


class PortProxy:
    """An ASGI app that forwards each request to an HTTP server on 127.0.0.1:port."""

    def __init__(self, port: int):
        self.port = port

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            target = scope["path"] + (("?" + scope["query_string"].decode("latin-1")) if scope.get("query_string") else "")
            lines = [f"{scope['method']} {target} HTTP/1.1".encode("latin-1")]
            for k, v in scope["headers"]:
                if k.lower() not in HOP_BY_HOP and k.lower() != b"content-length":
                    lines.append(k + b": " + v)
            lines += [b"content-length: " + str(len(body)).encode(), b"connection: close", b"", b""]
            writer.write(b"\r\n".join(lines) + body)
            await writer.drain()
            status_line = await reader.readline()
            parts = status_line.split(None, 2)
            if len(parts) < 2 or not parts[1].isdigit():
                raise ConnectionError(f"the server on port {self.port} answered {status_line[:80]!r}, not HTTP")
            headers, length, chunked = [], None, False
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                k, _, v = line.rstrip(b"\r\n").partition(b":")
                k, v = k.strip().lower(), v.strip()
                if k == b"content-length":
                    length = int(v)
                if k == b"transfer-encoding" and b"chunked" in v.lower():
                    chunked = True
                if k not in HOP_BY_HOP:
                    headers.append((k, v))
            await send({"type": "http.response.start", "status": int(parts[1]), "headers": headers})
            if scope["method"] == "HEAD":
                pass
            elif chunked:
                while True:
                    size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        break
                    data = await reader.readexactly(size)
                    await reader.readline()
                    await send({"type": "http.response.body", "body": data, "more_body": True})
            elif length is not None:
                remaining = length
                while remaining > 0:
                    data = await reader.read(min(remaining, 1 << 16))
                    if not data:
                        break
                    remaining -= len(data)
                    await send({"type": "http.response.body", "body": data, "more_body": True})
            else:
                while data := await reader.read(1 << 16):
                    await send({"type": "http.response.body", "body": data, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            writer.close()


class WsgiApp:
    """WSGI under ASGI: the app runs in a thread; its body chunks stream back as they come."""

    def __init__(self, wsgi):
        self.wsgi = wsgi

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        loop = asyncio.get_running_loop()
        out: asyncio.Queue = asyncio.Queue()
        environ = _environ(scope, body)

        def run() -> None:
            started: list = []

            def start_response(status, response_headers, exc_info=None):
                started[:] = [int(status.split()[0]), [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response_headers]]
                return lambda data: loop.call_soon_threadsafe(out.put_nowait, ("body", bytes(data)))

            try:
                result = self.wsgi(environ, start_response)
                try:
                    for chunk in result:
                        if started:
                            loop.call_soon_threadsafe(out.put_nowait, ("start", started[:]))
                            started.clear()
                        if chunk:
                            loop.call_soon_threadsafe(out.put_nowait, ("body", bytes(chunk)))
                finally:
                    if hasattr(result, "close"):
                        result.close()
                if started:
                    loop.call_soon_threadsafe(out.put_nowait, ("start", started[:]))
                loop.call_soon_threadsafe(out.put_nowait, ("end", None))
            except BaseException as exc:  # noqa: BLE001 - reported as a 500 below
                loop.call_soon_threadsafe(out.put_nowait, ("error", exc))

        threading.Thread(target=run, daemon=True, name="squall-wsgi").start()
        while True:
            kind, value = await out.get()
            if kind == "start":
                await send({"type": "http.response.start", "status": value[0], "headers": value[1]})
            elif kind == "body":
                await send({"type": "http.response.body", "body": value, "more_body": True})
            elif kind == "end":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            else:
                raise value


def _environ(scope, body: bytes) -> dict:
    environ = {
        "REQUEST_METHOD": scope["method"], "SCRIPT_NAME": scope.get("root_path", ""), "PATH_INFO": scope["path"],
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"), "SERVER_NAME": (scope.get("server") or ("localhost", 80))[0],
        "SERVER_PORT": str((scope.get("server") or ("localhost", 80))[1]), "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": (scope.get("client") or ("", 0))[0], "wsgi.version": (1, 0), "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
    }
    for k, v in scope["headers"]:
        name = k.decode("latin-1").upper().replace("-", "_")
        if name == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = v.decode("latin-1")
        elif name != "CONTENT_LENGTH":
            key = "HTTP_" + name
            environ[key] = environ[key] + "," + v.decode("latin-1") if key in environ else v.decode("latin-1")
    return environ
