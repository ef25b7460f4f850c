"""What Dict and Queue share: a lazy handle resolved by name on first use, and ephemeral
contexts that delete the object on exit."""

from __future__ import annotations

from squall import _limits as lim
from squall._proto.squall.v1 import storage_pb2 as spb
from squall.sdk._sync import run_aio, run_sync


async def storage_call(method: str, request, timeout: float | None = 60.0):
    from squall.client.client import get_client

    client = await get_client()
    return await client.storage_call(method, request, timeout=timeout)


class _StorageObject:
    _kind = ""  # "dict" | "queue"

    def __init__(self, name: str | None, create_if_missing: bool = False, object_id: str | None = None):
        self._name = name
        self._create_if_missing = create_if_missing
        self._object_id = object_id

    @classmethod
    def from_name(cls, name: str, *, create_if_missing: bool = False):
        """A handle to the named object; nothing is sent until the first method that needs the server."""
        return cls(lim.check_name(cls._kind, name), create_if_missing)

    @property
    def name(self) -> str | None:
        return self._name

    @property
    def object_id(self) -> str | None:
        return self._object_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name or self._object_id or 'ephemeral'!r})"

    def __getstate__(self):  # handles travel into containers as arguments or closures
        return {"_name": self._name, "_create_if_missing": self._create_if_missing, "_object_id": self._object_id}

    async def _id(self) -> str:
        if self._object_id is None:
            request = spb.ObjectGetOrCreateRequest(name=self._name, create_if_missing=self._create_if_missing)
            resp = await storage_call(f"{self._kind.capitalize()}GetOrCreate", request)
            self._object_id = resp.object_id
        return self._object_id

    @classmethod
    async def _delete(cls, name: str) -> None:
        await storage_call(f"{cls._kind.capitalize()}Delete", spb.ObjectDeleteRequest(name=name))

    # `with X.ephemeral() as x:` or `async with X.ephemeral.aio() as x:`: a nameless object,
    # deleted when the block exits.
    ephemeral: _EphemeralFactory


class _Ephemeral:
    def __init__(self, cls):
        self._cls = cls
        self._obj = None

    async def _create(self):
        resp = await storage_call(f"{self._cls._kind.capitalize()}GetOrCreate", spb.ObjectGetOrCreateRequest(ephemeral=True))
        self._obj = self._cls(None, object_id=resp.object_id)
        return self._obj

    async def _destroy(self) -> None:
        if self._obj is not None:
            await self._cls._delete(self._obj.object_id)

    def __enter__(self):
        return run_sync(self._create())

    def __exit__(self, *exc) -> None:
        run_sync(self._destroy())

    async def __aenter__(self):
        return await run_aio(self._create())

    async def __aexit__(self, *exc) -> None:
        await run_aio(self._destroy())


class _EphemeralFactory:
    """`X.ephemeral()` for `with`, `X.ephemeral.aio()` for `async with`."""

    def __init__(self, cls=None):
        self._cls = cls

    def __get__(self, obj, cls):
        return _EphemeralFactory(cls)

    def __call__(self):
        return _Ephemeral(self._cls)

    def aio(self):
        return _Ephemeral(self._cls)


_StorageObject.ephemeral = _EphemeralFactory()
