"""Tokens: every request carries one. The server's token guards the Api and WorkerService;
containers present their own short-lived token, valid for the ContainerService and, so that
user code in a container can use Dicts and Queues, the StorageService; and, so that it can call
deployed functions (`Function.from_name(...).remote()`), the few Api methods that look up and
call a function — never the ones that create, stop or inspect apps."""

from __future__ import annotations

import hmac
import os
import pathlib
import secrets
from collections.abc import Callable

import grpc

CONTAINER_SERVICE_PREFIX = "/squall.v1.ContainerService/"
SANDBOX_AGENT_SERVICE_PREFIX = "/squall.v1.SandboxAgentService/"  # a sandbox supervisor's one-time token, checked by the handler
STORAGE_SERVICE_PREFIX = "/squall.v1.StorageService/"
WEBSOCKET_SERVICE_PREFIX = "/squall.v1.WebSocketService/"  # like the ContainerService: its handler checks the container token
CONTAINER_TOKEN_HEADER = "x-squall-container-token"
API_METHODS_FOR_CONTAINERS = frozenset(
    f"/squall.v1.Api/{name}"
    for name in ("FunctionLookup", "FunctionBind", "FunctionCallCreate", "FunctionPutInputs", "FunctionGetOutputs", "FunctionCallCancel")
)


# Volumes: containers read and move blobs here; VolumeCommit checks the volume is mounted read-write in the caller.
VOLUME_METHODS_FOR_CONTAINERS = frozenset(
    f"/squall.v1.VolumeService/{name}"
    for name in ("VolumeGetOrCreate", "VolumeGetManifest", "VolumeGetFile", "VolumeCommit", "BlobMissing", "BlobUpload", "BlobDownload")
)


# Web: a function may ask for web endpoint URLs (`f.get_web_url()` inside a container).
WEB_METHODS_FOR_CONTAINERS = frozenset({"/squall.v1.WebService/WebUrls"})


def container_token_may_call(method: str) -> bool:
    return (method.startswith(STORAGE_SERVICE_PREFIX) or method in API_METHODS_FOR_CONTAINERS or method in VOLUME_METHODS_FOR_CONTAINERS
            or method in WEB_METHODS_FOR_CONTAINERS)


def load_or_create_token(path: pathlib.Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    return token


class TokenInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, token: str, is_container_token: Callable[[str], bool] | None = None):
        self._expected = f"Bearer {token}".encode()
        self._is_container_token = is_container_token  # does a running container hold this token?

        async def deny(request, context):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong token: set SQUALL_TOKEN, or run `squall token` on the server")

        self._deny = grpc.unary_unary_rpc_method_handler(deny)

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        if method.startswith((CONTAINER_SERVICE_PREFIX, WEBSOCKET_SERVICE_PREFIX, SANDBOX_AGENT_SERVICE_PREFIX)):
            return await continuation(handler_call_details)  # the handler checks the container token
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "authorization" and hmac.compare_digest(value.encode() if isinstance(value, str) else value, self._expected):
                return await continuation(handler_call_details)
            if (key == CONTAINER_TOKEN_HEADER and self._is_container_token is not None and container_token_may_call(method)
                    and self._is_container_token(value if isinstance(value, str) else value.decode(errors="replace"))):
                return await continuation(handler_call_details)
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        if handler.request_streaming or handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(self._stream_denied)
        return self._deny

    async def _stream_denied(self, request_iterator, context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong token: set SQUALL_TOKEN, or run `squall token` on the server")
        yield  # pragma: no cover - makes this an async generator
