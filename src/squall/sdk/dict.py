"""`Dict`: a named, persistent dict shared by every client and container.

Keys and values are pickled with cloudpickle; keys compare by their pickled bytes, so
`1` and `1.0` are different keys (unlike a Python dict). Limits are in `squall._limits`
(key 64 KiB, value 16 MiB, 1,000,000 keys per dict, name 64 characters).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from squall import _limits as lim
from squall import _serialization as ser
from squall._proto.squall.v1 import storage_pb2 as spb
from squall.sdk._storage import _StorageObject, storage_call
from squall.sdk._sync import live_function, live_method

_MISSING = object()


def _key(key) -> bytes:
    return lim.check_size(f"dict key {ser._short(key)}", ser.serialize(key), lim.MAX_DICT_KEY_BYTES)


def _value(key, value) -> bytes:
    return lim.check_size(f"the value for dict key {ser._short(key)}", ser.serialize(value), lim.MAX_DICT_VALUE_BYTES)


class Dict(_StorageObject):
    """A distributed dict: `Dict.from_name("progress", create_if_missing=True)`.

    Every method that talks to the server blocks; each also has an awaitable `.aio` form.
    """

    _kind = "dict"

    @staticmethod
    @live_function
    async def delete(name: str) -> None:
        """Delete the named dict and everything in it."""
        await Dict._delete(lim.check_name("dict", name))

    @live_method
    async def get(self, key, default=None):
        """The value for `key`, or `default` when the key is missing."""
        request = spb.DictKeyRequest(key=_key(key))  # check the key before any I/O
        request.dict_id = await self._id()
        resp = await storage_call("DictGet", request)
        return ser.deserialize(resp.value) if resp.found else default

    @live_method
    async def put(self, key, value, *, skip_if_exists: bool = False) -> bool:
        """Set `key` to `value`. With skip_if_exists, leave an existing key alone and return False."""
        request = spb.DictPutRequest(entries=[spb.DictEntry(key=_key(key), value=_value(key, value))], skip_if_exists=skip_if_exists)
        request.dict_id = await self._id()
        return (await storage_call("DictPut", request)).created

    @live_method
    async def update(self, other=None, /, **kwargs) -> None:
        """Set many keys in one atomic write, like `dict.update`."""
        entries = [spb.DictEntry(key=_key(k), value=_value(k, v)) for k, v in dict(other or (), **kwargs).items()]
        if entries:
            await storage_call("DictPut", spb.DictPutRequest(dict_id=await self._id(), entries=entries))

    @live_method
    async def pop(self, key, default=_MISSING):
        """Remove `key` and return its value; KeyError when it is missing (unless a default is given)."""
        request = spb.DictKeyRequest(key=_key(key))  # check the key before any I/O
        request.dict_id = await self._id()
        resp = await storage_call("DictPop", request)
        if resp.found:
            return ser.deserialize(resp.value)
        if default is _MISSING:
            raise KeyError(key)
        return default

    @live_method
    async def contains(self, key) -> bool:
        request = spb.DictKeyRequest(key=_key(key))  # check the key before any I/O
        request.dict_id = await self._id()
        resp = await storage_call("DictContains", request)
        return resp.found

    @live_method
    async def len(self) -> int:
        return (await storage_call("DictLen", spb.DictLenRequest(dict_id=await self._id()))).len

    @live_method
    async def clear(self) -> None:
        """Remove every key."""
        await storage_call("DictClear", spb.DictClearRequest(dict_id=await self._id()))

    async def _contents(self, keys: bool, values: bool) -> AsyncIterator[spb.DictEntry]:
        dict_id, after = await self._id(), 0
        while True:
            resp = await storage_call("DictContents", spb.DictContentsRequest(dict_id=dict_id, after_seq=after, keys=keys, values=values))
            for e in resp.entries:
                yield e
            if resp.done:
                return
            after = resp.last_seq

    @live_method
    async def keys(self) -> AsyncIterator:
        """Iterate over the keys, oldest first (fetched a page at a time)."""
        async for e in self._contents(True, False):
            yield ser.deserialize(e.key)

    @live_method
    async def values(self) -> AsyncIterator:
        async for e in self._contents(False, True):
            yield ser.deserialize(e.value)

    @live_method
    async def items(self) -> AsyncIterator:
        async for e in self._contents(True, True):
            yield ser.deserialize(e.key), ser.deserialize(e.value)

    def __getitem__(self, key):
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key, value) -> None:
        self.put(key, value)

    def __delitem__(self, key) -> None:
        self.pop(key)

    def __contains__(self, key) -> bool:
        return self.contains(key)

    def __len__(self) -> int:
        return self.len()
