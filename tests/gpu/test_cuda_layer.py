"""The CUDA layer on a real GPU: context, pinned/device buffers, streams, slots, graphs."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from tests.threads import run_on_threads
from trt_core.cuda import describe, gpu_count
from trt_core.cuda.driver import CudaContext
from trt_core.cuda.slots import Slot, SlotPool
from trt_core.errors import BackendError
from trt_core.tensors import IOTensor

pytestmark = pytest.mark.gpu


@pytest.fixture()
def ctx() -> Iterator[CudaContext]:
    context = CudaContext(0)
    yield context
    context.close()


def test_describe_and_count() -> None:
    info = describe()
    assert info["available"] and info["devices"] and info["error"] is None, info
    assert gpu_count() == len(info["devices"]) >= 1
    assert info["devices"][0]["memory_mib"] > 1000


def test_context_properties(ctx: CudaContext) -> None:
    assert ctx.name and ctx.compute_capability[0] >= 5 and ctx.total_memory > 1 << 30


@pytest.mark.parametrize("dtype", ["uint8", "float32", "float16", "int64"])
def test_pinned_device_round_trip(ctx: CudaContext, dtype: str) -> None:
    shape = (3, 5, 7)
    src = (np.arange(np.prod(shape)) % 251).astype(dtype).reshape(shape)
    nbytes = src.nbytes
    host_in, host_out, dev = ctx.pinned(nbytes), ctx.pinned(nbytes), ctx.device_buffer(nbytes)
    stream = ctx.stream()
    with ctx.active():
        host_in.view(dtype, shape)[...] = src
        dev.copy_from_host_async(host_in.view(dtype, shape), stream)
        out = host_out.view(dtype, shape)
        out[...] = 0
        dev.copy_to_host_async(out, stream)
        stream.synchronize()
        assert stream.is_done()
    np.testing.assert_array_equal(out, src)


def test_async_copies_on_two_streams(ctx: CudaContext) -> None:
    n = 64 << 20  # 64 MiB each way: long enough to observe asynchrony
    streams = [ctx.stream(), ctx.stream()]
    pinned = [ctx.pinned(n) for _ in range(4)]
    devs = [ctx.device_buffer(n) for _ in range(2)]
    with ctx.active():
        for i, s in enumerate(streams):
            pinned[i].array[:] = i + 1
            devs[i].copy_from_host_async(pinned[i].array, s)
            devs[i].copy_to_host_async(pinned[2 + i].array, s)
        for s in streams:
            s.synchronize()
    for i in range(2):
        assert pinned[2 + i].array[0] == i + 1 and pinned[2 + i].array[-1] == i + 1


def test_copies_reject_bad_host_memory(ctx: CudaContext) -> None:
    dev, stream = ctx.device_buffer(16), ctx.stream()
    with ctx.active():
        with pytest.raises(BackendError, match="exceeds"):
            dev.copy_from_host_async(np.zeros(32, np.uint8), stream)
        with pytest.raises(BackendError, match="contiguous"):
            dev.copy_to_host_async(np.zeros((4, 4), np.uint8)[:, ::2], stream)


def test_use_from_another_thread(ctx: CudaContext) -> None:
    host, dev, stream = ctx.pinned(1024), ctx.device_buffer(1024), ctx.stream()

    def work(_: int) -> None:
        with ctx.active():
            host.array[:] = 7
            dev.copy_from_host_async(host.array, stream)
            host.array[:] = 0
            dev.copy_to_host_async(host.array, stream)
            stream.synchronize()
        assert host.array.min() == 7

    run_on_threads(work, 1, timeout_s=30)


def test_close_frees_everything_and_is_idempotent() -> None:
    ctx = CudaContext(0)
    ctx.pinned(1 << 20)
    buf = ctx.device_buffer(1 << 20)
    ctx.stream()
    ctx.close()
    ctx.close()
    assert ctx.closed and buf._alloc is None
    with pytest.raises(BackendError, match="closed"), ctx.active():
        pass


def identity_pool(ctx: CudaContext, count: int, max_batch: int) -> SlotPool:
    """A 'model' whose output is its input: H2D, device-to-device copy, D2H on the slot stream."""
    import pycuda.driver as cuda

    tensors = [IOTensor("x", (-1, 3, 8, 8), "uint8", True), IOTensor("y", (-1, 3, 8, 8), "uint8", False)]

    def enqueue(slot: Slot, n: int) -> None:
        slot.h2d("x", n)
        cuda.memcpy_dtod_async(slot.ptr("y"), slot.ptr("x"), n * 192, slot.stream.raw)
        slot.d2h("y", n)

    return SlotPool(ctx, tensors, max_batch=max_batch, count=count, enqueue=enqueue)


def test_slot_pool_on_the_gpu(ctx: CudaContext) -> None:
    pool = identity_pool(ctx, count=2, max_batch=32)
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, 256, (n, 3, 8, 8), dtype=np.uint8) for n in [*range(1, 33), 32, 1, 17]]
    for x in batches:  # serial
        np.testing.assert_array_equal(pool.infer(x)[0], x)
    pending = [pool.submit(x) for x in batches]  # pipelined from one thread
    for p, x in zip(pending, batches):
        np.testing.assert_array_equal(p.result()[0], x)
    pool.free()


def test_slot_pool_from_many_threads(ctx: CudaContext) -> None:
    pool = identity_pool(ctx, count=3, max_batch=16)

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(50):
            x = rng.integers(0, 256, (int(rng.integers(1, 17)), 3, 8, 8), dtype=np.uint8)
            np.testing.assert_array_equal(pool.infer(x)[0], x)

    run_on_threads(worker, 6, timeout_s=60)
    pool.free()


def test_cuda_graph_replays_copies(ctx: CudaContext) -> None:
    import pycuda.driver as cuda

    from trt_core.cuda.graphs import capture

    n = 4096
    host_in, host_out, dev_a, dev_b = ctx.pinned(n), ctx.pinned(n), ctx.device_buffer(n), ctx.device_buffer(n)
    stream = ctx.stream()

    def work() -> None:
        dev_a.copy_from_host_async(host_in.array, stream)
        cuda.memcpy_dtod_async(dev_b.ptr, dev_a.ptr, n, stream.raw)
        dev_b.copy_to_host_async(host_out.array, stream)

    with ctx.active():
        host_in.array[:] = 1
        host_out.array[:] = 0
        graph = ctx.track(capture(stream.handle, work))
        stream.synchronize()
        assert host_out.array.max() == 0  # capturing records the work, it does not run it
        for value in (3, 9):
            host_in.array[:] = value  # the graph reads pinned memory at launch time
            graph.launch(stream.handle)
            stream.synchronize()
            assert host_out.array.min() == host_out.array.max() == value


def test_failed_capture_leaves_the_stream_usable(ctx: CudaContext) -> None:
    from trt_core.cuda.graphs import GraphCaptureError, capture

    host, dev, stream = ctx.pinned(256), ctx.device_buffer(256), ctx.stream()

    def bad_work() -> None:
        dev.copy_from_host_async(host.array, stream)
        raise RuntimeError("enqueue failed")

    with ctx.active():
        with pytest.raises(GraphCaptureError, match="enqueue failed"):
            capture(stream.handle, bad_work)
        host.array[:] = 5
        dev.copy_from_host_async(host.array, stream)
        host.array[:] = 0
        dev.copy_to_host_async(host.array, stream)
        stream.synchronize()
    assert host.array.min() == 5
