"""Every TensorRT name the backend uses exists in the real 10.x and 11.x bindings."""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import trt_api as bindings
from trt_core.trt import api_surface

DUMP_MEMBERS = """
import json, tensorrt_bindings as trt
names = set()
for attr in dir(trt):
    obj = getattr(trt, attr)
    if isinstance(obj, type):
        names.update(n for n in dir(obj) if not n.startswith("__"))
        for sub in dir(obj):
            inner = getattr(obj, sub, None)
            if isinstance(inner, type) and inner.__module__.startswith("tensorrt"):
                names.update(n for n in dir(inner) if not n.startswith("__"))
print(json.dumps({"module": sorted(n for n in dir(trt) if not n.startswith("_")), "members": sorted(names)}))
"""

CHECK = """
import json, tensorrt_bindings as trt
from trt_core.trt.api_surface import missing_names, major_version
from trt_core.trt.info import describe
print(json.dumps({"version": trt.__version__, "major": major_version(trt), "missing": missing_names(trt),
                  "describe": describe()}))
"""

# attribute names of our own objects (or the stdlib's) that happen to coincide with a
# TensorRT member name; any other such name must be listed in api_surface
OURS = {
    "append",
    "pop",
    "update",
    "count",  # list / dict / deque methods
    "engine",  # LoadedEngine.engine
    "opt",
    "precision",  # BuildOptions
    "release",  # CudaContext.release
    "stride",  # ModelSpec.stride
    "value",  # CacheResult.value
    "DEBUG",
    "CRITICAL",  # logging levels
}


@pytest.mark.parametrize("major", api_surface.SUPPORTED_MAJORS)
def test_every_listed_name_exists(run_with_trt: Callable[[int, str], Any], major: int) -> None:
    out = run_with_trt(major, CHECK)
    assert out["major"] == major
    assert out["missing"] == [], f"TensorRT {out['version']} lacks {out['missing']}"
    assert out["describe"]["available"] and out["describe"]["version"] == out["version"]
    assert out["describe"]["fp16"] == ("builder-flag" if major == 10 else "onnx-fp16")


def _attribute_uses() -> tuple[set[str], set[str]]:
    """(names accessed as ``trt.X``, every other attribute name) in the TensorRT-using modules."""
    on_trt: set[str] = set()
    other: set[str] = set()
    for module in api_surface.USING_MODULES:
        tree = ast.parse(inspect.getsource(importlib.import_module(module)))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                if isinstance(node.value, ast.Name) and node.value.id == "trt":
                    on_trt.add(node.attr)
                else:
                    other.add(node.attr)
    return on_trt, other


def test_source_uses_only_listed_names(run_with_trt: Callable[[int, str], Any]) -> None:
    on_trt, other = _attribute_uses()
    listed = api_surface.listed_members()
    top_level = {owner.split(".")[0] for owner in api_surface.SURFACE}
    assert on_trt - top_level == set(), "trt.X used but X not listed in api_surface.SURFACE"
    members: set[str] = set()
    for major in api_surface.SUPPORTED_MAJORS:
        members |= set(run_with_trt(major, DUMP_MEMBERS)["members"])
    unlisted = (other & members) - listed - OURS
    assert unlisted == set(), f"TensorRT members used but not listed in api_surface: {sorted(unlisted)}"


def test_version_specific_names_are_guarded() -> None:
    """``BuilderFlag.FP16`` (10.x only) is reached only through the 10.x strategy."""
    from trt_core.trt import builder

    source = inspect.getsource(builder)
    assert source.count("trt.BuilderFlag.FP16") == 1
    assert 'if strategy == "builder-flag":\n        config.set_flag(trt.BuilderFlag.FP16)' in source


def test_bindings_setup_without_the_index_fails_clearly_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a machine without network sees: a SetupError naming the download (the fixture
    turns it into a failure under CI=true, a skip elsewhere), and no half-made folder."""
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))
    dest = tmp_path / "trt-api"
    with pytest.raises(bindings.SetupError, match="downloading tensorrt-cu12-bindings==10"):
        bindings.setup(dest)
    assert not bindings.is_ready(dest)
    assert [p.name for p in dest.iterdir()] == []
