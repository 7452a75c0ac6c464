"""``prepare_graph``: the one function that turns a user's ONNX into what a backend runs."""

from __future__ import annotations

import logging
from typing import Any

from trt_core.errors import ModelSpecError
from trt_core.graph.anchors import with_static_anchors
from trt_core.graph.recipe import GraphRecipe, PreparedGraph
from trt_core.onnx_decode import PREFIX, with_candidates
from trt_core.onnx_graph import ModelSource, load_model, with_uint8_input
from trt_core.spec import ModelSpec

logger = logging.getLogger(__name__)


def prepare_graph(model: ModelSource | Any, spec: ModelSpec, recipe: GraphRecipe | None = None) -> PreparedGraph:
    """Apply ``recipe`` (default :class:`GraphRecipe`) to ``model`` (a path, serialized
    bytes or an ``onnx.ModelProto``, never modified) described by ``spec``.

    Deterministic: the same model, spec and recipe give the same bytes.  A model that cannot
    decode on the device (its format, opset or dynamic head shapes) keeps its raw heads, and
    the returned recipe says ``decode="host"``.
    """
    recipe = recipe or GraphRecipe()
    proto = model if hasattr(model, "graph") else load_model(model)
    out_spec = spec
    if recipe.decode == "device":
        try:  # a dynamic anchor count (Ultralytics' dynamic=True) is padded to its count at the input size
            static, static_spec = with_static_anchors(proto, spec)
            proto, out_spec = with_candidates(static, static_spec, recipe.topk)
        except ModelSpecError as exc:
            logger.info("decoding on the host: %s", exc.message)
            recipe = recipe.replace(decode="host")
    proto = rewrite_io(proto, input_scale=spec.input_scale, uint8_input=recipe.uint8_input, fp16=recipe.fp16)
    return PreparedGraph(bytes(proto.SerializeToString()), out_spec, recipe)


def rewrite_io(model: Any, *, input_scale: float, uint8_input: bool = True, fp16: bool = False) -> Any:
    """The input and precision steps alone (for graphs with no spec, e.g. ``trt-detect build``)."""
    if uint8_input:
        model = with_uint8_input(model, scale=input_scale)
    if fp16:
        from trt_core.trt.fp16 import convert_to_fp16

        model = convert_to_fp16(model, keep_tail=lambda name: name.startswith(PREFIX))
    return model


def with_fp16(graph: PreparedGraph) -> PreparedGraph:
    """``graph`` converted to fp16, as if prepared with ``fp16=True`` (fp16 is the last step)."""
    if graph.recipe.fp16:
        return graph
    proto = rewrite_io(load_model(graph.model), input_scale=graph.spec.input_scale, uint8_input=False, fp16=True)
    return PreparedGraph(bytes(proto.SerializeToString()), graph.spec, graph.recipe.replace(fp16=True))


def as_prepared(model: ModelSource | PreparedGraph, spec: ModelSpec | None = None) -> PreparedGraph:
    """What backends call: a :class:`PreparedGraph` runs as given (its own spec); a plain
    model (a path or bytes, as older callers pass, with its ``spec``) gets the minimal
    recipe — uint8 input (a no-op when the input already is uint8), nothing else."""
    if isinstance(model, PreparedGraph):
        return model
    if spec is None:
        raise ModelSpecError("a model file needs its ModelSpec", hint="pass spec=, or a PreparedGraph")
    return prepare_graph(model, spec, GraphRecipe(decode="host"))
