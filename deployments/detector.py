"""``Detector`` (GPU when there is one): dynamically batched inference on its own backend."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from ray import serve
from ray.serve import metrics

from deployments.config import DetectorUserConfig
from deployments.messages import InferredImage, PreprocessedImage
from trt_core.backends import create_backend
from trt_core.batching import infer_images, resolve_padding, warm_up
from trt_core.errors import BackendError
from trt_core.graph import GraphRef

logger = logging.getLogger("ray.serve")
PROBE_AFTER_IDLE_S = 30.0
MAX_CONCURRENT_BATCHES = 2  # one batch copies while the other computes (the runner has 2+ contexts)


@serve.deployment(name="Detector", ray_actor_options={"num_cpus": 1}, max_ongoing_requests=32)
class DetectorDeployment:
    def __init__(
        self,
        graph: GraphRef,
        backend: str,
        device: str,
        engine_max_batch: int,
        backend_options: dict[str, Any],
        cpu_threads: int | None = None,
        batch_padding: str = "auto",
    ) -> None:
        prepared = graph.load()  # prepared once by the app builder
        self.spec = prepared.spec
        self.decode = prepared.decode
        options = {"progress": logger.info, **backend_options}  # TensorRT logs its build phases
        self.backend = create_backend(
            prepared,
            backend=backend,
            device=device,
            max_batch=engine_max_batch,
            options=options,
            threads=cpu_threads,
        )
        # As many inference threads as batches in flight: each thread keeps its GPU
        # per-thread state (CUDA context binding, cuDNN/cuBLAS handles) warm.
        self.pool = ThreadPoolExecutor(MAX_CONCURRENT_BATCHES, thread_name_prefix="infer")
        self.padding = resolve_padding(batch_padding, self.backend)
        self.max_batch_size = self.backend.info.max_batch
        self.batch_wait_timeout_s = 0.0
        self.warmed: list[int] = []
        self.batch_sizes: Counter[int] = Counter()
        self.last_ok = time.monotonic()
        self.broken: str | None = None
        self.batch_size_metric = metrics.Histogram(
            "trt_detect_batch_size",
            description="Images per inference batch.",
            boundaries=[1.5, 2.5, 4.5, 8.5, 16.5, 32.5, 64.5],
        )
        self.latency = metrics.Histogram(
            "trt_detect_inference_ms",
            description="Inference time per batch (ms).",
            boundaries=[1, 2, 5, 10, 20, 50, 100, 200, 500],
        )
        info = self.backend.info
        logger.info("Detector ready: %s on %s, engine max batch %d", info.name, info.device, info.max_batch)

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        config = DetectorUserConfig(**user_config)
        info = self.backend.info
        size = min(config.max_batch_size, info.max_batch) if info.dynamic_batch else info.max_batch
        if size != config.max_batch_size:
            logger.warning("max_batch_size %d capped to the engine's %d", config.max_batch_size, size)
        batcher: Any = self.infer  # @serve.batch attaches these setters to the method
        if size != self.max_batch_size or not self.warmed:  # on an inference thread: the loop keeps serving
            await asyncio.get_running_loop().run_in_executor(self.pool, self._warm_up, size)
        batcher.set_max_batch_size(size)
        batcher.set_batch_wait_timeout_s(config.batch_wait_timeout_s)
        self.batch_wait_timeout_s = config.batch_wait_timeout_s

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005, max_concurrent_batches=MAX_CONCURRENT_BATCHES)
    async def infer(self, items: list[PreprocessedImage]) -> list[InferredImage]:
        start = time.perf_counter()
        try:
            tensors = [item.tensor for item in items]
            outputs = await asyncio.get_running_loop().run_in_executor(self.pool, self._infer, tensors)
        except BackendError as exc:
            self.broken = str(exc)
            raise
        elapsed = (time.perf_counter() - start) * 1e3
        self.last_ok, self.broken = time.monotonic(), None
        self.batch_sizes[len(items)] += 1
        self.batch_size_metric.observe(len(items))
        self.latency.observe(elapsed)
        return [
            InferredImage(out, item.geometry, {**item.timing_ms, "inference": elapsed}, len(items))
            for out, item in zip(outputs, items)
        ]

    def _warm_up(self, max_batch_size: int) -> None:
        start = time.perf_counter()
        h, w = self.spec.input_hw
        self.warmed = warm_up(self.backend, (3, h, w), padding=self.padding, max_batch=max_batch_size)
        self.max_batch_size = max_batch_size
        logger.info("warmed up batch sizes %s in %.1f s", self.warmed, time.perf_counter() - start)

    def _infer(self, tensors: list[np.ndarray]) -> list[list[np.ndarray]]:
        return infer_images(self.backend, tensors, padding=self.padding, max_batch=self.max_batch_size)

    async def __call__(self, item: PreprocessedImage) -> InferredImage:
        return await self.infer(item)

    def describe(self) -> dict[str, Any]:
        """The Detector's part of ``GET /model``."""
        info = self.backend.info
        return {
            "backend": info.name,
            "device": info.device,
            "precision": info.precision,
            "decode": self.decode,
            "batch": {
                "max_batch_size": self.max_batch_size,
                "batch_wait_timeout_s": self.batch_wait_timeout_s,
                "engine_max_batch": info.max_batch,
                "dynamic_batch": info.dynamic_batch,
                "padding": self.padding,
                "warmed_batch_sizes": self.warmed,
                "batches_by_size": dict(sorted(self.batch_sizes.items())),
            },
            "backend_details": info.details,
            "detector_replica": serve.get_replica_context().replica_id.unique_id,
        }

    def ping(self) -> str:
        """``GET /healthz``: fails while the last batch failed (until a probe succeeds)."""
        if self.broken is not None:
            raise RuntimeError(f"Detector backend failed: {self.broken}")
        return "ok"

    async def check_health(self) -> None:
        """Fails when the backend is broken: after an error, or when idle, run a 1-image probe."""
        if self.broken is None and time.monotonic() - self.last_ok < PROBE_AFTER_IDLE_S:
            return
        h, w = self.spec.input_hw
        try:
            probe = [np.zeros((3, h, w), np.uint8)]
            await asyncio.get_running_loop().run_in_executor(self.pool, self._infer, probe)
        except Exception as exc:
            raise RuntimeError(f"Detector backend is broken: {exc}") from exc
        self.last_ok, self.broken = time.monotonic(), None
