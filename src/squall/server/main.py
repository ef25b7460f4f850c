"""`squall server`: the control plane as a process."""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib
import signal

import grpc

from squall import config
from squall._proto.squall.v1 import api_pb2_grpc, container_pb2_grpc, sandbox_pb2_grpc, storage_pb2_grpc, volume_pb2_grpc, worker_pb2_grpc
from squall.server.api.container import ContainerServicer
from squall.server.api.sandbox import SandboxAgentServicer, SandboxServicer
from squall.server.api.sdk import ApiServicer
from squall.server.api.storage import StorageServicer
from squall.server.api.web import WebPlane
from squall.server.api.volume import VolumeServicer
from squall.server.api.worker import WorkerServicer
from squall.server.auth import TokenInterceptor, load_or_create_token
from squall.server.control import ControlPlane
from squall.server.images import ImageBuilds
from squall.server.sandboxes import SandboxManager
from squall.server.tunnel_ca import TunnelCA
from squall.server.state.store import Store
from squall.storage.blobs import open_blob_store

log = logging.getLogger("squall.server")


class Server:
    def __init__(self, home: pathlib.Path, host: str = "127.0.0.1", port: int = config.DEFAULT_PORT, db_url: str | None = None,
                 blob_url: str | None = None, *, http_port: int | None = None, web_domain: str | None = None):
        self.http_port, self.web_domain = http_port, web_domain  # None: the default HTTP port (or any free one); -1: no gateway
        self.home = home / "server"
        self.home.mkdir(parents=True, exist_ok=True)
        self.host, self.port = host, port
        self.db_url = db_url or f"sqlite:///{self.home / 'state.db'}"
        self.token = load_or_create_token(self.home / "token")
        self.blob_url = blob_url or os.environ.get(config.ENV_BLOB_URL) or None  # None: a directory under home

    async def start(self) -> int:
        self.store = Store(self.db_url)
        self.cp = ControlPlane(self.store)
        self.cp.sandboxes = SandboxManager(self.cp)
        self.cp.sandboxes.tunnel_ca = TunnelCA(self.home / "tunnels")
        self.cp.sandboxes.recover()
        self.cp.recover()
        self.cp.start()
        self.cp.sandboxes.start()
        blobs = open_blob_store(self.blob_url, self.home / "blobs")
        self.cp.images = ImageBuilds(self.store, blobs, self.cp.workers)
        self.grpc = grpc.aio.server(options=config.grpc_options(), interceptors=[TokenInterceptor(self.token, lambda t: t in self.cp.tokens)])
        api_pb2_grpc.add_ApiServicer_to_server(ApiServicer(self.cp, blobs), self.grpc)
        worker_pb2_grpc.add_WorkerServiceServicer_to_server(WorkerServicer(self.cp, blobs), self.grpc)
        container_pb2_grpc.add_ContainerServiceServicer_to_server(ContainerServicer(self.cp), self.grpc)
        storage_pb2_grpc.add_StorageServiceServicer_to_server(StorageServicer(self.store), self.grpc)
        volume_pb2_grpc.add_VolumeServiceServicer_to_server(VolumeServicer(self.store, blobs, self.cp, self.token), self.grpc)
        sandbox_pb2_grpc.add_SandboxServiceServicer_to_server(SandboxServicer(self.cp.sandboxes), self.grpc)
        sandbox_pb2_grpc.add_SandboxAgentServiceServicer_to_server(SandboxAgentServicer(self.cp.sandboxes), self.grpc)
        self.web = WebPlane(self.cp, self.host, self.http_port, self.web_domain)
        await self.web.start(self.grpc)
        self.port = self.grpc.add_insecure_port(f"{self.host}:{self.port}")
        await self.grpc.start()
        log.info("control plane listening on %s:%d (state: %s, blobs: %s)", self.host, self.port, self.db_url, getattr(blobs, "url", None) or blobs.root)
        return self.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self, grace: float = 2.0) -> None:
        await self.web.stop()
        await self.grpc.stop(grace)
        await self.cp.close()
        self.store.close()


async def serve(home: pathlib.Path, host: str, port: int, db_url: str | None, ready_file: pathlib.Path | None = None, blob_url: str | None = None,
                *, http_port: int | None = None, web_domain: str | None = None) -> None:
    server = Server(home, host, port, db_url, blob_url, http_port=http_port, web_domain=web_domain)
    await server.start()
    if server.web.gateway is not None:
        log.info("web endpoints at %s/<app>/<label>/", server.web.gateway.url)
    if ready_file:
        ready_file.write_text(server.url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()
