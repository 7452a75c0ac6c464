"""Darknet (``.cfg`` + ``.weights``) to ONNX conversion for YOLOv3-style detectors.

>>> from trt_core.darknet import convert
>>> convert("yolov3.cfg", "yolov3.weights", "yolov3.onnx")  # doctest: +SKIP
"""

from __future__ import annotations

from trt_core.darknet.cfg import default_names, load_cfg, load_names, parse_cfg
from trt_core.darknet.layers import DarknetConfig, Shape, infer_shapes
from trt_core.darknet.onnx_export import Conversion, build_model, convert
from trt_core.darknet.weights import ConvParams, DarknetWeights, Header, load_weights, parse_weights

__all__ = [
    "ConvParams",
    "Conversion",
    "DarknetConfig",
    "DarknetWeights",
    "Header",
    "Shape",
    "build_model",
    "convert",
    "default_names",
    "infer_shapes",
    "load_cfg",
    "load_names",
    "load_weights",
    "parse_cfg",
    "parse_weights",
]
