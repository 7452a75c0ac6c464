"""Builder logic that needs no GPU: parser error reporting, precision strategy, and the
failure path through the real TensorRT bindings (whose library calls fail by design here)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from trt_core.trt.builder import parser_errors, parser_hint, precision_strategy


class FakeError:
    def __init__(self, node: int, name: str, op: str, desc: str, code: str) -> None:
        self._v = (node, name, op, desc, SimpleNamespace(name=code))

    def node(self) -> int:
        return self._v[0]

    def node_name(self) -> str:
        return self._v[1]

    def node_operator(self) -> str:
        return self._v[2]

    def desc(self) -> str:
        return self._v[3]

    def code(self) -> Any:
        return self._v[4]


class FakeParser:
    def __init__(self, errors: list[FakeError]) -> None:
        self.errors = errors
        self.num_errors = len(errors)

    def get_error(self, i: int) -> FakeError:
        return self.errors[i]


def test_parser_errors_name_the_nodes() -> None:
    parser = FakeParser(
        [
            FakeError(12, "yolo_head/Sigmoid_3", "NonMaxSuppression", "no importer", "UNSUPPORTED_NODE"),
            FakeError(-1, "", "", "model is invalid", "INVALID_GRAPH"),
            FakeError(4, "", "", "bad attribute", "INVALID_NODE"),
        ]
    )
    lines = parser_errors(parser)
    assert lines == [
        "node 'yolo_head/Sigmoid_3' (NonMaxSuppression, #12): no importer [UNSUPPORTED_NODE]",
        "graph: model is invalid [INVALID_GRAPH]",
        "node #4: bad attribute [INVALID_NODE]",
    ]
    assert "opset" in parser_hint(lines)
    assert "onnx.checker" in parser_hint(lines[1:])
    assert parser_errors(FakeParser([])) == ["the parser reported failure without details"]


def test_precision_strategy() -> None:
    ten = SimpleNamespace(__version__="10.16.1.11", BuilderFlag=SimpleNamespace(FP16=1))
    eleven = SimpleNamespace(__version__="11.4.0.106", BuilderFlag=SimpleNamespace())
    assert precision_strategy(ten, "fp32") == precision_strategy(eleven, "fp32") == "fp32"
    assert precision_strategy(ten, "fp16") == "builder-flag"
    assert precision_strategy(eleven, "fp16") == "onnx-fp16"


BUILD_WITH_STUBS = """
import json
from trt_core.errors import EngineBuildError
from trt_core.trt.builder import build_engine
from trt_core.trt.options import BuildOptions
from trt_core.trt.loader import deserialize_engine
from tests.models import yolo_like_model
out = {}
for precision in ("fp32", "fp16"):
    try:
        build_engine(yolo_like_model(), BuildOptions(precision=precision, max_batch=4))
        out[precision] = "built?!"
    except EngineBuildError as exc:
        out[precision] = [exc.message, exc.hint]
try:
    deserialize_engine(b"not an engine")
except Exception as exc:
    out["load"] = [type(exc).__name__, exc.message, exc.hint]
print(json.dumps(out))
"""


@pytest.mark.parametrize("major", [10, 11])
def test_build_without_a_gpu_fails_with_a_hint(run_with_trt: Callable[[int, str], Any], major: int) -> None:
    """Through the real bindings: the graph is prepared (fp16 too), then creating the
    builder fails (no TensorRT library) and is reported as EngineBuildError with a hint."""
    out = run_with_trt(major, BUILD_WITH_STUBS)
    for precision in ("fp32", "fp16"):
        message, hint = out[precision]
        assert message.startswith("failed to create the TensorRT builder") and hint
    kind, message, hint = out["load"]
    assert kind == "BackendUnavailableError" and "runtime" in message and hint


CLI_WITH_STUBS = """
import argparse, json, sys
from trt_core.errors import TrtDetectError
from tests.models import save_yolo_like_model
import trt_core.cli.build as build
sys.modules["pycuda"] = None
save_yolo_like_model("m.onnx")
parser = argparse.ArgumentParser()
build.add_parser(parser.add_subparsers())
out = {}
for extra in (["-o", "m.engine", "--fp16", "--max-batch", "4"], ["--cache", "engines"]):
    args = parser.parse_args(["build", "m.onnx", *extra])
    try:
        out[extra[0]] = ["ok", args.func(args)]
    except TrtDetectError as exc:
        out[extra[0]] = [type(exc).__name__, str(exc)]
print(json.dumps(out))
"""


def test_cli_build_reports_failures_in_one_line(run_with_trt: Callable[[int, str], Any], tmp_path: Path) -> None:
    out = run_with_trt(11, f"import os; os.chdir({str(tmp_path)!r})\n" + CLI_WITH_STUBS)
    kind, text = out["-o"]
    assert kind == "EngineBuildError" and "TensorRT builder" in text and "\n" not in text
    assert not (tmp_path / "m.engine").exists()
    kind, text = out["--cache"]  # the cache keys on the GPU, which needs pycuda
    assert kind == "BackendUnavailableError" and "pycuda" in text and "trt-detect[gpu]" in text


BUILD_PREPARED_WITH_STUBS = """
import json
from trt_core.errors import EngineBuildError
from trt_core.graph import GraphRecipe, prepare_graph
from trt_core.spec import ModelSpec
from trt_core.trt.builder import build_engine
from trt_core.trt.options import BuildOptions
from tests.models import yolo_like_model
model = yolo_like_model()
graph = prepare_graph(model, ModelSpec.from_onnx_model(model), GraphRecipe(topk=50))
out = {"decode": graph.decode}
for precision in ("fp32", "fp16"):
    try:
        build_engine(graph, BuildOptions(precision=precision, max_batch=4))
        out[precision] = "built?!"
    except EngineBuildError as exc:
        out[precision] = exc.message
print(json.dumps(out))
"""


@pytest.mark.parametrize("major", [10, 11])
def test_prepared_graphs_reach_the_builder(run_with_trt: Callable[[int, str], Any], major: int) -> None:
    """A PreparedGraph (decode + top-K in it; fp16 added for TensorRT 11) goes through the real
    bindings up to the builder, which cannot be created without TensorRT's libraries."""
    out = run_with_trt(major, BUILD_PREPARED_WITH_STUBS)
    assert out["decode"] == "device"
    assert out["fp32"].startswith("failed to create the TensorRT builder")
    assert out["fp16"].startswith("failed to create the TensorRT builder")


def test_onnx_for_parser_of_a_prepared_graph() -> None:
    from tests.models import yolo_like_model
    from trt_core.graph import GraphRecipe, prepare_graph, with_fp16
    from trt_core.spec import ModelSpec
    from trt_core.trt.builder import onnx_for_parser

    model = yolo_like_model()
    graph = prepare_graph(model, ModelSpec.from_onnx_model(model), GraphRecipe(topk=50))
    assert onnx_for_parser(graph, input_scale=0.5, fp16_graph=False) == graph.model  # built as given
    assert onnx_for_parser(graph, input_scale=0.5, fp16_graph=True) == with_fp16(graph).model


def test_build_progress_reports_phases_and_tenths_of_top_level_phases() -> None:
    from trt_core.trt.builder import BuildProgress

    lines: list[str] = []
    progress = BuildProgress(lines.append)
    progress.phase_start("Building engine", None, 20)
    progress.phase_start("Tactic search", "Building engine", 3)
    for step in range(3):
        assert progress.step_complete("Tactic search", step)  # nested: no percentages
    progress.phase_finish("Tactic search")
    for step in range(20):
        assert progress.step_complete("Building engine", step)  # never cancels
    progress.phase_finish("Building engine")
    assert lines[:2] == ["Building engine (20 steps)", "  Tactic search (3 steps)"]
    assert lines[2:12] == [f"Building engine: {p}%" for p in range(10, 101, 10)]
    assert lines[12].startswith("Building engine done in ") and len(lines) == 13
