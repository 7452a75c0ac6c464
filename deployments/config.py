"""Typed settings: the app builder's arguments and each deployment's ``user_config``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class DetectorUserConfig(BaseModel):
    """Live-tunable batching of the ``Detector`` deployment (``reconfigure``)."""

    model_config = ConfigDict(extra="forbid")

    max_batch_size: int = Field(8, ge=1, le=256)
    batch_wait_timeout_s: float = Field(0.005, ge=0.0, le=10.0)


class PostprocessUserConfig(BaseModel):
    """Live-tunable default thresholds of the ``Postprocess`` deployment (``reconfigure``)."""

    model_config = ConfigDict(extra="forbid")

    conf: float = Field(0.25, ge=0.0, le=1.0)
    iou: float = Field(0.45, ge=0.0, le=1.0)
    max_det: int = Field(300, ge=1, le=10_000)
    agnostic: bool = False


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
    backend_options: dict[str, Any] = Field(default_factory=dict, description="e.g. TensorRT build options")
    conf: float | None = Field(None, ge=0.0, le=1.0)
    iou: float | None = Field(None, ge=0.0, le=1.0)
    max_det: int | None = Field(None, ge=1, le=10_000)
    max_batch_size: int = Field(8, ge=1, le=256, description="@serve.batch size; engine profile max")
    batch_wait_timeout_s: float = Field(0.005, ge=0.0, le=10.0)
    decode_topk: int = Field(
        1000, ge=0, le=100_000, description="decode YOLOv3 heads in the model, keeping the best K (0: on the CPU)"
    )
    batch_padding: Literal["auto", "none", "pow2", "max"] = Field(
        "auto", description="round batches up (auto: pow2 on a GPU, none on the CPU); every size is warmed up"
    )
    engine_max_batch: int | None = Field(None, ge=1, le=256, description="engine profile max (>= max_batch_size)")
    max_queued_requests: int = Field(
        256, ge=-1, description="requests queued per stage before HTTP 503 + Retry-After (-1: unbounded)"
    )
    max_body_bytes: int = Field(25 * 1024 * 1024, ge=1024, description="larger request bodies get HTTP 413")
    max_pixels: int = Field(50_000_000, ge=1, description="decoded images over this many pixels get HTTP 413")
    detector_cpus: float = Field(1.0, gt=0, description="CPUs reserved per Detector replica")

    @model_validator(mode="after")
    def _engine_covers_batches(self) -> AppArgs:
        if self.engine_max_batch is not None and self.engine_max_batch < self.max_batch_size:
            raise ValueError("engine_max_batch must be >= max_batch_size")
        return self
