"""Batches assembled in one copy: a list of images stacked into a buffer each thread reuses
(the CPU backend), padding rows one shared read-only zero image."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from trt_core.backends.base import batch_layout, stacked
from trt_core.batching import _padded
from trt_core.errors import BackendError


def images(n: int, shape: tuple[int, ...] = (3, 8, 8), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(1, 256, shape, dtype=np.uint8) for _ in range(n)]


def test_padding_is_zero_images_shared_and_read_only() -> None:
    few = images(3)
    batch = _padded(few, 4)
    assert len(batch) == 4 and all(a is b for a, b in zip(batch, few))
    assert not batch[3].any() and batch[3].shape == (3, 8, 8) and not batch[3].flags.writeable
    assert _padded(images(1), 4)[1] is batch[3]  # one zero image per shape, not one per row
    assert _padded(few, 3) == few


def test_a_list_is_stacked_and_an_array_passes_through() -> None:
    few = images(3)
    np.testing.assert_array_equal(stacked(few), np.stack(few))
    array = np.stack(few)
    assert stacked(array) is array
    assert batch_layout(few) == ((3, 3, 8, 8), np.dtype(np.uint8))


def test_a_thread_reuses_its_buffer_and_grows_it_for_larger_images() -> None:
    first = stacked(images(4))
    again = stacked(images(2))
    assert np.shares_memory(first, again)  # no fresh allocation per batch
    big = stacked(images(2, (3, 64, 64)))
    assert big.shape == (2, 3, 64, 64)
    np.testing.assert_array_equal(big, np.stack(images(2, (3, 64, 64))))


def test_threads_never_share_a_buffer() -> None:
    batches: dict[str, np.ndarray] = {}

    def run(name: str) -> None:
        batches[name] = stacked(images(2))

    workers = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not np.shares_memory(batches["a"], batches["b"])


def test_images_of_different_shapes_or_not_arrays_are_a_backend_error() -> None:
    with pytest.raises(BackendError, match="differ in shape"):
        stacked([*images(1), *images(1, (3, 8, 9))])
    with pytest.raises(BackendError, match="differ in shape or dtype"):  # no silent wrap of 300 into 44
        stacked([*images(1), np.full((3, 8, 8), 300, np.uint16)])
    with pytest.raises(BackendError, match="a list of int"):
        stacked([1, 2])  # type: ignore[list-item]
    with pytest.raises(BackendError, match="empty batch"):
        batch_layout([])
    with pytest.raises(BackendError, match="numpy array or a list"):
        batch_layout({"a": 1})  # type: ignore[arg-type]
