"""Tunnels on a worker: a listener on the worker's public host for each port a sandbox exposes,
forwarding TCP to that port of the container.

- Every exposed port gets a TLS listener (`Tunnel.host/port`, `url`); an unencrypted port gets a
  plain TCP listener too (`Tunnel.tcp_socket`), as Modal's tunnels do. Ports are ephemeral,
  bound on $SQUALL_WORKER_TUNNEL_BIND (default: the public host), and reported to the control
  plane as $SQUALL_WORKER_PUBLIC_HOST (default 127.0.0.1) with `TunnelsReady`.
- TLS ends here with a certificate for the public host, signed by the cluster CA
  (server/tunnel_ca.py): the worker's key never leaves it, only its public key goes up when it
  registers, and the certificate comes back as `WorkerCommand.tunnel_certificate`.
- Each connection opens its own TCP connection to <container address>:<port> over the squall0
  bridge; the host may connect only to the listed ports (runtime/network.py, `inbound_ports`).
  Bytes are pumped both ways with backpressure (a slow reader stops the other side's reads
  once its buffers fill); an EOF is passed on as a half-close where the transport has one
  (plain TCP), else it ends the connection (TLS).
- The listeners and every open connection close when the sandbox ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pathlib
import ssl
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from squall._proto.squall.v1 import sandbox_pb2 as sb_pb
from squall._proto.squall.v1 import worker_pb2

if TYPE_CHECKING:
    from squall.runtime.base import Container
    from squall.worker.worker import Worker

log = logging.getLogger("squall.worker")

PUBLIC_HOST_ENV = "SQUALL_WORKER_PUBLIC_HOST"  # the address clients reach this worker's tunnels at
BIND_ENV = "SQUALL_WORKER_TUNNEL_BIND"  # where the listeners bind (default: the public host; e.g. 0.0.0.0)
DEFAULT_PUBLIC_HOST = "127.0.0.1"
BUFFER = 64 * 1024
CONNECT_TIMEOUT_S = 10.0
TLS_HANDSHAKE_TIMEOUT_S = 10.0
CERTIFICATE_WAIT_S = 30.0
CLOSE_TIMEOUT_S = 2.0


class TunnelTLS:
    """The worker's tunnel key (made when it starts) and, once the control plane signed it, the
    TLS context of its listeners."""

    def __init__(self, directory: pathlib.Path, worker_id: str, public_host: str | None = None) -> None:
        self.host = public_host or os.environ.get(PUBLIC_HOST_ENV) or DEFAULT_PUBLIC_HOST
        self.bind = os.environ.get(BIND_ENV) or self.host
        self.key_path = directory / f"{worker_id}.key"
        self.cert_path = directory / f"{worker_id}.pem"
        self.context: ssl.SSLContext | None = None
        self._key: ec.EllipticCurvePrivateKey | None = None
        self._ready: asyncio.Event | None = None

    def public_key_pem(self) -> bytes:
        if self._key is None:
            self._key = ec.generate_private_key(ec.SECP256R1())
            self.key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return self._key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def set_certificate(self, cert: worker_pb2.TunnelCertificate) -> None:
        self.cert_path.write_bytes(cert.cert_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_path, self.key_path)
        self.context = context
        self._event().set()

    def _event(self) -> asyncio.Event:
        if self._ready is None:
            self._ready = asyncio.Event()
        return self._ready

    async def wait(self) -> ssl.SSLContext:
        if self.context is None:
            try:
                await asyncio.wait_for(self._event().wait(), CERTIFICATE_WAIT_S)
            except TimeoutError:
                raise RuntimeError(f"the control plane sent no TLS certificate for the tunnels within {CERTIFICATE_WAIT_S:g} s") from None
        return self.context


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Copy until EOF; True when the EOF could be passed on as a half-close (the other way may
    still carry data), False when it cannot (TLS): then the whole connection ends."""
    while data := await reader.read(BUFFER):
        writer.write(data)
        await writer.drain()  # backpressure: read no more until the other side took this
    if writer.can_write_eof():
        writer.write_eof()
        return True
    return False


async def splice(a: tuple[asyncio.StreamReader, asyncio.StreamWriter], b: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
    """Pump a <-> b until both directions ended (or either broke); then close both."""
    pumps = {asyncio.ensure_future(_pump(a[0], b[1])), asyncio.ensure_future(_pump(b[0], a[1]))}
    try:
        pending = pumps
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if any(t.exception() is not None or not t.result() for t in done):
                break
    finally:
        for t in pumps:
            t.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        for w in (a[1], b[1]):
            w.close()
        for w in (a[1], b[1]):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(w.wait_closed(), CLOSE_TIMEOUT_S)


class SandboxTunnels:
    """One sandbox's listeners and connections."""

    def __init__(self, worker: Worker, start: sb_pb.StartSandbox, container: Container) -> None:
        self.worker = worker
        self.sandbox_id = start.sandbox_id
        self.container = container
        self.encrypted = list(start.encrypted_ports)
        self.unencrypted = list(start.unencrypted_ports)
        self._servers: list[asyncio.base_events.Server] = []
        self._connections: dict[asyncio.Task, list[asyncio.StreamWriter]] = {}  # each with its client and container ends
        self._opening = asyncio.ensure_future(self._open())

    async def _open(self) -> None:
        try:
            tunnels = await self.open()
        except Exception as exc:  # noqa: BLE001 - any failure is reported to whoever waits in sb.tunnels()
            log.warning("sandbox %s: tunnels failed: %s", self.sandbox_id, exc)
            await self._close_servers()
            self._report(error=f"the worker could not open the sandbox's ports: {exc}")
            return
        self._report(tunnels=tunnels)

    def _report(self, tunnels=(), error: str = "") -> None:
        self.worker.outbox.put_nowait(worker_pb2.WorkerEvent(tunnels_ready=worker_pb2.TunnelsReady(container_id=self.sandbox_id, tunnels=tunnels, error=error)))

    async def open(self) -> list[sb_pb.TunnelInfo]:
        net = getattr(self.container, "network", None)
        if net is None:
            raise RuntimeError("the container has no network namespace to forward to")
        address = str(net.address)
        tls = self.worker.tunnel_tls
        context = await tls.wait()
        out = []
        for port in [*self.encrypted, *self.unencrypted]:
            info = sb_pb.TunnelInfo(container_port=port, host=tls.host)
            info.port = await self._listen(address, port, context)
            if port in self.unencrypted:
                info.unencrypted_host, info.unencrypted_port = tls.host, await self._listen(address, port, None)
            out.append(info)
        log.info("sandbox %s: tunnels %s", self.sandbox_id, ", ".join(f"{t.container_port}->{t.host}:{t.port}" for t in out))
        return out

    async def _listen(self, address: str, port: int, context: ssl.SSLContext | None) -> int:
        server = await asyncio.start_server(
            lambda r, w: self._connection(r, w, address, port), host=self.worker.tunnel_tls.bind, port=0, ssl=context,
            ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_S if context is not None else None, limit=BUFFER,
        )
        self._servers.append(server)
        return server.sockets[0].getsockname()[1]

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str, port: int) -> None:
        task = asyncio.current_task()
        ends = self._connections[task] = [writer]
        try:
            try:
                upstream = await asyncio.wait_for(asyncio.open_connection(address, port, limit=BUFFER), CONNECT_TIMEOUT_S)
            except (TimeoutError, OSError) as exc:  # nothing listens on that port (yet)
                log.debug("sandbox %s: port %d: %s", self.sandbox_id, port, exc)
                writer.close()
                return
            ends.append(upstream[1])
            await splice((reader, writer), upstream)
        except (ConnectionError, ssl.SSLError, OSError):
            writer.close()
        except asyncio.CancelledError:  # close() gave up waiting: this task is ours, end it quietly
            for w in ends:
                w.transport.abort()
        finally:
            self._connections.pop(task, None)

    async def _close_servers(self) -> None:
        for server in self._servers:
            server.close()
        self._servers.clear()

    async def close(self) -> None:
        """Stop listening and cut every connection: the sandbox ended."""
        self._opening.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._opening
        await self._close_servers()
        for ends in self._connections.values():
            for w in ends:
                w.transport.abort()  # its pumps end, and close the other end
        if self._connections:
            _, stuck = await asyncio.wait(list(self._connections), timeout=CLOSE_TIMEOUT_S)
            for task in stuck:
                task.cancel()
