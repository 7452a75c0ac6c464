"""``share`` / ``GraphRef``: a prepared graph handed on by reference, loaded or re-prepared."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest

from trt_core.errors import ModelLoadError
from trt_core.graph import GraphRecipe, prepare_graph, share
from trt_core.spec import ModelSpec


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRT_DETECT_CACHE", str(tmp_path / "engines"))
    return tmp_path / "graphs"


def test_reference_is_small_and_loads_the_same_graph(tiny_model: Path, cache: Path) -> None:
    spec, recipe = ModelSpec.from_onnx(tiny_model), GraphRecipe(topk=50)
    graph = prepare_graph(tiny_model, spec, recipe)
    ref = share(graph, tiny_model, spec, recipe)
    assert Path(ref.path).parent == cache and Path(ref.path).read_bytes() == graph.model
    assert len(pickle.dumps(ref)) < len(graph.model) / 10
    loaded = pickle.loads(pickle.dumps(ref)).load()
    assert (loaded.model, loaded.spec, loaded.recipe) == (graph.model, graph.spec, graph.recipe)


def test_missing_or_damaged_file_is_prepared_again(tiny_model: Path, cache: Path) -> None:
    spec, recipe = ModelSpec.from_onnx(tiny_model), GraphRecipe(decode="host")
    graph = prepare_graph(tiny_model, spec, recipe)
    ref = share(graph, tiny_model, spec, recipe)
    Path(ref.path).write_bytes(b"damaged")
    assert ref.load().model == graph.model
    Path(ref.path).unlink()
    assert ref.load().sha256 == graph.sha256


def test_a_model_that_prepares_differently_is_refused(tiny_model: Path, cache: Path) -> None:
    spec, recipe = ModelSpec.from_onnx(tiny_model), GraphRecipe()
    ref = share(prepare_graph(tiny_model, spec, recipe), tiny_model, spec, recipe)
    Path(ref.path).unlink()  # as on a node that lacks the file, with a model file that changed since
    with pytest.raises(ModelLoadError, match="different graph"):
        dataclasses.replace(ref, sha256="0" * 64).load()
