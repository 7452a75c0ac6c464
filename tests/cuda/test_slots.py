"""Execution-slot logic (round robin, pipelining, padding, errors) over host memory.

The fake streams run their work only at ``synchronize()``, so reading outputs before the
sync would return stale bytes and fail these tests.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tests.cuda.fakes import HostMemory
from tests.threads import run_on_threads
from trt_core.cuda.slots import Slot, SlotPool, validate_batch
from trt_core.errors import BackendError
from trt_core.tensors import IOTensor

H = W = 4


def tensors(batch: int = -1) -> list[IOTensor]:
    return [
        IOTensor("images", (batch, 3, H, W), "uint8", True),
        IOTensor("sums", (batch, 3), "float32", False),
        IOTensor("peak", (batch, 1), "uint8", False),
    ]


def expected(x: np.ndarray) -> list[np.ndarray]:
    return [x.astype(np.float32).sum(axis=(2, 3)), x.reshape(len(x), -1).max(axis=1, keepdims=True)]


class Model:
    """An 'engine' whose kernel runs on the slot's stream, from the slot's device buffers."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.calls: list[tuple[int, int]] = []
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def enqueue(self, slot: Slot, n: int) -> None:
        if n == self.fail_on:
            raise RuntimeError("engine exploded")
        with self.lock:
            self.calls.append((slot.index, n))
        slot.h2d("images", n)

        def kernel() -> None:
            x = slot.device["images"].typed("uint8", (n, 3, H, W))
            sums, peak = expected(x)
            slot.device["sums"].typed("float32", (n, 3))[...] = sums
            slot.device["peak"].typed("uint8", (n, 1))[...] = peak

        slot.stream.enqueue(kernel)
        slot.d2h("sums", n)
        slot.d2h("peak", n)


def batch(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3, H, W), dtype=np.uint8)


def check(outputs: list[np.ndarray], x: np.ndarray) -> None:
    want = expected(x)
    assert len(outputs) == 2
    for got, ref in zip(outputs, want):
        assert got.shape == ref.shape and got.dtype == ref.dtype
        np.testing.assert_array_equal(got, ref)


def test_round_robin_and_all_batch_sizes() -> None:
    model, memory = Model(), HostMemory()
    pool = SlotPool(memory, tensors(), max_batch=8, count=2, enqueue=model.enqueue)
    for n in range(1, 9):
        x = batch(n, n)
        check(pool.infer(x), x)
    assert [c[0] for c in model.calls] == [0, 1] * 4
    assert [c[1] for c in model.calls] == list(range(1, 9))
    assert pool.output_names == ["sums", "peak"]


def test_one_thread_can_keep_more_batches_in_flight_than_slots() -> None:
    model = Model()
    pool = SlotPool(HostMemory(), tensors(), max_batch=4, count=2, enqueue=model.enqueue)
    xs = [batch(1 + i % 4, 100 + i) for i in range(7)]
    pending = [pool.submit(x) for x in xs]  # no deadlock: reusing a slot collects its earlier batch
    assert pending[0].done() and pending[1].done()  # collected when slots 0 and 1 were reused
    for p, x in zip(reversed(pending), reversed(xs)):
        check(p.result(), x)
    assert pending[-1].result()[0] is pending[-1].result()[0]  # result() is idempotent


def test_results_are_copies_the_caller_owns() -> None:
    pool = SlotPool(HostMemory(), tensors(), max_batch=4, count=1, enqueue=Model().enqueue)
    a, b = batch(3, 1), batch(3, 2)
    first = pool.infer(a)
    second = pool.infer(b)
    check(first, a)
    check(second, b)
    first[0][...] = -1
    check(pool.infer(b), b)


def test_many_threads() -> None:
    model = Model()
    pool = SlotPool(HostMemory(), tensors(), max_batch=8, count=3, enqueue=model.enqueue)

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for i in range(25):
            x = batch(int(rng.integers(1, 9)), seed * 1000 + i)
            check(pool.infer(x), x)

    run_on_threads(worker, 6, timeout_s=30)
    assert len(model.calls) == 150 and {c[0] for c in model.calls} == {0, 1, 2}


def test_static_batch_is_padded_and_trimmed() -> None:
    model = Model()
    pool = SlotPool(HostMemory(), tensors(batch=4), max_batch=32, count=2, enqueue=model.enqueue)
    assert pool.max_batch == 4
    x = batch(3, 7)
    check(pool.infer(x), x)
    assert model.calls == [(0, 4)]  # ran the engine's fixed batch
    slot = pool.slots[0]
    np.testing.assert_array_equal(slot.host_view("images", 4)[3], 0)  # padding zeroed, not stale


def test_validate_batch() -> None:
    t = tensors()[0]
    assert validate_batch(batch(5, 0), t, 8) == 5
    with pytest.raises(BackendError, match="expects uint8"):
        validate_batch(batch(2, 0).astype(np.float32), t, 8)
    with pytest.raises(BackendError, match="expects shape"):
        validate_batch(np.zeros((2, 3, H + 1, W), np.uint8), t, 8)
    with pytest.raises(BackendError, match="expects shape"):
        validate_batch(np.zeros((3, H, W), np.uint8), t, 8)
    with pytest.raises(BackendError, match=r"outside 1\.\.8"):
        validate_batch(batch(9, 0), t, 8)
    with pytest.raises(BackendError, match="outside"):
        validate_batch(np.zeros((0, 3, H, W), np.uint8), t, 8)
    with pytest.raises(BackendError, match="numpy array"):
        validate_batch([[1]], t, 8)  # type: ignore[list-item]
    assert validate_batch(list(batch(5, 0)), t, 8) == 5  # a list of images: N first, then the image's shape
    with pytest.raises(BackendError, match="expects shape"):
        validate_batch([np.zeros((3, H + 1, W), np.uint8)], t, 8)
    with pytest.raises(BackendError, match="expects uint8"):
        validate_batch([np.zeros((3, H, W), np.float32)], t, 8)


def test_a_list_of_images_is_stacked_straight_into_the_pinned_buffer() -> None:
    model = Model()
    pool = SlotPool(HostMemory(), tensors(batch=4), max_batch=4, count=1, enqueue=model.enqueue)
    x = batch(3, 5)
    check(pool.infer(list(x)), x)
    np.testing.assert_array_equal(pool.slots[0].host_view("images", 4)[:3], x)
    np.testing.assert_array_equal(pool.slots[0].host_view("images", 4)[3], 0)  # the static batch's padding


def test_a_list_whose_images_differ_fails_and_releases_the_slot() -> None:
    pool = SlotPool(HostMemory(), tensors(), max_batch=4, count=1, enqueue=Model().enqueue)
    with pytest.raises(BackendError, match="enqueueing the batch failed"):
        pool.infer([batch(1, 0)[0], np.zeros((3, H, W + 1), np.uint8)])
    with pytest.raises(BackendError, match="enqueueing the batch failed"):  # no silent wrap into uint8
        pool.infer([batch(1, 0)[0], np.full((3, H, W), 300, np.uint16)])
    x = batch(2, 1)
    check(pool.infer(list(x)), x)  # the only slot is usable again


def test_enqueue_failure_releases_the_slot() -> None:
    model = Model(fail_on=3)
    pool = SlotPool(HostMemory(), tensors(), max_batch=4, count=1, enqueue=model.enqueue)
    with pytest.raises(BackendError, match="engine exploded"):
        pool.infer(batch(3, 0))
    x = batch(2, 1)
    check(pool.infer(x), x)  # the only slot is usable again


def test_free_releases_every_buffer_and_stream() -> None:
    memory = HostMemory()
    pool = SlotPool(memory, tensors(), max_batch=4, count=2, enqueue=Model().enqueue)
    pending = pool.submit(batch(2, 0))
    assert len(memory.created) == 2 * (1 + 3 + 3)
    pool.free()
    assert pending.done()  # drained before freeing
    assert {id(r) for r in memory.released} == {id(r) for r in memory.created}
    with pytest.raises(BackendError, match="closed"):
        pool.infer(batch(1, 0))


def test_setup_runs_per_slot_with_the_context_active() -> None:
    memory = HostMemory()
    seen: list[tuple[int, int]] = []

    def setup(slot: Slot) -> None:
        seen.append((slot.index, memory.depth))
        slot.state["context"] = f"ctx{slot.index}"

    pool = SlotPool(memory, tensors(), max_batch=2, count=3, enqueue=Model().enqueue, setup=setup)
    assert seen == [(0, 1), (1, 1), (2, 1)]
    assert [s.state["context"] for s in pool.slots] == ["ctx0", "ctx1", "ctx2"]


def test_pool_needs_exactly_one_input() -> None:
    two = [*tensors(), IOTensor("extra", (-1, 2), "uint8", True)]
    with pytest.raises(BackendError, match="one input"):
        SlotPool(HostMemory(), two, max_batch=2, count=1, enqueue=Model().enqueue)
    with pytest.raises(BackendError, match="at least one"):
        SlotPool(HostMemory(), tensors(), max_batch=2, count=0, enqueue=Model().enqueue)
