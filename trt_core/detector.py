"""``Detector``: the whole pipeline in-process — decode, preprocess, infer, postprocess.

Inference itself is :class:`trt_core.engine.InferenceEngine`, shared with the Serve
inference stage; see :mod:`trt_core.engine`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trt_core.backends import DEFAULT_MAX_BATCH, Backend
from trt_core.batching import BatchPadding, PaddingChoice
from trt_core.detections import Detections
from trt_core.engine import InferenceEngine
from trt_core.graph import DecodePlace, GraphRecipe, prepare_graph
from trt_core.image import DEFAULT_MAX_PIXELS
from trt_core.models import resolve_model
from trt_core.onnx_decode import DEFAULT_TOPK
from trt_core.params import DetectParams
from trt_core.postprocess import postprocess
from trt_core.preprocess import Preprocessed, preprocess
from trt_core.presets import load_spec
from trt_core.spec import ModelSpec


class Detector:
    """Detect objects in images with one model: decode, preprocess, infer, postprocess.

    The inference step is an :class:`~trt_core.engine.InferenceEngine` (the same object a
    Serve inference replica runs); this class adds the image handling around it.

    >>> det = Detector.from_onnx("model.onnx", backend="auto")
    >>> detections = det.detect("image.jpg")
    """

    def __init__(
        self,
        engine: InferenceEngine,
        *,
        params: DetectParams | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.engine = engine
        self.params = params or DetectParams()
        self.max_pixels = max_pixels
        self.last_timing_ms: dict[str, float] = {}

    @classmethod
    def from_onnx(
        cls,
        path: str | Path | None = None,
        *,
        backend: str = "auto",
        device: str = "auto",
        max_batch: int = DEFAULT_MAX_BATCH,
        preset: str | None = None,
        conf: float | None = None,
        iou: float | None = None,
        max_det: int | None = None,
        classes: Sequence[int] | None = None,
        agnostic: bool | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        backend_options: dict[str, Any] | None = None,
        decode_topk: int | None = DEFAULT_TOPK,
        batch_padding: PaddingChoice = "auto",
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
        spec, params = load_spec(
            model_path, preset, spec_overrides, conf=conf, iou=iou, max_det=max_det, classes=classes, agnostic=agnostic
        )
        recipe = recipe or GraphRecipe.from_decode_topk(decode_topk)
        graph = prepare_graph(model_path, spec, recipe)
        engine = InferenceEngine.load(
            graph, backend=backend, device=device, max_batch=max_batch, options=backend_options, padding=batch_padding
        )
        return cls(engine, params=params, max_pixels=max_pixels)

    # -- the inference engine's parts, as older callers name them ------------------------
    @property
    def spec(self) -> ModelSpec:
        return self.engine.spec

    @property
    def backend(self) -> Backend:
        return self.engine.backend

    @property
    def decode(self) -> DecodePlace:
        return self.engine.decode

    @property
    def batch_padding(self) -> BatchPadding:
        return self.engine.padding

    @property
    def info(self) -> dict[str, Any]:
        engine = self.engine.describe()
        return {
            **self.spec.to_dict(),
            "backend": engine["backend"],
            "device": engine["device"],
            "precision": engine["precision"],
            "max_batch": engine["engine_max_batch"],
            "dynamic_batch": engine["dynamic_batch"],
            "decode": engine["decode"],
            "batch_padding": engine["padding"],
            "defaults": {"conf": self.params.conf, "iou": self.params.iou, "max_det": self.params.max_det},
            "backend_details": engine["backend_details"],
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
        outputs = self.engine.infer([p.tensor for p in prepared])
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
        self.engine.close()

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
