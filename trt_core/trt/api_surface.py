"""Every TensorRT name this package uses, in one place, and the lazy import of TensorRT.

``tests/trt/test_api_surface.py`` checks each name against the real 10.x and 11.x Python
bindings, and scans the modules that call TensorRT for attribute names that exist in the
bindings but are missing here.  Names that exist in one major version only are listed in
:data:`ONLY_IN` and guarded by a version check where they are used.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from trt_core.errors import BackendUnavailableError

SUPPORTED_MAJORS = (10, 11)
INSTALL_HINT = "pip install 'trt-detect[gpu]' (TensorRT 10.x or 11.x) on a machine with an NVIDIA GPU"

#: modules whose attribute accesses are checked against this list
USING_MODULES = (
    "trt_core.trt.builder",
    "trt_core.trt.loader",
    "trt_core.trt.trt_logger",
    "trt_core.backends.tensorrt",
)

#: module attribute -> the members of it we touch (methods, properties, enum members)
SURFACE: dict[str, tuple[str, ...]] = {
    "__version__": (),
    "nptype": (),
    "ILogger": ("__init__", "log", "Severity"),
    "ILogger.Severity": ("INTERNAL_ERROR", "ERROR", "WARNING", "INFO", "VERBOSE"),
    "Builder": ("create_network", "create_builder_config", "create_optimization_profile", "build_serialized_network"),
    "INetworkDefinition": ("num_inputs", "num_outputs", "get_input", "get_output", "get_flag"),
    "ITensor": ("name", "shape", "dtype"),
    "NetworkDefinitionCreationFlag": ("STRONGLY_TYPED",),
    "OnnxParser": ("parse", "num_errors", "get_error"),
    "ParserError": ("desc", "node", "node_name", "node_operator", "code"),
    "IBuilderConfig": (
        "set_memory_pool_limit",
        "set_flag",
        "builder_optimization_level",
        "add_optimization_profile",
        "create_timing_cache",
        "set_timing_cache",
        "get_timing_cache",
        "progress_monitor",
    ),
    "BuilderFlag": ("VERSION_COMPATIBLE",),
    "MemoryPoolType": ("WORKSPACE",),
    "IOptimizationProfile": ("set_shape",),
    "ITimingCache": ("serialize",),
    "IHostMemory": ("nbytes",),
    "IProgressMonitor": ("__init__", "phase_start", "step_complete", "phase_finish"),
    "Runtime": ("deserialize_cuda_engine", "engine_host_code_allowed"),
    "ICudaEngine": (
        "num_io_tensors",
        "num_optimization_profiles",
        "get_tensor_name",
        "get_tensor_mode",
        "get_tensor_dtype",
        "get_tensor_shape",
        "get_tensor_location",
        "get_tensor_profile_shape",
        "create_execution_context",
    ),
    "TensorIOMode": ("INPUT", "OUTPUT"),
    "TensorLocation": ("DEVICE",),
    "DataType": ("FLOAT", "HALF", "INT32", "INT64", "INT8", "UINT8", "BOOL"),
    "IExecutionContext": ("set_input_shape", "set_tensor_address", "execute_async_v3", "get_tensor_shape"),
}

#: "Owner.member" -> the major versions that have it (used behind a version check)
ONLY_IN: dict[str, tuple[int, ...]] = {
    "BuilderFlag.FP16": (10,),
}


def _resolve(module: Any, dotted: str) -> Any:
    obj = module
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def missing_names(trt: Any, major: int | None = None) -> list[str]:
    """Names from :data:`SURFACE` (and :data:`ONLY_IN` for ``major``) that ``trt`` lacks."""
    major = major if major is not None else major_version(trt)
    missing = []
    for owner, members in SURFACE.items():
        try:
            obj = _resolve(trt, owner)
        except AttributeError:
            missing.append(owner)
            continue
        missing.extend(f"{owner}.{m}" for m in members if not hasattr(obj, m))
    for dotted, majors in ONLY_IN.items():
        present = _has(trt, dotted)
        if (major in majors) != present:
            missing.append(f"{dotted} ({'missing' if not present else 'unexpectedly present'} in {major}.x)")
    return missing


def _has(module: Any, dotted: str) -> bool:
    try:
        _resolve(module, dotted)
    except AttributeError:
        return False
    return True


def listed_members() -> set[str]:
    """Every member name listed (without owners), for the source scan."""
    names: set[str] = set()
    for owner, members in SURFACE.items():
        names.update(owner.split("."))
        names.update(members)
    for dotted in ONLY_IN:
        names.update(dotted.split("."))
    return names


def major_version(trt: Any) -> int:
    return int(str(trt.__version__).split(".")[0])


def load_tensorrt(names: Iterable[str] = ("tensorrt", "tensorrt_bindings")) -> Any:
    """Import TensorRT's Python bindings (10.x or 11.x) or raise a one-line, hinted error."""
    errors = []
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
            continue
        except OSError as exc:  # bindings present, libnvinfer missing
            raise BackendUnavailableError(f"TensorRT's libraries cannot load: {exc}", hint=INSTALL_HINT) from None
        major = major_version(module)
        if major not in SUPPORTED_MAJORS:
            raise BackendUnavailableError(
                f"TensorRT {module.__version__} is not supported (need 10.x or 11.x)", hint=INSTALL_HINT
            )
        return module
    raise BackendUnavailableError("TensorRT is not installed (" + "; ".join(errors) + ")", hint=INSTALL_HINT)
