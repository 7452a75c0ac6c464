"""``InferenceEngine``: the one way a prepared graph is loaded and run.

A backend (:func:`~trt_core.backends.create_backend`) for a
:class:`~trt_core.graph.PreparedGraph`, with the batch padding it runs under, warm-up,
inference of a list of uint8 ``(3, H, W)`` tensors (:mod:`trt_core.batching`), a
one-image health probe and a description of itself.  The library's
:class:`~trt_core.detector.Detector` (the whole pipeline: decode, preprocess, infer,
postprocess), the Serve inference stage (``deployments/detector.py``) and the CLI all
build it through :meth:`InferenceEngine.load`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from trt_core.backends import DEFAULT_MAX_BATCH, Backend, BackendInfo, create_backend
from trt_core.batching import BatchPadding, PaddingChoice, infer_images, resolve_padding, warm_up
from trt_core.graph import DecodePlace, PreparedGraph
from trt_core.spec import ModelSpec


class InferenceEngine:
    """Runs a model's uint8 ``(3, H, W)`` image tensors through one backend.

    >>> engine = InferenceEngine.load(prepare_graph("model.onnx", spec), backend="auto")
    >>> outputs = engine.infer([tensor])  # each image's raw outputs, batch axis removed
    """

    def __init__(
        self, spec: ModelSpec, backend: Backend, *, decode: DecodePlace | None = None, padding: PaddingChoice = "auto"
    ) -> None:
        self.spec = spec
        self.backend = backend
        #: where boxes are decoded: "device" (outputs are candidates) or "host" (raw heads)
        self.decode: DecodePlace = decode or ("device" if spec.format == "candidates" else "host")
        self.padding: BatchPadding = resolve_padding(padding, backend)
        self.max_batch_size = backend.info.max_batch  # the largest batch :meth:`infer` stacks
        self.warmed: list[int] = []

    @classmethod
    def load(
        cls,
        graph: PreparedGraph,
        *,
        backend: str = "auto",
        device: str = "auto",
        max_batch: int = DEFAULT_MAX_BATCH,
        options: dict[str, Any] | None = None,
        threads: int | None = None,
        padding: PaddingChoice = "auto",
    ) -> InferenceEngine:
        """Create the backend (``auto``: the best this machine has) for ``graph``, whose
        batches are padded by ``padding`` (``auto``: what the backend prefers)."""
        runner = create_backend(
            graph, backend=backend, device=device, max_batch=max_batch, options=options, threads=threads
        )
        try:
            return cls(graph.spec, runner, decode=graph.decode, padding=padding)
        except BaseException:
            runner.close()
            raise

    @property
    def info(self) -> BackendInfo:
        return self.backend.info

    @property
    def image_shape(self) -> tuple[int, int, int]:
        h, w = self.spec.input_hw
        return (3, h, w)

    def cap(self, max_batch_size: int) -> int:
        """The batch size the backend can take for a requested ``max_batch_size``."""
        info = self.info
        return min(max_batch_size, info.max_batch) if info.dynamic_batch else info.max_batch

    def warm_up(self, max_batch_size: int | None = None) -> list[int]:
        """Run every batch size up to ``max_batch_size`` (capped; default the backend's) that
        :meth:`infer` will run under the padding, and make it the largest batch stacked."""
        size = self.cap(max_batch_size or self.info.max_batch)
        self.warmed = warm_up(self.backend, self.image_shape, padding=self.padding, max_batch=size)
        self.max_batch_size = size
        return self.warmed

    def infer(self, tensors: Sequence[np.ndarray]) -> list[list[np.ndarray]]:
        """Each image's outputs (``output_names`` order, batch axis removed)."""
        return infer_images(self.backend, tensors, padding=self.padding, max_batch=self.max_batch_size)

    def probe(self) -> None:
        """Run one zero image; raises whatever the backend raises when it is broken."""
        self.infer([np.zeros(self.image_shape, np.uint8)])

    def describe(self) -> dict[str, Any]:
        """What ``GET /model`` and ``Detector.info`` say about inference."""
        info = self.info
        return {
            "backend": info.name,
            "device": info.device,
            "precision": info.precision,
            "decode": self.decode,
            "engine_max_batch": info.max_batch,
            "dynamic_batch": info.dynamic_batch,
            "padding": self.padding,
            "warmed_batch_sizes": self.warmed,
            "backend_details": info.details,
        }

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> InferenceEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
