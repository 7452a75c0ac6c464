"""Small, pure rewrites of ONNX graphs (the model file itself is never modified on disk).

``with_uint8_input`` prefixes the graph with ``Cast(uint8 -> float) * scale`` so that the
backend receives compact uint8 NCHW tensors and normalisation runs on the device, inside
the engine / session, fused with the first convolution where the runtime can.
:class:`GraphBuilder` collects the nodes and constants a rewrite appends, all under one
name prefix (the on-device decode's, the static anchor padding's).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Union

import numpy as np

from trt_core.errors import ModelLoadError, ModelSpecError


class GraphBuilder:
    """Nodes and initialisers to append to a graph, every name starting with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.nodes: list[Any] = []
        self.inits: list[Any] = []

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.asarray(value), self.prefix + name))
        return self.prefix + name

    def node(
        self, op: str, inputs: list[str], name: str, outputs: int = 1, output: str | None = None, **attrs: Any
    ) -> str:
        """Append ``op``; its first output's name (``output``, for a single output named
        as the graph needs it, else the prefixed ``name``, numbered when there are several)."""
        from onnx import helper

        if output is not None:
            names = [output]
        else:
            names = [self.prefix + name] if outputs == 1 else [f"{self.prefix}{name}_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, names, name=self.prefix + name, **attrs))
        return names[0]

    def slice(self, x: str, start: int, end: int, axis: int, name: str) -> str:
        bounds = [self.const(name + "_s", np.array([start])), self.const(name + "_e", np.array([end]))]
        return self.node("Slice", [x, *bounds, self.const(name + "_ax", np.array([axis]))], name)

    def append_to(self, graph: Any) -> None:
        graph.node.extend(self.nodes)
        graph.initializer.extend(self.inits)


def with_uint8_input(model: Any, *, scale: float = 1.0 / 255.0) -> Any:
    """Return a copy of ``model`` whose single image input is uint8 (same name and shape).

    A model whose input already is uint8 is returned unchanged (a copy).
    """
    import onnx
    from onnx import TensorProto, helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    initialisers = {i.name for i in graph.initializer}
    inputs = [v for v in graph.input if v.name not in initialisers]
    if len(inputs) != 1:
        raise ModelSpecError(f"expected one image input, found {[v.name for v in inputs]}")
    image = inputs[0]
    float_type = image.type.tensor_type.elem_type
    if float_type == TensorProto.UINT8:
        return out
    if float_type not in (TensorProto.FLOAT, TensorProto.FLOAT16):
        raise ModelSpecError(f"image input {image.name!r} must be float32, float16 or uint8")

    name = image.name
    float_name = name + "__float"
    scaled_name = name + "__normalised"
    for node in graph.node:
        node.input[:] = [scaled_name if i == name else i for i in node.input]
    for output in graph.output:
        if output.name == name:
            raise ModelSpecError("the image input is also a graph output; cannot prefix it")

    if float_type == TensorProto.FLOAT16:
        scale_init = helper.make_tensor(name + "__scale", float_type, [], _f16(scale), raw=True)
    else:
        scale_init = helper.make_tensor(name + "__scale", float_type, [], [scale])
    graph.initializer.append(scale_init)
    prefix = [
        helper.make_node("Cast", [name], [float_name], to=float_type, name=name + "__cast"),
        helper.make_node("Mul", [float_name, scale_init.name], [scaled_name], name=name + "__scale_mul"),
    ]
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(prefix + nodes)
    image.type.tensor_type.elem_type = TensorProto.UINT8
    return out


def _f16(value: float) -> bytes:  # raw little-endian float16, for the scale initialiser
    import numpy as np

    return np.asarray(value, dtype=np.float16).tobytes()


ModelSource = Union[str, "os.PathLike[str]", bytes]


def load_model(source: ModelSource) -> Any:
    """An ``onnx.ModelProto`` from a path or serialized bytes, with a clear error."""
    import onnx

    if isinstance(source, bytes):
        try:
            return onnx.load_from_string(source)
        except Exception as exc:
            raise ModelLoadError(f"cannot parse the ONNX model: {exc}") from exc
    try:
        return onnx.load(str(source))
    except FileNotFoundError:
        raise ModelLoadError(f"model file not found: {source}") from None
    except Exception as exc:
        raise ModelLoadError(f"cannot read ONNX model {source}: {exc}") from exc


def model_bytes(source: ModelSource) -> bytes:
    if isinstance(source, bytes):
        return source
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"cannot read {source}: {exc.strerror or exc}") from None
