"""pycuda, wrapped: one device context per replica, streams, pinned and device buffers.

Ray Serve gives each GPU replica its own ``CUDA_VISIBLE_DEVICES``, so the replica's GPU is
device 0 of the process.  We use that device's *primary* context (the one the CUDA
runtime, and therefore TensorRT and ONNX Runtime, use), so that pointers and streams
created here are valid in their calls.  pycuda is imported on first use only.

Teardown is deterministic: every buffer and stream is registered with its
:class:`CudaContext`, which frees them in reverse order of creation, with itself current,
before it releases the primary context.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from trt_core.errors import BackendError, BackendUnavailableError

log = logging.getLogger(__name__)
GPU_HINT = "pip install 'trt-detect[gpu]' on a machine with an NVIDIA GPU and driver"
_init_lock = threading.Lock()


def load_pycuda() -> Any:
    """Import ``pycuda.driver`` and initialise the driver API; a clear error when impossible."""
    try:
        import pycuda.driver as cuda
    except ImportError as exc:
        raise BackendUnavailableError(f"pycuda is not installed ({exc})", hint=GPU_HINT) from None
    except OSError as exc:  # libcuda.so missing: pycuda is there but no driver
        raise BackendUnavailableError(f"pycuda cannot load the CUDA driver: {exc}", hint=GPU_HINT) from None
    with _init_lock:
        try:
            cuda.init()
        except Exception as exc:
            raise BackendUnavailableError(f"the CUDA driver cannot initialise: {exc}", hint=GPU_HINT) from None
    return cuda


class CudaContext:
    """The primary context of one device, plus the resources allocated in it.

    ``with ctx.active():`` makes it current on the calling thread (push/pop, cheap), which
    every CUDA call needs, whichever thread Ray runs the request on.
    """

    def __init__(self, ordinal: int = 0) -> None:
        cuda = load_pycuda()
        count = cuda.Device.count()
        if ordinal >= count:
            raise BackendUnavailableError(
                f"CUDA device {ordinal} requested but {count} visible", hint="check CUDA_VISIBLE_DEVICES"
            )
        self._cuda = cuda
        self.ordinal = ordinal
        self.device = cuda.Device(ordinal)
        self._ctx: Any = self.device.retain_primary_context()
        self._creator = threading.get_ident()
        self._resources: list[Any] = []
        self._lock = threading.Lock()

    # -- properties ----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.device.name())

    @property
    def compute_capability(self) -> tuple[int, int]:
        major, minor = self.device.compute_capability()
        return int(major), int(minor)

    @property
    def total_memory(self) -> int:
        return int(self.device.total_memory())

    @property
    def closed(self) -> bool:
        return self._ctx is None

    # -- activation ----------------------------------------------------------------------
    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        if self._ctx is None:
            raise BackendError("the CUDA context is closed")
        self._ctx.push()
        try:
            yield
        finally:
            self._cuda.Context.pop()

    def synchronize(self) -> None:
        with self.active():
            self._cuda.Context.synchronize()

    # -- resources -----------------------------------------------------------------------
    def track(self, resource: Any) -> Any:
        """Register something with a ``free()`` method, freed by :meth:`close`."""
        with self._lock:
            self._resources.append(resource)
        return resource

    def stream(self) -> Stream:
        with self.active():
            return self.track(Stream(self._cuda))

    def pinned(self, nbytes: int) -> PinnedBuffer:
        with self.active():
            return self.track(PinnedBuffer(self._cuda, nbytes))

    def device_buffer(self, nbytes: int) -> DeviceBuffer:
        with self.active():
            return self.track(DeviceBuffer(self._cuda, nbytes))

    def release(self, resource: Any) -> None:
        """Free one resource now (its owner is done with it) and stop tracking it."""
        with self._lock:
            self._resources = [r for r in self._resources if r is not resource]
        with self.active():
            resource.free()

    def close(self) -> None:
        """Free every tracked resource (newest first), then release the primary context."""
        if self._ctx is None:
            return
        with self._lock:
            resources, self._resources = self._resources[::-1], []
        with self.active():
            with contextlib.suppress(Exception):
                self._cuda.Context.synchronize()
            for resource in resources:
                try:
                    resource.free()
                except Exception as exc:  # keep freeing the rest
                    log.warning("freeing %r failed: %s", resource, exc)
        ctx, self._ctx = self._ctx, None
        _release_primary(ctx, same_thread=threading.get_ident() == self._creator)

    def __enter__(self) -> CudaContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _release_primary(ctx: Any, *, same_thread: bool) -> None:
    """Drop our reference on the primary context (TensorRT and ONNX Runtime hold their own).

    pycuda's ``detach`` releases a primary context by pushing it and calling
    ``cuDevicePrimaryCtxRelease``, which (unlike ``cuCtxDestroy``) never pops it, so the
    thread would be left with a possibly destroyed context current: pop it.  From another
    thread pycuda releases nothing (one reference stays until the process exits).
    """
    try:
        ctx.detach()
        if same_thread:
            from trt_core.cuda.libcuda import pop_current_context

            pop_current_context()
    except Exception as exc:
        log.debug("releasing the primary context: %s", exc)


class Stream:
    """A non-default CUDA stream; ``handle`` is what TensorRT and ONNX Runtime take."""

    def __init__(self, cuda: Any) -> None:
        self._stream: Any = cuda.Stream()
        self.handle = int(self._stream.handle)

    @property
    def raw(self) -> Any:
        return self._stream

    def synchronize(self) -> None:
        self._stream.synchronize()

    def is_done(self) -> bool:
        return bool(self._stream.is_done())

    def free(self) -> None:
        if self._stream is not None:
            self._stream.synchronize()
            self._stream = None


class PinnedBuffer:
    """Page-locked host memory (``cuda.pagelocked_empty``), so copies can be asynchronous."""

    def __init__(self, cuda: Any, nbytes: int) -> None:
        self.nbytes = nbytes
        self.array: np.ndarray = cuda.pagelocked_empty(nbytes, np.uint8)

    def view(self, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
        """A typed view of the first bytes: ``shape`` must fit."""
        count = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if count > self.nbytes:
            raise BackendError(f"{shape} {dtype} needs {count} bytes; the pinned buffer has {self.nbytes}")
        return self.array[:count].view(dtype).reshape(shape)

    def free(self) -> None:
        array, self.array = self.array, np.empty(0, np.uint8)
        self.nbytes = 0
        base = getattr(array, "base", None)
        if base is not None and hasattr(base, "free"):
            base.free()


class DeviceBuffer:
    """Device memory (``cuda.mem_alloc``); ``ptr`` is its address as an int."""

    def __init__(self, cuda: Any, nbytes: int) -> None:
        self._cuda = cuda
        self.nbytes = nbytes
        self._alloc: Any = cuda.mem_alloc(nbytes)
        self.ptr = int(self._alloc)

    def copy_from_host_async(self, host: np.ndarray, stream: Stream) -> None:
        """Enqueue host -> device of ``host`` (a contiguous view of pinned memory)."""
        self._check(host)
        self._cuda.memcpy_htod_async(self.ptr, host, stream.raw)

    def copy_to_host_async(self, host: np.ndarray, stream: Stream) -> None:
        """Enqueue device -> host into ``host`` (a contiguous view of pinned memory)."""
        self._check(host)
        self._cuda.memcpy_dtoh_async(host, self.ptr, stream.raw)

    def _check(self, host: np.ndarray) -> None:
        if not host.flags.c_contiguous:
            raise BackendError("asynchronous copies need C-contiguous host memory")
        if host.nbytes > self.nbytes:
            raise BackendError(f"copy of {host.nbytes} bytes exceeds the {self.nbytes}-byte device buffer")

    def free(self) -> None:
        if self._alloc is not None:
            self._alloc.free()
            self._alloc = None
