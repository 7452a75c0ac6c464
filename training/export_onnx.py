"""Export a trained ``ShapesYolo`` to ONNX in NVIDIA's Darknet YOLOv3 layout, with metadata.

Input ``images``: float32 ``(N, 3, H, W)`` RGB in 0..1 (dynamic batch).  Outputs: the raw
head logits ``(N, A * (5 + C), H / s, W / s)`` for strides 32, 16, 8, in that order;
``masks`` lists each output's anchor indices in the same order.

    python training/export_onnx.py CHECKPOINT.pt -o trt_core/data/shapes-yolov3-tiny.onnx
"""

from __future__ import annotations

import argparse
import sys
from copy import deepcopy
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "training")]

from model import ShapesYolo, fuse_conv_bn  # noqa: E402
from shapes_dataset import CLASS_NAMES  # noqa: E402

from trt_core import metadata  # noqa: E402

MODEL_NAME = "shapes-yolov3-tiny"
MASKS = [[6, 7, 8], [3, 4, 5], [0, 1, 2]]
OUTPUT_NAMES = ["conv_s32", "conv_s16", "conv_s8"]


def export(model: torch.nn.Module, anchors: np.ndarray, size: int, path: str | Path) -> Path:
    import onnx

    path = Path(path)
    net = fuse_conv_bn(deepcopy(model).float().cpu().eval())
    dummy = torch.zeros(1, 3, size, size)
    torch.onnx.export(
        net,
        (dummy,),
        str(path),
        opset_version=17,
        input_names=["images"],
        output_names=OUTPUT_NAMES,
        dynamic_axes={name: {0: "batch"} for name in ["images", *OUTPUT_NAMES]},
        do_constant_folding=True,
        dynamo=False,
    )
    proto = onnx.load(str(path))
    props = metadata.to_props(
        format="yolov3",
        name=MODEL_NAME,
        names=list(CLASS_NAMES),
        anchors=[[round(float(w), 2), round(float(h), 2)] for w, h in anchors],
        masks=MASKS,
        input_size=[size, size],
        letterbox=True,
        pad_value=128,
        resize="bilinear",
    )
    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "trt-detect training/export_onnx.py"
    proto.doc_string = "YOLOv3-format detector of circles, squares and triangles (synthetic shapes set v1)"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("-o", "--output", default=str(ROOT / "trt_core" / "data" / f"{MODEL_NAME}.onnx"))
    args = parser.parse_args()
    state = torch.load(args.checkpoint, map_location="cpu")
    model = ShapesYolo(num_classes=len(CLASS_NAMES), width=state["args"]["width"])
    model.load_state_dict(state["model"])
    print(export(model, np.array(state["anchors"]), state["args"]["size"], args.output))


if __name__ == "__main__":
    main()
