"""Web endpoints the gateway tests call over HTTP: plain ASGI and WSGI callables (no FastAPI
in the image), a @web_server, a streamed SSE response, and a proxy-auth endpoint. The tests
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


def _asgi():
    async def asgi(scope, receive, send):
        if scope["type"] != "http":
            return
        body = await _body(receive)
        if scope["path"] == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
            n = int(dict(p.split("=") for p in scope["query_string"].decode().split("&") if p).get("n", "3"))
            import asyncio

            for i in range(n):
                await send({"type": "http.response.body", "body": f"data: event {i}\n\n".encode(), "more_body": True})
                await asyncio.sleep(0.3)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
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


@app.function()
def plain(x: int) -> int:
    return x + 1
