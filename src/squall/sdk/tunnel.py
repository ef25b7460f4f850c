"""Tunnel: where a port exposed by a sandbox (`encrypted_ports`, `unencrypted_ports`) is reached
from outside, as `sb.tunnels()` returns it.

Every tunnel takes TLS at `host:port` (`url`, `tls_socket`); an unencrypted port also takes raw
TCP at `tcp_socket`. TLS ends on the sandbox's worker with a certificate from the cluster's own
CA, not a public one: trust it with `tunnel.ssl_context()`, or save it with `squall tunnel ca`
(e.g. `curl --cacert`).
"""

from __future__ import annotations

import dataclasses
import ssl

from squall.exception import InvalidError


@dataclasses.dataclass(frozen=True)
class Tunnel:
    host: str
    port: int
    unencrypted_host: str = ""
    unencrypted_port: int = 0
    ca_cert_pem: str = dataclasses.field(default="", repr=False, compare=False)  # the cluster CA that signed host's certificate

    @property
    def url(self) -> str:
        """https://host[:port] of the TLS endpoint."""
        value = f"https://{self.host}"
        if self.port != 443:
            value += f":{self.port}"
        return value

    @property
    def tls_socket(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def tcp_socket(self) -> tuple[str, int]:
        """Raw TCP to the container's port; only for `unencrypted_ports`."""
        if not self.unencrypted_host:
            raise InvalidError("this tunnel is for an encrypted port: it takes TLS only (url, tls_socket); "
                               "list the port in unencrypted_ports=[...] for raw TCP")
        return (self.unencrypted_host, self.unencrypted_port)

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts the cluster CA (and checks the host name)."""
        if not self.ca_cert_pem:
            raise InvalidError("this Tunnel carries no CA certificate; get it with `squall tunnel ca`")
        return ssl.create_default_context(cadata=self.ca_cert_pem)
