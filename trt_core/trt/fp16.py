"""fp32 -> fp16 conversion of an ONNX graph for TensorRT's strongly typed networks.

TensorRT 11 removed ``BuilderFlag.FP16``: a network runs in the types its graph says.  We
use ONNX Runtime's maintained converter (``onnxruntime.transformers.float16``, a fork of
onnxconverter-common's, shipped with onnxruntime, already a core dependency) with
``keep_io_types=True``: float outputs stay float32 (a Cast at the end), the uint8 image
input stays uint8 (its ``Cast(to=float)`` becomes ``Cast(to=float16)``), and ops the
converter keeps in fp32 for accuracy get explicit Casts, which strongly typed networks need.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trt_core.errors import EngineBuildError


def convert_to_fp16(model: Any, *, keep_tail: Callable[[str], bool] | None = None) -> Any:
    """Return an fp16 copy of ``model`` (an ``onnx.ModelProto``), with unchanged I/O types.

    Nodes whose name ``keep_tail`` accepts — a tail of the graph that only the graph's
    outputs depend on, such as the box decode, whose pixel coordinates fp16 would round to
    an eighth of a pixel — are cut off before the conversion and put back unchanged in
    float32, fed by the converted body's float32 outputs.  (The converter's own block list
    would keep each node in float32 but pass fp16 between them.)
    """
    import onnx

    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as exc:
        raise EngineBuildError(
            f"the fp16 converter is unavailable ({exc})", hint="pip install onnxruntime (or onnxruntime-gpu)"
        ) from None
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    io_types = _io_types(copy)
    tail, tail_inits, outputs = _cut_tail(copy, keep_tail) if keep_tail is not None else ([], [], [])
    try:
        converted = convert_float_to_float16(copy, keep_io_types=True)
    except Exception as exc:
        raise EngineBuildError(
            f"converting the model to fp16 failed: {exc}",
            hint="build with precision fp32, or convert the ONNX yourself",
        ) from exc
    if tail:
        graph = converted.graph
        graph.node.extend(tail)
        graph.initializer.extend(tail_inits)
        del graph.output[:]
        graph.output.extend(outputs)
    if _io_types(converted) != io_types:
        raise EngineBuildError(
            f"fp16 conversion changed the model's I/O types: {io_types} -> {_io_types(converted)}",
            hint="build with precision fp32",
        )
    return converted


def _cut_tail(model: Any, keep_tail: Callable[[str], bool]) -> tuple[list[Any], list[Any], list[Any]]:
    """Remove the tail nodes (and the constants only they use) from ``model``; its outputs
    become the float32 tensors the tail reads.  Returns the tail, its constants and the
    original outputs."""
    from onnx import TensorProto, helper

    graph = model.graph
    tail = [n for n in graph.node if keep_tail(n.name)]
    if not tail:
        return [], [], []
    body = [n for n in graph.node if not keep_tail(n.name)]
    body_uses = {i for n in body for i in n.input} | {
        o.name for o in graph.output if o.name not in {t for n in tail for t in n.output}
    }
    made_by_tail = {o for n in tail for o in n.output}
    init_names = {i.name for i in graph.initializer}
    tail_inits = [i for i in graph.initializer if i.name in {x for n in tail for x in n.input} - body_uses]
    moved = {i.name for i in tail_inits}
    boundary = list(
        dict.fromkeys(x for n in tail for x in n.input if x and x not in made_by_tail and x not in init_names)
    )
    outputs = list(graph.output)
    kept_inits = [i for i in graph.initializer if i.name not in moved]
    del graph.node[:]
    graph.node.extend(body)
    del graph.initializer[:]
    graph.initializer.extend(kept_inits)
    del graph.output[:]
    graph.output.extend(helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in boundary)
    return tail, tail_inits, outputs


def _io_types(model: Any) -> dict[str, int]:
    graph = model.graph
    initialisers = {i.name for i in graph.initializer}
    values = [v for v in graph.input if v.name not in initialisers] + list(graph.output)
    return {v.name: v.type.tensor_type.elem_type for v in values}
