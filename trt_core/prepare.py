"""The older entry point, kept until every caller uses :func:`trt_core.graph.prepare_graph`
(left: ``benchmarks/ort_cuda_shape_switch.py`` and ``benchmarks/ort_cuda_variants.py``);
delete this module, :attr:`PreparedGraph.source` and its test then.

``prepare_model(path, spec, decode_topk=K)`` is ``prepare_graph(path, spec,
GraphRecipe.from_decode_topk(K))``: the returned :class:`~trt_core.graph.PreparedGraph`
has the ``source`` (now the final graph's bytes, uint8 input included), ``spec`` and
``decode`` attributes ``PreparedModel`` had.
"""

from __future__ import annotations

from pathlib import Path

from trt_core.graph import GraphRecipe, PreparedGraph, prepare_graph
from trt_core.spec import ModelSpec

PreparedModel = PreparedGraph


def prepare_model(path: str | Path, spec: ModelSpec, *, decode_topk: int | None) -> PreparedGraph:
    """Decode + TopK(``decode_topk``) on the device when the model allows it, uint8 input."""
    return prepare_graph(Path(path), spec, GraphRecipe.from_decode_topk(decode_topk))
