from __future__ import annotations

from pathlib import Path

import pytest

from tests.graph.models import tiny_ultralytics


@pytest.fixture(scope="session")
def format_models(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One small model per format that decodes on the device."""
    folder = tmp_path_factory.mktemp("formats")
    return {
        "yolov3": tiny_model,
        "yolov5": tiny_ultralytics(folder / "v5.onnx", "yolov5"),
        "yolov8": tiny_ultralytics(folder / "v8.onnx", "yolov8"),
    }
