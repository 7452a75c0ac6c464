"""What CUDA this process can see (``trt-detect info``); never raises."""

from __future__ import annotations

import os
from typing import Any


def describe() -> dict[str, Any]:
    """pycuda's version, the driver's CUDA version and the visible GPUs.

    ``available`` is true when pycuda imports, the driver initialises and at least one GPU
    is visible; ``error`` says why not otherwise.
    """
    info: dict[str, Any] = {
        "available": False,
        "pycuda": None,
        "driver_cuda_version": None,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "devices": [],
        "error": None,
    }
    try:
        import pycuda

        info["pycuda"] = getattr(pycuda, "VERSION_TEXT", None) or _dist_version("pycuda")
        from trt_core.cuda.driver import load_pycuda

        cuda = load_pycuda()
        version = int(cuda.get_driver_version())
        info["driver_cuda_version"] = f"{version // 1000}.{version % 1000 // 10}"
        for i in range(cuda.Device.count()):
            dev = cuda.Device(i)
            major, minor = dev.compute_capability()
            info["devices"].append(
                {
                    "index": i,
                    "name": str(dev.name()),
                    "compute_capability": f"{major}.{minor}",
                    "memory_mib": int(dev.total_memory()) // (1 << 20),
                }
            )
        info["available"] = bool(info["devices"])
        if not info["devices"]:
            info["error"] = "no CUDA device visible"
    except Exception as exc:  # describe() must never raise
        info["error"] = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
    return info


def gpu_count() -> int:
    """Number of CUDA devices this process can use (0 without pycuda or a driver)."""
    try:
        from trt_core.cuda.driver import load_pycuda

        return int(load_pycuda().Device.count())
    except Exception:
        return 0


def _dist_version(name: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return None
