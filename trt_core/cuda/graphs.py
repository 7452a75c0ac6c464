"""CUDA graph capture of work enqueued on a stream, through the driver API (ctypes).

pycuda has no stream-capture API, so the handful of driver functions needed are called
directly from ``libcuda.so.1`` (always present where a driver is).  Capture can fail for
reasons outside our control (an engine whose enqueue synchronises, data-dependent shapes,
a driver without graph support); :func:`capture` then raises :class:`GraphCaptureError`
after making sure the stream has left capture mode, and callers fall back to plain
enqueueing.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable
from typing import Any

from trt_core.cuda.libcuda import DriverError, check, load

log = logging.getLogger(__name__)
CAPTURE_MODE_THREAD_LOCAL = 1  # CU_STREAM_CAPTURE_MODE_THREAD_LOCAL
CAPTURE_STATUS_NONE = 0


class GraphCaptureError(DriverError):
    """Capturing or instantiating a CUDA graph failed; run the work un-captured instead."""


def _driver() -> Any:
    try:
        return load()
    except DriverError as exc:
        raise GraphCaptureError(str(exc)) from None


def _check(result: int, what: str) -> None:
    check(result, what, GraphCaptureError)


class CudaGraph:
    """An instantiated graph: ``launch(stream_handle)`` replays the captured work."""

    def __init__(self, graph: int, graph_exec: int) -> None:
        self._graph: int | None = graph
        self._exec: int | None = graph_exec

    def launch(self, stream_handle: int) -> None:
        if self._exec is None:
            raise GraphCaptureError("the CUDA graph was freed")
        _check(_driver().cuGraphLaunch(self._exec, stream_handle), "cuGraphLaunch")

    def free(self) -> None:
        lib = _driver()
        if self._exec is not None:
            lib.cuGraphExecDestroy(self._exec)
            self._exec = None
        if self._graph is not None:
            lib.cuGraphDestroy(self._graph)
            self._graph = None


def capture(stream_handle: int, work: Callable[[], None]) -> CudaGraph:
    """Capture what ``work()`` enqueues on the stream into an instantiated graph.

    The caller's CUDA context must be current.  Nothing is executed during capture: launch
    the returned graph to run the work.
    """
    lib = _driver()
    stream = ctypes.c_void_p(stream_handle)
    _check(lib.cuStreamBeginCapture_v2(stream, CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture")
    graph = ctypes.c_void_p()
    try:
        work()
    except Exception as exc:
        _end_capture_quietly(stream)
        raise GraphCaptureError(f"work failed during capture: {exc}") from exc
    _check(lib.cuStreamEndCapture(stream, ctypes.byref(graph)), "cuStreamEndCapture")
    graph_exec = ctypes.c_void_p()
    try:
        _check(lib.cuGraphInstantiateWithFlags(ctypes.byref(graph_exec), graph, 0), "cuGraphInstantiate")
    except GraphCaptureError:
        lib.cuGraphDestroy(graph)
        raise
    return CudaGraph(int(graph.value or 0), int(graph_exec.value or 0))


def _end_capture_quietly(stream: ctypes.c_void_p) -> None:
    lib = _driver()
    status = ctypes.c_int(CAPTURE_STATUS_NONE)
    if lib.cuStreamIsCapturing(stream, ctypes.byref(status)) != 0 or status.value == CAPTURE_STATUS_NONE:
        return
    graph = ctypes.c_void_p()
    if lib.cuStreamEndCapture(stream, ctypes.byref(graph)) == 0 and graph.value:
        lib.cuGraphDestroy(graph)
