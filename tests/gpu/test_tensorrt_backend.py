"""The TensorRT backend end to end: build, cache, load, run, compared with ONNX Runtime (CPU).

Skipped where TensorRT's full Python package (with the builder) is not installed: at the
time of writing that is every machine this project can reach, so these tests have not run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trt_core.spec import ModelSpec

pytestmark = pytest.mark.gpu
trt = pytest.importorskip("tensorrt")


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.models import save_yolo_like_model

    return Path(save_yolo_like_model(tmp_path_factory.mktemp("m") / "small.onnx", size=96, classes=3))


def reference(path: Path, spec: ModelSpec, x: np.ndarray) -> list[np.ndarray]:
    import onnx
    import onnxruntime as ort

    from trt_core.onnx_graph import with_uint8_input

    model = with_uint8_input(onnx.load(str(path)), scale=spec.input_scale)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return list(session.run(list(spec.output_names), {spec.input.name: x}))


def images(n: int, spec: ModelSpec, seed: int = 0) -> np.ndarray:
    h, w = spec.input_hw
    return np.random.default_rng(seed).integers(0, 256, (n, 3, h, w), dtype=np.uint8)


def close(got: list[np.ndarray], want: list[np.ndarray], tol: float) -> None:
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol * max(1.0, float(np.abs(w).max())))


@pytest.mark.parametrize("precision, tol", [("fp32", 2e-2), ("fp16", 5e-2)])
def test_build_cache_and_run(small_model: Path, tmp_path: Path, precision: str, tol: float) -> None:
    from trt_core.backends.tensorrt import TensorRTBackend

    spec = ModelSpec.from_onnx(small_model)
    with TensorRTBackend.from_onnx(small_model, spec, max_batch=8, cache_dir=tmp_path, precision=precision) as b:
        assert b.info.name == "tensorrt" and b.info.precision == precision and b.info.max_batch == 8
        assert b.info.details["built"] is True
        for n in (1, 3, 8, 2, 8):
            x = images(n, spec, seed=n)
            close(b.infer(x), reference(small_model, spec, x), tol)
    with TensorRTBackend.from_onnx(small_model, spec, max_batch=8, cache_dir=tmp_path, precision=precision) as b:
        assert b.info.details["built"] is False  # loaded from the cache
        x = images(4, spec)
        close(b.infer(x), reference(small_model, spec, x), tol)


def test_corrupt_cache_entry_is_rebuilt(small_model: Path, tmp_path: Path) -> None:
    from trt_core.backends.tensorrt import TensorRTBackend

    spec = ModelSpec.from_onnx(small_model)
    with TensorRTBackend.from_onnx(small_model, spec, max_batch=2, cache_dir=tmp_path) as b:
        path = Path(str(b.info.details["engine"]))
    path.write_bytes(path.read_bytes()[:1000])
    with TensorRTBackend.from_onnx(small_model, spec, max_batch=2, cache_dir=tmp_path) as b:
        assert b.info.details["built"] is True


def test_cuda_graphs_and_pipelining(small_model: Path, tmp_path: Path) -> None:
    from trt_core.backends.tensorrt import TensorRTBackend

    spec = ModelSpec.from_onnx(small_model)
    with TensorRTBackend.from_onnx(small_model, spec, max_batch=4, cache_dir=tmp_path, cuda_graphs=True) as b:
        xs = [images(n, spec, seed=10 + i) for i, n in enumerate([1, 1, 1, 4, 4, 4, 2, 1, 4])]
        for x in xs:  # the second run of a size captures a graph, later runs replay it
            close(b.infer(x), reference(small_model, spec, x), 2e-2)
        pending = [b.submit(x) for x in xs]
        for p, x in zip(pending, xs):
            close(p.result(), reference(small_model, spec, x), 2e-2)
        assert not b.graph_failures, b.graph_failures


def test_from_engine_file(small_model: Path, tmp_path: Path) -> None:
    from trt_core.backends.tensorrt import TensorRTBackend

    spec = ModelSpec.from_onnx(small_model)
    with TensorRTBackend.from_onnx(small_model, spec, max_batch=4, cache_dir=tmp_path) as b:
        engine = Path(str(b.info.details["engine"]))
    with TensorRTBackend.from_engine(engine, spec, max_batch=2) as b:
        assert b.info.max_batch == 2
        x = images(2, spec)
        close(b.infer(x), reference(small_model, spec, x), 2e-2)


def test_inference_engine_on_tensorrt(small_model: Path, tmp_path: Path) -> None:
    """The path the library's Detector and the Serve inference stage take, on TensorRT."""
    from trt_core.engine import InferenceEngine
    from trt_core.graph import as_prepared

    spec = ModelSpec.from_onnx(small_model)
    graph = as_prepared(small_model, spec)
    options = {"cache_dir": str(tmp_path)}
    with InferenceEngine.load(graph, backend="tensorrt", device="gpu", max_batch=4, options=options) as engine:
        assert engine.info.name == "tensorrt" and engine.padding == "pow2"
        assert engine.warm_up() == [1, 2, 4]
        x = images(3, spec)
        want = reference(small_model, spec, x)
        for i, outputs in enumerate(engine.infer(list(x))):
            close([o[None] for o in outputs], [w[i : i + 1] for w in want], 2e-2)
        engine.probe()
