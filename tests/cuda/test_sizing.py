"""Buffer sizing from typed I/O descriptions (pure; no CUDA)."""

from __future__ import annotations

import pytest

from trt_core.cuda.sizing import ALIGNMENT, aligned, max_batch_of, plan_buffers, resolve_tensors
from trt_core.errors import BackendError
from trt_core.tensors import IOTensor

IMAGES = IOTensor("images", (-1, 3, 416, 416), "uint8", True)
HEAD13 = IOTensor("head13", (-1, 255, 13, 13), "float32", False)
HEAD26 = IOTensor("head26", (-1, 255, 26, 26), "float16", False)


def test_shape_and_bytes_per_batch() -> None:
    assert IMAGES.shape_for(8) == (8, 3, 416, 416)
    assert IMAGES.nbytes(8) == 8 * 3 * 416 * 416
    assert HEAD13.nbytes(2) == 2 * 255 * 13 * 13 * 4
    assert HEAD26.nbytes(1) == 255 * 26 * 26 * 2
    assert HEAD13.item_bytes() == 255 * 13 * 13 * 4
    assert IMAGES.dynamic_batch and IMAGES.fully_static


def test_plan_for_max_batch_is_aligned_and_exact() -> None:
    plan = plan_buffers([IMAGES, HEAD13, HEAD26], 32)
    assert plan.max_batch == 32
    assert plan.nbytes == {"images": 32 * 3 * 416 * 416, "head13": 32 * 255 * 169 * 4, "head26": 32 * 255 * 676 * 2}
    for name, size in plan.allocation.items():
        assert size % ALIGNMENT == 0 and 0 <= size - plan.nbytes[name] < ALIGNMENT
    assert plan.total == sum(plan.allocation.values())


def test_static_batch_model_sizes_for_its_fixed_batch() -> None:
    static_in = IOTensor("x", (4, 3, 8, 8), "uint8", True)
    static_out = IOTensor("y", (4, 10), "float32", False)
    plan = plan_buffers([static_in, static_out], 32)  # the request is overridden by the model
    assert plan.max_batch == 4 and plan.nbytes == {"x": 4 * 3 * 64, "y": 4 * 10 * 4}
    with pytest.raises(BackendError, match="fixed batch"):
        static_in.shape_for(2)
    assert max_batch_of([IMAGES], 7) == 7


def test_aligned() -> None:
    assert aligned(1) == 256 and aligned(256) == 256 and aligned(257) == 512 and aligned(0) == 256
    assert aligned(5, 4) == 8
    with pytest.raises(ValueError):
        aligned(5, 3)


def test_invalid_descriptions() -> None:
    with pytest.raises(TypeError):
        IOTensor("x", (1,), "notatype", True)
    with pytest.raises(ValueError):
        IOTensor("x", (), "float32", True)
    with pytest.raises(ValueError):
        IOTensor("x", (-1, 0, 3), "float32", True)
    with pytest.raises(BackendError, match="batch size"):
        IMAGES.shape_for(0)
    with pytest.raises(BackendError, match="duplicate"):
        plan_buffers([IMAGES, IMAGES, HEAD13], 2)
    with pytest.raises(BackendError, match="input and one output"):
        plan_buffers([HEAD13], 2)
    with pytest.raises(BackendError, match="max_batch"):
        plan_buffers([IMAGES, HEAD13], 0)
    with pytest.raises(BackendError, match="disagree"):
        max_batch_of([IOTensor("a", (2, 3), "uint8", True), IOTensor("b", (4, 3), "uint8", True)], 8)


def test_dynamic_non_batch_axes_need_resolving() -> None:
    boxes = IOTensor("boxes", (-1, -1, 6), "float32", False)
    assert not boxes.fully_static
    with pytest.raises(BackendError, match="dynamic non-batch"):
        plan_buffers([IMAGES, boxes], 4)
    resolved = resolve_tensors([IMAGES, boxes], {"boxes": (4, 100, 6)})
    assert resolved[0] is IMAGES
    assert resolved[1].shape == (-1, 100, 6)
    assert plan_buffers(resolved, 4).nbytes["boxes"] == 4 * 100 * 6 * 4
    with pytest.raises(BackendError, match="cannot resolve"):
        resolve_tensors([boxes], {})
    with pytest.raises(BackendError, match="cannot resolve"):
        resolve_tensors([boxes], {"boxes": (4, -1, 6)})
