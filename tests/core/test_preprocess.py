"""Letterbox and stretch geometry: boxes survive the round trip at any aspect ratio."""

from __future__ import annotations

import numpy as np
import pytest

from trt_core.preprocess import letterbox, stretch

SIZES = [(100, 400), (400, 100), (1, 1), (3, 7), (7, 3), (416, 416), (4000, 6000), (9000, 40), (256, 1024)]


@pytest.mark.parametrize(("height", "width"), SIZES)
@pytest.mark.parametrize("input_hw", [(416, 416), (320, 512)])
def test_letterbox_round_trip(height: int, width: int, input_hw: tuple[int, int]) -> None:
    rgb = np.zeros((height, width, 3), np.uint8)
    out = letterbox(rgb, input_hw, pad_value=114)
    assert out.tensor.shape == (3, *input_hw) and out.tensor.dtype == np.uint8
    g = out.geometry
    assert (g.width, g.height) == (width, height)
    assert abs(g.scale_x - g.scale_y) <= 0.5 / width + 0.5 / height + 1e-9  # aspect kept, to a pixel
    boxes = np.array([[0, 0, width, height], [width * 0.25, height * 0.5, width * 0.75, height]], np.float32)
    back = g.to_original(g.to_input(boxes))
    np.testing.assert_allclose(back, boxes, rtol=1e-5, atol=1e-3 * max(width, height))
    full = g.to_input(boxes[:1])[0]
    assert full[0] >= -1e-3 and full[2] <= input_hw[1] + 1e-3 and full[3] <= input_hw[0] + 1e-3


def test_letterbox_pads_with_pad_value_and_centres() -> None:
    rgb = np.full((100, 400, 3), 200, np.uint8)
    out = letterbox(rgb, (416, 416), pad_value=114)
    assert out.geometry.pad_x == 0 and out.geometry.pad_y == (416 - 104) // 2
    assert out.tensor[:, 0, 0].tolist() == [114, 114, 114]
    assert out.tensor[:, 208, 208].tolist() == [200, 200, 200]
    assert out.tensor[:, -1, -1].tolist() == [114, 114, 114]


def test_letterbox_does_not_mutate_input() -> None:
    rgb = np.random.default_rng(0).integers(0, 255, (50, 80, 3), dtype=np.uint8)
    before = rgb.copy()
    letterbox(rgb, (64, 64))
    np.testing.assert_array_equal(rgb, before)


def test_letterbox_keeps_pixels_in_place() -> None:
    rgb = np.zeros((200, 400, 3), np.uint8)
    rgb[100:150, 200:300] = 255  # a white block
    out = letterbox(rgb, (416, 416))
    box = out.geometry.to_input(np.array([[200, 100, 300, 150]], np.float32))[0]
    cx, cy = int((box[0] + box[2]) / 2), int((box[1] + box[3]) / 2)
    assert out.tensor[:, cy, cx].tolist() == [255, 255, 255]


@pytest.mark.parametrize(("height", "width"), SIZES)
def test_stretch_round_trip(height: int, width: int) -> None:
    out = stretch(np.zeros((height, width, 3), np.uint8), (608, 608))
    assert out.tensor.shape == (3, 608, 608)
    boxes = np.array([[0, 0, width, height]], np.float32)
    np.testing.assert_allclose(out.geometry.to_input(boxes), [[0, 0, 608, 608]], rtol=1e-5)
    np.testing.assert_allclose(out.geometry.to_original(out.geometry.to_input(boxes)), boxes, rtol=1e-5)


def test_to_original_clips_to_the_image() -> None:
    g = letterbox(np.zeros((100, 200, 3), np.uint8), (64, 64)).geometry
    np.testing.assert_allclose(g.to_original(np.array([[-50, -50, 500, 500]], np.float32)), [[0, 0, 200, 100]])
    assert g.to_original(np.zeros((0, 4), np.float32)).shape == (0, 4)


@pytest.mark.parametrize(("height", "width"), [(1000, 250), (250, 1000), (333, 517), (517, 333), (64, 64)])
@pytest.mark.parametrize("mode", ["letterbox", "stretch"])
def test_mapped_box_lands_on_the_drawn_pixels(height: int, width: int, mode: str) -> None:
    """Where a white block actually lands in the tensor is where the geometry says it does."""
    rgb = np.zeros((height, width, 3), np.uint8)
    x1, y1, x2, y2 = int(width * 0.2), int(height * 0.3), int(width * 0.7), int(height * 0.9)
    rgb[y1:y2, x1:x2] = 255
    out = letterbox(rgb, (320, 416)) if mode == "letterbox" else stretch(rgb, (320, 416))
    ys, xs = np.nonzero(out.tensor[0] > 127)
    drawn = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
    mapped = out.geometry.to_input(np.array([[x1, y1, x2, y2]], np.float32))[0]
    np.testing.assert_allclose(drawn, mapped, atol=1.5)
    back = out.geometry.to_original(drawn[None])[0]
    scale = np.array([1 / out.geometry.scale_x, 1 / out.geometry.scale_y] * 2)
    assert np.all(np.abs(back - [x1, y1, x2, y2]) <= 1.5 * scale)
