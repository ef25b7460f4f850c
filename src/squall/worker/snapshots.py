"""Memory snapshots of gVisor sandboxes on a worker.

Taking one: the supervisor is detached first (SupervisorLink.quiesce: it closes the link, the one
host socket in the sandbox, which runsc cannot checkpoint); the runtime pauses the sandbox, `runsc checkpoint`s it (it runs on afterwards) and,
still paused, the sandbox's upper dir (everything it wrote) is tarred beside the image, so memory
and files are of one instant. The directory (image/, fs.tar, meta.json) is packed with zstd into
the blob store, where any worker can fetch it, and kept unpacked here for restores on this worker.

Restoring one: the directory is fetched and unpacked once per worker (concurrent restores wait for
the one fetch), checked against this worker's runsc build and CPU, and fs.tar becomes the new
sandbox's upper dir; worker/sandbox.py then runs `runsc restore` instead of `runsc run`.

Either way the supervisor comes back by itself: it polls its resume file for a new nonce and
proves itself to its link with HMAC(secret, nonce) (sandbox_link.py).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import pathlib
import shutil
import time
import uuid
from typing import TYPE_CHECKING

from squall._proto.squall.v1 import sandbox_pb2 as sb_pb
from squall._proto.squall.v1 import worker_pb2
from squall.images.base import build_once_async
from squall.images.builder import TAR_XATTRS
from squall.runtime.base import restore_mismatch

if TYPE_CHECKING:
    from squall.worker.worker import Worker

log = logging.getLogger("squall.worker")

FORMAT = 2  # of the packed directory (2: meta.json has the platform)
PACK_LEVEL = 1  # zstd: the images are mostly memory pages; speed matters more than ratio
QUIESCE_TIMEOUT_S = 30.0  # for the supervisor to flush and detach
REATTACH_TIMEOUT_S = 30.0  # for it to come back after the checkpoint


class SnapshotMismatch(RuntimeError):
    """The snapshot cannot be restored on this worker (another runsc build, missing CPU features)."""


@functools.cache
def cpu_features() -> tuple[str, ...]:
    """This machine's CPU flags: a restored process may rely on any feature it saw at checkpoint."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return tuple(sorted(set(line.partition(":")[2].split())))
    except OSError:
        pass
    return ()


def resume_dir(worker: Worker, sandbox_id: str) -> pathlib.Path:
    """Bind-mounted read-only at config.CONTAINER_RESUME_DIR; its `nonce` tells the supervisor to reconnect."""
    return worker.home / "run" / "sandbox-resume" / sandbox_id


def write_nonce(worker: Worker, sandbox_id: str, nonce: str) -> None:
    """Replace the nonce whole (the supervisor takes it only with its final newline)."""
    d = resume_dir(worker, sandbox_id)
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / ".nonce.tmp"
    tmp.write_text(nonce + "\n")
    tmp.rename(d / "nonce")


def snapshot_dir(worker: Worker, snapshot_id: str) -> pathlib.Path:
    return worker.home / "snapshots" / snapshot_id


async def _sh(cmd: str) -> None:
    proc = await asyncio.create_subprocess_shell(cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd.split()[0]} failed: {err.decode(errors='replace').strip()[:500]}")


def _q(p: pathlib.Path) -> str:
    import shlex

    return shlex.quote(str(p))


async def checkpoint_sandbox(worker: Worker, req: worker_pb2.CheckpointSandbox) -> None:
    reply = worker_pb2.SandboxCheckpointed(request_id=req.request_id)
    sid = req.sandbox_id
    tmp = worker.home / "snapshots" / f".{req.snapshot_id}.tmp-{uuid.uuid4().hex[:8]}"
    link = worker.sandbox_links.get(sid)
    detached = False
    try:
        container = worker.containers.get(sid)
        upper = worker.upper_dirs.get(sid)
        runtime = worker.runtimes.get("gvisor")
        if container is None or upper is None or link is None:
            raise RuntimeError(f"sandbox {sid} is not running on worker {worker.worker_id}")
        if runtime is None or not runtime.capabilities.checkpoint:
            raise RuntimeError(f"worker {worker.worker_id} has no runtime that can checkpoint")
        (tmp / "image").mkdir(parents=True)
        await link.quiesce(req.resume_secret, QUIESCE_TIMEOUT_S)
        detached = True
        t0 = time.monotonic()

        async def copy_files() -> None:  # the sandbox is paused: its files match the image
            await _sh(f"tar -C {_q(upper)} {' '.join(TAR_XATTRS)} -cf {_q(tmp / 'fs.tar')} .")

        await runtime.checkpoint(container, tmp / "image", copy_files)
        reply.paused_s = time.monotonic() - t0
        _reattach(worker, sid, link)  # its supervisor comes back while the image is packed
        detached = False
        reply.runtime_version = runtime.version()
        reply.platform = getattr(runtime, "platform", "")
        reply.cpu_features.extend(cpu_features())
        meta = {"format": FORMAT, "snapshot_id": req.snapshot_id, "sandbox_id": sid, "runtime_version": reply.runtime_version,
                "platform": reply.platform, "cpu_features": list(reply.cpu_features), "created_at": time.time()}
        (tmp / "meta.json").write_text(json.dumps(meta))
        reply.blob_digest, reply.size_bytes = await _pack(worker, tmp)
        final = snapshot_dir(worker, req.snapshot_id)
        if not final.exists():
            tmp.rename(final)
        # Answer once the sandbox is driveable again (its held commands went down).
        await asyncio.wait_for(link.attached.wait(), REATTACH_TIMEOUT_S)
    except Exception as exc:
        log.exception("memory snapshot of sandbox %s failed", sid)
        reply.error = str(exc) or type(exc).__name__
    finally:
        if detached and link is not None:  # whatever happened, the sandbox's supervisor must come back
            _reattach(worker, sid, link)
        shutil.rmtree(tmp, ignore_errors=True)
    worker.outbox.put_nowait(worker_pb2.WorkerEvent(sandbox_checkpointed=reply))


def _reattach(worker: Worker, sandbox_id: str, link) -> None:
    write_nonce(worker, sandbox_id, link.expect_resume())


async def _pack(worker: Worker, directory: pathlib.Path) -> tuple[str, int]:
    proc = await asyncio.create_subprocess_shell(f"tar -C {_q(directory)} -cf - . | zstd -q -T0 -{PACK_LEVEL} -c",
                                                 stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    size = 0

    async def chunks():
        nonlocal size
        while chunk := await proc.stdout.read(1024 * 1024):  # type: ignore[union-attr]
            size += len(chunk)
            yield chunk

    digest = await worker.builder.blobs.put(chunks())
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"packing the snapshot failed: {err.decode(errors='replace').strip()[:500]}")
    return digest, size


async def prepare_restore(worker: Worker, restore: sb_pb.RestoreFrom, upper: pathlib.Path) -> pathlib.Path:
    """Check the snapshot against this worker, fetch and unpack it (once), fill `upper` with its
    files; returns the checkpoint image's directory."""
    runtime = worker.runtimes.get("gvisor")
    here = runtime.version() if runtime is not None else ""
    platform = getattr(runtime, "platform", "")
    problem = restore_mismatch(restore.runtime_version, list(restore.cpu_features), here, list(cpu_features()), restore.platform, platform)
    if problem:
        raise SnapshotMismatch(f"snapshot {restore.snapshot_id} cannot be restored on worker {worker.worker_id}: {problem}")

    async def fetch(tmp: pathlib.Path) -> None:
        await worker.builder.unpack(restore.blob_digest, tmp, f"snapshot {restore.snapshot_id}")

    d = await build_once_async(snapshot_dir(worker, restore.snapshot_id), fetch, log.info)
    meta = json.loads((d / "meta.json").read_text())
    problem = restore_mismatch(meta.get("runtime_version", ""), meta.get("cpu_features", []), here, list(cpu_features()), meta.get("platform", ""), platform)
    if problem or meta.get("format") != FORMAT:
        raise SnapshotMismatch(f"snapshot {restore.snapshot_id} cannot be restored on worker {worker.worker_id}: {problem or 'unknown format'}")
    await _sh(f"tar -C {_q(upper)} {' '.join(TAR_XATTRS)} -xpf {_q(d / 'fs.tar')}")
    return d / "image"


def forget(worker: Worker, snapshot_id: str) -> None:
    shutil.rmtree(snapshot_dir(worker, snapshot_id), ignore_errors=True)
