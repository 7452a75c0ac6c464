"""GPU tests: skipped unless pycuda can initialise the driver and use device 0."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
BUNDLED = HERE.parents[1] / "trt_core" / "data" / "shapes-yolov3-tiny.onnx"


@functools.lru_cache(maxsize=1)
def gpu_unavailable() -> str | None:
    """Why the GPU tests cannot run here, or None when they can."""
    try:
        import pycuda.driver as cuda

        cuda.init()
        if cuda.Device.count() < 1:
            return "no CUDA device visible"
        ctx = cuda.Device(0).retain_primary_context()
        ctx.push()
        cuda.Context.pop()
        ctx.detach()
    except Exception as exc:
        return f"pycuda cannot use a GPU: {type(exc).__name__}: {exc}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mine = [item for item in items if HERE in Path(str(item.fspath)).resolve().parents]
    if not mine:
        return
    reason = gpu_unavailable()
    for item in mine:
        item.add_marker(pytest.mark.gpu)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled demo model when present, else a synthetic YOLOv3-tiny-shaped one (416)."""
    if BUNDLED.exists():
        return BUNDLED
    from tests.models import save_yolo_like_model

    return Path(save_yolo_like_model(tmp_path_factory.mktemp("model") / "synthetic.onnx", size=416, classes=3))
