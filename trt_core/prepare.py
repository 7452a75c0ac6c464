"""What the backend actually runs: the user's ONNX, optionally ending in on-device decode.

``prepare_model`` is deterministic, so the Serve app builder and every Detector replica
derive the same graph and the same output spec from the same file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from trt_core.errors import ModelSpecError
from trt_core.onnx_decode import with_candidates
from trt_core.onnx_graph import ModelSource, load_model
from trt_core.spec import ModelSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedModel:
    source: ModelSource  # the file itself, or the rewritten graph's bytes
    spec: ModelSpec  # describes ``source``'s outputs (format "candidates" when decoded on device)
    decode: str  # "device" | "host"


def prepare_model(path: str | Path, spec: ModelSpec, *, decode_topk: int | None) -> PreparedModel:
    """Append decode + TopK(``decode_topk``) when the model allows it; else run it as is."""
    if not decode_topk or spec.format != "yolov3":
        return PreparedModel(Path(path), spec, "host")
    try:
        model, decoded_spec = with_candidates(load_model(path), spec, decode_topk)
    except ModelSpecError as exc:
        logger.info("decoding on the host: %s", exc.message)
        return PreparedModel(Path(path), spec, "host")
    return PreparedModel(bytes(model.SerializeToString()), decoded_spec, "device")
