"""``GraphRecipe`` (how a model is rewritten) and ``PreparedGraph`` (what came out)."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, get_args

from trt_core.errors import ModelSpecError
from trt_core.onnx_decode import DEFAULT_TOPK
from trt_core.spec import ModelSpec

#: bump when a step's output changes for the same recipe, so cached engines are rebuilt
GRAPH_VERSION = 1
#: where boxes are decoded: in the graph ("device": outputs are top-K candidates) or on the host
DecodePlace = Literal["device", "host"]
DECODE_PLACES: tuple[DecodePlace, ...] = get_args(DecodePlace)


@dataclass(frozen=True)
class GraphRecipe:
    """The rewrites between the user's ONNX and the graph a backend runs, in this order:

    - ``decode="device"``: append the box decode and a ``TopK(topk)`` for the formats that
      allow it (:mod:`trt_core.onnx_decode`; a dynamic anchor count, as Ultralytics'
      ``dynamic=True`` exports have, is first padded to its count at the input size:
      :mod:`trt_core.graph.anchors`); NMS then runs on the host over those candidates (see
      :mod:`trt_core.graph`); ``"host"``: the raw heads are the outputs;
    - ``uint8_input``: prefix ``Cast(uint8 -> float) * input_scale`` (:mod:`trt_core.onnx_graph`),
      which every backend expects;
    - ``fp16``: convert the graph to fp16 with float32 I/O (:mod:`trt_core.trt.fp16`; the
      decode stays fp32), what TensorRT 11 needs for fp16 engines.
    """

    decode: DecodePlace = "device"
    topk: int = DEFAULT_TOPK
    uint8_input: bool = True
    fp16: bool = False

    def __post_init__(self) -> None:
        if self.decode not in DECODE_PLACES:
            raise ModelSpecError(f"unknown decode place {self.decode!r}", hint="device or host")
        if self.topk < 1:
            raise ModelSpecError(f"topk must be >= 1, got {self.topk}")

    @classmethod
    def from_decode_topk(cls, decode_topk: int | None, **changes: Any) -> GraphRecipe:
        """The recipe the older ``decode_topk`` argument means (``None``/0: decode on the host)."""
        if decode_topk:
            return cls(decode="device", topk=decode_topk, **changes)
        return cls(decode="host", **changes)

    def replace(self, **changes: Any) -> GraphRecipe:
        return dataclasses.replace(self, **changes)

    def key(self) -> dict[str, Any]:
        """A JSON-friendly description (part of the engine-cache key)."""
        return {"graph_version": GRAPH_VERSION, **dataclasses.asdict(self)}


@dataclass(frozen=True)
class PreparedGraph:
    """The final graph's serialized bytes, the spec of its input/outputs, and the recipe as
    applied (``decode`` is ``"host"`` when the model could not decode on the device).

    Immutable and picklable: compute it once and hand it to every backend / replica.
    """

    model: bytes = field(repr=False)
    spec: ModelSpec
    recipe: GraphRecipe

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.model).hexdigest()

    @property
    def decode(self) -> DecodePlace:
        """``"device"`` (outputs are ``candidates``) or ``"host"`` (raw heads)."""
        return self.recipe.decode

    def key(self) -> dict[str, Any]:
        return {"sha256": self.sha256, **self.recipe.key()}
