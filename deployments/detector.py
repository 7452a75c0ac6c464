"""The Serve inference stage (GPU when there is one): Serve batching around an ``InferenceEngine``.

The class is ``InferDeployment``; its Serve deployment name stays ``"Detector"`` (the name
``serve_config.yaml``, the Kubernetes overlay and ``GET /model``'s ``detector_replica`` use).
It is not the library's :class:`trt_core.Detector` (the whole pipeline in one process): it
runs only the inference step, :class:`trt_core.engine.InferenceEngine`, which it loads the
same way the library does; this module adds Serve's batching, metrics, reconfiguration and
health checks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ray import serve
from ray.serve import metrics

from deployments.config import DetectorUserConfig
from deployments.messages import InferredImage, Outcome, PreprocessedImage
from trt_core.batching import PaddingChoice
from trt_core.engine import InferenceEngine
from trt_core.errors import BackendError
from trt_core.graph import GraphRef

logger = logging.getLogger("ray.serve")
PROBE_AFTER_IDLE_S = 30.0
MAX_CONCURRENT_BATCHES = 2  # one batch copies while the other computes (the runner has 2+ contexts)


@dataclass(frozen=True, eq=False)
class _Group:
    """One call's images (at most ``max_batch_size`` of them), and when ``many`` began on them
    (``time.perf_counter``; their tensors already fetched)."""

    items: list[PreprocessedImage]
    arrived: float

    def __len__(self) -> int:
        return len(self.items)


def _images(groups: list[_Group]) -> int:
    """A Serve batch's size in images: each call brings a group of them."""
    return sum(len(group) for group in groups)


@serve.deployment(name="Detector", ray_actor_options={"num_cpus": 1}, max_ongoing_requests=32)
class InferDeployment:
    def __init__(
        self,
        graph: GraphRef,
        backend: str,
        device: str,
        engine_max_batch: int,
        backend_options: dict[str, Any],
        cpu_threads: int | None = None,
        batch_padding: PaddingChoice = "auto",
    ) -> None:
        self.engine = InferenceEngine.load(
            graph.load(),  # prepared once by the app builder
            backend=backend,
            device=device,
            max_batch=engine_max_batch,
            options={"progress": logger.info, **backend_options},  # TensorRT logs its build phases
            threads=cpu_threads,
            padding=batch_padding,
        )
        # As many inference threads as batches in flight: each thread keeps its GPU
        # per-thread state (CUDA context binding, cuDNN/cuBLAS handles) warm.
        self.pool = ThreadPoolExecutor(MAX_CONCURRENT_BATCHES, thread_name_prefix="infer")
        self.batch_wait_timeout_s = 0.0
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
        self.queue = metrics.Histogram(
            "trt_detect_inference_queue_ms",
            description="Wait of a call in the Detector for its batch to form and a GPU slot (ms).",
            boundaries=[0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500],
        )
        info = self.engine.info
        logger.info("Detector ready: %s on %s, engine max batch %d", info.name, info.device, info.max_batch)

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        config = DetectorUserConfig(**user_config)
        size = self.engine.cap(config.max_batch_size)
        if size != config.max_batch_size:
            logger.warning("max_batch_size %d capped to the engine's %d", config.max_batch_size, size)
        batcher: Any = self._infer_groups  # @serve.batch attaches these setters to the method
        if size != self.engine.max_batch_size or not self.engine.warmed:
            # on an inference thread: the loop keeps serving
            await asyncio.get_running_loop().run_in_executor(self.pool, self._warm_up, size)
        batcher.set_max_batch_size(size)
        batcher.set_batch_wait_timeout_s(config.batch_wait_timeout_s)
        self.batch_wait_timeout_s = config.batch_wait_timeout_s

    @serve.batch(
        max_batch_size=8,
        batch_wait_timeout_s=0.005,
        max_concurrent_batches=MAX_CONCURRENT_BATCHES,
        batch_size_fn=_images,
    )
    async def _infer_groups(self, groups: list[_Group]) -> list[list[InferredImage]]:
        """Calls' images batched together, up to ``max_batch_size`` images (not calls).  Each
        call's wait until its batch starts (``inference_queue``: the batch forming, a free GPU
        slot, this replica's event loop) is observed once, failed batches included."""
        start = time.perf_counter()
        waits = [(start - group.arrived) * 1e3 for group in groups]
        for wait in waits:
            self.queue.observe(wait)
        items = [item for group in groups for item in group.items]
        inferred = iter(await self._infer(items, [wait for group, wait in zip(groups, waits) for _ in group.items]))
        return [[next(inferred) for _ in group.items] for group in groups]

    async def _infer(self, items: list[PreprocessedImage], waits_ms: list[float]) -> list[InferredImage]:
        """One batch; each image's timing gains its wait (``inference_queue``) and the batch's
        time (``inference``)."""
        start = time.perf_counter()
        try:
            tensors = [item.tensor for item in items]
            outputs = await asyncio.get_running_loop().run_in_executor(self.pool, self.engine.infer, tensors)
        except BackendError as exc:
            self.broken = str(exc)
            raise
        elapsed = (time.perf_counter() - start) * 1e3
        self.last_ok, self.broken = time.monotonic(), None
        self.batch_sizes[len(items)] += 1
        self.batch_size_metric.observe(len(items))
        self.latency.observe(elapsed)
        return [
            InferredImage(
                out, item.geometry, {**item.timing_ms, "inference_queue": wait, "inference": elapsed}, len(items)
            )
            for out, item, wait in zip(outputs, items, waits_ms)
        ]

    def _warm_up(self, max_batch_size: int) -> None:
        start = time.perf_counter()
        warmed = self.engine.warm_up(max_batch_size)
        logger.info("warmed up batch sizes %s in %.1f s", warmed, time.perf_counter() - start)

    async def many(self, items: list[PreprocessedImage]) -> list[Outcome[InferredImage]]:
        """Several images in one call: they join the batches together (in pieces of at most
        ``max_batch_size``), and a batch's failure is the failure of each of its images."""
        arrived, size = time.perf_counter(), self.engine.max_batch_size
        pieces = [_Group(items[i : i + size], arrived) for i in range(0, len(items), size)]
        answers = await asyncio.gather(*(self._infer_groups(piece) for piece in pieces), return_exceptions=True)
        outcomes: list[Outcome[InferredImage]] = []
        for piece, answer in zip(pieces, answers):
            outcomes.extend([answer] * len(piece) if isinstance(answer, BaseException) else answer)
        return outcomes

    def describe(self) -> dict[str, Any]:
        """The inference stage's part of ``GET /model``."""
        engine = self.engine.describe()
        return {
            "backend": engine["backend"],
            "device": engine["device"],
            "precision": engine["precision"],
            "decode": engine["decode"],
            "batch": {
                "max_batch_size": self.engine.max_batch_size,
                "batch_wait_timeout_s": self.batch_wait_timeout_s,
                "engine_max_batch": engine["engine_max_batch"],
                "dynamic_batch": engine["dynamic_batch"],
                "padding": engine["padding"],
                "warmed_batch_sizes": engine["warmed_batch_sizes"],
                "batches_by_size": dict(sorted(self.batch_sizes.items())),
            },
            "backend_details": engine["backend_details"],
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
        try:
            await asyncio.get_running_loop().run_in_executor(self.pool, self.engine.probe)
        except Exception as exc:
            raise RuntimeError(f"Detector backend is broken: {exc}") from exc
        self.last_ok, self.broken = time.monotonic(), None
