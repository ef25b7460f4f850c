"""Container tokens open the StorageService (Dicts, Queues) and nothing else of the Api."""

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
