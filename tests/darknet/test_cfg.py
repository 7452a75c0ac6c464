from __future__ import annotations

import hashlib

import pytest

from tests.fixtures import COCO_NAMES, darknet_cfg
from trt_core.darknet import infer_shapes, parse_cfg
from trt_core.darknet.cfg import default_names, load_cfg, load_names
from trt_core.darknet.layers import Convolutional, Maxpool, Route, Shortcut, Upsample, Yolo
from trt_core.errors import DarknetError

from .helpers import FEATURES_CFG

DARKNET_COCO_NAMES_SHA256 = "634a1132eb33f8091d60f2c346ababe8b905ae08387037aed883953b7329af84"
HEAD = "[net]\nwidth=32\nheight=32\nchannels=3\n"
CONV = "[convolutional]\nbatch_normalize=1\nfilters=18\nsize=1\nstride=1\npad=1\nactivation=leaky\n"
YOLO = "[yolo]\nmask=0,1,2\nanchors=1,2, 3,4, 5,6\nclasses=1\nnum=3\n"


def test_features_cfg_is_parsed_into_typed_layers() -> None:
    cfg = parse_cfg(FEATURES_CFG, source="features.cfg")
    assert (cfg.net.width, cfg.net.height, cfg.net.channels) == (64, 64, 3)
    conv0 = cfg.layers[0]
    assert isinstance(conv0, Convolutional)
    assert (conv0.filters, conv0.size, conv0.stride, conv0.padding, conv0.batch_normalize) == (8, 3, 1, 1, True)
    assert conv0.activation == "leaky"
    grouped = cfg.layers[3]  # spelled [conv]
    assert isinstance(grouped, Convolutional) and grouped.groups == 4 and grouped.padding == 0
    assert isinstance(cfg.layers[4], Shortcut) and cfg.layers[4].sources == (2,)
    split = cfg.layers[5]
    assert isinstance(split, Route) and (split.layers, split.groups, split.group_id) == ((4,), 2, 1)
    assert isinstance(cfg.layers[7], Route) and cfg.layers[7].layers == (6, 5)
    pool = cfg.layers[8]
    assert isinstance(pool, Maxpool) and (pool.size, pool.stride, pool.padding) == (2, 1, 1)
    assert isinstance(cfg.layers[14], Route) and cfg.layers[14].layers == (10,)
    assert isinstance(cfg.layers[16], Upsample) and cfg.layers[16].stride == 2
    assert isinstance(cfg.layers[17], Route) and cfg.layers[17].layers == (16, 1)
    yolo = cfg.layers[13]
    assert isinstance(yolo, Yolo)
    assert yolo.mask == (3, 4, 5) and yolo.classes == 2 and yolo.scale_x_y == pytest.approx(1.1)
    assert yolo.anchors[0] == (10, 14) and len(yolo.anchors) == 6
    assert [y.index for y in cfg.yolo_layers] == [13, 19]


def test_shapes_follow_darknet_arithmetic() -> None:
    cfg = parse_cfg(FEATURES_CFG)
    shapes = infer_shapes(cfg)
    assert str(shapes[1]) == "8x32x32"
    assert str(shapes[5]) == "8x16x16"  # groups=2 keeps half of 16 channels
    assert str(shapes[7]) == "16x16x16"
    assert str(shapes[8]) == "16x16x16"  # size-2 stride-1 maxpool keeps the size
    assert str(shapes[12]) == "21x8x8" and str(shapes[18]) == "21x32x32"
    odd = parse_cfg(HEAD.replace("32", "13") + "[maxpool]\nsize=2\nstride=2\n" + CONV + YOLO)
    assert str(infer_shapes(odd)[0]) == "3x7x7"  # (13 + 1 - 2) / 2 + 1


@pytest.mark.parametrize(
    ("name", "layers", "heads", "convs"),
    [("yolov3.cfg", 107, (6, 3, 0), 75), ("yolov3-tiny.cfg", 24, (3, 0), 13), ("yolov4-tiny.cfg", 38, (3, 1), 21),
     ("yolov4.cfg", 162, (0, 3, 6), 110)],
)  # fmt: skip
def test_darknet_cfgs_parse(name: str, layers: int, heads: tuple[int, ...], convs: int) -> None:
    cfg = parse_cfg(darknet_cfg(name), source=name)
    assert len(cfg.layers) == layers
    assert tuple(y.mask[0] for y in cfg.yolo_layers) == heads
    assert sum(isinstance(layer, Convolutional) for layer in cfg.layers) == convs
    shapes = infer_shapes(cfg, (416, 416))
    assert all(shapes[y.index - 1].c == 255 for y in cfg.yolo_layers)


def test_yolov3_tiny_stride1_maxpool_and_yolov4_tiny_groups() -> None:
    tiny = parse_cfg(darknet_cfg("yolov3-tiny.cfg"))
    pool = tiny.layers[11]
    assert isinstance(pool, Maxpool) and (pool.size, pool.stride, pool.padding) == (2, 1, 1)
    assert str(infer_shapes(tiny, (416, 416))[11]) == "512x13x13"
    v4 = parse_cfg(darknet_cfg("yolov4-tiny.cfg"))
    split = v4.layers[3]
    assert isinstance(split, Route) and (split.groups, split.group_id, split.layers) == (2, 1, (2,))
    assert infer_shapes(v4)[3].c == 32


def _error(text: str) -> str:
    with pytest.raises(DarknetError) as info:
        infer_shapes(parse_cfg(text, source="bad.cfg"))
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HEAD + CONV + "[region]\nclasses=1\n" + YOLO, ["[region]", "layer 1", "unsupported section"]),
        (HEAD + "[convolutional]\nsize=1\nactivation=leaky\n" + YOLO, ["layer 0", "missing option 'filters'"]),
        (HEAD + CONV + "[route]\nlayers=-3\n" + YOLO, ["[route]", "layer 1", "layers=-3"]),
        (HEAD + CONV + "[route]\nlayers=1\n" + YOLO, ["[route]", "layers=1", "not an earlier layer"]),
        (HEAD + CONV + "[route]\nlayers=\n" + YOLO, ["[route]", "'layers' is empty"]),
        (HEAD + CONV + "[route]\nlayers=-1,x\n" + YOLO, ["[route]", "list of integers"]),
        (HEAD + CONV.replace("leaky", "hardtan") + YOLO, ["layer 0", "unsupported activation 'hardtan'"]),
        (HEAD + CONV + YOLO + "new_coords=1\n", ["[yolo]", "layer 1", "new_coords=1"]),
        (HEAD + CONV + "dilation=2\n" + YOLO, ["[convolutional]", "dilation=2", "not supported"]),
        (HEAD + CONV + "xnor=1\n" + YOLO, ["xnor=1"]),
        (HEAD + CONV + "frobnicate=1\n" + YOLO, ["[convolutional]", "'frobnicate'"]),
        (HEAD + CONV + "stride_x=2\n" + YOLO, ["stride_x"]),
        (HEAD + CONV + "[shortcut]\nfrom=-1\nalpha=0.5\n" + YOLO, ["[shortcut]", "alpha=0.5"]),
        (HEAD + CONV + "[upsample]\nstride=-2\n" + YOLO, ["[upsample]", "stride=-2"]),
        (HEAD + CONV, ["no [yolo] layer"]),
        (CONV + HEAD + YOLO, ["first section must be [net]"]),
        ("[net]\nheight=32\n" + CONV + YOLO, ["[net]", "missing option 'width'"]),
        (HEAD.replace("channels=3", "channels=1") + CONV + YOLO, ["[net]", "channels=3"]),
        (HEAD + CONV + "this line is wrong\n" + YOLO, ["line 12", "option=value"]),
        (HEAD + "[convolutional\n" + YOLO, ["malformed section header"]),
        (HEAD + CONV + YOLO.replace("anchors=1,2, 3,4, 5,6", "anchors=1,2,3"), ["[yolo]", "num=3 needs 6"]),
        (HEAD + CONV + YOLO.replace("mask=0,1,2", "mask=0,1,7"), ["[yolo]", "mask=0,1,7"]),
        # shape errors, found by shape inference
        (HEAD + CONV.replace("18", "20") + YOLO, ["[yolo]", "20 channels", "3 anchors x (5 + 1 classes) = 18"]),
        (HEAD + CONV.replace("filters=18", "filters=18\ngroups=4") + YOLO, ["groups=4 must divide"]),
        (HEAD + CONV + "[route]\nlayers=-1\ngroups=4\n" + YOLO, ["[route]", "groups=4 does not divide"]),
        (HEAD + CONV + "[maxpool]\nsize=2\nstride=2\n[route]\nlayers=-1,-2\n" + YOLO,
         ["[route]", "layer 2", "different spatial sizes", "layer 1: 16x16", "layer 0: 32x32"]),
        (HEAD + CONV + YOLO + "[convolutional]\nfilters=18\n" + YOLO, ["layer 2", "[yolo] layer 1"]),
    ],
)  # fmt: skip
def test_bad_cfg_raises_clear_error(text: str, expected: list[str]) -> None:
    message = _error(text)
    assert message.startswith("bad.cfg")
    for part in expected:
        assert part in message


def test_default_valued_unsupported_options_and_training_options_are_accepted() -> None:
    text = HEAD + "learning_rate=0.001\n" + CONV + "dilation=1\nxnor=0\n" + YOLO + "jitter=.3\nnew_coords=0\n"
    assert len(parse_cfg(text).layers) == 2


def test_first_occurrence_of_an_option_wins_and_whitespace_is_ignored() -> None:
    text = HEAD + "[convolutional]\n batch_normalize = 1\nfilters = 1 8\nfilters=4\nsize=1\n" + YOLO
    conv = parse_cfg(text).layers[0]
    assert isinstance(conv, Convolutional) and conv.filters == 18 and conv.activation == "logistic"


def test_input_size_that_does_not_fit_the_network() -> None:
    cfg = parse_cfg(darknet_cfg("yolov3.cfg"), source="yolov3.cfg")
    with pytest.raises(DarknetError, match="different spatial sizes") as info:
        infer_shapes(cfg, (100, 100))
    assert "multiple of" in str(info.value)


def test_files(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "a.names"  # type: ignore[operator]
    path.write_text("cat\n\n dog \n")
    assert load_names(path) == ("cat", "dog")
    path.write_text("\n")
    with pytest.raises(DarknetError, match="no names"):
        load_names(path)
    with pytest.raises(DarknetError, match="cannot read names file"):
        load_names(tmp_path / "missing.names")  # type: ignore[operator]
    with pytest.raises(DarknetError, match="cannot read cfg file"):
        load_cfg(tmp_path / "missing.cfg")  # type: ignore[operator]
    assert default_names(3) == ("0", "1", "2")
    assert default_names(80)[:2] == ("person", "bicycle")
    # the package's coco.names is Darknet's data/coco.names, byte for byte (tests/fixtures/README.md)
    assert hashlib.sha256(COCO_NAMES.read_bytes()).hexdigest() == DARKNET_COCO_NAMES_SHA256
    assert load_names(COCO_NAMES) == default_names(80)
    assert len(default_names(80)) == 80 and default_names(80)[-1] == "toothbrush"
