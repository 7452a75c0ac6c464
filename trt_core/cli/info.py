"""``trt-detect info``: what this machine offers — GPUs, TensorRT, CUDA bindings, ORT providers."""

from __future__ import annotations

import argparse
import importlib
import json
import platform
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("info", help="show GPUs, TensorRT, CUDA bindings and ORT providers")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def collect() -> dict[str, Any]:
    from trt_core import __version__
    from trt_core.backends.onnxruntime import available_providers
    from trt_core.models import demo_model_path

    info: dict[str, Any] = {
        "trt_detect": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "onnxruntime": {"version": _version("onnxruntime"), "providers": available_providers()},
        "demo_model": str(demo_model_path()),
    }
    for name, module in (("cuda", "trt_core.cuda"), ("tensorrt", "trt_core.trt")):
        try:
            info[name] = importlib.import_module(module).describe()
        except ImportError as exc:
            info[name] = {"available": False, "reason": str(exc)}
    info["ray"] = _version("ray")
    return info


def run(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for inner, item in value.items():
                print(f"  {inner}: {item}")
        else:
            print(f"{key}: {value}")
    return 0


def _version(module: str) -> str | None:
    try:
        return str(importlib.import_module(module).__version__)
    except Exception:
        return None
