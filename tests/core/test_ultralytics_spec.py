"""Reading Ultralytics' metadata and output layouts into a ModelSpec (no inference)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ultralytics_models import Export, metadata_props
from trt_core import metadata
from trt_core.errors import ModelSpecError
from trt_core.layouts import guess_format
from trt_core.params import DetectParams
from trt_core.presets import PRESETS, preset_params, resolve
from trt_core.spec import ModelSpec, TensorDesc

DYNAMIC_IMAGES = TensorDesc("images", (-1, 3, -1, -1), "float32")


def spec_for(export: Export, output: tuple[int, ...], **overrides: Any) -> ModelSpec:
    images = DYNAMIC_IMAGES if export.dynamic else TensorDesc("images", (export.batch, 3, 64, 64), "float32")
    outputs = (TensorDesc("output0", output, "float16" if export.half else "float32"),)
    return ModelSpec.from_parts(images, outputs, metadata_props(export), **overrides)


def test_exporter_metadata_is_read_literally() -> None:
    info = metadata.exporter_info(metadata_props(Export(dynamic=True, half=True, batch=8)))
    assert info == metadata.ExporterInfo("ultralytics", "detect", 32, 8, False, dynamic=True, half=True, nms=False)
    nms = metadata.exporter_info(metadata_props(Export(layout="end2end", nms=True, end2end_key=None)))
    assert nms is not None and nms.end2end is True and nms.nms
    old = metadata.exporter_info(metadata_props(Export(end2end_key=None)))
    assert old is not None and old.end2end is None  # older exporters: no 'end2end' key, shapes decide
    legacy = metadata.exporter_info({"stride": "32", "names": "{0: 'a'}"})
    assert legacy == metadata.ExporterInfo("yolov5", stride=32)
    assert metadata.exporter_info({"names": '["a"]', "format": "yolov8"}) is None


def test_metadata_values_are_never_evaluated() -> None:
    evil = "__import__('os').system('echo pwned')"
    props = {**metadata_props(Export()), "args": evil, "end2end": evil, "stride": evil}
    info = metadata.exporter_info(props)
    assert info is not None and info.stride is None and info.end2end is None and not info.dynamic
    assert metadata.parse_names(f"{{0: {evil}}}") == (f"{{0: {evil}}}",)  # not a literal: one odd name


def test_dynamic_export_takes_its_size_from_imgsz() -> None:
    spec = spec_for(Export(dynamic=True), (-1, 7, -1))
    assert spec.format == "yolov8" and spec.input_hw == (64, 64) and spec.static_batch is None
    assert spec.names == ("person", "bicycle", "car") and spec.stride == 32 and spec.rect
    assert (spec.letterbox, spec.pad_value, spec.resize, spec.preset) == (True, 114, "linear", "ultralytics")
    assert spec.batch_note is None and spec.to_dict()["notes"] == []


def test_class_count_settles_dynamic_layouts() -> None:
    assert guess_format([(-1, 84, -1)], num_classes=80) == "yolov8"
    assert guess_format([(-1, 84, -1)]) == "yolov8"
    assert guess_format([(-1, -1, 85)], num_classes=80) == "yolov5"
    assert guess_format([(-1, -1, 85)]) == "yolov5"
    assert guess_format([(-1, -1, 6)], num_classes=1) == "yolov5"  # YOLOv5 repo, one class
    assert guess_format([(1, 25200, 6)]) == "yolov5"
    assert guess_format([(-1, 300, 6)]) == "end2end"
    assert guess_format([(-1, -1, 6)], ultralytics=True) == "end2end"
    assert guess_format([(1, 6, 8400)], num_classes=2, end2end=False) == "yolov8"
    assert guess_format([(1, 300, 6)], end2end=True) == "end2end"
    with pytest.raises(ModelSpecError, match="cannot tell"):
        guess_format([(-1, -1, -1)])
    with pytest.raises(ModelSpecError, match="cannot tell"):
        guess_format([(-1, -1, 6)])


def test_end2end_from_metadata_or_shape() -> None:
    assert spec_for(Export(layout="end2end", end2end_key=True), (1, 300, 6)).format == "end2end"
    assert spec_for(Export(layout="end2end", end2end_key=None), (1, 300, 6)).format == "end2end"
    nms = Export(layout="end2end", nms=True, dynamic=True)
    assert spec_for(nms, (-1, 300, 6)).format == "end2end"


def test_fixed_batch_is_stated() -> None:
    one = spec_for(Export(), (1, 7, 84))
    assert one.static_batch == 1 and one.batch_note and "one at a time" in one.batch_note
    assert one.to_dict()["static_batch"] == 1 and one.to_dict()["notes"] == [one.batch_note]
    four = spec_for(Export(batch=4), (4, 7, 84))
    assert four.batch_note and "padded up to 4" in four.batch_note


def test_fp16_io_is_described() -> None:
    spec = spec_for(Export(half=True), (1, 7, 84))
    assert spec.outputs[0].dtype == "float16" and spec.format == "yolov8"


@pytest.mark.parametrize(
    ("task", "output"), [("segment", (1, 39, 8400)), ("pose", (1, 56, 8400)), ("obb", (1, 20, 8400))]
)
def test_other_tasks_are_refused(task: str, output: tuple[int, ...]) -> None:
    with pytest.raises(ModelSpecError, match=f"'{task}' model") as info:
        spec_for(Export(task=task), output)
    assert info.value.hint and "detection" in info.value.hint


def test_class_count_must_match_the_head() -> None:
    with pytest.raises(ModelSpecError, match="4 box values \\+ 3 class scores = 7, got 84") as info:
        spec_for(Export(), (1, 84, 8400))
    assert info.value.hint and "names" in info.value.hint
    with pytest.raises(ModelSpecError, match="objectness"):
        spec_for(Export(layout="yolov5"), (1, 25200, 85))
    with pytest.raises(ModelSpecError, match="x1, y1, x2, y2, score, class"):
        spec_for(Export(), (1, 300, 7), format="end2end")
    assert spec_for(Export(), (1, 84, 8400), names=[str(i) for i in range(80)]).num_classes == 80


def test_metadata_keys_and_overrides_win_over_the_convention() -> None:
    props = {**metadata_props(Export()), "pad_value": "0", "resize": "bilinear"}
    spec = ModelSpec.from_parts(
        TensorDesc("images", (1, 3, 64, 64), "float32"), (TensorDesc("o", (1, 7, 84), "float32"),), props
    )
    assert (spec.pad_value, spec.resize, spec.letterbox) == (0, "bilinear", True)
    spec = spec_for(Export(), (1, 7, 84), letterbox=False, format="yolov8", preset=None)
    assert spec.letterbox is False and spec.preset is None


def test_presets_carry_yolo_predict_thresholds() -> None:
    predict = preset_params("ultralytics")
    assert (predict.conf, predict.iou, predict.max_det, predict.agnostic) == (0.25, 0.7, 300, False)
    assert preset_params(None) == DetectParams()
    assert (PRESETS["ultralytics-yolov5"].iou, PRESETS["ultralytics-yolov5"].max_det) == (0.45, 1000)
    overrides, params = resolve("ultralytics", {"pad_value": 0}, iou=0.5)
    assert overrides == {"letterbox": True, "pad_value": 0, "resize": "linear", "preset": "ultralytics"}
    assert (params.conf, params.iou, params.max_det, params.agnostic) == (0.25, 0.5, 300, False)
    spec = ModelSpec.from_parts(
        TensorDesc("images", (1, 3, 64, 64), "float32"), (TensorDesc("o", (1, 7, 84), "float32"),), {}, **overrides
    )
    assert (spec.preset, spec.resize, spec.pad_value) == ("ultralytics", "linear", 0)
