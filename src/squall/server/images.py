"""Image builds on the control plane: plan, dispatch to a worker, fan the log out, record.

A client asks for an image by recipe (`ImageBuild`). The control plane plans it into
layers (`squall.images.recipe`); an image already built answers at once. Otherwise one
worker builds it: the plan goes down that worker's stream with the blob digest of every
layer some worker built before (so it fetches those instead of building them), the
worker streams its log back, and on success reports the digests of the layers it made.
Every client asking for the same image while it builds joins the one build and sees the
same log from its start: the same image never builds twice at once.

What a container of the image needs (its layers and their blobs, its config) is then
in STATE, so any worker can run it: `plan_for_container` builds that message.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator

from squall._proto.squall.v1 import api_pb2, common_pb2, worker_pb2
from squall.images import recipe
from squall.server.state.store import Store
from squall.storage.blobs import LocalBlobStore

log = logging.getLogger("squall.server.images")

# The worker runtimes a build can run steps with, best first.
BUILD_RUNTIMES = ("runc", "gvisor")
WORKER_WAIT_S = 30.0  # how long a build waits for a capable worker to connect (a cluster starting up)


@dataclasses.dataclass(eq=False)
class Build:
    build_id: str
    image_id: str
    worker_id: str
    started: float
    lines: list[str] = dataclasses.field(default_factory=list)
    result: api_pb2.ImageBuildEvent | None = None
    changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def publish(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


class ImageBuilds:
    def __init__(self, store: Store, blobs: LocalBlobStore, workers: dict) -> None:
        self.store = store
        self.blobs = blobs
        self.workers = workers  # the control plane's live workers (WorkerRec by id)
        self.builds: dict[str, Build] = {}  # build id -> build in flight
        self.by_image: dict[str, Build] = {}
        self._plans: dict[str, common_pb2.ImagePlan] = {}  # image id -> what its containers need (ready images)
        self._snapshots: dict[str, asyncio.Future] = {}  # request id -> the worker's FilesystemSnapshot

    # -- the client side -----------------------------------------------------------------------
    async def build(self, recipe_json: str, force: bool, registry_auth: dict[str, str]) -> AsyncIterator[api_pb2.ImageBuildEvent]:
        try:
            plan = recipe.plan(json.loads(recipe_json), force_all=force)
        except (ValueError, KeyError, TypeError) as exc:
            yield api_pb2.ImageBuildEvent(error=f"invalid image recipe: {exc}")
            return
        forced = any(layer.force for layer in plan.layers)
        row = self.store.get_image(plan.image_id)
        if row is not None and row.status == "ready" and not forced and plan.image_id not in self.by_image:
            yield api_pb2.ImageBuildEvent(done=self._info(row, cached=True))
            return
        if len(plan.layers) == 1 and plan.layers[0].step["kind"] == "debian_slim":
            self._record_base_only(plan)  # every worker makes that base itself: nothing to build
            yield api_pb2.ImageBuildEvent(done=self._info(self.store.get_image(plan.image_id), cached=True))
            return
        build = self.by_image.get(plan.image_id)
        if build is None:
            deadline = time.monotonic() + WORKER_WAIT_S
            while self._pick_worker() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            build = self.by_image.get(plan.image_id)
        if build is None:
            started = self._start(plan, registry_auth)
            if isinstance(started, str):
                yield api_pb2.ImageBuildEvent(error=started)
                return
            build = started
        sent = 0
        while True:
            changed = build.changed
            while sent < len(build.lines):
                yield api_pb2.ImageBuildEvent(log=build.lines[sent])
                sent += 1
            if build.result is not None:
                yield build.result
                return
            await changed.wait()

    def _start(self, plan: recipe.Plan, registry_auth: dict[str, str]) -> Build | str:
        worker = self._pick_worker()
        if worker is None:
            return "no worker can build images: start one with `squall worker` (it needs root and runc or runsc)"
        digests = self.store.layer_digests(plan.layer_ids[1:])
        layers = [
            common_pb2.LayerSpec(layer_id=layer.layer_id, step_json=json.dumps(layer.step, sort_keys=True), blob_digest=digests.get(layer.layer_id, ""),
                                 force=layer.force)
            for layer in plan.layers
        ]
        config_json = json.dumps(plan.config, sort_keys=True)
        self.store.save_image(plan.image_id, description=plan.description, status="building", layers=[{"layer_id": s.layer_id, "step": s.step_json} for s in layers],
                              config=plan.config, error="")
        build = Build(f"bu-{uuid.uuid4().hex[:12]}", plan.image_id, worker.worker_id, time.monotonic())
        self.builds[build.build_id] = build
        self.by_image[plan.image_id] = build
        log.info("building image %s (%s) on worker %s", plan.image_id, plan.description, worker.worker_id)
        worker.commands.put_nowait(worker_pb2.WorkerCommand(build=worker_pb2.BuildImage(
            build_id=build.build_id, image=common_pb2.ImagePlan(image_id=plan.image_id, layers=layers, config_json=config_json),
            registry_auth=registry_auth,
        )))
        return build

    def _pick_worker(self):
        candidates = [w for w in self.workers.values() if any(rt in w.runtimes for rt in BUILD_RUNTIMES)]
        if not candidates:
            return None
        busy = {b.worker_id: 0 for b in self.builds.values()}
        for b in self.builds.values():
            busy[b.worker_id] += 1
        return min(candidates, key=lambda w: (busy.get(w.worker_id, 0), "runc" not in w.runtimes))

    # -- the worker side -----------------------------------------------------------------------
    def on_log(self, event: worker_pb2.BuildLog) -> None:
        build = self.builds.get(event.build_id)
        if build is not None:
            build.lines.extend(event.lines)
            build.publish()

    def on_done(self, event: worker_pb2.BuildDone) -> None:
        build = self.builds.pop(event.build_id, None)
        if build is None:
            return
        self.by_image.pop(build.image_id, None)
        self._plans.pop(build.image_id, None)
        elapsed = time.monotonic() - build.started
        if event.error:
            self.store.save_image(build.image_id, status="failed", error=event.error)
            build.result = api_pb2.ImageBuildEvent(error=event.error)
        else:
            built = [(s.layer_id, s.blob_digest, self._blob_size(s.blob_digest)) for s in event.layers if s.blob_digest]
            self.store.save_layers(built)
            row = self.store.get_image(build.image_id)
            config = dict(row.config)
            config["python_version"] = config.get("python_version") or event.python_version
            self.store.save_image(build.image_id, status="ready", config=config, built_at=time.time(), build_s=elapsed, error="")
            log.info("image %s built in %.1fs", build.image_id, elapsed)
            build.result = api_pb2.ImageBuildEvent(done=self._info(self.store.get_image(build.image_id), cached=False))
        build.publish()

    def worker_lost(self, worker_id: str) -> None:
        for build in [b for b in self.builds.values() if b.worker_id == worker_id]:
            self.on_done(worker_pb2.BuildDone(build_id=build.build_id, error=f"the worker building the image ({worker_id}) went away; run again to rebuild"))

    def _blob_size(self, digest: str) -> int:
        try:
            return self.blobs.size(digest)
        except OSError:
            return 0

    # -- what containers need ------------------------------------------------------------------
    def plan_for_container(self, image_id: str) -> common_pb2.ImagePlan | None:
        """The layers (with blob digests) and config of a built image; None if it is not built."""
        if image_id in self._plans:
            return self._plans[image_id]
        row = self.store.get_image(image_id) if image_id else None
        if row is None or row.status != "ready":
            return None
        layer_ids = [entry["layer_id"] for entry in row.layers]
        digests = self.store.layer_digests(layer_ids[1:])
        plan = common_pb2.ImagePlan(
            image_id=image_id,
            layers=[common_pb2.LayerSpec(layer_id=e["layer_id"], step_json=e["step"], blob_digest=digests.get(e["layer_id"], "")) for e in row.layers],
            config_json=json.dumps(row.config, sort_keys=True),
        )
        self._plans[image_id] = plan
        return plan

    def status(self, image_id: str) -> str:
        row = self.store.get_image(image_id)
        return "" if row is None else row.status

    # -- listing and gc ------------------------------------------------------------------------
    def _info(self, row, cached: bool = False) -> api_pb2.ImageInfo:
        layer_ids = [e["layer_id"] for e in row.layers]
        sizes = {r.layer_id: r.size_bytes for r in self.store.list_layers() if r.layer_id in set(layer_ids)}
        return api_pb2.ImageInfo(
            image_id=row.id, status=row.status, description=row.description, layer_ids=layer_ids, size_bytes=sum(sizes.values()),
            created_at=row.created_at, built_at=row.built_at, python_version=row.config.get("python_version", ""), cached=cached, build_s=row.build_s,
        )

    def get(self, image_id: str) -> api_pb2.ImageInfo | None:
        row = self.store.get_image(image_id)
        return None if row is None else self._info(row)

    def register_layer(self, parent_image_id: str, layer_id: str, blob_digest: str, size: int, description: str) -> str:
        """A new ready image: `parent_image_id`'s layers plus one layer already in the blob store
        (a sandbox's filesystem snapshot). Returns its id."""
        parent = self.store.get_image(parent_image_id)
        if parent is None or parent.status != "ready":
            raise ValueError(f"image {parent_image_id!r} is not a built image")
        image_id = "im-" + recipe._hash({"parent": parent_image_id, "layer": layer_id}, 20)
        self.store.save_layers([(layer_id, blob_digest, size)])
        layers = [*parent.layers, {"layer_id": layer_id, "step": json.dumps({"op": "snapshot", "layer_id": layer_id})}]
        self.store.save_image(image_id, description=f"{parent.description}.{description}", status="ready", layers=layers, config=dict(parent.config),
                              error="", built_at=time.time())
        return image_id

    def default_image_id(self) -> str:
        """The id of plain debian_slim, recorded as ready (every worker makes that base itself)."""
        plan = recipe.plan({"base": {"kind": "debian_slim", "python_version": recipe.DEBIAN_SLIM_PYTHON, "force_build": False}, "steps": []})
        if self.status(plan.image_id) != "ready":
            self._record_base_only(plan)
        return plan.image_id

    def _record_base_only(self, plan: recipe.Plan) -> None:
        """Record an image that is only the debian_slim base as ready: there is nothing to build."""
        self.store.save_image(plan.image_id, description=plan.description, status="ready", config=plan.config, error="", built_at=time.time(),
                              layers=[{"layer_id": plan.layer_ids[0], "step": json.dumps(plan.layers[0].step, sort_keys=True)}])

    async def snapshot_container(self, worker_id: str, container_id: str, parent_image_id: str, timeout: float = 300.0) -> str:
        """A new image: the parent's layers plus what the running container wrote so far."""
        worker = self.workers.get(worker_id)
        if worker is None:
            raise LookupError(f"the worker running {container_id} is gone")
        request_id = uuid.uuid4().hex
        done = self._snapshots[request_id] = asyncio.get_running_loop().create_future()
        worker.commands.put_nowait(worker_pb2.WorkerCommand(snapshot_filesystem=worker_pb2.SnapshotFilesystem(request_id=request_id, container_id=container_id)))
        try:
            reply = await asyncio.wait_for(done, timeout)
        finally:
            self._snapshots.pop(request_id, None)
        if reply.error:
            raise RuntimeError(f"snapshot of {container_id} failed: {reply.error}")
        layer_id = recipe._hash({"snapshot": reply.blob_digest})
        return self.register_layer(parent_image_id or self.default_image_id(), layer_id, reply.blob_digest, reply.size_bytes, f"snapshot({container_id})")

    def on_snapshot(self, event: worker_pb2.FilesystemSnapshot) -> None:
        done = self._snapshots.get(event.request_id)
        if done is not None and not done.done():
            done.set_result(event)

    def list(self) -> list[api_pb2.ImageInfo]:
        return [self._info(row) for row in self.store.list_images()]

    def gc(self) -> api_pb2.ImageGcResponse:
        """Forget images no running or deployed app uses (and no build is making), then delete
        every layer no remaining image needs: its blob here, its copy on each worker."""
        from squall.server.state.sandbox_store import snapshot_image_ids

        in_use = self.store.image_ids_in_use() | set(self.by_image) | snapshot_image_ids(self.store)
        rows = self.store.list_images()
        dead = [r.id for r in rows if r.id not in in_use]
        keep_layers = {e["layer_id"] for r in rows if r.id in in_use for e in r.layers}
        self.store.delete_images(dead)
        self._plans.clear()
        freed, removed_layers = 0, []
        for layer in self.store.list_layers():
            if layer.layer_id not in keep_layers:
                freed += layer.size_bytes
                self.blobs.delete(layer.blob_digest)
                removed_layers.append(layer.layer_id)
        self.store.delete_layers(removed_layers)
        for w in self.workers.values():
            w.commands.put_nowait(worker_pb2.WorkerCommand(gc_layers=worker_pb2.GcLayers(keep_layer_ids=sorted(keep_layers))))
        return api_pb2.ImageGcResponse(removed_image_ids=dead, removed_layer_ids=removed_layers, freed_bytes=freed)
