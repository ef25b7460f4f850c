"""The WebService: web endpoint URLs, proxy-auth tokens and schedules, for the SDK and CLI."""

from __future__ import annotations

import grpc

from squall._proto.squall.v1 import common_pb2 as pb
from squall._proto.squall.v1 import web_pb2, web_pb2_grpc
from squall.sdk.schedule import describe


class WebServicer(web_pb2_grpc.WebServiceServicer):
    def __init__(self, cp, state, gateway, schedules):
        self.cp = cp
        self.state = state
        self.gateway = gateway  # None when the server runs without one
        self.schedules = schedules

    async def WebUrls(self, request, context):
        urls = {}
        if self.gateway is not None:
            for fid in request.function_ids:
                fn = self.cp.function(fid)
                if fn is not None and fn.definition.HasField("web"):
                    urls[fid] = self.gateway.url_for(fn)
        return web_pb2.WebUrlsResponse(urls=urls, gateway_url=self.gateway.url if self.gateway is not None else "")

    async def ProxyTokenCreate(self, request, context):
        token_id, secret = self.state.create_proxy_token(request.name or "proxy")
        return web_pb2.ProxyTokenCreateResponse(token_id=token_id, token_secret=secret)

    async def ProxyTokenList(self, request, context):
        return web_pb2.ProxyTokenListResponse(tokens=[web_pb2.ProxyTokenInfo(token_id=r.id, name=r.name, created_at=r.created_at)
                                                      for r in self.state.list_proxy_tokens()])

    async def ProxyTokenDelete(self, request, context):
        if not self.state.delete_proxy_token(request.token_id):
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no proxy token {request.token_id!r}; `squall token list-proxy` shows them")
        return web_pb2.WebEmpty()

    async def ScheduleList(self, request, context):
        app_ids = None
        if request.app:
            row = self.cp.store.find_app(request.app)
            if row is None or row.ephemeral:
                row = self.cp.store.find_deployed_app(request.app) or row
            if row is None:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"no app {request.app!r}; `squall app list` shows the apps")
            app_ids = {row.id}
        states = self.state.schedule_states()
        out = []
        for app_id, name, fn in self.schedules.scheduled_functions():
            if app_ids is not None and app_id not in app_ids:
                continue
            state = states.get((app_id, name))
            runs = []
            for r in self.state.schedule_runs(app_id, name, request.max_runs or 20):
                outs = self.cp.store.outputs_after(r.call_id, 0, 1)
                status = "pending"
                if outs:
                    status = "success" if pb.Result.FromString(outs[0].result).status == pb.SUCCESS else "failure"
                runs.append(web_pb2.ScheduleRun(function_name=name, call_id=r.call_id, scheduled_for=r.scheduled_for, started_at=r.started_at,
                                                catch_up=r.catch_up, status=status))
            out.append(web_pb2.ScheduleInfo(app_id=app_id, app_name=self.cp.store.find_app(app_id).name, function_name=name,
                                            spec=describe(fn.definition.schedule), next_run_at=state.next_run_at if state else 0.0, runs=runs))
        return web_pb2.ScheduleListResponse(schedules=out)


class WebPlane:
    """What the server runs for the web: the gateway (unless http_port is -1), the schedule
    loop, and this service."""

    def __init__(self, cp, host: str, http_port: int | None, domain: str | None):
        from squall.server.gateway import Gateway
        from squall.server.scheduler_loop import ScheduleRunner
        from squall.server.web_state import WebState

        self.state = WebState(cp.store)
        self.gateway = Gateway(cp, self.state, host, http_port, domain) if http_port != -1 else None
        self.schedules = ScheduleRunner(cp, self.state)
        self.servicer = WebServicer(cp, self.state, self.gateway, self.schedules)

    async def start(self, grpc_server) -> None:
        web_pb2_grpc.add_WebServiceServicer_to_server(self.servicer, grpc_server)
        if self.gateway is not None:
            await self.gateway.start()
        self.schedules.start()

    async def stop(self) -> None:
        await self.schedules.stop()
        if self.gateway is not None:
            await self.gateway.stop()
