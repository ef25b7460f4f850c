"""Container tokens open the StorageService (Dicts, Queues) and only the Api methods that call
deployed functions."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from squall.server.auth import TokenInterceptor


def _admitted(method: str, metadata: tuple) -> bool:
    interceptor = TokenInterceptor("server-token", lambda t: t == "live-container-token")
    sentinel = SimpleNamespace(request_streaming=False, response_streaming=False)

    async def continuation(details):
        return sentinel

    return asyncio.run(interceptor.intercept_service(continuation, SimpleNamespace(method=method, invocation_metadata=metadata))) is sentinel


def test_container_tokens_reach_only_the_storage_service():
    container = (("x-squall-container-token", "live-container-token"),)
    assert _admitted("/squall.v1.StorageService/QueueGet", container)
    assert not _admitted("/squall.v1.Api/AppList", container)
    assert not _admitted("/squall.v1.StorageService/QueueGet", (("x-squall-container-token", "stopped-container"),))
    assert _admitted("/squall.v1.StorageService/QueueGet", (("authorization", "Bearer server-token"),))
    assert not _admitted("/squall.v1.StorageService/QueueGet", ())


def test_container_tokens_may_look_up_and_call_functions_but_not_manage_apps():
    container = (("x-squall-container-token", "live-container-token"),)
    for method in ("FunctionLookup", "FunctionBind", "FunctionCallCreate", "FunctionPutInputs", "FunctionGetOutputs", "FunctionCallCancel"):
        assert _admitted(f"/squall.v1.Api/{method}", container), method
        assert not _admitted(f"/squall.v1.Api/{method}", (("x-squall-container-token", "stopped-container"),)), method
    for method in ("AppCreate", "AppStop", "AppPublish", "AppRollback", "FunctionCreate", "FunctionUpdateAutoscaler", "ContainerStop", "BlobPut"):
        assert not _admitted(f"/squall.v1.Api/{method}", container), method
