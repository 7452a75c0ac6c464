"""Rect batches (each shape its own batch, shapes changing from batch to batch) through the
GPU backends' slot logic, run on the CPU: :class:`OrtCudaBackend` over host memory and
ONNX Runtime's CPU provider (as tests/cuda/test_ort_binding.py does), so the per-batch
tensor shapes of :class:`~trt_core.backends.shaped.ShapedSlotPool`, the probe of output
shapes, the per-shape sessions and their bindings run for real.  Compared with the plain
ONNX Runtime backend.  The CUDA specifics are in tests/gpu/test_rect_gpu.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from tests.cuda.fakes import HostMemory
from tests.models import ultralytics_like_model
from trt_core.backends.onnxruntime import OnnxRuntimeBackend
from trt_core.backends.ort_cuda import OrtCudaBackend
from trt_core.backends.shaped import ShapedSlotPool
from trt_core.batching import infer_images
from trt_core.errors import BackendError
from trt_core.graph import GraphRecipe, PreparedGraph, prepare_graph
from trt_core.spec import ModelSpec
from trt_core.trt.loader import engine_options
from trt_core.trt.options import BuildOptions

IMGSZ = 128


class CpuBoundBackend(OrtCudaBackend):
    device_type = "cpu"
    provider = "CPUExecutionProvider"

    def _providers(self, stream_handle: int | None) -> list[Any]:
        return ["CPUExecutionProvider"]


@pytest.fixture(scope="module", params=["host", "device"])
def graph(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> PreparedGraph:
    """The raw heads (a dynamic anchor count: output shapes change with the input's) or
    decoded on the device (anchors padded to their count at imgsz: fixed output shapes)."""
    path = tmp_path_factory.mktemp("rect-backends") / "m.onnx"
    onnx.save(ultralytics_like_model(imgsz=IMGSZ, dynamic=True), str(path))
    return prepare_graph(path, ModelSpec.from_onnx(path), GraphRecipe(decode=request.param))


def tensors(shapes: list[tuple[int, int]], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (3, h, w), dtype=np.uint8) for h, w in shapes]


def check(got: list[list[np.ndarray]], want: list[list[np.ndarray]]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert [a.shape for a in g] == [b.shape for b in w]
        for a, b in zip(g, w):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_ort_cuda_slots_run_every_shape(graph: PreparedGraph) -> None:
    assert graph.spec.rect
    shapes = [(128, 128), (96, 128), (128, 32), (96, 128), (32, 64), (96, 128), (96, 128), (96, 128), (128, 128)]
    xs = tensors(shapes)
    with OnnxRuntimeBackend(graph, device="cpu") as cpu:
        want = infer_images(cpu, xs)
    if graph.decode == "host":  # the anchor count follows H x W
        assert {o[0].shape for o in want} == {(7, 336), (7, 252), (7, 84), (7, 42)}
    else:  # top-K of the anchors padded to their count at 128x128
        assert {o[0].shape for o in want} == {(336, 6)}
    memory = HostMemory(eager=True)
    with CpuBoundBackend(graph, max_batch=4, num_streams=2, context=memory) as b:
        assert isinstance(b._pool, ShapedSlotPool)
        check(infer_images(b, xs, padding="pow2", max_batch=4), want)
        check(infer_images(b, xs[::-1], padding="pow2", max_batch=4), want[::-1])
        keys = set().union(*(slot.state["sessions"] for slot in b._pool.slots))
        assert (4, 96, 128) in keys and (1, 32, 64) in keys and (2, 128, 128) in keys
        # batches of other shapes in flight at once on both slots, collected afterwards
        batches = [np.stack(xs[i : i + 1]) for i in range(4)]
        pending = [b.submit(x) for x in batches]
        for p, i in zip(pending, range(4)):
            check([[o[0] for o in p.result()]], [want[i]])
        with pytest.raises(BackendError, match="takes images up to 128x128"):
            b.infer(np.zeros((1, 3, 160, 128), np.uint8))
        with pytest.raises(BackendError, match="needs more than"):
            b._pool.reshaped(b._pool.full, {graph.spec.outputs[0].name: (1, 10_000, 7)})
    assert len(memory.released) == len(memory.created)


def test_static_models_keep_the_plain_pool(tmp_path: Path) -> None:
    path = tmp_path / "static.onnx"
    onnx.save(ultralytics_like_model(imgsz=64, dynamic=False), str(path))
    spec = ModelSpec.from_onnx(path)
    with CpuBoundBackend(prepare_graph(path, spec, GraphRecipe()), max_batch=1, context=HostMemory(eager=True)) as b:
        assert not spec.rect and not isinstance(b._pool, ShapedSlotPool)
        assert b.infer(np.zeros((1, 3, 64, 64), np.uint8))[0].shape == (1, 84, 6)  # decoded on the device
        assert sorted(b._pool.slots[0].state["sessions"]) == [1]


def test_tensorrt_profile_spans_the_rect_sizes(graph: PreparedGraph) -> None:
    options = engine_options(graph, BuildOptions(max_batch=8, opt_batch=4))
    assert options.input_hw == (IMGSZ, IMGSZ) and options.min_hw == (32, 32)
    assert options.profile("images", (-1, 3, -1, -1)) == ((1, 3, 32, 32), (4, 3, 128, 128), (8, 3, 128, 128))
    assert options.key_fields()["min_hw"] == [32, 32]
