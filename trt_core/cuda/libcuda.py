"""The few CUDA driver functions pycuda does not wrap, called through ctypes.

Loaded on first use from ``libcuda.so.1`` (present wherever an NVIDIA driver is).
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

from trt_core.errors import BackendError

_p = ctypes.c_void_p
SIGNATURES: dict[str, list[Any]] = {
    "cuStreamBeginCapture_v2": [_p, ctypes.c_int],
    "cuStreamEndCapture": [_p, ctypes.POINTER(_p)],
    "cuStreamIsCapturing": [_p, ctypes.POINTER(ctypes.c_int)],
    "cuGraphInstantiateWithFlags": [ctypes.POINTER(_p), _p, ctypes.c_ulonglong],
    "cuGraphLaunch": [_p, _p],
    "cuGraphExecDestroy": [_p],
    "cuGraphDestroy": [_p],
    "cuCtxPopCurrent_v2": [ctypes.POINTER(_p)],
    "cuGetErrorString": [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)],
}


class DriverError(BackendError):
    """A CUDA driver call made through ctypes failed (or the driver is missing)."""


@functools.lru_cache(maxsize=1)
def load() -> Any:
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError as exc:
        raise DriverError(f"cannot load libcuda.so.1: {exc}") from None
    for name, args in SIGNATURES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            raise DriverError(f"the CUDA driver lacks {name}") from None
        fn.argtypes = args
        fn.restype = ctypes.c_int
    return lib


def check(result: int, what: str, error: type[DriverError] = DriverError) -> None:
    """Raise ``error`` with the driver's message unless ``result`` is CUDA_SUCCESS."""
    if result == 0:
        return
    text = ctypes.c_char_p()
    load().cuGetErrorString(result, ctypes.byref(text))
    message = text.value.decode() if text.value else f"CUresult {result}"
    raise error(f"{what} failed: {message}")


def pop_current_context() -> None:
    """Pop the calling thread's current driver context (undoes a bare ``cuCtxPushCurrent``)."""
    popped = ctypes.c_void_p()
    check(load().cuCtxPopCurrent_v2(ctypes.byref(popped)), "cuCtxPopCurrent")
