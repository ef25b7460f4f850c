"""SandboxSnapshot: a memory snapshot of a gVisor sandbox (`sb.snapshot_memory()`).

It holds the sandbox's processes, their memory and its files as they were at one instant;
`Sandbox.from_snapshot(snapshot)` starts a new sandbox from it, as many times as wanted. A snapshot
is kept on the server until `snapshot.delete()` (or `squall sandbox snapshots rm ID`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from squall._proto.squall.v1 import sandbox_pb2 as sb_pb
from squall.exception import InvalidError
from squall.sdk._sync import live_function, live_method


class SandboxSnapshot:
    """A handle on a memory snapshot; `from_id` does no I/O until a method needs the server."""

    def __init__(self, snapshot_id: str, info: sb_pb.SandboxSnapshotInfo | None = None):
        self.object_id = snapshot_id
        self._info = info

    def __repr__(self) -> str:
        return f"SandboxSnapshot({self.object_id})"

    @staticmethod
    def from_id(snapshot_id: str) -> SandboxSnapshot:
        if not isinstance(snapshot_id, str) or not snapshot_id.startswith("sn-"):
            raise InvalidError(f"SandboxSnapshot.from_id({snapshot_id!r}): give a snapshot id such as 'sn-...'")
        return SandboxSnapshot(snapshot_id)

    @live_method
    async def info(self) -> sb_pb.SandboxSnapshotInfo:
        """Its source sandbox, when it was taken, its size and the runtime build it needs."""
        from squall.sdk.sandbox import _call

        self._info = await _call("SandboxSnapshotGet", sb_pb.SandboxSnapshotRef(snapshot_id=self.object_id))
        return self._info

    @live_method
    async def delete(self) -> None:
        """Remove it from the server and its blob store; sandboxes restored from it keep running."""
        from squall.sdk.sandbox import _call

        await _call("SandboxSnapshotDelete", sb_pb.SandboxSnapshotRef(snapshot_id=self.object_id))

    @staticmethod
    @live_function
    async def list() -> AsyncIterator[SandboxSnapshot]:
        """Every memory snapshot on the server, oldest first."""
        from squall.sdk.sandbox import _call

        for info in (await _call("SandboxSnapshotList", sb_pb.SandboxEmpty())).snapshots:
            yield SandboxSnapshot(info.snapshot_id, info)
