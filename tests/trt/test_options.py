"""BuildOptions: validation, optimisation profiles, fp16 strategy, graph recipe."""

from __future__ import annotations

import pytest

from trt_core.errors import EngineBuildError
from trt_core.trt.options import BuildOptions, for_model, fp16_strategy, recipe


def test_defaults_and_key_fields() -> None:
    o = BuildOptions(max_batch=16)
    assert o.precision == "fp32" and o.opt == 16
    assert o.key_fields() == {
        "precision": "fp32",
        "max_batch": 16,
        "opt_batch": 16,
        "workspace_mib": None,
        "optimization_level": None,
        "version_compatible": False,
        "input_hw": None,
    }
    # build speed / logging settings do not change the engine
    assert BuildOptions(max_batch=16, timing_cache="/tmp/x", verbose=True).key_fields() == o.key_fields()
    assert o.replace(opt_batch=4).opt == 4


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"precision": "int8"}, "precision"),
        ({"max_batch": 0}, "max_batch"),
        ({"max_batch": 4, "opt_batch": 5}, "opt_batch"),
        ({"max_batch": 4, "opt_batch": 0}, "opt_batch"),
        ({"workspace_mib": 0}, "workspace"),
        ({"optimization_level": 6}, "optimization_level"),
        ({"min_hw": (32, 32)}, "min_hw"),
        ({"input_hw": (64, 64), "min_hw": (32, 96)}, "min_hw"),
    ],
)
def test_validation(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(EngineBuildError, match=match) as info:
        BuildOptions(**kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, EngineBuildError)


def test_profile_for_dynamic_batch() -> None:
    o = BuildOptions(max_batch=32, opt_batch=8)
    assert o.profile("images", (-1, 3, 416, 416)) == ((1, 3, 416, 416), (8, 3, 416, 416), (32, 3, 416, 416))
    assert o.profile("images", (1, 3, 416, 416)) is None  # static: no profile needed


def test_profile_with_dynamic_image_size() -> None:
    shape = (-1, 3, -1, -1)
    with pytest.raises(EngineBuildError, match="dynamic non-batch") as info:
        BuildOptions(max_batch=4).profile("images", shape)
    assert "input_hw" in (info.value.hint or "")
    o = BuildOptions(max_batch=4, input_hw=(320, 480))
    assert o.profile("images", shape) == ((1, 3, 320, 480), (4, 3, 320, 480), (4, 3, 320, 480))
    with pytest.raises(EngineBuildError, match="input_hw asks"):
        o.profile("images", (-1, 3, 416, 416))
    assert BuildOptions(max_batch=4, input_hw=(32, 32)).profile("x", (2, 3, -1, -1)) == ((2, 3, 32, 32),) * 3


def test_fp16_strategy() -> None:
    assert fp16_strategy(10, True) == "builder-flag"
    assert fp16_strategy(11, False) == "onnx-fp16"
    assert fp16_strategy(10, False) == "onnx-fp16"


def test_recipe_tracks_graph_preparation() -> None:
    base = recipe("fp32", "builder-flag", 1 / 255)
    assert base["fp16"] is None
    assert recipe("fp16", "builder-flag", 1 / 255) != recipe("fp16", "onnx-fp16", 1 / 255)
    assert recipe("fp32", "x", 1 / 255) != recipe("fp32", "x", 1.0)


def test_for_model_is_what_cli_and_backend_share() -> None:
    dynamic = for_model(BuildOptions(max_batch=16, opt_batch=4, precision="fp16"), (416, 416), None)
    assert dynamic.input_hw == (416, 416) and dynamic.max_batch == 16 and dynamic.opt == 4
    static = for_model(BuildOptions(max_batch=16, opt_batch=4), (320, 320), 1)
    assert static.max_batch == 1 and static.opt == 1 and static.input_hw == (320, 320)
    # the same request, whoever makes it, gives the same key fields
    again = for_model(BuildOptions(precision="fp16", opt_batch=4, max_batch=16), (416, 416), None)
    assert again.key_fields() == dynamic.key_fields()


def test_rect_profile_spans_min_hw_to_input_hw() -> None:
    o = BuildOptions(max_batch=8, opt_batch=2, input_hw=(640, 640), min_hw=(32, 32))
    assert o.profile("images", (-1, 3, -1, -1)) == ((1, 3, 32, 32), (2, 3, 640, 640), (8, 3, 640, 640))
    assert o.profile("images", (4, 3, -1, -1)) == ((4, 3, 32, 32), (4, 3, 640, 640), (4, 3, 640, 640))
    assert o.key_fields()["min_hw"] == [32, 32]
    # engines of models without rect keep the cache key they had
    assert "min_hw" not in for_model(BuildOptions(max_batch=8), (640, 640), None).key_fields()
    assert for_model(BuildOptions(max_batch=8), (640, 640), 1, (32, 64)).min_hw == (32, 64)
