"""The Api service: what the SDK and CLI call."""

from __future__ import annotations

import asyncio

import grpc

from squall import __version__
from squall._proto.squall.v1 import api_pb2, api_pb2_grpc
from squall._proto.squall.v1 import common_pb2 as pb
from squall.server.control import ControlPlane
from squall.storage.blobs import LocalBlobStore

MAX_WAIT_S = 55.0  # long-polls end before a client's default deadline


class ApiServicer(api_pb2_grpc.ApiServicer):
    def __init__(self, cp: ControlPlane, blobs: LocalBlobStore):
        self.cp = cp
        self.blobs = blobs

    async def _app_id(self, id_or_name: str, context) -> str:
        row = self.cp.store.find_app(id_or_name)
        if row is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no app {id_or_name!r}; `squall app list` shows the apps")
        return row.id

    async def _function(self, function_id: str, context):
        fn = self.cp.function(function_id)
        if fn is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no function {function_id!r}")
        return fn

    async def _call(self, call_id: str, context):
        call = self.cp.call(call_id)
        if call is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no function call {call_id!r}")
        return call

    # -- apps ----------------------------------------------------------------------------------
    async def AppCreate(self, request, context):
        if not request.name:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "an app needs a name")
        return api_pb2.AppCreateResponse(app_id=self.cp.create_app(request.name, request.ephemeral))

    async def AppStop(self, request, context):
        self.cp.stop_app(await self._app_id(request.app_id, context))
        return api_pb2.Empty()

    async def AppPublish(self, request, context):
        app_id = await self._app_id(request.app_id, context)
        for name, function_id in request.function_ids.items():
            fn = self.cp.function(function_id)
            if fn is None or fn.app_id != app_id:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"function {name!r} ({function_id}) does not belong to app {app_id}")
        return api_pb2.AppPublishResponse(app_id=app_id, version=self.cp.publish(app_id, dict(request.function_ids)))

    async def _deployed_app_id(self, id_or_name: str, context) -> str:
        row = self.cp.store.find_app(id_or_name)
        if row is None or row.ephemeral:
            row = self.cp.store.find_deployed_app(id_or_name) or row
        if row is None or row.ephemeral:
            deployed = sorted({r.name for r in self.cp.store.list_apps() if not r.ephemeral})
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no deployed app {id_or_name!r}; deployed apps: {', '.join(deployed) or 'none'} (deploy one with `squall deploy app.py`)")
        return row.id

    async def AppHistory(self, request, context):
        app_id = await self._deployed_app_id(request.app_id, context)
        rows = self.cp.store.app_versions(app_id)
        return api_pb2.AppHistoryResponse(
            app_id=app_id, name=self.cp.store.find_app(app_id).name, current=rows[-1].version if rows else 0,
            versions=[api_pb2.AppVersionInfo(version=r.version, created_at=r.created_at, functions=sorted(r.function_ids), rollback_of=r.rollback_of) for r in rows],
        )

    async def AppRollback(self, request, context):
        app_id = await self._deployed_app_id(request.app_id, context)
        versions = [r.version for r in self.cp.store.app_versions(app_id)]
        target = request.version or (versions[-1] - 1 if versions else 0)
        if target not in versions:
            have = ", ".join(map(str, versions)) or "none"
            await context.abort(grpc.StatusCode.NOT_FOUND if request.version else grpc.StatusCode.FAILED_PRECONDITION,
                                f"app {request.app_id!r} has no version {target} to roll back to; its versions: {have}")
        return api_pb2.AppPublishResponse(app_id=app_id, version=self.cp.rollback(app_id, target))

    async def AppList(self, request, context):
        versions = self.cp.store.current_versions()
        counts: dict[str, int] = {}
        for c in self.cp.containers.values():
            fn = self.cp.functions.get(c.function_id)
            if fn:
                counts[fn.app_id] = counts.get(fn.app_id, 0) + 1
        return api_pb2.AppListResponse(
            apps=[
                api_pb2.AppInfo(app_id=r.id, name=r.name, state=r.state, created_at=r.created_at, stopped_at=r.stopped_at or 0.0,
                                num_containers=counts.get(r.id, 0), ephemeral=r.ephemeral, version=versions.get(r.id, 0))
                for r in self.cp.store.list_apps()
            ]
        )

    async def AppLogs(self, request, context):
        app_id = await self._app_id(request.app_id, context)
        after = request.after_seq
        event = self.cp.log_events[app_id]
        while True:
            event.clear()
            rows = self.cp.store.logs_after(app_id, after, request.container_id)
            if rows:
                after = rows[-1].seq
                yield api_pb2.LogBatch(
                    entries=[pb.LogEntry(container_id=r.container_id, stream=r.stream, text=r.text, ts=r.ts, function_name=r.function_name, seq=r.seq) for r in rows]
                )
                continue
            stopped = app_id not in self.cp.running_apps
            if not request.follow or stopped:
                yield api_pb2.LogBatch(app_stopped=stopped)
                return
            try:
                await asyncio.wait_for(event.wait(), 5.0)
            except asyncio.TimeoutError:
                pass

    # -- images --------------------------------------------------------------------------------
    async def ImageBuild(self, request, context):
        auth = {}
        if request.registry_secret_id:
            from squall.server.secret_box import secret_env

            auth = secret_env(self.cp.store, [request.registry_secret_id])
            missing = {"REGISTRY_USERNAME", "REGISTRY_PASSWORD"} - set(auth)
            if missing:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"the registry Secret lacks {', '.join(sorted(missing))}")
        async for event in self.cp.images.build(request.recipe_json, request.force, auth):
            yield event

    async def ImageList(self, request, context):
        return api_pb2.ImageListResponse(images=self.cp.images.list())

    async def ImageGc(self, request, context):
        return self.cp.images.gc()

    async def ImageGet(self, request, context):
        info = self.cp.images.get(request.image_id)
        if info is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no image {request.image_id!r}; `squall image list` shows the images")
        return info

    # -- blobs ---------------------------------------------------------------------------------
    async def BlobHas(self, request, context):
        return api_pb2.BlobHasResponse(exists=self.blobs.has(request.digest))

    async def BlobPut(self, request_iterator, context):
        return await receive_blob(self.blobs, request_iterator, context)

    # -- functions -----------------------------------------------------------------------------
    async def FunctionCreate(self, request, context):
        await self._app_id(request.app_id, context)
        d = request.definition
        if d.mount_digest and not self.blobs.has(d.mount_digest):
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"code mount {d.mount_digest} was not uploaded")
        if d.image_id and self.cp.images.status(d.image_id) != "ready":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"image {d.image_id} is not built; build it first (the SDK does when an app starts)")
        return api_pb2.FunctionCreateResponse(function_id=self.cp.create_function(request.app_id, request.name, d))

    async def FunctionLookup(self, request, context):
        """Function.from_name / Cls.from_name: a deployed app's current function of that name."""
        row = self.cp.store.find_deployed_app(request.app_name)
        if row is None or row.state != "running":
            deployed = sorted({r.name for r in self.cp.store.list_apps() if not r.ephemeral and r.state == "running"})
            why = "is stopped" if row is not None else "is not deployed"
            await context.abort(grpc.StatusCode.NOT_FOUND, f"app {request.app_name!r} {why}; deployed apps: {', '.join(deployed) or 'none'} "
                                                          f"(deploy it with `squall deploy`)")
        current = self.cp.store.current_app_version(row.id)
        function_ids = current.function_ids if current is not None else {}
        if request.name not in function_ids:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"deployed app {request.app_name!r} has no function or class {request.name!r}; "
                                                          f"it has: {', '.join(sorted(function_ids)) or 'nothing'}")
        fn = await self._function(function_ids[request.name], context)
        return api_pb2.FunctionLookupResponse(function_id=fn.function_id, definition=fn.definition)

    async def FunctionBind(self, request, context):
        parent = self.cp.current_function(await self._function(request.function_id, context))
        d = pb.FunctionDefinition()
        d.CopyFrom(parent.definition)
        d.class_params = request.class_params
        fid = self.cp.create_function(parent.app_id, d.function_name, d, parent_id=parent.function_id)
        return api_pb2.FunctionCreateResponse(function_id=fid)

    async def FunctionCallCreate(self, request, context):
        fn = self.cp.current_function(await self._function(request.function_id, context))  # a redeployed function's new version
        if fn.app_id not in self.cp.running_apps:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"app {fn.app_id} is stopped; start it again with `squall run` or `squall deploy`")
        call = self.cp.create_call(fn, request.kind, list(request.inputs))
        outputs = []
        if request.wait_s > 0:
            outputs = await self.cp.wait_outputs(call, 0, min(request.wait_s, MAX_WAIT_S), 1000)
        return api_pb2.FunctionCallCreateResponse(call_id=call.call_id, outputs=outputs)

    async def FunctionPutInputs(self, request, context):
        call = await self._call(request.call_id, context)
        fn = self.cp.function(call.function_id)
        if call.cancelled or fn is None or fn.app_id not in self.cp.running_apps:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"function call {call.call_id} was cancelled or its app stopped; no more inputs can be added")
        self.cp.add_inputs(call, list(request.inputs))
        return api_pb2.Empty()

    async def FunctionGetOutputs(self, request, context):
        call = await self._call(request.call_id, context)
        outs = await self.cp.wait_outputs(call, request.after_seq, min(request.timeout_s, MAX_WAIT_S), request.max or 1000)
        return api_pb2.FunctionGetOutputsResponse(outputs=outs, last_seq=outs[-1].seq if outs else request.after_seq, num_inputs=call.num_inputs, kind=call.kind)

    async def FunctionCallCancel(self, request, context):
        self.cp.cancel_call(await self._call(request.call_id, context), request.terminate_containers)
        return api_pb2.Empty()

    async def FunctionGetStats(self, request, context):
        backlog, runners, running = self.cp.stats(await self._function(request.function_id, context))
        return api_pb2.FunctionStats(backlog=backlog, num_total_runners=runners, num_running_inputs=running)

    async def FunctionUpdateAutoscaler(self, request, context):
        fn = await self._function(request.function_id, context)
        for field in request.fields:
            if field not in ("min_containers", "max_containers", "buffer_containers", "scaledown_window_s"):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cannot update {field!r}")
            setattr(fn.definition.options, field, getattr(request, field))
        self.cp._kick.set()
        return api_pb2.Empty()

    # -- containers ----------------------------------------------------------------------------
    async def ContainerList(self, request, context):
        app_id = await self._app_id(request.app_id, context) if request.app_id else None
        names = {fid: fn.definition.function_name for fid, fn in self.cp.functions.items()}
        infos = []
        for r in self.cp.store.list_containers(app_id):
            info = api_pb2.ContainerInfo(container_id=r.id, app_id=r.app_id, function_name=names.get(r.function_id, r.function_id), worker_id=r.worker_id,
                                         state=r.state, created_at=r.created_at, stopped_at=r.stopped_at or 0.0, exit_reason=r.exit_reason or "",
                                         timings=r.timings or {}, runtime=r.runtime)
            live = self.cp.containers.get(r.id)
            if live is not None:
                address = self.cp.web_address(live)
                info.web_address = f"{address[0]}:{address[1]}" if address else ""
                info.web_requests = live.web_requests
            infos.append(info)
        return api_pb2.ContainerListResponse(containers=infos)

    async def ContainerStop(self, request, context):
        c = self.cp.containers.get(request.container_id)
        if c is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no running container {request.container_id!r}; `squall container list` shows them")
        self.cp.stop_container(c, "stopped by `squall container stop`")
        return api_pb2.Empty()

    async def ServerInfo(self, request, context):
        return api_pb2.ServerInfoResponse(version=__version__, workers=sorted(self.cp.workers))


async def receive_blob(blobs: LocalBlobStore, request_iterator, context) -> api_pb2.BlobRef:
    """Store an uploaded blob as it streams in; the first chunk may name the expected digest."""
    expected = ""

    async def data():
        nonlocal expected
        async for chunk in request_iterator:
            expected = expected or chunk.digest
            yield chunk.data

    try:
        digest = await blobs.put_async(data(), "")
    except ValueError as exc:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    if expected and digest != expected:  # the content is stored under its own digest, harmlessly
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"blob content does not match its digest {expected}")
    return api_pb2.BlobRef(digest=digest)
