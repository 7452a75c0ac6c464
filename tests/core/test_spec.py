from __future__ import annotations

from pathlib import Path

import pytest

from tests.models import tiny_yolov3
from trt_core import metadata
from trt_core.errors import ModelLoadError, ModelSpecError
from trt_core.spec import COCO_ANCHORS, ModelSpec, TensorDesc

IMAGE = TensorDesc("000_net", (1, 3, 608, 608), "float32")
NVIDIA_HEADS = (
    TensorDesc("082_convolutional", (1, 255, 19, 19), "float32"),
    TensorDesc("094_convolutional", (1, 255, 38, 38), "float32"),
    TensorDesc("106_convolutional", (1, 255, 76, 76), "float32"),
)


def test_nvidia_yolov3_without_metadata_gets_the_sample_defaults() -> None:
    spec = ModelSpec.from_parts(IMAGE, NVIDIA_HEADS, {})
    assert spec.format == "yolov3" and spec.input_hw == (608, 608)
    assert spec.anchors == COCO_ANCHORS and spec.masks == ((6, 7, 8), (3, 4, 5), (0, 1, 2))
    assert spec.num_classes == 80 and spec.names[0] == "person" and spec.names[-1] == "toothbrush"
    assert spec.letterbox is False and spec.resize == "bicubic"


def test_dynamic_spatial_nvidia_input_defaults_to_608() -> None:
    dynamic = TensorDesc("000_net", (-1, 3, -1, -1), "float32")
    heads = tuple(TensorDesc(h.name, (-1, 255, -1, -1), "float32") for h in NVIDIA_HEADS)
    assert ModelSpec.from_parts(dynamic, heads, {}).input_hw == (608, 608)


def test_metadata_is_read_from_an_onnx_file(tiny_model: Path) -> None:
    spec = ModelSpec.from_onnx(tiny_model)
    assert spec.name == "tiny-test" and spec.names == ("c0", "c1", "c2")
    assert spec.static_batch is None and spec.input_hw == (64, 64)
    assert spec.masks == ((3, 4, 5), (0, 1, 2)) and spec.letterbox is True and spec.pad_value == 128


def test_overrides_win_over_metadata(tiny_model: Path) -> None:
    spec = ModelSpec.from_onnx(tiny_model, names="x,y,z", letterbox=False, pad_value=0, input_size=(32, 32))
    assert spec.names == ("x", "y", "z") and spec.letterbox is False and spec.input_hw == (32, 32)
    assert spec.replace(input_size=96).input_hw == (96, 96)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('["a", "b"]', ("a", "b")),
        ("{0: 'person', 1: 'bicycle'}", ("person", "bicycle")),
        ('{"0": "a", "1": "b"}', ("a", "b")),
        ("a\nb\n", ("a", "b")),
    ],
)
def test_names_formats(text: str, expected: tuple[str, ...]) -> None:
    assert metadata.parse_names(text) == expected


def test_anchor_and_mask_formats() -> None:
    assert metadata.parse_anchors("10,14, 23,27") == ((10, 14), (23, 27))
    assert metadata.parse_anchors("[[10, 14], [23, 27]]") == ((10, 14), (23, 27))
    assert metadata.parse_masks("[[1, 2], [0]]") == ((1, 2), (0,))
    assert metadata.parse_masks("3,4,5;0,1,2") == ((3, 4, 5), (0, 1, 2))
    assert metadata.parse({"imgsz": "[640, 480]"})["input_size"] == (640, 480)
    props = metadata.to_props(anchors=[[1, 2]], letterbox=False, names=["a"])
    assert props == {"anchors": "[[1, 2]]", "letterbox": "false", "names": '["a"]'}


def test_bad_metadata_is_reported_clearly() -> None:
    with pytest.raises(ModelSpecError, match="pairs"):
        metadata.parse_anchors("1,2,3")
    with pytest.raises(ModelSpecError, match="letterbox"):
        metadata.parse({"letterbox": "maybe"})
    with pytest.raises(ModelSpecError, match="unknown output format"):
        ModelSpec.from_parts(IMAGE, NVIDIA_HEADS, {"format": "yolov99"})


def test_head_channel_mismatch_names_the_fix() -> None:
    with pytest.raises(ModelSpecError, match="channels") as info:
        ModelSpec.from_parts(IMAGE, NVIDIA_HEADS, {"names": '["only", "two"]'})
    assert info.value.hint and "names" in info.value.hint


def test_unrecognisable_outputs() -> None:
    with pytest.raises(ModelSpecError, match="cannot tell the output format"):
        ModelSpec.from_parts(IMAGE, (TensorDesc("y", (1, 10), "float32"),), {})


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        ModelSpec.from_onnx(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(ModelLoadError, match="cannot read"):
        ModelSpec.from_onnx(bad)


def test_spec_is_picklable_and_summarised(tiny_model: Path) -> None:
    import pickle

    spec = ModelSpec.from_onnx(tiny_model)
    assert pickle.loads(pickle.dumps(spec)) == spec
    summary = spec.to_dict()
    assert summary["input"]["height"] == 64 and summary["classes"] == ["c0", "c1", "c2"]


def test_static_batch(tmp_path: Path) -> None:
    spec = ModelSpec.from_onnx(tiny_yolov3(tmp_path / "b2.onnx", batch=2))
    assert spec.static_batch == 2
