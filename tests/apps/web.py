"""Web endpoints the gateway tests call over HTTP: plain ASGI and WSGI callables (no FastAPI
in the image), a @web_server, a streamed SSE response, a WebSocket echo, and a proxy-auth endpoint. The tests
rewrite GREETING in a copy of this file to deploy or serve a changed version."""

import json
import subprocess
import sys

import modal  # resolves to squall: the file is written as a Modal user would

app = modal.App("webtest")

GREETING = "hello"


async def _body(receive) -> bytes:
    data = b""
    while True:
        msg = await receive()
        data += msg.get("body", b"")
        if not msg.get("more_body"):
            return data


async def websocket_echo(scope, receive, send):
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        msg = await receive()
        if msg["type"] == "websocket.disconnect":
            return
        if msg.get("text") == "close":
            await send({"type": "websocket.close", "code": 4000, "reason": "asked to"})
            return
        if msg.get("text") is not None:
            await send({"type": "websocket.send", "text": f"{GREETING}: {msg['text']} ({scope['path']})"})
        else:
            await send({"type": "websocket.send", "bytes": msg["bytes"][::-1]})


def _asgi():
    async def asgi(scope, receive, send):
        if scope["type"] == "websocket":
            await websocket_echo(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        body = await _body(receive)
        if scope["path"] == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
            n = int(dict(p.split("=") for p in scope["query_string"].decode().split("&") if p).get("n", "3"))
            import asyncio

            try:
                for i in range(n):
                    await send({"type": "http.response.body", "body": f"data: event {i}\n\n".encode(), "more_body": True})
                    await asyncio.sleep(0.3)
            except asyncio.CancelledError:  # the client went away: the tests look for this mark
                await modal.Dict.from_name("webtest-events", create_if_missing=True).put.aio("stream-cancelled", scope["query_string"].decode())
                raise
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if scope["path"] == "/big":  # a large response; answers with the request body's size in a header
            n = int(scope["query_string"].decode().split("=")[1])
            await send({"type": "http.response.start", "status": 200, "headers": [(b"x-request-bytes", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": b"x" * n})
            return
        if scope["path"] == "/sleep":  # a slow request; says which container served it, and when
            import asyncio
            import os
            import time

            start = time.time()
            await asyncio.sleep(float(scope["query_string"].decode().split("=")[1]))
            served = {"container": os.environ["SQUALL_CONTAINER_ID"], "start": start, "end": time.time()}
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": json.dumps(served).encode()})
            return
        if scope["path"] == "/boom":
            raise RuntimeError("the app broke on purpose")
        info = {"greeting": GREETING, "method": scope["method"], "path": scope["path"], "query": scope["query_string"].decode(),
                "body": body.decode(), "headers": {k.decode(): v.decode() for k, v in scope["headers"] if k.startswith(b"x-")}}
        payload = json.dumps(info).encode()
        await send({"type": "http.response.start", "status": 201 if scope["method"] == "POST" else 200,
                    "headers": [(b"content-type", b"application/json"), (b"x-served-by", b"asgi")]})
        await send({"type": "http.response.body", "body": payload})

    return asgi


@app.function(scaledown_window=2)
@modal.asgi_app()
def api():
    return _asgi()


@app.function()
@modal.asgi_app(label="private", requires_proxy_auth=True)
def private():
    return _asgi()


@app.function()
@modal.wsgi_app()
def wsgi():
    def application(environ, start_response):
        body = environ["wsgi.input"].read().decode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{GREETING} from wsgi {environ['REQUEST_METHOD']} {environ['PATH_INFO']} {body}".encode()]

    return application


@app.function()
@modal.web_server(8000, startup_timeout=10)
def files():
    subprocess.Popen([sys.executable, "-m", "http.server", "8000", "--bind", "127.0.0.1", "--directory", "/opt/squall/app"])


@app.function()
@modal.web_server(8001, startup_timeout=1)
def never_listens():
    pass  # forgets to start its server


@app.cls()
class Greeter:
    """A web endpoint on a class: @enter runs first, then the method builds the app."""

    @modal.enter()
    def load(self):
        self.loaded = f"{GREETING} from a class"

    @modal.asgi_app(label="greeter")
    def web(self):
        async def asgi(scope, receive, send):
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": self.loaded.encode()})

        return asgi

    @modal.method()
    def ping(self) -> str:
        return "pong"


@app.function()
def plain(x: int) -> int:
    return x + 1


@app.function()
def url_of(name: str) -> str:
    """A container asks for a web endpoint's URL."""
    return modal.Function.from_name(app.name, name).get_web_url()
