"""The HTTP gateway: web endpoint requests in, to the function's containers, responses out.

It runs in the server process (aiohttp's low-level server) beside the gRPC API.

Routing. A web function of app A with label L answers at
    http://<gateway>/A/L/<path>        the path form, on any host name (what get_web_url() returns)
    http://A-L.<domain>/<path>         the host form, when the server runs with --web-domain DOMAIN
Apps that are not deployed (`squall run`, `squall serve`) use the label `L-dev`. A deployed app
routes to its current version only; a redeploy switches new requests to the new version while
requests already queued finish on the old one (the control plane's rolling update).

Data paths. Once a container of the function is ready and reachable from here, a request goes
straight to it: proxied over keep-alive HTTP/1.1 to the agent's own listener in the container's
network namespace, counted per container for autoscaling and @concurrent (server/web_proxy.py,
the direct path). Otherwise (scaling from zero, WebSockets, containers without a network, or
on another machine) the input path: a request becomes one input of the function: its ASGI
scope and its body (read in full when it is small; a body over STREAM_BODY_OVER, or chunked,
streams instead: the container fetches its pieces as the app reads them, with backpressure).
The container's agent runs the app (container/web.py) and streams the response back as
generator outputs, (status, headers, chunk, more_body) each; the gateway writes every chunk as
it arrives, so Server-Sent Events stream. Because requests are inputs, they queue like any
input: a function with no container scales from zero while the gateway holds the request, and
no network path into the container is needed (it works the same under runc and gVisor).
WebSockets (@asgi_app only) are one input for the whole connection: the app's messages
come back as outputs, and the client's wait here until the container fetches them
(WebSocketService.WebSocketReceive, a long poll). A connection holds one of the container's
input slots and is subject to the function's timeout.

Timeouts. The first response bytes must come within the function's startup_timeout (or
STARTUP_ALLOWANCE_S) plus its timeout, else 504; a container that cannot start fails the
request with 502 and the reason (e.g. a @web_server port that never opened).

Auth. Endpoints are public unless `requires_proxy_auth=True`: then the request needs the
headers Modal-Key / Modal-Secret (or Squall-Key / Squall-Secret) of a proxy token made with
`squall token create-proxy`; anything else gets 401.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import secrets
import socket
import time

from aiohttp import WSMsgType, web

from squall import config
from squall._proto.squall.v1 import api_pb2
from squall._proto.squall.v1 import common_pb2 as pb
from squall._proto.squall.v1 import web_pb2
from squall.sdk.web import DEV_SUFFIX
from squall.server.web_proxy import DirectProxy
from squall.server.web_state import WebState

log = logging.getLogger("squall.gateway")

MAX_BODY = 32 * 1024 * 1024  # bodies up to STREAM_BODY_OVER travel inside the input; larger ones stream, without a limit
STREAM_BODY_OVER = 1024 * 1024
BODY_PIECE = 256 * 1024
STARTUP_ALLOWANCE_S = 120.0
REBUILD_MIN_S = 0.05  # unknown routes rebuild the table at most this often


def _plain(status: int, text: str, headers: dict | None = None) -> web.Response:
    return web.Response(status=status, text=text.rstrip("\n") + "\n", content_type="text/plain", headers=headers)


class Gateway:
    def __init__(self, cp, state: WebState, host: str, port: int | None, domain: str | None = None):
        self.cp = cp
        self.state = state
        self.host = host
        self.requested_port = port
        self.domain = (domain or "").strip(".").lower() or None
        self.port = 0
        self._routes: dict[tuple[str, str], str] = {}  # (app name, effective label) -> function id
        self._apps: dict[str, tuple[str, bool]] = {}  # app id -> (name, ephemeral)
        self._rebuilt_at = 0.0
        self._runner: web.ServerRunner | None = None
        self.sockets: dict[str, asyncio.Queue] = {}  # WebSocket key -> what its client sent, for the container to fetch
        self.direct: DirectProxy | None = None  # the direct path to ready containers (server/web_proxy.py)

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> int:
        port = self.requested_port
        if port is None:  # the default port, or any free one when another server holds it
            port = config.DEFAULT_HTTP_PORT if _port_free(self.host, config.DEFAULT_HTTP_PORT) else 0
        server = web.Server(self._handle, access_log=None)
        self._runner = web.ServerRunner(server)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, port, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self.direct = DirectProxy(self.cp, (self.host, self.port))
        log.info("HTTP gateway listening on %s", self.url)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- routes --------------------------------------------------------------------------------
    def _app_info(self, app_id: str) -> tuple[str, bool]:
        info = self._apps.get(app_id)
        if info is None:
            row = self.cp.store.find_app(app_id)
            info = self._apps[app_id] = (row.name, bool(row.ephemeral)) if row is not None else ("", True)
        return info

    def route_of(self, fn) -> tuple[str, str]:
        name, ephemeral = self._app_info(fn.app_id)
        return name, fn.definition.web.label + (DEV_SUFFIX if ephemeral else "")

    def url_for(self, fn) -> str:
        app_name, label = self.route_of(fn)
        if self.domain:
            port = "" if self.port == 80 else f":{self.port}"
            return f"http://{app_name}-{label}.{self.domain}{port}"
        return f"{self.url}/{app_name}/{label}"

    def _rebuild(self) -> None:
        routes: dict[tuple[str, str], str] = {}
        current: dict[str, set[str] | None] = {}
        for fn in list(self.cp.functions.values()):
            if not fn.definition.HasField("web") or fn.parent_id is not None or fn.retired or fn.app_id not in self.cp.running_apps:
                continue
            name, ephemeral = self._app_info(fn.app_id)
            if not ephemeral:  # a deployed app serves its current version only, not one being deployed
                if fn.app_id not in current:
                    row = self.cp.store.current_app_version(fn.app_id)
                    current[fn.app_id] = set(row.function_ids.values()) if row is not None else set()
                if fn.function_id not in current[fn.app_id]:
                    continue
            routes[self.route_of(fn)] = fn.function_id  # the newest wins (functions are kept in creation order)
        if routes != self._routes:
            log.info("web routes: %s", ", ".join(f"/{a}/{label} -> {fid}" for (a, label), fid in sorted(routes.items())) or "none")
        self._routes = routes
        self._rebuilt_at = time.monotonic()

    def _valid(self, function_id: str | None):
        fn = self.cp.functions.get(function_id) if function_id else None
        if fn is None or fn.app_id not in self.cp.running_apps:
            return None
        return self.cp.current_function(fn) if fn.retired else fn

    def resolve(self, app_name: str, label: str):
        fn = self._valid(self._routes.get((app_name, label)))
        if fn is None and time.monotonic() - self._rebuilt_at >= REBUILD_MIN_S:
            self._rebuild()
            fn = self._valid(self._routes.get((app_name, label)))
        return fn

    def _match(self, request: web.BaseRequest):
        """(function, path inside the app, root path) or None."""
        host = (request.host or "").split(":")[0].lower()
        if self.domain and host.endswith("." + self.domain):
            fn = self._resolve_host(host[: -len(self.domain) - 1])
            if fn is not None:
                return fn, request.raw_path.split("?", 1)[0] or "/", ""
        parts = request.raw_path.split("?", 1)[0].split("/", 3)
        if len(parts) < 3 or not parts[1] or not parts[2]:
            return None
        fn = self.resolve(parts[1], parts[2])
        if fn is None:
            return None
        rest = "/" + (parts[3] if len(parts) > 3 else "")
        return fn, rest, ""

    def _resolve_host(self, sub: str):
        for attempt in range(2):
            for (app_name, label), fid in self._routes.items():
                if f"{app_name}-{label}" == sub:
                    fn = self._valid(fid)
                    if fn is not None:
                        return fn
            if attempt == 0 and time.monotonic() - self._rebuilt_at >= REBUILD_MIN_S:
                self._rebuild()
        return None

    # -- requests ------------------------------------------------------------------------------
    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        matched = self._match(request)
        if matched is None:
            return _plain(404, f"no web endpoint at {request.path}; endpoints live at /<app>/<label>/ "
                               f"(`squall deploy` prints them; apps run with `squall run`/`squall serve` use <label>-dev)")
        fn, path, root_path = matched
        endpoint = fn.definition.web
        if endpoint.requires_proxy_auth and not self._authorized(request):
            return _plain(401, "this endpoint requires proxy auth: send the headers Modal-Key and Modal-Secret (or Squall-Key and Squall-Secret) "
                               "of a token from `squall token create-proxy`", headers={"WWW-Authenticate": "Modal-Key"})
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request, fn, path)
        if self.direct is not None:
            response = await self.direct.handle(request, fn, path, _plain)
            if response is not None:
                return response
        scope = {"type": "http", "method": request.method, "scheme": request.scheme, **self._scope(request, path, root_path)}
        chunked = request.content_length is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        key = pump = None
        if chunked or (request.content_length or 0) > STREAM_BODY_OVER:
            # A large body streams: the container fetches it in pieces as the app reads (WebSocketService),
            # and a bounded queue keeps the gateway from reading far ahead of it.
            key = secrets.token_urlsafe(24)
            self.sockets[key] = inbox = asyncio.Queue(maxsize=16)
            pump = asyncio.create_task(_pump_body(request, inbox))
            payload = {"scope": scope, "body": b"", "body_key": key}
        else:
            body = await self._read_body(request)
            if isinstance(body, web.StreamResponse):
                return body
            payload = {"scope": scope, "body": body}
        args = pickle.dumps(((payload,), {}), protocol=4)
        call = self.cp.create_call(fn, api_pb2.GENERATOR, [pb.Input(idx=0, args=args, method_name=fn.definition.web.class_method)])
        try:
            return await self._respond(request, fn, call)
        finally:
            self.cp.calls.pop(call.call_id, None)  # its outputs stay in the store; nothing waits on them now
            if pump is not None:
                pump.cancel()
                self.sockets.pop(key, None)

    def _scope(self, request: web.BaseRequest, path: str, root_path: str) -> dict:
        return {
            "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": f"{request.version.major}.{request.version.minor}",
            "path": path, "raw_path": path.encode(), "query_string": request.query_string.encode("latin-1"), "root_path": root_path,
            "headers": [(k.lower(), v) for k, v in request.raw_headers], "client": _peer(request), "server": (self.host, self.port),
        }

    async def _websocket(self, request: web.BaseRequest, fn, path: str) -> web.StreamResponse:
        """A WebSocket: one input whose outputs are ("accept"|"send"|"close", ...) from the app;
        the client's messages wait in self.sockets[key] for the container's WebSocketReceive."""
        if fn.definition.web.kind != "asgi_app":
            return _plain(501, f"{fn.definition.function_name} is a {fn.definition.web.kind}; WebSockets need an @asgi_app")
        key = secrets.token_urlsafe(24)
        inbox: asyncio.Queue = asyncio.Queue()
        self.sockets[key] = inbox
        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        scope = {"type": "websocket", "scheme": "wss" if request.secure else "ws", "subprotocols": protocols, **self._scope(request, path, "")}
        args = pickle.dumps((({"scope": scope, "body": b"", "socket_key": key},), {}), protocol=4)
        call = self.cp.create_call(fn, api_pb2.GENERATOR, [pb.Input(idx=0, args=args, method_name=fn.definition.web.class_method)])
        o = fn.options
        deadline = time.monotonic() + (o.startup_timeout_s or STARTUP_ALLOWANCE_S) + (o.timeout_s or 300.0)
        ws: web.WebSocketResponse | None = None
        reader: asyncio.Task | None = None
        complete = False
        after = 0
        try:
            while True:
                remaining = deadline - time.monotonic()
                if ws is None and remaining <= 0:
                    return _plain(504, f"{fn.definition.function_name} did not accept the WebSocket in time")
                for out in await self.cp.wait_outputs(call, after, 30.0 if ws is not None else min(remaining, 30.0), 1000):
                    after = out.seq
                    if out.result.status != pb.GENERATOR_ITEM:  # the app returned: the connection is over
                        complete = True
                        if ws is None:
                            return self._error_reply(fn, out.result) if out.result.status != pb.SUCCESS else _plain(403, "the app closed the WebSocket without accepting it")
                        await ws.close()
                        return ws
                    kind, a, b = pickle.loads(out.result.data)
                    if kind == "accept":
                        ws = web.WebSocketResponse(protocols=(a,) if a else ())
                        await ws.prepare(request)
                        reader = asyncio.create_task(_read_socket(ws, inbox))
                    elif kind == "send" and ws is not None:
                        await (ws.send_str(a) if a is not None else ws.send_bytes(b or b""))
                    elif kind == "close":
                        if ws is None:
                            complete = True
                            return _plain(403, f"{fn.definition.function_name} refused the WebSocket (close code {a})")
                        await ws.close(code=a or 1000, message=(b or "").encode())
                        complete = True
                        return ws
        finally:
            if reader is not None:
                reader.cancel()
            self.sockets.pop(key, None)
            self.cp.calls.pop(call.call_id, None)
            if not complete:
                self.cp.cancel_call(call, False)

    def _authorized(self, request: web.BaseRequest) -> bool:
        for key_header, secret_header in (("Modal-Key", "Modal-Secret"), ("Squall-Key", "Squall-Secret")):
            key, secret = request.headers.get(key_header), request.headers.get(secret_header)
            if key and secret and self.state.proxy_token_ok(key, secret):
                return True
        return False

    async def _read_body(self, request: web.BaseRequest):
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _plain(413, f"request body of {request.content_length} bytes is over the gateway's limit of {MAX_BODY} bytes")
        chunks, size = [], 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > MAX_BODY:
                return _plain(413, f"request body is over the gateway's limit of {MAX_BODY} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _respond(self, request: web.BaseRequest, fn, call) -> web.StreamResponse:
        o = fn.options
        budget = (o.startup_timeout_s or STARTUP_ALLOWANCE_S) + (o.timeout_s or 300.0)
        deadline = time.monotonic() + budget
        after = 0
        response: web.StreamResponse | None = None
        complete = False
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if response is None:
                        return _plain(504, f"{fn.definition.function_name} sent no response within {budget:g} s "
                                           f"(startup allowance plus the function's timeout of {o.timeout_s:g} s)")
                    return response
                outs = await self.cp.wait_outputs(call, after, min(remaining, 30.0), 1000)
                for out in outs:
                    after = out.seq
                    result = out.result
                    if result.status == pb.GENERATOR_ITEM:
                        status, headers, chunk, more = pickle.loads(result.data)
                        if response is None:
                            if status is None:
                                continue
                            response = web.StreamResponse(status=status)
                            for k, v in headers:
                                name = k.decode("latin-1")
                                if name.lower() in ("transfer-encoding", "connection", "keep-alive") or (name.lower() == "content-length" and more):
                                    continue  # aiohttp frames the body itself
                                response.headers.add(name, v.decode("latin-1"))
                            if not more and request.method != "HEAD":
                                response.headers["Content-Length"] = str(len(chunk))
                            await response.prepare(request)
                        if chunk:
                            await response.write(chunk)
                        if not more:
                            await response.write_eof()
                            complete = True
                            return response
                        continue
                    # The final output: success ends a response the app left open; an error before any answer is the reply.
                    complete = True
                    if response is not None:
                        await response.write_eof()
                        return response
                    return self._error_reply(fn, result)
        finally:
            if not complete:
                self.cp.cancel_call(call, False)  # the client left, or we gave up: do not run it on

    @staticmethod
    def _error_reply(fn, result: pb.Result) -> web.Response:
        name = fn.definition.function_name
        why = result.exception_repr or pb.ResultStatus.Name(result.status)
        if result.status == pb.SUCCESS:
            return _plain(502, f"{name} returned without sending a response")
        if result.status == pb.TIMEOUT:
            return _plain(504, f"{name} timed out: {why}")
        if result.status in (pb.INIT_FAILURE, pb.TERMINATED):
            return _plain(502, f"{name} could not answer: its container failed: {why}")
        if result.status == pb.CANCELLED:
            return _plain(503, f"{name} did not run the request: {why}")
        return _plain(500, f"{name} failed: {why}")


async def _pump_body(request: web.BaseRequest, inbox: asyncio.Queue) -> None:
    async for chunk in request.content.iter_chunked(BODY_PIECE):
        await inbox.put(web_pb2.WebSocketMessage(type="http.request", data=chunk))
    await inbox.put(web_pb2.WebSocketMessage(type="http.request.end"))


async def _read_socket(ws: web.WebSocketResponse, inbox: asyncio.Queue) -> None:
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            inbox.put_nowait(web_pb2.WebSocketMessage(type="websocket.receive", text=msg.data, is_text=True))
        elif msg.type == WSMsgType.BINARY:
            inbox.put_nowait(web_pb2.WebSocketMessage(type="websocket.receive", data=msg.data))
    inbox.put_nowait(web_pb2.WebSocketMessage(type="websocket.disconnect", code=ws.close_code or 1005))


def _peer(request: web.BaseRequest):
    peer = request.transport.get_extra_info("peername") if request.transport is not None else None
    return (peer[0], peer[1]) if peer else None


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True
