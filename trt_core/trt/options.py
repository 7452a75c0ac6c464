"""``BuildOptions``: how an engine is built, and the pure logic derived from them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from trt_core.errors import EngineBuildError

Precision = Literal["fp32", "fp16"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
#: bump when the graph we hand TensorRT changes (uint8 prefix, fp16 conversion), so
#: engines cached from the old graph are not reused
RECIPE_VERSION = 1

Shape = tuple[int, ...]


@dataclass(frozen=True)
class BuildOptions:
    """Engine build settings.

    ``max_batch`` / ``opt_batch`` define the optimisation profile of a dynamic batch axis
    (min 1, opt, max); ``opt_batch`` defaults to ``max_batch`` (a serving replica under load
    runs full batches).  ``workspace_mib``: the builder's workspace pool limit (None: TensorRT's
    default, the device memory).  ``optimization_level``: ``builder_optimization_level``
    0..5 (None: TensorRT's default, 3).  ``version_compatible``: an engine later TensorRT
    versions can run (it embeds the lean runtime; loading it needs ``allow_host_code``).
    ``input_hw`` fixes the image input's height/width when the model leaves them dynamic;
    with ``min_hw`` too (rect models: Ultralytics' letterbox gives each image its own shape)
    the profile spans ``min_hw`` to ``input_hw`` instead, optimised for ``input_hw``.
    ``timing_cache`` (a file, reused and updated) and ``verbose`` change how fast and how
    loudly the build goes, not the engine, so they are not part of the cache key.
    """

    precision: Precision = "fp32"
    max_batch: int = 1
    opt_batch: int | None = None
    workspace_mib: int | None = None
    optimization_level: int | None = None
    version_compatible: bool = False
    input_hw: tuple[int, int] | None = None
    min_hw: tuple[int, int] | None = None
    timing_cache: str | None = None
    verbose: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise EngineBuildError(f"unknown precision {self.precision!r}", hint="fp32 or fp16")
        if self.max_batch < 1:
            raise EngineBuildError(f"max_batch must be >= 1, got {self.max_batch}")
        if self.opt_batch is not None and not 1 <= self.opt_batch <= self.max_batch:
            raise EngineBuildError(
                f"opt_batch {self.opt_batch} outside 1..max_batch ({self.max_batch})",
                hint="the optimisation profile needs min <= opt <= max",
            )
        if self.workspace_mib is not None and self.workspace_mib < 1:
            raise EngineBuildError(f"workspace must be >= 1 MiB, got {self.workspace_mib}")
        if self.optimization_level is not None and not 0 <= self.optimization_level <= 5:
            raise EngineBuildError(f"optimization_level must be in 0..5, got {self.optimization_level}")
        if self.input_hw is not None:
            object.__setattr__(self, "input_hw", (int(self.input_hw[0]), int(self.input_hw[1])))
        if self.min_hw is not None:
            object.__setattr__(self, "min_hw", (int(self.min_hw[0]), int(self.min_hw[1])))
            if self.input_hw is None or not all(1 <= lo <= hi for lo, hi in zip(self.min_hw, self.input_hw)):
                raise EngineBuildError(
                    f"min_hw {self.min_hw} must lie within 1..input_hw ({self.input_hw})",
                    hint="the profile needs min <= opt <= max",
                )

    @property
    def opt(self) -> int:
        return self.opt_batch if self.opt_batch is not None else self.max_batch

    def replace(self, **changes: Any) -> BuildOptions:
        return dataclasses.replace(self, **changes)

    def key_fields(self) -> dict[str, Any]:
        """The settings that change the engine (for the cache key; ``min_hw`` only when set,
        so the keys of engines built before it existed stay the same)."""
        fields: dict[str, Any] = {
            "precision": self.precision,
            "max_batch": self.max_batch,
            "opt_batch": self.opt,
            "workspace_mib": self.workspace_mib,
            "optimization_level": self.optimization_level,
            "version_compatible": self.version_compatible,
            "input_hw": list(self.input_hw) if self.input_hw else None,
        }
        if self.min_hw is not None:
            fields["min_hw"] = list(self.min_hw)
        return fields

    def profile(self, name: str, shape: Sequence[int]) -> tuple[Shape, Shape, Shape] | None:
        """(min, opt, max) shapes for an input declared with ``shape`` (-1: dynamic), or
        ``None`` when it is fully static and needs no profile."""
        dims = [int(d) for d in shape]
        if all(d > 0 for d in dims):
            return None
        low = list(dims)  # the profile's minimum: min_hw on dynamic image axes when set
        if len(dims) == 4 and self.input_hw is not None:
            for axis, value in zip((2, 3), self.input_hw):
                if dims[axis] > 0 and dims[axis] != value:
                    raise EngineBuildError(
                        f"input {name!r} is {dims[axis]} on axis {axis}; input_hw asks for {value}",
                        hint="leave input_hw unset for models with a fixed input size",
                    )
                if dims[axis] < 0:
                    dims[axis] = value
                    low[axis] = self.min_hw[axis - 2] if self.min_hw is not None else value
        if any(d < 0 for d in dims[1:]):
            raise EngineBuildError(
                f"input {name!r} has dynamic non-batch axes {tuple(shape)}",
                hint="set input_hw (--input-size HxW), or export the model with a fixed image size",
            )
        if dims[0] > 0:
            return tuple(low), tuple(dims), tuple(dims)
        return (1, *low[1:]), (self.opt, *dims[1:]), (self.max_batch, *dims[1:])


def for_model(
    options: BuildOptions,
    input_hw: tuple[int, int],
    static_batch: int | None,
    min_hw: tuple[int, int] | None = None,
) -> BuildOptions:
    """The options actually used for a model: its image size always (so every caller, the CLI
    and the backend alike, computes the same cache key), its fixed batch, if it has one, and
    the smallest image size a rect model is run at (``min_hw``)."""
    if static_batch is not None:
        return options.replace(input_hw=tuple(input_hw), min_hw=min_hw, max_batch=static_batch, opt_batch=None)
    return options.replace(input_hw=tuple(input_hw), min_hw=min_hw)


def fp16_strategy(major: int, has_fp16_flag: bool) -> str:
    """How fp16 is obtained: TensorRT 10 has ``BuilderFlag.FP16`` (weakly typed networks);
    TensorRT 11 networks are strongly typed, so the ONNX graph itself is converted."""
    return "builder-flag" if major < 11 and has_fp16_flag else "onnx-fp16"


def recipe(precision: str, strategy: str, input_scale: float) -> dict[str, Any]:
    """What we do to the ONNX graph before TensorRT sees it (part of the cache key)."""
    return {
        "version": RECIPE_VERSION,
        "uint8_input_scale": repr(float(input_scale)),
        "fp16": strategy if precision == "fp16" else None,
    }
