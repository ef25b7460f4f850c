"""Sandbox ports end to end: a real server, worker and runtime; clients on loopback reach a
sandbox's exposed ports through the worker's forwarder (TLS with the cluster CA, or raw TCP)."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request

import pytest

import squall
from squall.exception import InvalidError

pytestmark = [pytest.mark.runtime, pytest.mark.integration]

# Runs in the sandbox: echoes on 9000 (exposed) and answers on 9001 (not exposed); writes its address.
ECHO_SERVER = """
import socket, threading
def serve(port, answer):
    srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); srv.bind(("0.0.0.0", port)); srv.listen(16)
    while True:
        conn, _ = srv.accept()
        def handle(c=conn):
            with c:
                while data := c.recv(65536):
                    c.sendall(answer or data)
        threading.Thread(target=handle, daemon=True).start()
threading.Thread(target=serve, args=(9001, b"secret"), daemon=True).start()
probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); probe.connect(("10.213.0.1", 9))  # no packet: picks the source address
open("/tmp/address", "w").write(probe.getsockname()[0])
serve(9000, None)
"""


def _retry(fn, timeout: float = 60):
    """fn() once the sandbox's server listens (a connection refused or reset until then)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except (OSError, ssl.SSLError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _echo(address, data: bytes, context: ssl.SSLContext | None = None, server_hostname: str | None = None) -> bytes:
    raw = socket.create_connection(address, timeout=10)
    try:
        sock = context.wrap_socket(raw, server_hostname=server_hostname) if context else raw
    except BaseException:
        raw.close()
        raise
    with sock:
        sock.sendall(data)
        got = b""
        while len(got) < len(data):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("closed before the echo came back")
            got += chunk
        return got


def _address(sb) -> str:
    deadline = time.monotonic() + 60
    while True:
        p = sb.exec("cat", "/tmp/address")
        if p.wait() == 0:
            return p.stdout.read().strip()
        assert time.monotonic() < deadline, "the sandbox's server never started"
        time.sleep(0.2)


def test_https_through_an_encrypted_port(any_runtime):
    sb = squall.Sandbox.create("sh", "-c", "mkdir -p /srv && echo hello-from-sandbox > /srv/hello.txt && cd /srv && exec python3 -m http.server 8000",
                               encrypted_ports=[8000], runtime=any_runtime, timeout=180)
    try:
        tunnels = sb.tunnels(timeout=60)
        assert list(tunnels) == [8000]
        t = tunnels[8000]
        assert t.url == f"https://{t.host}:{t.port}" and t.tls_socket == (t.host, t.port)
        with pytest.raises(InvalidError, match="encrypted port"):
            t.tcp_socket  # noqa: B018
        def fetch():
            with urllib.request.urlopen(f"{t.url}/hello.txt", context=t.ssl_context(), timeout=10) as resp:
                return resp.read()

        body = _retry(fetch)
        assert body == b"hello-from-sandbox\n"
        # The certificate is the cluster CA's, for the worker's public host: nothing else trusts it.
        with pytest.raises(ssl.SSLCertVerificationError):
            _echo(t.tls_socket, b"x", ssl.create_default_context(), t.host)
    finally:
        sb.terminate()


def test_tcp_echo_only_listed_ports_and_closed_when_the_sandbox_ends(any_runtime):
    sb = squall.Sandbox.create("python3", "-c", ECHO_SERVER, unencrypted_ports=[9000], runtime=any_runtime, timeout=180)
    try:
        t = sb.tunnels(timeout=60)[9000]
        address = _address(sb)
        payload = os.urandom(300_000)
        assert _retry(lambda: _echo(t.tcp_socket, payload)) == payload
        # an unencrypted port takes TLS too, as Modal's tunnels do
        assert _echo(t.tls_socket, b"over tls", t.ssl_context(), t.host) == b"over tls"
        # Port 9001 listens in the sandbox but is not listed: the host cannot reach it.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, 9001), timeout=5)
    finally:
        sb.terminate()
    sb.wait(raise_on_termination=False)
    deadline = time.monotonic() + 20
    while True:  # the worker closes the listeners once the container is gone
        try:
            socket.create_connection(t.tcp_socket, timeout=5).close()
        except ConnectionRefusedError:
            break
        assert time.monotonic() < deadline, "the tunnel stayed open after the sandbox ended"
        time.sleep(0.2)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(t.tls_socket, timeout=5)


def test_a_second_process_gets_the_same_tunnels(gvisor):
    sb = squall.Sandbox.create("python3", "-c", ECHO_SERVER, encrypted_ports=[8443], unencrypted_ports=[9000], timeout=120)
    try:
        mine = sb.tunnels(timeout=60)
        code = ("import json, sys, squall; t = squall.Sandbox.from_id(sys.argv[1]).tunnels(timeout=30); "
                "print(json.dumps({p: [x.host, x.port, x.unencrypted_host, x.unencrypted_port] for p, x in t.items()}))")
        out = subprocess.run([sys.executable, "-c", code, sb.object_id], env=dict(os.environ), capture_output=True, text=True, timeout=120, check=False)
        assert out.returncode == 0, out.stderr
        theirs = {int(p): squall.Tunnel(*v) for p, v in json.loads(out.stdout).items()}
        assert theirs == mine and sorted(mine) == [8443, 9000]
        assert not mine[8443].unencrypted_host and mine[9000].unencrypted_port
        # the CLI: the CA clients trust (as the Tunnel carries it), and the table of ports
        ca = gvisor.squall("tunnel", "ca")
        assert ca.returncode == 0 and ca.stdout == mine[8443].ca_cert_pem and ca.stdout.startswith("-----BEGIN CERTIFICATE-----")
        listed = gvisor.squall("tunnel", "list", sb.object_id)
        assert listed.returncode == 0, listed.stderr
        assert mine[8443].url in listed.stdout and f"{mine[9000].unencrypted_host}:{mine[9000].unencrypted_port}" in listed.stdout
    finally:
        sb.terminate()


def test_block_network_still_takes_inbound_connections(gvisor):
    sb = squall.Sandbox.create("python3", "-c", ECHO_SERVER, unencrypted_ports=[9000], block_network=True, timeout=120)
    try:
        t = sb.tunnels(timeout=60)[9000]
        assert _retry(lambda: _echo(t.tcp_socket, b"inbound")) == b"inbound"
        # ... and reaches nothing: not the host, not the internet
        p = sb.exec("python3", "-c", "import socket, sys\nfor a in [('10.213.0.1', 22), ('1.1.1.1', 80)]:\n"
                    "    try: socket.create_connection(a, timeout=3); print('reached', a)\n    except OSError as e: print('blocked', type(e).__name__)")
        assert p.wait() == 0
        lines = p.stdout.read().splitlines()
        assert len(lines) == 2 and all(line.startswith("blocked") for line in lines), lines
    finally:
        sb.terminate()


def test_no_ports_no_tunnels(gvisor):
    sb = squall.Sandbox.create(timeout=60)
    try:
        assert sb.tunnels(timeout=5) == {}
    finally:
        sb.terminate()
