"""Where models live: the bundled demo model and the user's choice."""

from __future__ import annotations

import os
from pathlib import Path

from trt_core.errors import ModelLoadError

DEMO_MODEL_NAME = "shapes-yolov3-tiny"
MODEL_ENV = "TRT_DETECT_MODEL"


def demo_model_path() -> Path:
    return Path(__file__).parent / "data" / f"{DEMO_MODEL_NAME}.onnx"


def resolve_model(path: str | os.PathLike[str] | None = None) -> Path:
    """``path``, else ``$TRT_DETECT_MODEL``, else the bundled demo model; must exist."""
    chosen = Path(path) if path else Path(os.environ[MODEL_ENV]) if os.environ.get(MODEL_ENV) else demo_model_path()
    if not chosen.is_file():
        raise ModelLoadError(f"model file not found: {chosen}", hint="pass a path to an .onnx detector")
    return chosen
