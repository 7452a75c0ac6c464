from __future__ import annotations

from pathlib import Path

import pytest

from tests.models import tiny_yolov3
from trt_core.models import demo_model_path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "models" / "shapes-yolov3-tiny" / "samples"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tiny_yolov3(tmp_path_factory.mktemp("models") / "tiny.onnx"))


@pytest.fixture(scope="session")
def demo_model() -> Path:
    path = demo_model_path()
    if not path.is_file():
        pytest.fail(f"the bundled demo model is missing: {path}")
    return path


@pytest.fixture(scope="session")
def sample_images() -> list[Path]:
    images = sorted(p for p in SAMPLES.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not images:
        pytest.fail(f"no sample images in {SAMPLES}")
    return images
