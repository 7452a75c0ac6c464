from __future__ import annotations

import argparse
import struct
from pathlib import Path

import numpy as np
import onnx
import pytest

from tests.fixtures import darknet_cfg
from trt_core.cli import darknet as cli
from trt_core.cli.common import UsageError
from trt_core.darknet import convert, parse_cfg
from trt_core.darknet.weights import expected_floats
from trt_core.errors import DarknetError, InvalidRequestError
from trt_core.spec import COCO_ANCHORS, COCO_MASKS, ModelSpec

from .helpers import FEATURES_CFG, ODD_CFG, assert_heads_match, run_onnx, write
from .reference import Reference, shrink


def _source(name: str) -> str:
    if name == "features":
        return FEATURES_CFG
    if name == "odd":
        return ODD_CFG
    return shrink(darknet_cfg(name), divisor=8, size=128)


@pytest.mark.parametrize(
    ("name", "masks", "scale_x_y"),
    [
        ("features", ((3, 4, 5), (0, 1, 2)), (1.1, 1.1)),
        ("odd", ((0, 1),), ()),
        ("yolov3.cfg", COCO_MASKS, ()),
        ("yolov3-tiny.cfg", ((3, 4, 5), (0, 1, 2)), ()),
        ("yolov4-tiny.cfg", ((3, 4, 5), (1, 2, 3)), (1.05, 1.05)),
        ("yolov4.cfg", ((0, 1, 2), (3, 4, 5), (6, 7, 8)), (1.2, 1.1, 1.05)),
    ],
)
def test_onnx_matches_numpy_darknet(
    tmp_path: Path, name: str, masks: tuple[tuple[int, ...], ...], scale_x_y: tuple[float, ...]
) -> None:
    text = _source(name)
    ref = Reference(text, seed=len(name))
    cfg_path, weights_path = write(tmp_path, text, ref)
    result = convert(cfg_path, weights_path, tmp_path / "model.onnx")
    x = np.random.default_rng(1).uniform(0, 1, (2, 3, *result.input_hw))
    names, got = run_onnx(result.path, x)
    want = ref.forward(x)
    assert_heads_match(got, want)
    assert [n for n, _ in result.outputs] == names
    assert [shape for _, shape in result.outputs] == [w.shape[1:] for w in want]

    spec = ModelSpec.from_onnx(result.path)
    assert spec.format == "yolov3" and spec.name == "model"
    assert spec.masks == masks
    assert spec.scale_x_y == pytest.approx(scale_x_y)
    assert spec.input_hw == result.input_hw and spec.input.shape[0] == -1 and spec.input.name == "000_net"
    assert [o.shape for o in spec.outputs] == [(-1, *w.shape[1:]) for w in want]
    assert (spec.letterbox, spec.resize, spec.pad_value) == (True, "bilinear", 128)
    assert spec.num_classes == parse_cfg(text).yolo_layers[0].classes
    model = onnx.load(str(result.path))
    props = {p.key: p.value for p in model.metadata_props}
    strides = [result.input_hw[0] / w.shape[2] for w in want]
    assert props["strides"] == str([int(s) if s.is_integer() else s for s in strides])
    assert model.opset_import[0].version == 17


def test_darknet_maxpool_padding_is_asymmetric(tmp_path: Path) -> None:
    text = FEATURES_CFG
    cfg_path, weights_path = write(tmp_path, text, Reference(text))
    model = onnx.load(str(convert(cfg_path, weights_path, tmp_path / "m.onnx").path))
    pools = {n.name: n for n in model.graph.node if n.op_type == "MaxPool"}
    pads = {name: list(next(a for a in node.attribute if a.name == "pads").ints) for name, node in pools.items()}
    assert pads == {"002_maxpool": [0, 0, 0, 0], "009_maxpool": [0, 0, 1, 1], "010_maxpool": [2, 2, 2, 2]}


def test_conversion_reports_its_steps(tmp_path: Path) -> None:
    text = FEATURES_CFG
    cfg_path, weights_path = write(tmp_path, text, Reference(text))
    steps: list[tuple[str, int, int]] = []
    result = convert(cfg_path, weights_path, tmp_path / "m.onnx", on_step=lambda *step: steps.append(step))
    phases = [phase for phase, _, _ in steps]
    assert phases[0] == "weights" and phases[-2:] == ["write", "check"]
    layers = [(done, total) for phase, done, total in steps if phase == "layers"]
    assert [done for done, _ in layers] == list(range(1, result.layers + 1))
    assert {total for _, total in layers} == {result.layers}


def test_int32_seen_header_and_input_size_override(tmp_path: Path) -> None:
    text = shrink(darknet_cfg("yolov3-tiny.cfg"), divisor=8, classes=3, size=96)
    ref = Reference(text, seed=5)
    cfg_path, weights_path = write(tmp_path, text, ref, major=0, minor=1)
    result = convert(cfg_path, weights_path, tmp_path / "tiny.onnx", input_size=(160, 128))
    assert result.input_hw == (160, 128) and result.names == ("0", "1", "2")
    x = np.random.default_rng(2).uniform(0, 1, (1, 3, 160, 128))
    assert_heads_match(run_onnx(result.path, x)[1], ref.forward(x))
    spec = ModelSpec.from_onnx(result.path)
    assert spec.input_hw == (160, 128) and spec.names == ("0", "1", "2") and spec.outputs[0].shape[1:] == (24, 5, 4)
    with pytest.raises(DarknetError, match="does not suit this network"):
        convert(cfg_path, weights_path, tmp_path / "bad.onnx", input_size=(100, 100))


def test_names_file_and_preset(tmp_path: Path) -> None:
    text = ODD_CFG
    cfg_path, weights_path = write(tmp_path, text, Reference(text))
    (tmp_path / "one.names").write_text("widget\n")
    result = convert(cfg_path, weights_path, tmp_path / "m.onnx", names_path=tmp_path / "one.names",
                     preset="nvidia-yolov3", name="widgets")  # fmt: skip
    spec = ModelSpec.from_onnx(result.path)
    assert spec.names == ("widget",) and spec.name == "widgets"
    assert (spec.letterbox, spec.resize) == (False, "bicubic")
    assert spec.extra["preset"] == "nvidia-yolov3"
    (tmp_path / "two.names").write_text("a\nb\n")
    with pytest.raises(DarknetError, match=r"2 class names given, but .* classes=1"):
        convert(cfg_path, weights_path, tmp_path / "m.onnx", names_path=tmp_path / "two.names")
    with pytest.raises(InvalidRequestError, match="unknown preset"):
        convert(cfg_path, weights_path, tmp_path / "m.onnx", preset="nope")


def test_full_size_yolov3_structure(tmp_path: Path) -> None:
    """The real yolov3.cfg at 608x608 gives NVIDIA's sample's interface (zero weights, not run)."""
    text = darknet_cfg("yolov3.cfg")
    (tmp_path / "yolov3.cfg").write_text(text)
    count = expected_floats(parse_cfg(text))
    assert count == 62_001_757
    with open(tmp_path / "yolov3.weights", "wb") as f:
        f.write(struct.pack("<3iq", 0, 2, 0, 32013312))
        f.write(bytes(4 * count))
    result = convert(tmp_path / "yolov3.cfg", tmp_path / "yolov3.weights", tmp_path / "yolov3.onnx")
    assert result.outputs == (
        ("082_convolutional", (255, 19, 19)),
        ("094_convolutional", (255, 38, 38)),
        ("106_convolutional", (255, 76, 76)),
    )
    spec = ModelSpec.from_onnx(result.path)
    assert spec.input_hw == (608, 608) and spec.input.name == "000_net"
    assert spec.anchors == COCO_ANCHORS and spec.masks == COCO_MASKS and spec.scale_x_y == ()
    assert spec.names[0] == "person" and spec.num_classes == 80
    model = onnx.load(str(result.path), load_external_data=False)
    assert sum(n.op_type == "Conv" for n in model.graph.node) == 75
    assert result.file_size == result.path.stat().st_size > 0.99 * 4 * count  # BN folded into the convs


def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg_path, weights_path = write(tmp_path, FEATURES_CFG, Reference(FEATURES_CFG))
    out = tmp_path / "features.onnx"
    args = _cli(["convert-darknet", str(cfg_path), str(weights_path), "-o", str(out), "--input-size", "96"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "layers: 20" in printed and "3x96x96" in printed and "classes: 2" in printed
    assert "013_convolutional: 21x12x12 (stride 8)" in printed and "019_convolutional: 21x48x48 (stride 2)" in printed
    assert ModelSpec.from_onnx(out).input_hw == (96, 96)
    args = _cli(["convert-darknet", str(cfg_path), str(tmp_path / "nope.weights"), "-o", str(out)])
    with pytest.raises(UsageError, match=r"no such file: .*nope\.weights"):
        cli.run(args)
    with pytest.raises(DarknetError, match="cannot read weights file"):
        convert(cfg_path, tmp_path / "nope.weights", out)
    with pytest.raises(SystemExit):
        _cli(["convert-darknet", str(cfg_path), str(weights_path), "-o", str(out), "--input-size", "0"])
    assert _cli(["convert-darknet", "a", "b", "-o", "c", "--input-size", "320x416"]).input_size == (320, 416)
