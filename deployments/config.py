"""Typed settings: the app builder's arguments and each deployment's ``user_config``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trt_core.batching import PaddingChoice
from trt_core.image import DEFAULT_MAX_PIXELS
from trt_core.params import MAX_DET_LIMIT, DetectParams

_DEFAULTS = DetectParams()
MAX_BATCH_LIMIT = 256
GRPC_MESSAGE_BYTES = 3_500_000  # what one call may carry by value: under gRPC's default 4 MiB limit


class DetectorUserConfig(BaseModel):
    """Live-tunable batching of the ``Detector`` deployment (``reconfigure``)."""

    model_config = ConfigDict(extra="forbid")

    max_batch_size: int = Field(8, ge=1, le=MAX_BATCH_LIMIT)
    batch_wait_timeout_s: float = Field(0.005, ge=0.0, le=10.0)


class PostprocessUserConfig(BaseModel):
    """Live-tunable default thresholds of the ``Postprocess`` deployment (``reconfigure``)."""

    model_config = ConfigDict(extra="forbid")

    conf: float = Field(_DEFAULTS.conf, ge=0.0, le=1.0)
    iou: float = Field(_DEFAULTS.iou, ge=0.0, le=1.0)
    max_det: int = Field(_DEFAULTS.max_det, ge=1, le=MAX_DET_LIMIT)
    agnostic: bool = _DEFAULTS.agnostic


class AppArgs(BaseModel):
    """Arguments of ``deployments.app:build_app`` (the ``args:`` block of a Serve config)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="ONNX detector; default: $TRT_DETECT_MODEL or the bundled demo")
    backend: Literal["auto", "tensorrt", "onnxruntime"] = "auto"
    device: Literal["auto", "cpu", "gpu"] = Field(
        "auto", description="auto: Detector replicas ask for a GPU when the cluster has one"
    )
    preset: str | None = Field(None, description="a named recipe, e.g. nvidia-yolov3")
    spec_overrides: dict[str, Any] = Field(default_factory=dict, description="ModelSpec fields to override")
    backend_options: dict[str, Any] = Field(
        default_factory=dict, description="TensorRT build options; provider_options: ONNX Runtime CUDA provider options"
    )
    conf: float | None = Field(None, ge=0.0, le=1.0)
    iou: float | None = Field(None, ge=0.0, le=1.0)
    max_det: int | None = Field(None, ge=1, le=MAX_DET_LIMIT)
    max_batch_size: int = Field(8, ge=1, le=MAX_BATCH_LIMIT, description="@serve.batch size; engine profile max")
    batch_wait_timeout_s: float = Field(0.005, ge=0.0, le=10.0)
    decode_topk: int = Field(
        1000, ge=0, le=100_000, description="decode YOLOv3 heads in the model, keeping the best K (0: on the CPU)"
    )
    batch_padding: PaddingChoice = Field(
        "auto", description="round batches up (auto: pow2 on a GPU, none on the CPU); every size is warmed up"
    )
    engine_max_batch: int | None = Field(None, ge=1, le=MAX_BATCH_LIMIT, description="engine profile max")
    detector_cpus: float = Field(1.0, gt=0, description="CPUs reserved per Detector replica")
    tensor_transport: Literal["object_store", "grpc"] = Field(
        "object_store",
        description="how Preprocess hands tensors to the Detector: Ray's object store (zero-copy on a node) "
        "or Serve's gRPC transport (by value)",
    )
    images_per_call: int = Field(
        8,
        ge=1,
        le=64,
        description="images an Ingress replica sends down the stages in one call: the requests in flight "
        "within call_wait_s share one call to each stage (1: a call per image)",
    )
    call_wait_s: float = Field(
        0.005,
        ge=0.0,
        le=1.0,
        description="how long an image waits for others to share its call (5 ms: +10% images/s on an H200 "
        "node against 2 ms, a lone request's latency +3 ms)",
    )
    # -- capacity: None derives each from the cluster the app is deployed on (deployments/sizing.py)
    ingress_replicas: int | None = Field(None, ge=1, description="HTTP/handle entry replicas")
    preprocess_replicas: int | None = Field(None, ge=1, description="decode + resize replicas")
    postprocess_replicas: int | None = Field(None, ge=1, description="NMS + box mapping replicas")
    detector_replicas: int | None = Field(
        None, ge=1, description="inference replicas (default: one per GPU; more than the GPUs share them)"
    )
    stage_cpus: float | None = Field(None, gt=0, description="CPUs per CPU-stage replica")
    preprocess_threads: int | None = Field(
        None,
        ge=1,
        le=64,
        description="threads per Preprocess replica decoding a call's images in parallel, at most the "
        "node's cores (None: images_per_call beside a GPU, else one per CPU of the replica)",
    )
    # -- admission control and limits
    request_timeout_s: float = Field(
        5.0,
        gt=0,
        le=600,
        description="deadline of one request; past it the caller gets 504 and its images not yet sent are dropped",
    )
    max_ongoing_images: int | None = Field(
        None,
        ge=1,
        description="images in flight per Ingress replica; past it HTTP 503 + Retry-After "
        "(None: 128 with a GPU, else max_images_per_request: about throughput x deadline)",
    )
    max_queued_requests: int = Field(
        256, ge=-1, description="requests queued per stage before HTTP 503 + Retry-After (-1: unbounded)"
    )
    max_images_per_request: int = Field(64, ge=1, description="most images in one multipart request (else 413)")
    max_body_bytes: int = Field(25 * 1024 * 1024, ge=1024, description="larger request bodies get HTTP 413")
    body_timeout_s: float = Field(10.0, gt=0, description="a body not received within this gets HTTP 408")
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=1, description="decoded images over this many pixels get 413")
    max_request_pixels: int = Field(
        100_000_000, ge=1, description="total pixels of all images of one request; over it HTTP 413"
    )

    def decode_threads(self, use_gpu: bool) -> int | None:
        """Threads of a Preprocess replica (None: one per CPU of the replica).  When the
        Detector runs on a GPU, a call's images decode in parallel (decode and resize release
        the GIL) on the node's idle cores; on a CPU-only cluster the Detector needs them."""
        return self.preprocess_threads or (self.images_per_call if use_gpu else None)

    @model_validator(mode="after")
    def _engine_covers_batches(self) -> AppArgs:
        if self.engine_max_batch is not None and self.engine_max_batch < self.max_batch_size:
            raise ValueError("engine_max_batch must be >= max_batch_size")
        if self.max_ongoing_images is not None and self.max_ongoing_images < self.max_images_per_request:
            raise ValueError("max_ongoing_images must be >= max_images_per_request, or a full request never fits")
        return self


class IngressSettings(BaseModel):
    """What the Ingress needs to know (limits and deadline), from :class:`AppArgs`."""

    model_config = ConfigDict(frozen=True)

    request_timeout_s: float
    max_ongoing_images: int
    max_images_per_request: int
    max_body_bytes: int
    body_timeout_s: float
    max_pixels: int
    max_request_pixels: int
    images_per_call: int = 1
    call_wait_s: float = 0.0

    @classmethod
    def from_args(cls, args: AppArgs, device: str, tensor_bytes: int = 0) -> IngressSettings:
        """``device``: where the Detector runs ("gpu" or "cpu"), which sets the default images in flight;
        ``tensor_bytes``: one model input's size, which bounds a call's images on the gRPC transport."""
        fields = {name: getattr(args, name) for name in cls.model_fields}
        if fields["max_ongoing_images"] is None:
            fields["max_ongoing_images"] = max(args.max_images_per_request, 128 if device == "gpu" else 0)
        if args.tensor_transport == "grpc" and tensor_bytes:  # by value: within gRPC's message limit
            fields["images_per_call"] = max(1, min(args.images_per_call, GRPC_MESSAGE_BYTES // tensor_bytes))
        return cls(**fields)


# Ray Serve's high-throughput mode, which the product ships: HAProxy in front of the Ingress
# replicas and gRPC between replicas.  Set in the environment of every Ray process (`make
# serve`, the container image, the RayService); RAY_SERVE_ENABLE_HA_PROXY=0 and
# RAY_SERVE_THROUGHPUT_OPTIMIZED=0 switch back to the classic Python proxy.
HIGH_THROUGHPUT_ENV = {
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    # HAProxy: a client silent for 30 s is dropped (Ray's default is an hour, and no
    # `timeout http-request` is rendered, so this is what ends half-sent headers); it stays
    # above body_timeout_s so that a slow body gets our 408 first.  An Ingress replica that
    # answers nothing for 60 s (> body_timeout_s + request_timeout_s) is given up on.
    "RAY_SERVE_HAPROXY_TIMEOUT_CLIENT_S": "30",
    "RAY_SERVE_HAPROXY_TIMEOUT_SERVER_S": "60",
}
