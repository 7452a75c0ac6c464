"""Host-memory stand-ins for the CUDA layer's memory interface (``trt_core.cuda.slots.Memory``).

Streams here are *lazy*: enqueued copies and "kernels" run only at ``synchronize()``, so a
test fails if the pool reads pinned outputs before synchronising, as a real asynchronous
stream would make it do.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

import numpy as np


class FakeStream:
    _ids = iter(range(1000, 10**9))

    def __init__(self, eager: bool = False) -> None:
        self.handle = next(self._ids)
        self.queue: list[Callable[[], None]] = []
        self.freed = False
        self.eager = eager  # run work at once (for work that a synchronous library reads right away)
        self.lock = threading.Lock()

    def enqueue(self, op: Callable[[], None]) -> None:
        if self.eager:
            op()
            return
        with self.lock:
            self.queue.append(op)

    def synchronize(self) -> None:
        with self.lock:
            ops, self.queue = self.queue, []
        for op in ops:
            op()

    def is_done(self) -> bool:
        return not self.queue

    def free(self) -> None:
        self.synchronize()
        self.freed = True


class FakePinned:
    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes
        self.array = np.full(nbytes, 0xAB, np.uint8)  # garbage, like fresh pinned memory
        self.freed = False

    def view(self, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
        count = int(np.prod(shape)) * np.dtype(dtype).itemsize
        assert count <= self.nbytes
        return self.array[:count].view(dtype).reshape(shape)

    def free(self) -> None:
        self.freed = True


class FakeDevice:
    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes
        self.memory = np.zeros(nbytes, np.uint8)
        self.ptr = int(self.memory.ctypes.data)  # a real host address, usable by ORT's CPU provider
        self.freed = False

    def copy_from_host_async(self, host: np.ndarray, stream: FakeStream) -> None:
        assert host.flags.c_contiguous and host.nbytes <= self.nbytes
        flat = host.reshape(-1).view(np.uint8)
        stream.enqueue(lambda: self.memory.__setitem__(slice(0, flat.nbytes), flat))

    def copy_to_host_async(self, host: np.ndarray, stream: FakeStream) -> None:
        assert host.flags.c_contiguous and host.nbytes <= self.nbytes
        flat = host.reshape(-1).view(np.uint8)
        stream.enqueue(lambda: flat.__setitem__(slice(None), self.memory[: flat.nbytes]))

    def typed(self, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
        count = int(np.prod(shape)) * np.dtype(dtype).itemsize
        return self.memory[:count].view(dtype).reshape(shape)

    def free(self) -> None:
        self.freed = True


class HostMemory:
    """Implements ``Memory``; counts activations and records what was released."""

    def __init__(self, eager: bool = False) -> None:
        self.eager = eager
        self.activations = 0
        self.depth = 0
        self.created: list[object] = []
        self.released: list[object] = []

    name = "host memory"
    closed = False

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        self.activations += 1
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def stream(self) -> FakeStream:
        s = FakeStream(self.eager)
        self.created.append(s)
        return s

    def pinned(self, nbytes: int) -> FakePinned:
        p = FakePinned(nbytes)
        self.created.append(p)
        return p

    def device_buffer(self, nbytes: int) -> FakeDevice:
        d = FakeDevice(nbytes)
        self.created.append(d)
        return d

    def release(self, resource: object) -> None:
        resource.free()  # type: ignore[attr-defined]
        self.released.append(resource)
