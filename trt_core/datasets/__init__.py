"""Synthetic datasets (the bundled demo model's training and evaluation data)."""

from __future__ import annotations

from trt_core.datasets.shapes import CLASS_NAMES, ShapesSample, encode, generate_image, write_dataset

__all__ = ["CLASS_NAMES", "ShapesSample", "encode", "generate_image", "write_dataset"]
