"""``Detector``: the whole pipeline in-process — decode, preprocess, infer, postprocess."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trt_core.backends import Backend, create_backend
from trt_core.batching import infer_images, resolve_padding
from trt_core.detections import Detections
from trt_core.graph import GraphRecipe, prepare_graph
from trt_core.image import DEFAULT_MAX_PIXELS
from trt_core.models import resolve_model
from trt_core.onnx_decode import DEFAULT_TOPK
from trt_core.params import DetectParams
from trt_core.postprocess import postprocess
from trt_core.preprocess import Preprocessed, preprocess
from trt_core.presets import resolve
from trt_core.spec import ModelSpec


class Detector:
    """Detect objects in images with one model and one backend.

    >>> det = Detector.from_onnx("model.onnx", backend="auto")
    >>> detections = det.detect("image.jpg")
    """

    def __init__(
        self,
        spec: ModelSpec,
        backend: Backend,
        *,
        params: DetectParams | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.spec = spec
        self.backend = backend
        self.params = params or DetectParams()
        self.max_pixels = max_pixels
        self.last_timing_ms: dict[str, float] = {}
        self.decode = "device" if spec.format == "candidates" else "host"
        self.batch_padding = resolve_padding("auto", backend)

    @classmethod
    def from_onnx(
        cls,
        path: str | Path | None = None,
        *,
        backend: str = "auto",
        device: str = "auto",
        max_batch: int = 32,
        preset: str | None = None,
        conf: float | None = None,
        iou: float | None = None,
        max_det: int | None = None,
        classes: Sequence[int] | None = None,
        agnostic: bool | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        backend_options: dict[str, Any] | None = None,
        decode_topk: int | None = DEFAULT_TOPK,
        batch_padding: str = "auto",
        recipe: GraphRecipe | None = None,
        **spec_overrides: Any,
    ) -> Detector:
        """Load ``path`` (default: ``$TRT_DETECT_MODEL`` or the bundled demo model).

        ``preset`` applies a named recipe (e.g. ``"nvidia-yolov3"``); explicit thresholds
        and ``spec_overrides`` (any :class:`ModelSpec` field, or ``input_size``) win over it.
        ``decode_topk`` decodes YOLOv3 heads inside the model and keeps the best K candidates
        (``None``/0: decode raw heads on the host).  ``batch_padding`` (``auto``: ``pow2`` on
        a GPU, ``none`` on the CPU) bounds the batch shapes a GPU runtime sees.  ``recipe``
        (a :class:`~trt_core.graph.GraphRecipe`) replaces ``decode_topk`` when given.
        """
        model_path = resolve_model(path)
        overrides, params = resolve(
            preset, spec_overrides, conf=conf, iou=iou, max_det=max_det, classes=classes, agnostic=agnostic
        )
        recipe = recipe or GraphRecipe.from_decode_topk(decode_topk)
        prepared = prepare_graph(model_path, ModelSpec.from_onnx(model_path, **overrides), recipe)
        runner = create_backend(
            prepared, prepared.spec, backend=backend, device=device, max_batch=max_batch, options=backend_options
        )
        detector = cls(prepared.spec, runner, params=params, max_pixels=max_pixels)
        detector.decode = prepared.decode
        detector.batch_padding = resolve_padding(batch_padding, runner)
        return detector

    @property
    def info(self) -> dict[str, Any]:
        backend = self.backend.info
        return {
            **self.spec.to_dict(),
            "backend": backend.name,
            "device": backend.device,
            "precision": backend.precision,
            "max_batch": backend.max_batch,
            "dynamic_batch": backend.dynamic_batch,
            "decode": self.decode,
            "batch_padding": self.batch_padding,
            "defaults": {"conf": self.params.conf, "iou": self.params.iou, "max_det": self.params.max_det},
            "backend_details": backend.details,
        }

    def preprocess(self, image: Any) -> Preprocessed:
        return preprocess(image, self.spec, max_pixels=self.max_pixels)

    def detect(self, image: Any, **params: Any) -> Detections:
        """Detect in one image (bytes, path, PIL image or ``HxWx3`` uint8 RGB array)."""
        return self.detect_batch([image], **params)[0]

    def detect_batch(self, images: Sequence[Any], **params: Any) -> list[Detections]:
        """Detect in several images, batched through the backend."""
        chosen = self.params.replace(**params)
        start = time.perf_counter()
        prepared = [self.preprocess(image) for image in images]
        inferred = time.perf_counter()
        outputs = infer_images(self.backend, [p.tensor for p in prepared], padding=self.batch_padding)
        decoded = time.perf_counter()
        results = [postprocess(out, self.spec, p.geometry, chosen) for out, p in zip(outputs, prepared)]
        end = time.perf_counter()
        self.last_timing_ms = {
            "preprocess": (inferred - start) * 1e3,
            "inference": (decoded - inferred) * 1e3,
            "postprocess": (end - decoded) * 1e3,
            "total": (end - start) * 1e3,
        }
        return results

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
