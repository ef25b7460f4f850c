"""Tunnels without a container: the cluster CA, the Tunnel object, and the worker's forwarder
(TLS and plain) pumping to a stand-in "container" listening on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import types

import pytest

from squall._proto.squall.v1 import sandbox_pb2 as sb_pb
from squall._proto.squall.v1 import worker_pb2
from squall.exception import InvalidError
from squall.sdk.tunnel import Tunnel
from squall.server.sandboxes import check_ports
from squall.server.tunnel_ca import TunnelCA
from squall.worker.tunnels import SandboxTunnels, TunnelTLS


def test_tunnel_is_modals():
    enc = Tunnel("10.0.0.5", 4443)
    assert enc.url == "https://10.0.0.5:4443" and enc.tls_socket == ("10.0.0.5", 4443)
    with pytest.raises(InvalidError, match="encrypted port.*unencrypted_ports"):
        enc.tcp_socket  # noqa: B018
    plain = Tunnel("h", 443, "h", 9000)
    assert plain.url == "https://h" and plain.tcp_socket == ("h", 9000)
    with pytest.raises(InvalidError, match="squall tunnel ca"):
        plain.ssl_context()


@pytest.mark.parametrize("enc, unenc, message", [
    ([0], [], "encrypted_ports: 0 is not a TCP port"),
    ([8000], [8000], "port 8000 is listed twice"),
    ([], [70000], "unencrypted_ports: 70000"),
])
def test_server_checks_ports_too(enc, unenc, message):
    with pytest.raises(ValueError, match=message):
        check_ports(sb_pb.SandboxCreateRequest(encrypted_ports=enc, unencrypted_ports=unenc))


def test_ca_is_made_once_and_keeps_its_key_private(tmp_path):
    ca = TunnelCA(tmp_path / "tunnels")
    pem = ca.ca_pem()
    assert (ca.key_path.stat().st_mode & 0o777) == 0o600
    assert TunnelCA(tmp_path / "tunnels").ca_pem() == pem  # loaded, not made again


class FakeWorker:
    def __init__(self, tmp_path):
        self.outbox: asyncio.Queue = asyncio.Queue()
        self.tunnel_tls = TunnelTLS(tmp_path / "keys", "wk-test", "127.0.0.1")


async def _tunnels(tmp_path, handler, encrypted=(), unencrypted=()):
    """A forwarder for a "container" at 127.0.0.1 whose port runs `handler`; its Tunnels."""
    accepted = []

    async def handle(reader, writer):
        accepted.append(writer)
        await handler(reader, writer)

    upstream = await asyncio.start_server(handle, "127.0.0.1", 0)
    upstream.accepted = accepted
    port = upstream.sockets[0].getsockname()[1]
    worker = FakeWorker(tmp_path)
    ca = TunnelCA(tmp_path / "ca")
    worker.tunnel_tls.set_certificate(worker_pb2.TunnelCertificate(cert_pem=ca.issue(worker.tunnel_tls.public_key_pem(), "127.0.0.1")))
    container = types.SimpleNamespace(network=types.SimpleNamespace(address="127.0.0.1"))
    start = sb_pb.StartSandbox(sandbox_id="sb-test", encrypted_ports=[port] if encrypted else [], unencrypted_ports=[port] if unencrypted else [])
    tunnels = SandboxTunnels(worker, start, container)
    ready = (await asyncio.wait_for(worker.outbox.get(), 10)).tunnels_ready
    assert ready.container_id == "sb-test" and not ready.error
    [info] = ready.tunnels
    return upstream, tunnels, Tunnel(info.host, info.port, info.unencrypted_host, info.unencrypted_port, ca_cert_pem=ca.ca_pem())


def _tls_handshake(address, context):
    with socket.create_connection(address, timeout=10) as sock, context.wrap_socket(sock, server_hostname=address[0]):
        pass


async def _finish(upstream, tunnels, *clients):
    """Close everything a test opened, before its loop ends (warnings are errors)."""
    await tunnels.close()
    for w in [*clients, *upstream.accepted]:
        w.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(w.wait_closed(), 5)
    upstream.close()
    await upstream.wait_closed()


async def _echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


def test_tls_verifies_against_the_cluster_ca_and_plain_tcp_half_closes(tmp_path):
    async def go():
        upstream, tunnels, t = await _tunnels(tmp_path, _echo, unencrypted=True)
        # TLS, checked against the CA and the host name in the certificate
        r, tls = await asyncio.open_connection(*t.tls_socket, ssl=t.ssl_context())
        tls.write(b"over tls")
        await tls.drain()
        assert await r.readexactly(8) == b"over tls"
        # a client that does not trust the cluster CA is refused
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.to_thread(_tls_handshake, t.tls_socket, ssl.create_default_context())
        # raw TCP: the client's EOF reaches the container, whose answer still comes back
        r, w = await asyncio.open_connection(*t.tcp_socket)
        w.write(b"x" * 100_000)
        w.write_eof()
        assert await r.read() == b"x" * 100_000
        await _finish(upstream, tunnels, tls, w)

    asyncio.run(go())


def test_a_slow_container_holds_the_client_back_and_nothing_is_lost(tmp_path):
    go_on = asyncio.Event()
    got = bytearray()

    async def slow(reader, writer):
        await go_on.wait()
        while data := await reader.read(65536):
            got.extend(data)
        writer.close()

    async def go():
        upstream, tunnels, t = await _tunnels(tmp_path, slow, unencrypted=True)
        r, w = await asyncio.open_connection(*t.tcp_socket)
        total, chunk = 64 << 20, b"y" * (1 << 20)
        sent = 0
        while sent < total:
            w.write(chunk)
            try:
                await asyncio.wait_for(w.drain(), 1.0)
            except TimeoutError:
                break
            sent += len(chunk)
        assert sent < 48 << 20, "the forwarder buffered everything instead of pushing back"
        go_on.set()
        await w.drain()
        sent += len(chunk)
        w.write_eof()
        await asyncio.wait_for(r.read(), 20)  # the container closed after reading it all
        assert len(got) == sent and set(got) == {ord("y")}
        await _finish(upstream, tunnels, w)

    asyncio.run(go())


def test_close_cuts_open_connections_and_stops_listening(tmp_path):
    async def go():
        upstream, tunnels, t = await _tunnels(tmp_path, _echo, unencrypted=True)
        r, w = await asyncio.open_connection(*t.tcp_socket)
        w.write(b"ping")
        assert await r.readexactly(4) == b"ping"
        await tunnels.close()
        assert await asyncio.wait_for(r.read(), 5) == b""  # cut
        with pytest.raises(OSError):
            await asyncio.open_connection(*t.tcp_socket)
        await _finish(upstream, tunnels, w)

    asyncio.run(go())
