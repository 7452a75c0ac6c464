"""What TensorRT this process has (``trt-detect info``); never raises."""

from __future__ import annotations

from typing import Any


def describe() -> dict[str, Any]:
    """Version, module, whether every API name we use exists, and how fp16 would be built."""
    info: dict[str, Any] = {
        "available": False,
        "version": None,
        "module": None,
        "builder": False,
        "fp16": None,
        "api_missing": [],
        "error": None,
    }
    try:
        from trt_core.trt.api_surface import load_tensorrt, major_version, missing_names
        from trt_core.trt.options import fp16_strategy

        trt = load_tensorrt()
        info["version"] = str(trt.__version__)
        info["module"] = trt.__name__
        info["builder"] = hasattr(trt, "Builder") and hasattr(trt, "OnnxParser")
        info["fp16"] = fp16_strategy(major_version(trt), hasattr(trt.BuilderFlag, "FP16"))
        info["api_missing"] = missing_names(trt)
        info["available"] = not info["api_missing"]
        if info["api_missing"]:
            info["error"] = "the installed TensorRT lacks API names this package uses"
    except Exception as exc:  # describe() must never raise
        message = getattr(exc, "message", None) or str(exc)
        info["error"] = f"{type(exc).__name__}: {message}"
    return info
