from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.compare import assert_same_detections
from tests.models import tiny_yolov3
from trt_core import Detector
from trt_core.errors import BackendUnavailableError, InvalidImageError, InvalidRequestError, ModelLoadError


def images(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = [(40, 160), (160, 40), (64, 64), (300, 200), (7, 9)]
    return [rng.integers(0, 256, (*sizes[i % len(sizes)], 3), dtype=np.uint8) for i in range(n)]


@pytest.fixture(scope="module")
def detector(tiny_model: Path) -> Detector:
    return Detector.from_onnx(tiny_model, backend="onnxruntime", device="cpu", conf=0.05, max_batch=4)


def test_detect_batch_equals_one_by_one(detector: Detector) -> None:
    batch = images(7)
    together = detector.detect_batch(batch)
    assert len(together) == 7
    assert any(len(d) for d in together)
    for image, result in zip(batch, together):
        assert_same_detections(detector.detect(image), result)


def test_detect_accepts_bytes_paths_pil_and_arrays(detector: Detector, tmp_path: Path) -> None:
    rgb = images(1)[0]
    path = tmp_path / "x.png"
    Image.fromarray(rgb).save(path)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    expected = detector.detect(rgb)
    for source in (path, str(path), buffer.getvalue(), Image.fromarray(rgb)):
        assert_same_detections(detector.detect(source), expected)


def test_per_call_params_override_defaults(detector: Detector) -> None:
    rgb = images(1, seed=3)[0]
    loose = detector.detect(rgb, conf=0.01)
    strict = detector.detect(rgb, conf=0.3)
    assert len(strict) <= len(loose)
    assert all(s >= 0.3 for s in strict.scores)
    assert len(detector.detect(rgb, conf=0.01, max_det=2)) <= 2
    assert set(detector.detect(rgb, conf=0.01, classes=[1]).class_ids.tolist()) <= {1}
    with pytest.raises(InvalidRequestError, match="conf"):
        detector.detect(rgb, conf=1.5)


def test_boxes_are_inside_the_image_and_sorted(detector: Detector) -> None:
    for rgb, result in zip(images(5), detector.detect_batch(images(5), conf=0.01)):
        h, w = rgb.shape[:2]
        assert (result.xyxy[:, [0, 2]] <= w).all() and (result.xyxy[:, [1, 3]] <= h).all()
        assert (result.xyxy >= 0).all()
        assert (np.diff(result.scores) <= 1e-7).all()


def test_fixed_batch_model_is_padded(tmp_path: Path, detector: Detector) -> None:
    fixed = Detector.from_onnx(tiny_yolov3(tmp_path / "b2.onnx", batch=2), backend="onnxruntime", conf=0.05)
    assert fixed.backend.info.max_batch == 2 and not fixed.backend.info.dynamic_batch
    for a, b in zip(fixed.detect_batch(images(3)), detector.detect_batch(images(3))):
        assert_same_detections(a, b)


def test_bad_image_raises_and_detector_keeps_working(detector: Detector) -> None:
    with pytest.raises(InvalidImageError):
        detector.detect(b"not an image")
    assert len(detector.detect_batch(images(2))) == 2


def test_info_describes_model_and_backend(detector: Detector) -> None:
    info = detector.info
    assert info["backend"] == "onnxruntime" and info["device"] == "cpu"
    assert info["name"] == "tiny-test" and info["max_batch"] == 4 and info["dynamic_batch"] is True
    assert info["input"] == {"name": "images", "height": 64, "width": 64, "dtype": "float32"}


def test_load_errors(tmp_path: Path, tiny_model: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        Detector.from_onnx(tmp_path / "missing.onnx")
    with pytest.raises(BackendUnavailableError, match="TensorRT"):
        Detector.from_onnx(tiny_model, backend="tensorrt")
    with pytest.raises(InvalidRequestError, match="unknown backend"):
        Detector.from_onnx(tiny_model, backend="tflite")


def test_context_manager_closes_backend(tiny_model: Path) -> None:
    from trt_core.errors import BackendError

    with Detector.from_onnx(tiny_model, backend="onnxruntime") as det:
        det.detect(images(1)[0])
    with pytest.raises(BackendError, match="closed"):
        det.detect(images(1)[0])


def test_device_decode_equals_host_decode(tiny_model: Path) -> None:
    on_device = Detector.from_onnx(tiny_model, backend="onnxruntime", conf=0.05)
    on_host = Detector.from_onnx(tiny_model, backend="onnxruntime", conf=0.05, decode_topk=None)
    assert on_device.decode == "device" and on_device.info["decode"] == "device"
    assert on_host.decode == "host" and on_host.spec.format == "yolov3"
    assert on_device.backend.output_names == ["candidates"]
    for a, b in zip(on_device.detect_batch(images(5)), on_host.detect_batch(images(5))):
        assert_same_detections(a, b)


def test_recipe_argument_replaces_decode_topk(tiny_model: Path) -> None:
    from trt_core.graph import GraphRecipe

    det = Detector.from_onnx(tiny_model, backend="onnxruntime", recipe=GraphRecipe(decode="device", topk=9))
    assert det.decode == "device" and det.spec.outputs[0].shape[1:] == (9, 6)
    assert Detector.from_onnx(tiny_model, backend="onnxruntime", recipe=GraphRecipe(decode="host")).decode == "host"


def test_batch_padding_sizes() -> None:
    from trt_core.batching import batch_sizes, run_size

    assert [run_size(n, 8, "pow2") for n in range(1, 9)] == [1, 2, 4, 4, 8, 8, 8, 8]
    assert [run_size(n, 6, "pow2") for n in (3, 5, 6)] == [4, 6, 6]
    assert run_size(3, 8, "max") == 8 and run_size(3, 8, "none") == 3
    assert batch_sizes(32, "pow2") == [1, 2, 4, 8, 16, 32]
    assert batch_sizes(8, "none") == list(range(1, 9))


@pytest.mark.parametrize("padding", ["pow2", "max"])
def test_padded_batches_give_the_same_detections(tiny_model: Path, detector: Detector, padding: str) -> None:
    from trt_core.batching import warm_up

    padded = Detector.from_onnx(tiny_model, backend="onnxruntime", conf=0.05, max_batch=8, batch_padding=padding)
    assert warm_up(padded.backend, (3, 64, 64), padding=padding) == ([1, 2, 4, 8] if padding == "pow2" else [8])
    for a, b in zip(padded.detect_batch(images(5)), detector.detect_batch(images(5))):
        assert_same_detections(a, b)


def test_query_classes_edge_cases() -> None:
    from trt_core.params import DetectParams

    assert DetectParams().with_query({"classes": ""}).classes is None  # empty: no filter
    assert DetectParams().with_query({"classes": "0, 2"}).classes == (0, 2)
    with pytest.raises(InvalidRequestError, match="class ids from 0"):
        DetectParams().with_query({"classes": "99999999999999999999"})


def test_the_inference_engine_warms_up_caps_and_probes(tiny_model: Path, detector: Detector) -> None:
    """What the Serve inference stage runs: the engine the library's Detector runs too."""
    from trt_core.engine import InferenceEngine
    from trt_core.errors import BackendError
    from trt_core.graph import prepare_graph
    from trt_core.spec import ModelSpec

    graph = prepare_graph(tiny_model, ModelSpec.from_onnx(tiny_model))
    engine = InferenceEngine.load(graph, backend="onnxruntime", device="cpu", max_batch=8, padding="pow2")
    assert isinstance(detector.engine, InferenceEngine) and detector.engine.padding == "none"  # auto on the CPU
    assert engine.decode == "device" and engine.padding == "pow2" and engine.cap(100) == 8
    assert engine.warm_up(4) == [1, 2, 4] and engine.max_batch_size == 4
    tensors = [detector.preprocess(image).tensor for image in images(5)]
    got = engine.infer(tensors)
    want = detector.engine.infer(tensors)
    assert len(got) == 5 and all(len(outputs) == 1 for outputs in got)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g[0], w[0], atol=1e-4)
    described = engine.describe()
    assert described["warmed_batch_sizes"] == [1, 2, 4] and described["engine_max_batch"] == 8
    engine.probe()
    engine.close()
    with pytest.raises(BackendError, match="closed"):
        engine.probe()
    with pytest.raises(InvalidRequestError, match="padding"):
        InferenceEngine.load(graph, backend="onnxruntime", device="cpu", padding="odd")  # type: ignore[arg-type]
