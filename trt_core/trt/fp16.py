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


def convert_to_fp16(model: Any, *, keep_fp32: Callable[[str], bool] | None = None) -> Any:
    """Return an fp16 copy of ``model`` (an ``onnx.ModelProto``), with unchanged I/O types.

    Nodes whose name ``keep_fp32`` accepts stay in float32 (e.g. the box decode, whose
    pixel coordinates fp16 would round to half a pixel).
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
    try:
        blocked = [n.name for n in copy.graph.node if keep_fp32 is not None and keep_fp32(n.name)]
        converted = convert_float_to_float16(copy, keep_io_types=True, node_block_list=blocked or None)
    except Exception as exc:
        raise EngineBuildError(
            f"converting the model to fp16 failed: {exc}",
            hint="build with precision fp32, or convert the ONNX yourself",
        ) from exc
    if _io_types(converted) != io_types:
        raise EngineBuildError(
            f"fp16 conversion changed the model's I/O types: {io_types} -> {_io_types(converted)}",
            hint="build with precision fp32",
        )
    return converted


def _io_types(model: Any) -> dict[str, int]:
    graph = model.graph
    initialisers = {i.name for i in graph.initializer}
    values = [v for v in graph.input if v.name not in initialisers] + list(graph.output)
    return {v.name: v.type.tensor_type.elem_type for v in values}
