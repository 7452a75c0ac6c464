"""OrtCudaBackend (ONNX Runtime CUDA provider over our streams and buffers) against ONNX
Runtime on the CPU, on the bundled model (or a synthetic one of the same shape)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.threads import run_on_threads
from trt_core.errors import BackendError
from trt_core.spec import ModelSpec

pytestmark = pytest.mark.gpu
MAX_BATCH = 32
EXACT = {"use_tf32": "0"}


class CpuReference:
    """The same uint8-prefixed graph on ONNX Runtime's CPU provider."""

    def __init__(self, path: Path, spec: ModelSpec) -> None:
        import onnx
        import onnxruntime as ort

        from trt_core.onnx_graph import with_uint8_input

        model = with_uint8_input(onnx.load(str(path)), scale=spec.input_scale)
        self.session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        self.spec = spec

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        return list(self.session.run(list(self.spec.output_names), {self.spec.input.name: x}))


@pytest.fixture(scope="module")
def spec(model_path: Path) -> ModelSpec:
    return ModelSpec.from_onnx(model_path)


@pytest.fixture(scope="module")
def reference(model_path: Path, spec: ModelSpec) -> CpuReference:
    return CpuReference(model_path, spec)


@pytest.fixture(scope="module")
def backend(model_path: Path, spec: ModelSpec) -> Iterator[Any]:
    from trt_core.backends.ort_cuda import OrtCudaBackend

    # TF32 off: cuDNN then matches the CPU closely; the default (TF32 on) is tested below
    with OrtCudaBackend(model_path, spec, max_batch=MAX_BATCH, num_streams=2, provider_options=EXACT) as b:
        yield b


def images(n: int, spec: ModelSpec, seed: int) -> np.ndarray:
    h, w = spec.input_hw
    return np.random.default_rng(seed).integers(0, 256, (n, 3, h, w), dtype=np.uint8)


def assert_close(got: list[np.ndarray], want: list[np.ndarray], tol: float = 2e-3) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        scale = max(1.0, float(np.abs(w).max()))
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol * scale)


def test_info(backend: Any, spec: ModelSpec) -> None:
    info = backend.info
    assert info.name == "onnxruntime" and info.device == "cuda:0" and info.max_batch == MAX_BATCH
    assert info.details["providers"][0] == "CUDAExecutionProvider"
    assert backend.output_names == list(spec.output_names)


def test_every_batch_size_matches_cpu(backend: Any, reference: CpuReference, spec: ModelSpec) -> None:
    for n in range(1, MAX_BATCH + 1):  # consecutive calls alternate slots and rebind shapes
        x = images(n, spec, seed=n)
        assert_close(backend.infer(x), reference(x))


def test_shrinking_and_growing_batches(backend: Any, reference: CpuReference, spec: ModelSpec) -> None:
    for i, n in enumerate([32, 1, 32, 7, 7, 7, 2, 31, 1, 1]):
        x = images(n, spec, seed=100 + i)
        assert_close(backend.infer(x), reference(x))


def test_a_list_of_images_padded_as_served_matches_cpu(backend: Any, reference: CpuReference, spec: ModelSpec) -> None:
    from trt_core.batching import infer_images

    x = images(5, spec, seed=7)  # pow2: a batch of 8, its last three rows a shared zero image
    want = reference(x)
    got = infer_images(backend, list(x), padding="pow2", max_batch=8)
    assert len(got) == 5
    for i, outputs in enumerate(got):
        assert_close(outputs, [w[i] for w in want])


def test_pipelined_submissions(backend: Any, reference: CpuReference, spec: ModelSpec) -> None:
    xs = [images(n, spec, seed=200 + n) for n in (8, 3, 16, 1, 32, 5)]
    pending = [backend.submit(x) for x in xs]  # more in flight than slots: reuse collects
    for p, x in zip(pending, xs):
        assert_close(p.result(), reference(x))


def test_threads(backend: Any, reference: CpuReference, spec: ModelSpec) -> None:
    xs = [images(n, spec, seed=300 + n) for n in (1, 4, 9, 16)]
    want = [reference(x) for x in xs]

    def worker(k: int) -> None:
        for i in range(6):
            j = (k + i) % len(xs)
            assert_close(backend.infer(xs[j]), want[j])

    run_on_threads(worker, 4, timeout_s=120)


def test_outputs_are_owned_by_the_caller(backend: Any, spec: ModelSpec) -> None:
    x = images(2, spec, seed=1)
    first = backend.infer(x)
    kept = [o.copy() for o in first]
    backend.infer(images(2, spec, seed=2))
    backend.infer(images(2, spec, seed=3))
    for a, b in zip(first, kept):
        np.testing.assert_array_equal(a, b)


def test_bad_batches(backend: Any, spec: ModelSpec) -> None:
    with pytest.raises(BackendError):
        backend.infer(images(MAX_BATCH + 1, spec, seed=0))
    with pytest.raises(BackendError):
        backend.infer(images(1, spec, seed=0).astype(np.float32))


def test_synchronize_in_run_option(model_path: Path, spec: ModelSpec, reference: CpuReference) -> None:
    from trt_core.backends.ort_cuda import OrtCudaBackend

    with OrtCudaBackend(
        model_path, spec, max_batch=4, num_streams=1, synchronize_in_run=True, provider_options=EXACT
    ) as b:
        x = images(3, spec, seed=9)
        assert_close(b.infer(x), reference(x))


def test_default_provider_options(model_path: Path, spec: ModelSpec, reference: CpuReference) -> None:
    """ORT's defaults (TF32 convolutions on Ampere and later): close, not bit-close."""
    from trt_core.backends.ort_cuda import OrtCudaBackend

    with OrtCudaBackend(model_path, spec, max_batch=8) as b:
        for n in (1, 8):
            x = images(n, spec, seed=40 + n)
            assert_close(b.infer(x), reference(x), tol=3e-2)


def test_the_app_builders_provider_options_reach_the_cuda_provider(
    model_path: Path, spec: ModelSpec, reference: CpuReference
) -> None:
    """``backend_options: {provider_options: ...}`` (what the app builder hands on) gets to
    ONNX Runtime's CUDA provider: TF32 off gives the CPU's results closely."""
    from trt_core.backends import create_backend
    from trt_core.backends.ort_cuda import OrtCudaBackend

    with create_backend(
        model_path, spec, backend="onnxruntime", device="gpu", max_batch=4, options={"provider_options": EXACT}
    ) as b:
        assert isinstance(b, OrtCudaBackend) and b.info.details["provider_options"] == EXACT
        x = images(3, spec, seed=11)
        assert_close(b.infer(x), reference(x))


def test_close_is_idempotent(model_path: Path, spec: ModelSpec) -> None:
    from trt_core.backends.ort_cuda import OrtCudaBackend

    b = OrtCudaBackend(model_path, spec, max_batch=2, num_streams=1)
    b.infer(images(2, spec, seed=0))
    b.close()
    b.close()
    with pytest.raises(BackendError, match="closed"):
        b.infer(images(1, spec, seed=0))
