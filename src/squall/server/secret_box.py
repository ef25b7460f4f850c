"""Encryption at rest for Secrets (and memory snapshots' resume secrets): a Fernet key (AES-128-CBC + HMAC-SHA256, from `cryptography`).

The key comes from the environment variable SQUALL_SECRET_KEY (a urlsafe-base64 Fernet key,
for servers that share one database), or else from SQUALL_HOME/server/secret.key, created
with mode 0600 on first use. Losing the key makes the stored secrets unreadable.

Only the control plane decrypts, and only to start a container that asked for the secret or
to redact its values from an error; no RPC returns a value.
"""

from __future__ import annotations

import json
import os
import pathlib

from cryptography.fernet import Fernet, InvalidToken

from squall import config

ENV_SECRET_KEY = "SQUALL_SECRET_KEY"
KEY_FILE = "secret.key"


def load_or_create_key(path: pathlib.Path) -> bytes:
    env = os.environ.get(ENV_SECRET_KEY)
    if env:
        return env.strip().encode()
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it meanwhile
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


class SecretBox:
    def __init__(self, key: bytes):
        try:
            self._fernet = Fernet(key)
        except ValueError:
            raise ValueError(f"the secret key (from {ENV_SECRET_KEY} or {KEY_FILE}) is not a valid Fernet key: 32 url-safe base64-encoded bytes") from None

    @classmethod
    def for_home(cls, server_home: pathlib.Path) -> SecretBox:
        return cls(load_or_create_key(server_home / KEY_FILE))

    def encrypt(self, env: dict[str, str]) -> bytes:
        return self.encrypt_bytes(json.dumps(env, sort_keys=True).encode())

    def decrypt(self, data: bytes) -> dict[str, str]:
        return json.loads(self.decrypt_bytes(data))

    def encrypt_bytes(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt_bytes(self, data: bytes) -> bytes:
        try:
            return self._fernet.decrypt(data)
        except InvalidToken:
            raise ValueError("a stored secret cannot be decrypted with this server's secret key (was SQUALL_SECRET_KEY or secret.key changed?)") from None


_default: SecretBox | None = None


def default_box() -> SecretBox:
    """The box of this server process: SQUALL_HOME/server/secret.key unless SQUALL_SECRET_KEY is set."""
    global _default
    if _default is None:
        _default = SecretBox.for_home(config.squall_home() / "server")
    return _default


def secret_env(store, secret_ids) -> dict[str, str]:
    """The merged values of the given secrets, later ones winning; ids that no longer exist are skipped."""
    if not secret_ids:
        return {}
    rows = {r.id: r for r in store.secrets_by_id(secret_ids)}
    env: dict[str, str] = {}
    for sid in secret_ids:
        if sid in rows:
            env.update(default_box().decrypt(rows[sid].data))
    return env

