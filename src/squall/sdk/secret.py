"""`Secret`: environment variables, stored encrypted by the server, injected only into the
containers of the functions and classes that list them in `secrets=[...]`.

Values never appear in a repr, an exception message or a log line from this module; the
worker also replaces them by `***` in container output, and the control plane in errors.
"""

from __future__ import annotations

import os
import pathlib
import re

from squall import config
from squall import _limits as lim
from squall._proto.squall.v1 import storage_pb2 as spb
from squall.exception import InvalidError, NotFoundError
from squall.sdk._storage import storage_call
from squall.sdk._sync import live_function


class Secret:
    """`Secret.from_name("api", required_keys=["TOKEN"])`, or built here from a dict, a .env
    file or this process's environment and created with the app run (then deleted with it)."""

    def __init__(self, name: str | None = None, env: dict[str, str] | None = None, required_keys=(), *, _source: str = "from_name"):
        self._name = name
        self._env = env  # None for a named secret: the values live only on the server
        self._required_keys = tuple(required_keys)
        self._source = _source
        self._object_id: str | None = None

    # -- sources -------------------------------------------------------------------------------
    @classmethod
    def from_name(cls, name: str, *, required_keys=()) -> Secret:
        """A handle to a secret made with `squall secret create`; nothing is sent until an app
        using it runs, which then checks that it has every one of `required_keys`."""
        if isinstance(required_keys, str) or not all(isinstance(k, str) for k in required_keys):
            raise InvalidError(f"required_keys takes a list of key names, got {required_keys!r}")
        return cls(lim.check_name("secret", name), None, required_keys)

    @classmethod
    def from_dict(cls, env_dict: dict) -> Secret:
        """A secret with these values (None values are left out), created when the app runs."""
        if not isinstance(env_dict, dict):
            raise InvalidError(f"Secret.from_dict takes a dict of str to str, got a {type(env_dict).__name__}")
        env = {}
        for key, value in env_dict.items():
            lim.check_env_key(key)
            if value is None:
                continue
            if not isinstance(value, str):
                raise InvalidError(f"Secret.from_dict: the value for {key!r} must be a str, got a {type(value).__name__}")
            env[key] = value
        return cls(None, env, _source="from_dict")

    @classmethod
    def from_dotenv(cls, path=None, *, filename: str = ".env") -> Secret:
        """The variables in a .env file: `path` is the file or its directory (default: the current one)."""
        p = pathlib.Path(path) if path is not None else pathlib.Path.cwd()
        if p.is_dir():
            p = p / filename
        if not p.is_file():
            raise NotFoundError(f"Secret.from_dotenv: no file {str(p)!r}")
        return cls(None, parse_dotenv(p.read_text(), str(p)), _source="from_dotenv")

    @classmethod
    def from_local_environ(cls, env_keys) -> Secret:
        """These variables, with their values in this process's environment."""
        if isinstance(env_keys, str):
            raise InvalidError(f"Secret.from_local_environ takes a list of variable names, got the string {env_keys!r}")
        env_keys = list(env_keys)
        missing = [k for k in env_keys if k not in os.environ]
        if missing and os.environ.get(config.ENV_IS_REMOTE):
            # Inside a container the module is imported again, and the values arrived as the
            # container's environment already (or were never meant for it): nothing to check.
            return cls(None, {k: os.environ.get(k, "") for k in env_keys}, _source="from_local_environ")
        if missing:
            raise InvalidError(f"Secret.from_local_environ: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set in the local environment")
        return cls(None, {k: os.environ[k] for k in env_keys}, _source="from_local_environ")

    @staticmethod
    @live_function
    async def delete(name: str) -> None:
        """Delete the named secret."""
        await storage_call("SecretDelete", spb.ObjectDeleteRequest(name=lim.check_name("secret", name)))

    # -- identity ------------------------------------------------------------------------------
    @property
    def name(self) -> str | None:
        return self._name

    @property
    def object_id(self) -> str | None:
        return self._object_id

    def __repr__(self) -> str:  # key names only, never values
        if self._env is None:
            keys = f", required_keys={list(self._required_keys)!r}" if self._required_keys else ""
            return f"Secret.from_name({self._name!r}{keys})"
        return f"Secret.{self._source}(keys={sorted(self._env)!r})"

    def __getstate__(self):  # a handle that travels into a container carries no values
        return {"_name": self._name, "_env": None, "_required_keys": self._required_keys, "_source": self._source, "_object_id": self._object_id}

    @property
    def _ephemeral(self) -> bool:
        return self._env is not None

    async def _resolve(self) -> str:
        """The secret's id: look the name up (checking required_keys), or create the ephemeral one."""
        if self._object_id is None:
            if self._ephemeral:
                request = spb.SecretGetOrCreateRequest(env_dict=self._env, ephemeral=True)
            else:
                request = spb.SecretGetOrCreateRequest(name=self._name, required_keys=self._required_keys)
            self._object_id = (await storage_call("SecretGetOrCreate", request)).object_id
        return self._object_id

    async def _release(self) -> None:
        """Delete an ephemeral secret (its app stopped)."""
        object_id, self._object_id = self._object_id, None
        if self._ephemeral and object_id:
            await storage_call("SecretDelete", spb.ObjectDeleteRequest(name=object_id))


_LINE = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def parse_dotenv(text: str, where: str = ".env") -> dict[str, str]:
    """KEY=VALUE lines, as python-dotenv reads them: `export`, comments, blank lines, single
    quotes (literal), double quotes (with \\n-style escapes), ` #` comments after bare values.
    Errors name the line, never its value."""
    env: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.fullmatch(line)
        if m is None:
            raise InvalidError(f"{where} line {n} is not KEY=VALUE")
        key, raw = m.group(1), m.group(2).strip()
        if raw[:1] in ("'", '"'):
            quote = raw[0]
            end = raw.find(quote, 1)
            while quote == '"' and end > 0 and raw[end - 1] == "\\":
                end = raw.find(quote, end + 1)
            if end < 0:
                raise InvalidError(f"{where} line {n} ({key}): the quoted value has no closing {quote}")
            value = raw[1:end]
            if quote == '"':
                value = re.sub(r"\\(.)", lambda e: _ESCAPES.get(e.group(1), "\\" + e.group(1)), value)
        else:
            value = re.split(r"\s+#", raw, maxsplit=1)[0].strip()
        env[key] = value
    return env
