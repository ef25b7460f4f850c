"""One channel to the control plane: auth metadata, deadlines, retries with backoff."""

from __future__ import annotations

import asyncio
import os
import tomllib

import grpc

from squall import config
from squall._proto.squall.v1 import api_pb2_grpc, storage_pb2_grpc
from squall.exception import ConnectionError as SquallConnectionError
from squall.exception import from_grpc_code

RETRYABLE = {grpc.StatusCode.UNAVAILABLE}
MAX_ATTEMPTS = 5


def _profile() -> dict:
    path = config.profile_path()
    if path.exists():
        with open(path, "rb") as f:
            data = tomllib.load(f)
        name = os.environ.get(config.ENV_PROFILE) or data.get("active", "default")
        return data.get(name, {})
    return {}


def resolve_server() -> tuple[str | None, str | None]:
    """(server url, token) from the environment, then the profile, then a local server's token file."""
    prof = _profile()
    url = os.environ.get(config.ENV_SERVER_URL) or prof.get("server_url")
    token = os.environ.get(config.ENV_TOKEN) or prof.get("token")
    if not token:
        local = config.squall_home() / "server" / "token"
        if local.exists():
            token = local.read_text().strip()
    return url, token


class Client:
    """Owns the channel; `call` wraps every unary RPC with retries and friendly errors."""

    def __init__(self, server_url: str, token: str | None, container_token: str | None = None):
        self.server_url = server_url
        # grpc takes unix sockets as `unix:///path`; host:port without a scheme
        target = server_url if server_url.startswith("unix:") else server_url.split("://", 1)[-1].rstrip("/")
        self.channel = grpc.aio.insecure_channel(target, options=config.grpc_options())
        self.stub = api_pb2_grpc.ApiStub(self.channel)
        self.storage_stub = storage_pb2_grpc.StorageServiceStub(self.channel)
        if container_token:  # inside a container: the StorageService and a few Api methods accept this token (server/auth.py)
            self.metadata: tuple = (("x-squall-container-token", container_token),)
        else:
            self.metadata = (("authorization", f"Bearer {token}"),) if token else ()

    async def call(self, method: str, request, timeout: float | None = 60.0):
        return await self._call(getattr(self.stub, method), request, timeout)

    async def storage_call(self, method: str, request, timeout: float | None = 60.0):
        """A StorageService RPC (Dicts and Queues), with the same retries as `call`."""
        return await self._call(getattr(self.storage_stub, method), request, timeout)

    async def _call(self, rpc, request, timeout: float | None):
        delay = 0.1
        for attempt in range(MAX_ATTEMPTS):
            try:
                return await rpc(request, metadata=self.metadata, timeout=timeout)
            except grpc.aio.AioRpcError as exc:
                if exc.code() in RETRYABLE and attempt + 1 < MAX_ATTEMPTS:
                    await asyncio.sleep(delay)
                    delay *= 2
                    continue
                raise translate(exc, self.server_url) from None

    def stream(self, method: str, request, timeout: float | None = None):
        return getattr(self.stub, method)(request, metadata=self.metadata, timeout=timeout)

    async def close(self) -> None:
        await self.channel.close()


def translate(exc: grpc.aio.AioRpcError, server_url: str = ""):
    if exc.code() == grpc.StatusCode.UNAVAILABLE:
        return SquallConnectionError(f"cannot reach the squall server at {server_url}: {exc.details()}. Is `squall server` running, and SQUALL_SERVER_URL right?")
    return from_grpc_code(exc.code().name, exc.details() or exc.code().name)


_client: Client | None = None


async def get_client() -> Client:
    """The process's client, from SQUALL_SERVER_URL / profile; inside a container, the worker's
    socket and the container's token. Must run on the SDK loop."""
    global _client
    if _client is None:
        container_server = os.environ.get(config.ENV_CONTAINER_SERVER)
        if container_server and not os.environ.get(config.ENV_SERVER_URL):
            _client = Client(container_server, None, os.environ.get(config.ENV_CONTAINER_TOKEN))
            return _client
        url, token = resolve_server()
        if not url:
            from squall.exception import InvalidError

            raise InvalidError("no squall server is configured: run your app with `squall run app.py` (starts one for you), or set SQUALL_SERVER_URL")
        _client = Client(url, token)
    return _client


def reset_client() -> None:
    global _client
    _client = None
