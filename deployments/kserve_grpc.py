"""The Open Inference Protocol (KServe v2) over gRPC: ``inference.GRPCInferenceService`` on Serve's gRPC ingress.

A mixin of :class:`deployments.ingress.Ingress`, beside the HTTP ``/v2`` routes of
:class:`deployments.kserve.OpenInferenceProtocol`, whose model check and inference path
(admission, deadline, Preprocess -> Detector -> Postprocess, batched in the Detector) it
calls: only the encoding differs (``trt_core.kserve_v2_grpc``).  Serve's gRPC ingress calls a
method by the RPC's name with the request message (and ``grpc_context``); in the
high-throughput mode HAProxy routes a call to the app named by the ``application`` metadata,
or to the only app when there is one.

Errors are gRPC statuses whose details are the native API's message: INVALID_ARGUMENT (a bad
image, input or parameter; over a limit), NOT_FOUND (another model or version), UNAVAILABLE
(shedding at capacity, or a stage recovering a replica: retry), DEADLINE_EXCEEDED,
INTERNAL.  ``ModelReady`` of another model answers ``ready: false``, as Triton does.

Serve must load the service: ``grpc_options.grpc_servicer_functions: [SERVICER_FUNCTION]``.
"""

from __future__ import annotations

import json
from typing import TypeVar

import grpc
from ray.serve.grpc_util import RayServegRPCContext

from deployments.errors import error_response
from deployments.http import BodyLimits
from deployments.kserve import PLATFORM, VERSION, UnknownModelError
from trt_core import __version__
from trt_core.detections import Detections
from trt_core.errors import RequestTooLargeError
from trt_core.kserve_v2 import InferRequest, detection_tensors
from trt_core.kserve_v2_grpc import grpc_status, model_infer_response, model_metadata_response, parse_model_infer
from trt_core.proto import open_inference_grpc_pb2 as pb
from trt_core.spec import ModelSpec

SERVICER_FUNCTION = "trt_core.proto.open_inference_grpc_pb2_grpc.add_GRPCInferenceServiceServicer_to_server"
M = TypeVar("M")


def failed(grpc_context: RayServegRPCContext, exc: BaseException, empty: M) -> M:
    """Set the gRPC status of ``exc`` (the HTTP error's status, mapped; its message) and answer ``empty``."""
    native = error_response(exc)  # unwraps Ray's errors and logs unexpected ones, as for HTTP
    grpc_context.set_code(grpc.StatusCode[grpc_status(native.status_code)])
    grpc_context.set_details(json.loads(bytes(native.body))["error"]["message"])
    return empty


class OpenInferenceGRPC:
    """The RPCs; :class:`~deployments.ingress.Ingress` (with the HTTP ``/v2`` mixin) provides the rest."""

    spec: ModelSpec
    limits: BodyLimits

    def _model(self, name: str, version: str = VERSION) -> None:
        raise NotImplementedError

    async def _detections(self, parsed: InferRequest) -> list[Detections]:
        raise NotImplementedError

    async def _not_serving(self) -> str | None:
        raise NotImplementedError

    async def ServerLive(self, request: pb.ServerLiveRequest) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: pb.ServerReadyRequest) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=await self._not_serving() is None)

    async def ServerMetadata(self, request: pb.ServerMetadataRequest) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name=PLATFORM, version=__version__)

    async def ModelReady(self, request: pb.ModelReadyRequest) -> pb.ModelReadyResponse:
        try:
            self._model(request.name, request.version or VERSION)
        except UnknownModelError:
            return pb.ModelReadyResponse(ready=False)
        return pb.ModelReadyResponse(ready=await self._not_serving() is None)

    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, grpc_context: RayServegRPCContext
    ) -> pb.ModelMetadataResponse:
        try:
            self._model(request.name, request.version or VERSION)
        except Exception as exc:
            return failed(grpc_context, exc, pb.ModelMetadataResponse())
        return model_metadata_response(self.spec.name, PLATFORM, [VERSION])

    async def ModelInfer(
        self, request: pb.ModelInferRequest, grpc_context: RayServegRPCContext
    ) -> pb.ModelInferResponse:
        try:
            self._model(request.model_name, request.model_version or VERSION)
            size = request.ByteSize()  # Serve's gRPC server takes messages up to 2 GiB: the HTTP limit here
            if size > self.limits.max_bytes:
                raise RequestTooLargeError(f"request of {size:,} bytes is over the limit of {self.limits.max_bytes:,}")
            parsed = parse_model_infer(request)
            found = await self._detections(parsed)
            return model_infer_response(self.spec.name, detection_tensors(found), parsed, VERSION)
        except Exception as exc:
            return failed(grpc_context, exc, pb.ModelInferResponse())
