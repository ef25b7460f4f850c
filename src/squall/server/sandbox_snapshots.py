"""Memory snapshots of sandboxes in the control plane: take one, restore one as a new sandbox,
list and delete them.

Taking one (gVisor sandboxes without Volumes): the sandbox's worker is asked to checkpoint
it, with a fresh resume secret. The worker detaches the supervisor from its link (runsc cannot
checkpoint the host socket), pauses, checkpoints and resumes the sandbox, packs image and files
into the blob store, and lets the supervisor back in once it proves itself with HMAC(secret, a
nonce of the worker's). This server's stream to the sandbox stays open throughout: the worker holds
commands sent meanwhile. The snapshot is recorded with the runsc build, platform and CPU features
it was taken with, and its secret; it is kept until deleted.

Restoring one: a worker with the same runsc build and platform and at least those CPU features
(otherwise the request is refused, naming what differs) gets the secret and the new sandbox's
fresh token, runs `runsc restore` into a new sandbox (new id, its own cgroup, disk and network
namespace: with network access, a new address with the source's egress policy; with ports, tunnels
of its own) and opens the new sandbox's stream once the restored supervisor proved itself. No init
is sent: it has its env already.

The secret is no credential to this server (the worker, which is trusted, checks the proof); it
only tells a restored supervisor from a user process racing it to the link. It is as sensitive as
the snapshot's memory, which holds it anyway; the database keeps it encrypted with the server's
secret key, as it keeps Secrets (secret_box.py).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import uuid

from squall._proto.squall.v1 import sandbox_pb2 as sb_pb
from squall._proto.squall.v1 import worker_pb2
from squall.runtime.base import restore_mismatch
from squall.server.records import new_id
from squall.server.sandboxes import DEFAULT_APP, DEFAULT_TIMEOUT_S, START_TIMEOUT_S, SandboxManager, SandboxRec
from squall.server.secret_box import default_box

log = logging.getLogger("squall.server")

RESUME_SECRET_BYTES = 32
CHECKPOINT_TIMEOUT_S = 600.0  # for the worker to quiesce, checkpoint, upload and let the supervisor back


class SnapshotRefused(ValueError):
    """This sandbox cannot be snapshotted, or this snapshot cannot be restored: the message says why."""


class SnapshotManager:
    def __init__(self, mgr: SandboxManager) -> None:
        self.mgr = mgr
        self.cp = mgr.cp
        self._replies: dict[str, asyncio.Future] = {}  # request id -> the worker's SandboxCheckpointed

    def info(self, row) -> sb_pb.SandboxSnapshotInfo:
        return sb_pb.SandboxSnapshotInfo(snapshot_id=row.id, sandbox_id=row.sandbox_id, created_at=row.created_at, size_bytes=row.size_bytes,
                                         runtime_version=row.runtime_version, checkpoint_s=row.checkpoint_s, platform=row.platform)

    # -- taking one ----------------------------------------------------------------------------
    def check_snapshottable(self, rec: SandboxRec) -> None:
        if rec.runtime != "gvisor":
            raise SnapshotRefused(f"sandbox {rec.sandbox_id} runs under {rec.runtime}: memory snapshots need runtime='gvisor' (runsc checkpoint); "
                                  "create it with Sandbox.create(..., runtime='gvisor')")
        if rec.request.volumes:
            raise SnapshotRefused(f"sandbox {rec.sandbox_id} has Volumes or CloudBucketMounts mounted: memory snapshots of sandboxes with them are not supported yet")
        if rec.snapshotting:
            raise SnapshotRefused(f"sandbox {rec.sandbox_id} is being snapshotted already; try again when that one is done")

    async def snapshot(self, rec: SandboxRec) -> sb_pb.SandboxSnapshotInfo:
        self.check_snapshottable(rec)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not rec.connected and not rec.done.is_set():  # just created: wait for its supervisor
            changed = rec.changed
            try:
                await asyncio.wait_for(changed.wait(), deadline - time.monotonic())
            except asyncio.TimeoutError:
                raise RuntimeError(f"sandbox {rec.sandbox_id} did not start within {START_TIMEOUT_S:g} s") from None
        if rec.done.is_set():
            raise SnapshotRefused(f"sandbox {rec.sandbox_id} has stopped ({rec.reason}): only a running sandbox can be snapshotted")
        self.check_snapshottable(rec)
        worker = self.cp.workers.get(rec.worker_id)
        if worker is None:
            raise LookupError(f"the worker running {rec.sandbox_id} is gone")
        snapshot_id = new_id("snapshot")
        secret = secrets.token_bytes(RESUME_SECRET_BYTES)
        loop = asyncio.get_running_loop()
        request_id = uuid.uuid4().hex
        done = self._replies[request_id] = loop.create_future()
        rec.snapshotting = True
        try:
            worker.commands.put_nowait(worker_pb2.WorkerCommand(checkpoint_sandbox=worker_pb2.CheckpointSandbox(
                request_id=request_id, sandbox_id=rec.sandbox_id, snapshot_id=snapshot_id, resume_secret=secret)))
            stopped = asyncio.ensure_future(rec.done.wait())
            try:  # the sandbox (or its worker) may go away meanwhile
                await asyncio.wait({done, stopped}, timeout=CHECKPOINT_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopped.cancel()
            if not done.done():
                raise RuntimeError(f"sandbox {rec.sandbox_id} stopped ({rec.reason})" if rec.done.is_set() else "the worker did not answer")
            reply = done.result()
        finally:
            self._replies.pop(request_id, None)
            rec.snapshotting = False
            rec.last_active = time.time()  # the pause does not count towards idle_timeout
        if reply.error:
            raise RuntimeError(f"memory snapshot of {rec.sandbox_id} failed: {reply.error}")
        request = sb_pb.SandboxCreateRequest()
        request.CopyFrom(rec.request)
        request.env.clear()  # the restored supervisor has them in memory; the database never does
        del request.secret_ids[:]
        self.mgr.db.snapshot_create(
            id=snapshot_id, sandbox_id=rec.sandbox_id, created_at=time.time(), blob_digest=reply.blob_digest, size_bytes=reply.size_bytes,
            runtime_version=reply.runtime_version, platform=reply.platform, cpu_features=list(reply.cpu_features), image_id=rec.request.image_id or None,
            request=request.SerializeToString(), resume_secret=default_box().encrypt_bytes(secret), checkpoint_s=reply.paused_s,
        )
        log.info("sandbox %s: memory snapshot %s (%.2f s paused, %d bytes)", rec.sandbox_id, snapshot_id, reply.paused_s, reply.size_bytes)
        return self.info(self.mgr.db.snapshot_get(snapshot_id))

    def on_checkpointed(self, event: worker_pb2.SandboxCheckpointed) -> None:
        done = self._replies.get(event.request_id)
        if done is not None and not done.done():
            done.set_result(event)

    # -- restoring one -------------------------------------------------------------------------
    def restore(self, snapshot_id: str) -> SandboxRec:
        row = self.mgr.db.snapshot_get(snapshot_id)
        if row is None:
            raise LookupError(f"no memory snapshot {snapshot_id!r}; `squall sandbox snapshots list` shows them")
        problems = {}
        for w in self.cp.workers.values():
            if "gvisor" in w.runtimes:
                problems[w.worker_id] = restore_mismatch(row.runtime_version, list(row.cpu_features), w.gvisor_version, list(w.cpu_features),
                                                         row.platform, w.gvisor_platform)
        if not problems:
            raise SnapshotRefused(f"snapshot {snapshot_id} needs a gVisor worker to restore on, and none is connected")
        if all(problems.values()):
            why = "; ".join(f"{wid}: {p}" for wid, p in sorted(problems.items()))
            raise SnapshotRefused(f"snapshot {snapshot_id} cannot be restored on any connected worker: {why}")
        req = sb_pb.SandboxCreateRequest.FromString(row.request)
        req.name = ""
        if req.app_id and req.app_id not in self.cp.running_apps:
            req.app_id, req.app_name = "", DEFAULT_APP
        app_id = self.mgr.resolve_app(req)
        restore = sb_pb.RestoreFrom(snapshot_id=row.id, blob_digest=row.blob_digest, resume_secret=_resume_secret(row.resume_secret), runtime_version=row.runtime_version,
                                    cpu_features=list(row.cpu_features), platform=row.platform)
        rec = self.mgr._start(req, "gvisor", restore=restore, worker_ok=lambda wid: not problems.get(wid, "x"))
        self.mgr._claim(rec, req, app_id, req.timeout_s or DEFAULT_TIMEOUT_S, init=False)
        log.info("sandbox %s: restoring snapshot %s on %s", rec.sandbox_id, snapshot_id, rec.worker_id)
        return rec

    async def wait_restored(self, rec: SandboxRec) -> None:
        """Until the restored sandbox's supervisor is back; a restore that failed on the worker (a
        mismatch it found, a broken image) raises with the worker's reason."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while not rec.connected and not rec.done.is_set():
            changed = rec.changed
            try:
                await asyncio.wait_for(changed.wait(), deadline - time.monotonic())
            except asyncio.TimeoutError:
                break
        if rec.done.is_set():
            raise SnapshotRefused(rec.reason or f"the restored sandbox {rec.sandbox_id} stopped at once")

    # -- listing, deleting ---------------------------------------------------------------------
    def get(self, snapshot_id: str) -> sb_pb.SandboxSnapshotInfo | None:
        row = self.mgr.db.snapshot_get(snapshot_id)
        return None if row is None else self.info(row)

    def list(self) -> list[sb_pb.SandboxSnapshotInfo]:
        return [self.info(r) for r in self.mgr.db.snapshot_list()]

    def delete(self, snapshot_id: str) -> bool:
        row = self.mgr.db.snapshot_get(snapshot_id)
        if row is None:
            return False
        self.mgr.db.snapshot_delete(snapshot_id)
        if self.mgr.db.snapshot_blob_users(row.blob_digest) == 0 and self.cp.images is not None:
            self.cp.images.blobs.delete(row.blob_digest)
        for w in self.cp.workers.values():
            w.commands.put_nowait(worker_pb2.WorkerCommand(forget_snapshot=snapshot_id))
        log.info("memory snapshot %s deleted", snapshot_id)
        return True


def _resume_secret(stored: bytes) -> bytes:
    """A snapshot's resume secret from its row: encrypted, or (taken before secrets were encrypted) as is."""
    return stored if len(stored) == RESUME_SECRET_BYTES else default_box().decrypt_bytes(stored)
