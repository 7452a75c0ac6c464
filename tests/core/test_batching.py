"""trt_core.batching: batches assembled in one copy, in a buffer each thread reuses."""

from __future__ import annotations

import threading

import numpy as np

from trt_core.batching import _stacked


def images(n: int, shape: tuple[int, ...] = (3, 8, 8), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(1, 256, shape, dtype=np.uint8) for _ in range(n)]


def test_the_images_then_zero_padding_even_where_a_larger_batch_was() -> None:
    _stacked(images(8, seed=1), 8)  # fills the thread's buffer with non-zero pixels
    few = images(3)
    batch = _stacked(few, 4)
    assert batch.shape == (4, 3, 8, 8) and batch.dtype == np.uint8
    np.testing.assert_array_equal(batch[:3], np.stack(few))
    assert not batch[3].any()


def test_a_thread_reuses_its_buffer_and_grows_it_for_larger_images() -> None:
    first = _stacked(images(2), 2)
    again = _stacked(images(4), 4)
    assert np.shares_memory(first, again)  # no fresh allocation per batch
    big = _stacked(images(2, (3, 64, 64)), 2)
    assert big.shape == (2, 3, 64, 64)
    np.testing.assert_array_equal(big, np.stack(images(2, (3, 64, 64))))


def test_threads_never_share_a_buffer() -> None:
    batches: dict[str, np.ndarray] = {}

    def run(name: str) -> None:
        batches[name] = _stacked(images(2), 2)

    workers = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not np.shares_memory(batches["a"], batches["b"])
