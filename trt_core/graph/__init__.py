"""One place that prepares the graph a backend runs.

``prepare_graph(model, spec, recipe) -> PreparedGraph`` applies a :class:`GraphRecipe`
(on-device decode + top-K, uint8 input, fp16) to the user's ONNX and returns the final
graph's bytes with the spec of its outputs.  The app builder computes it once and hands it
to the replicas; backends run what they are given (:func:`as_prepared` gives plain model
files the minimal recipe); the TensorRT engine-cache key includes the recipe.

Where NMS runs — measured (``benchmarks/cpu_postprocess.py``, YOLOv3-608, ~370-2,800
candidates an image at conf 0.25) and chosen: the device decodes and keeps the top K candidates
(best class per box); the host runs NMS over those K with the request's ``conf``, ``iou``,
``classes``, ``max_det`` and ``agnostic`` — 0.18 ms for the whole postprocess (1.0 ms when
the host decodes the raw heads too; 19 ms with the greedy loop NMS this replaced).  The
host NMS is ONNX Runtime's ``NonMaxSuppression`` kernel (:mod:`trt_core.boxes`); the same
kernel inside the graph (ONNX Runtime runs it on the CPU and CUDA execution providers;
TensorRT 10's parser maps it to ``INMSLayer``) would save less than 0.1 ms and cannot honour live
per-request parameters exactly: a request's ``iou`` above the graph's cannot be recovered
from an already-suppressed set, one below it differs too (a box suppressed on the device
by a box the request's NMS would itself drop), a higher ``conf`` changes which boxes
suppress which, and thresholds fed as graph inputs would be shared by every request of a
dynamic batch.  So the graph ends in candidates, and the host result is exact (see
:mod:`trt_core.onnx_decode` for when top-K is).
"""

from __future__ import annotations

from trt_core.graph.prepare import as_prepared, prepare_graph, rewrite_io, with_fp16
from trt_core.graph.recipe import DecodePlace, GraphRecipe, PreparedGraph
from trt_core.graph.store import GraphRef, share

__all__ = [
    "DecodePlace",
    "GraphRecipe",
    "GraphRef",
    "PreparedGraph",
    "as_prepared",
    "prepare_graph",
    "rewrite_io",
    "share",
    "with_fp16",
]
