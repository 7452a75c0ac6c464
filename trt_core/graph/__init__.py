"""One place that prepares the graph a backend runs.

``prepare_graph(model, spec, recipe) -> PreparedGraph`` applies a :class:`GraphRecipe`
(on-device decode + top-K, uint8 input, fp16) to the user's ONNX and returns the final
graph's bytes with the spec of its outputs.  The app builder computes it once and hands it
to the replicas; backends run what they are given (:func:`as_prepared` gives plain model
files the minimal recipe); the TensorRT engine-cache key includes the recipe.

Where NMS runs — measured (``benchmarks/cpu_postprocess.py``, YOLOv3-608) and chosen:
the device decodes and keeps the top K candidates (best class per box), the host runs
NMS over those K with the request's ``conf``/``iou``/``classes``/``max_det``/``agnostic``.
ONNX ``NonMaxSuppression`` (CPU and CUDA execution providers; TensorRT 10's parser maps it
to ``INMSLayer``) is not put in the graph, because a graph NMS cannot honour live
per-request parameters exactly: a request's ``iou`` above the graph's cannot be recovered
from an already-suppressed set, one below it differs too (a box suppressed on the device
by a box the request's NMS would itself drop), a higher ``conf`` changes which boxes
suppress which, its ``score_threshold`` is strict where ours is ``>=``, and thresholds
fed as graph inputs would be shared by every request of a dynamic batch.  Over the top K
the host's vectorised NMS (:func:`trt_core.boxes.batched_nms`) costs ~1 ms, so
postprocessing stays within its 2 ms budget while giving exactly the host path's result
(see :mod:`trt_core.onnx_decode` for when top-K is exact).
"""

from __future__ import annotations

from trt_core.graph.prepare import as_prepared, prepare_graph, rewrite_io, with_fp16
from trt_core.graph.recipe import GraphRecipe, PreparedGraph

__all__ = ["GraphRecipe", "PreparedGraph", "as_prepared", "prepare_graph", "rewrite_io", "with_fp16"]
