"""OrtCudaBackend's slot and io_binding logic, run on the CPU.

The backend binds its inputs and outputs to raw buffer addresses and rebinds when the
batch size changes.  Here the same class runs with host memory (real addresses) and ONNX
Runtime's CPU provider, so binding, rebinding, shape probing, static-batch padding,
pipelining and output order are all exercised for real.  The CUDA specifics (the user
stream, device memory) are covered by tests/gpu.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests.cuda.fakes import HostMemory
from tests.models import yolo_like_model
from trt_core.backends.ort_cuda import OrtCudaBackend
from trt_core.errors import BackendError
from trt_core.onnx_graph import with_uint8_input
from trt_core.spec import ModelSpec


class CpuBoundBackend(OrtCudaBackend):
    device_type = "cpu"
    provider = "CPUExecutionProvider"

    def _providers(self, stream_handle: int | None) -> list[Any]:
        return ["CPUExecutionProvider"]


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def reference(model: onnx.ModelProto, spec: ModelSpec, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(with_uint8_input(model).SerializeToString(), providers=["CPUExecutionProvider"])
    return list(session.run(list(spec.output_names), {spec.input.name: x}))


def images(n: int, size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3, size, size), dtype=np.uint8)


def check(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def model() -> onnx.ModelProto:
    return yolo_like_model(size=64, classes=3)


def test_batches_of_every_size_and_pipelining(model: onnx.ModelProto, tmp_path: Path) -> None:
    spec = ModelSpec.from_onnx_model(model)
    memory = HostMemory(eager=True)
    with CpuBoundBackend(save(model, tmp_path / "m.onnx"), spec, max_batch=8, num_streams=2, context=memory) as b:
        assert b.info.max_batch == 8 and b.info.dynamic_batch and b.output_names == ["head32", "head16"]
        for n in [*range(1, 9), 8, 1, 5, 5]:
            x = images(n, 64, n)
            check(b.infer(x), reference(model, spec, x))
        xs = [images(n, 64, 100 + n) for n in (3, 8, 1, 6)]
        pending = [b.submit(x) for x in xs]
        for p, x in zip(pending, xs):
            check(p.result(), reference(model, spec, x))
        with pytest.raises(BackendError, match="outside"):
            b.infer(images(9, 64, 0))
    assert len(memory.released) == len(memory.created)  # every buffer and stream freed
    with pytest.raises(BackendError, match="closed"):
        b.infer(images(1, 64, 0))


def test_static_batch_model_is_padded(model: onnx.ModelProto, tmp_path: Path) -> None:
    static = onnx.ModelProto()
    static.CopyFrom(model)
    for value in [*static.graph.input, *static.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_value = 4
    spec = ModelSpec.from_onnx_model(static)
    assert spec.static_batch == 4
    with CpuBoundBackend(save(static, tmp_path / "s.onnx"), spec, max_batch=32, context=HostMemory(eager=True)) as b:
        assert b.info.max_batch == 4 and not b.info.dynamic_batch
        x = images(3, 64, 1)
        padded = np.concatenate([x, np.zeros((1, 3, 64, 64), np.uint8)])
        check(b.infer(x), [o[:3] for o in reference(static, spec, padded)])


def test_dynamic_output_axes_are_probed(model: onnx.ModelProto, tmp_path: Path) -> None:
    dynamic = onnx.ModelProto()
    dynamic.CopyFrom(model)
    for value in dynamic.graph.output:
        for axis in (2, 3):
            value.type.tensor_type.shape.dim[axis].dim_param = f"{value.name}_{axis}"
    spec = ModelSpec.from_onnx_model(dynamic)
    assert spec.outputs[0].shape == (-1, 24, -1, -1)
    with CpuBoundBackend(save(dynamic, tmp_path / "d.onnx"), spec, max_batch=4, context=HostMemory(eager=True)) as b:
        x = images(2, 64, 3)
        check(b.infer(x), reference(dynamic, spec, x))


def test_warm_up_builds_every_size_on_every_slot(model: onnx.ModelProto, tmp_path: Path) -> None:
    from trt_core.batching import warm_up

    spec = ModelSpec.from_onnx(save(model, tmp_path / "m.onnx"))
    backend = CpuBoundBackend(tmp_path / "m.onnx", spec, max_batch=8, num_streams=2, context=HostMemory())
    assert backend.info.slots == 2 and backend.info.preferred_padding == "pow2"
    assert warm_up(backend, (3, 64, 64), padding="pow2") == [1, 2, 4, 8]
    for slot in backend._pool.slots:
        assert sorted(slot.state["sessions"]) == [1, 2, 4, 8]
    backend.close()
