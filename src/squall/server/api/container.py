"""The ContainerService: what the agent inside each container calls. Its token names the container."""

from __future__ import annotations

import grpc

from squall._proto.squall.v1 import common_pb2 as pb
from squall._proto.squall.v1 import container_pb2, container_pb2_grpc
from squall._redact import redact
from squall.server.control import ControlPlane
from squall.server.records import ContainerRec
from squall.server.secret_box import secret_env

MAX_WAIT_S = 30.0


class ContainerServicer(container_pb2_grpc.ContainerServiceServicer):
    def __init__(self, cp: ControlPlane):
        self.cp = cp

    async def _container(self, context) -> ContainerRec:
        token = dict(context.invocation_metadata()).get("x-squall-container-token", "")
        c = self.cp.container_for_token(token)
        if c is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "unknown or expired container token")
        return c

    def _redact_errors(self, c: ContainerRec, results) -> None:
        """Errors from a container that holds Secrets lose every secret value before they are
        stored or returned: in the text, by ***; a pickled exception that contains one is dropped,
        so the caller gets an ExecutionError with the redacted text instead."""
        results = [r for r in results if r.status in (pb.FAILURE, pb.INIT_FAILURE, pb.TIMEOUT)]
        secret_ids = self.cp.functions[c.function_id].definition.secret_ids
        if not results or not secret_ids:
            return
        values = [v for v in secret_env(self.cp.store, secret_ids).values() if v]
        for r in results:
            r.exception_repr = redact(r.exception_repr, values)
            r.traceback = redact(r.traceback, values)
            if any(v.encode() in r.data for v in values):
                r.data = b""

    async def ContainerHello(self, request, context):
        c = await self._container(context)
        if request.init_failed:
            self._redact_errors(c, [request.init_result])
        self.cp.container_hello(c, dict(request.timings), request.init_failed, request.init_result, request.web_port)
        fn = self.cp.functions[c.function_id]
        return container_pb2.ContainerHelloResponse(container_id=c.container_id, function_id=c.function_id, definition=fn.definition)

    async def GetInputs(self, request, context):
        c = await self._container(context)
        if request.outputs:
            self._redact_errors(c, [o.result for o in request.outputs])
            self.cp.put_outputs(c, list(request.outputs))
        inputs, shutdown = await self.cp.get_inputs(c, max(1, request.max), min(request.wait_s, MAX_WAIT_S))
        return container_pb2.GetInputsResponse(inputs=inputs, shutdown=shutdown, cancelled_input_ids=self.cp.cancelled_inputs(c))

    async def PutOutputs(self, request, context):
        c = await self._container(context)
        self._redact_errors(c, [o.result for o in request.outputs])
        self.cp.put_outputs(c, list(request.outputs))
        return container_pb2.PutOutputsResponse(cancelled_input_ids=self.cp.cancelled_inputs(c))
