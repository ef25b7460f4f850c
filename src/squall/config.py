"""Constants and settings in one place: paths, ports, id prefixes, environment variables."""

from __future__ import annotations

import os
import pathlib

DEFAULT_PORT = 7443
DEFAULT_HTTP_PORT = 7480  # the web endpoint gateway (any free port when taken)
API_PORT_ENV = "SQUALL_SERVER_URL"

# Environment variables a user (or a container) may set.
ENV_HOME = "SQUALL_HOME"
ENV_SERVER_URL = "SQUALL_SERVER_URL"
ENV_TOKEN = "SQUALL_TOKEN"
ENV_PROFILE = "SQUALL_PROFILE"
ENV_RUNTIME = "SQUALL_RUNTIME"
ENV_BLOB_URL = "SQUALL_BLOB_URL"  # the server's blob store: s3://bucket/prefix or a directory

# Set by the worker inside every container.
ENV_CONTAINER_ID = "SQUALL_CONTAINER_ID"
ENV_CONTAINER_TOKEN = "SQUALL_CONTAINER_TOKEN"
ENV_CONTAINER_SERVER = "SQUALL_CONTAINER_SERVER"
ENV_IS_REMOTE = "SQUALL_IS_REMOTE"
ENV_WEB_LISTEN = "SQUALL_WEB_LISTEN"  # set for web functions the gateway can reach: host:port their HTTP listener binds
CONTAINER_WEB_PORT = 7399  # that listener's port in a container's own network namespace (the gateway's direct path)

# Paths inside containers.
CONTAINER_AGENT_DIR = "/opt/squall/agent"  # grpcio, protobuf, cloudpickle for the agent's Python
CONTAINER_LIB_DIR = "/opt/squall/lib"  # the squall package itself
CONTAINER_APP_DIR = "/opt/squall/app"  # the user's code, read-only
CONTAINER_SOCKET = "/opt/squall/run/api.sock"  # the worker's proxy to the control plane
CONTAINER_RESUME_DIR = "/opt/squall/resume"  # gVisor sandboxes: its `nonce` file tells the supervisor to reconnect after a snapshot
CONTAINER_VOLUME_SOCKET = "/opt/squall/run/volumes.sock"  # the worker's VolumeAgent (commit / reload of mounted volumes)
ENV_VOLUME_AGENT = "SQUALL_VOLUME_AGENT"  # set in containers that mount volumes: that socket's grpc target

# Id prefixes.
ID_PREFIX = {
    "app": "ap-",
    "function": "fu-",
    "call": "fc-",
    "input": "in-",
    "container": "ta-",
    "worker": "wk-",
    "image": "im-",
    "sandbox": "sb-",
    "exec": "ex-",
    "volume": "vo-",
    "snapshot": "sn-",  # a sandbox's memory snapshot
}

# Limits checked at decoration time.
MIN_MEMORY_MB = 32
MAX_TIMEOUT_S = 24 * 3600
MIN_TIMEOUT_S = 1

# Payloads larger than this travel as blobs.
MAX_GRPC_MESSAGE = 256 * 1024 * 1024


def squall_home() -> pathlib.Path:
    return pathlib.Path(os.environ.get(ENV_HOME) or pathlib.Path.home() / ".squall")


def cache_home() -> pathlib.Path:
    """Where built images and layers live; SQUALL_CACHE_HOME lets several homes share one cache."""
    return pathlib.Path(os.environ.get("SQUALL_CACHE_HOME") or squall_home())


def profile_path() -> pathlib.Path:
    return squall_home() / "profile.toml"


def grpc_options() -> list[tuple[str, int]]:
    return [
        ("grpc.max_send_message_length", MAX_GRPC_MESSAGE),
        ("grpc.max_receive_message_length", MAX_GRPC_MESSAGE),
        ("grpc.keepalive_time_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        # Server side: accept the clients' keepalive pings on streams that stay quiet for long
        # (an exec waiting on a slow command); by default a server answers the third with
        # GOAWAY "too_many_pings", which kills every stream on that connection.
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_ping_strikes", 0),
    ]
