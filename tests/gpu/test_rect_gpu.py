"""Rect models on the GPU (OrtCudaBackend run on an H200 on 2026-12-02; TensorRT is not on that
machine, so its test skips there): an Ultralytics-style
export with dynamic H/W, batches of changing shapes through TensorRT (optimisation profile
from the smallest rect size to imgsz, input shape set per batch, output shapes read back,
CUDA graphs per shape) and OrtCudaBackend (per-shape sessions), against ONNX Runtime on
the CPU running the same prepared graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from tests.models import ultralytics_like_model
from trt_core.backends.onnxruntime import OnnxRuntimeBackend
from trt_core.batching import infer_images
from trt_core.graph import GraphRecipe, PreparedGraph, prepare_graph
from trt_core.spec import ModelSpec

pytestmark = pytest.mark.gpu
IMGSZ = 320
SHAPES = [(320, 320), (256, 320), (320, 96), (256, 320), (64, 320), (256, 320), (256, 320), (256, 320), (320, 320)]


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> PreparedGraph:
    path = tmp_path_factory.mktemp("rect-gpu") / "m.onnx"
    onnx.save(ultralytics_like_model(imgsz=IMGSZ, dynamic=True), str(path))
    spec = ModelSpec.from_onnx(path)
    assert spec.rect
    return prepare_graph(path, spec, GraphRecipe())


def tensors(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (3, h, w), dtype=np.uint8) for h, w in SHAPES]


def rows_in_order(candidates: np.ndarray) -> np.ndarray:
    """Candidate rows sorted by value: the GPU's top-K may order tied scores differently."""
    if candidates.ndim != 2:
        return candidates
    rounded = np.round(candidates, 2)
    return candidates[np.lexsort(rounded.T[::-1])]


def close(got: list[list[np.ndarray]], want: list[list[np.ndarray]], tol: float = 2e-2) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        for a, b in zip(g, w):
            assert a.shape == b.shape
            a, b = rows_in_order(a), rows_in_order(b)
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, float(np.abs(b).max())))


@pytest.fixture(scope="module")
def want(graph: PreparedGraph) -> list[list[np.ndarray]]:
    with OnnxRuntimeBackend(graph, device="cpu") as cpu:
        return infer_images(cpu, tensors())


def test_tensorrt_runs_every_rect_shape(graph: PreparedGraph, want: list[list[np.ndarray]], tmp_path: Path) -> None:
    pytest.importorskip("tensorrt")
    from trt_core.backends.tensorrt import TensorRTBackend

    with TensorRTBackend.from_onnx(graph, max_batch=4, cache_dir=tmp_path, cuda_graphs=True) as b:
        for _ in range(3):  # the second run of a shape captures a graph, the third replays it
            close(infer_images(b, tensors(), padding="pow2", max_batch=4), want)
        x = np.stack(tensors()[:1])
        pending = [b.submit(np.stack([t])) for t in tensors()[:4]]  # shapes change between batches in flight
        for p, w in zip(pending, want[:4]):
            close([[o[0] for o in p.result()]], [w])
        assert not b.graph_failures, b.graph_failures
        assert b.infer(x)[0].shape[1:] == want[0][0].shape


def test_ort_cuda_runs_every_rect_shape(graph: PreparedGraph, want: list[list[np.ndarray]]) -> None:
    from trt_core.backends.ort_cuda import OrtCudaBackend

    with OrtCudaBackend(graph, max_batch=4, provider_options={"use_tf32": "0"}) as b:
        close(infer_images(b, tensors(), padding="pow2", max_batch=4), want, 1e-3)
