"""Fitting images to the model input: geometry at any aspect ratio, the three resize conventions."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from trt_core.preprocess import FIXED_BLUR_RANGE, Geometry, Preprocessed, fit

SIZES = [(100, 400), (400, 100), (1, 1), (3, 7), (7, 3), (416, 416), (4000, 6000), (9000, 40), (256, 1024)]


def to_input(g: Geometry, xyxy: np.ndarray) -> np.ndarray:
    return xyxy * np.array([g.scale_x, g.scale_y] * 2, np.float32) + np.array([g.pad_x, g.pad_y] * 2, np.float32)


def jpeg(rgb: np.ndarray, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=90, **kwargs)
    return buffer.getvalue()


def photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Smooth gradients, mild noise and a few discs: something like a photo, deterministic."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([x / width * 255, y / height * 255, (x + y) / (width + height) * 255], axis=2)
    image = Image.fromarray(np.clip(rgb + rng.normal(0, 4, rgb.shape), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0, side = int(rng.integers(0, width)), int(rng.integers(0, height)), int(rng.integers(4, width // 4 + 5))
        draw.ellipse([x0, y0, x0 + side, y0 + side], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return np.asarray(image)


def reference_blur(rgb: np.ndarray, scale_x: float, scale_y: float) -> np.ndarray:
    """The reference antialias: ``[a, 1 - 2a, a]`` on each axis shrunk by ``s``, identity on
    one not shrunk; ``a = 1/4`` where every shrunk axis is within ``FIXED_BLUR_RANGE`` (OpenCV's
    fixed-point ``[1, 2, 1] / 4``, which rounds its own way; this float version, to even), else
    variance ``2a = s**2 / 6`` (Pillow's bilinear triangle)."""
    low, high = FIXED_BLUR_RANGE
    fixed = all(low <= s <= high for s in (scale_x, scale_y) if s > 1)
    kx, ky = (
        np.array([a, 1 - 2 * a, a], np.float32)
        for a in ((0.25 if fixed else s * s / 12) if s > 1 else 0.0 for s in (scale_x, scale_y))
    )
    return cv2.sepFilter2D(rgb, -1, kx, ky)


def imdecode(data: bytes, flags: int) -> np.ndarray:
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    assert decoded is not None
    return decoded


def check_contract(out: Preprocessed, input_hw: tuple[int, int]) -> None:
    assert out.tensor.shape == (3, *input_hw) and out.tensor.dtype == np.uint8 and out.tensor.flags.c_contiguous


@pytest.mark.parametrize(("height", "width"), SIZES)
@pytest.mark.parametrize("input_hw", [(416, 416), (320, 512)])
def test_letterbox_round_trip(height: int, width: int, input_hw: tuple[int, int]) -> None:
    out = fit(np.zeros((height, width, 3), np.uint8), input_hw)
    check_contract(out, input_hw)
    g = out.geometry
    assert (g.width, g.height) == (width, height)
    assert abs(g.scale_x - g.scale_y) <= 0.5 / width + 0.5 / height + 1e-9  # aspect kept, to a pixel
    boxes = np.array([[0, 0, width, height], [width * 0.25, height * 0.5, width * 0.75, height]], np.float32)
    np.testing.assert_allclose(g.to_original(to_input(g, boxes)), boxes, rtol=1e-5, atol=1e-3 * max(width, height))
    full = to_input(g, boxes[:1])[0]
    assert full[0] >= -1e-3 and full[2] <= input_hw[1] + 1e-3 and full[3] <= input_hw[0] + 1e-3


@pytest.mark.parametrize(("height", "width"), SIZES)
@pytest.mark.parametrize("resize", ["bilinear", "bicubic", "linear"])
def test_stretch_round_trip(height: int, width: int, resize: str) -> None:
    out = fit(np.zeros((height, width, 3), np.uint8), (608, 608), letterbox=False, resize=resize)  # type: ignore[arg-type]
    check_contract(out, (608, 608))
    boxes = np.array([[0, 0, width, height]], np.float32)
    np.testing.assert_allclose(to_input(out.geometry, boxes), [[0, 0, 608, 608]], rtol=1e-5)
    np.testing.assert_allclose(out.geometry.to_original(to_input(out.geometry, boxes)), boxes, rtol=1e-5)


def test_letterbox_pads_with_pad_value_and_centres() -> None:
    out = fit(np.full((100, 400, 3), 200, np.uint8), (416, 416), pad_value=114)
    assert out.geometry.pad_x == 0 and out.geometry.pad_y == (416 - 104) // 2
    assert out.tensor[:, 0, 0].tolist() == [114, 114, 114]
    assert out.tensor[:, 208, 208].tolist() == [200, 200, 200]
    assert out.tensor[:, -1, -1].tolist() == [114, 114, 114]


@pytest.mark.parametrize("resize", ["bilinear", "bicubic", "linear"])
def test_inputs_are_not_mutated(resize: str) -> None:
    rgb = np.random.default_rng(0).integers(0, 255, (50, 80, 3), dtype=np.uint8)
    before = rgb.copy()
    image = Image.fromarray(rgb)
    for source in (rgb, image):
        fit(source, (64, 64), resize=resize)  # type: ignore[arg-type]
    np.testing.assert_array_equal(rgb, before)
    assert image.size == (80, 50)


def test_to_original_clips_to_the_image() -> None:
    g = fit(np.zeros((100, 200, 3), np.uint8), (64, 64)).geometry
    np.testing.assert_allclose(g.to_original(np.array([[-50, -50, 500, 500]], np.float32)), [[0, 0, 200, 100]])
    assert g.to_original(np.zeros((0, 4), np.float32)).shape == (0, 4)


def block_image(height: int, width: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    rgb = np.zeros((height, width, 3), np.uint8)
    x1, y1, x2, y2 = int(width * 0.2), int(height * 0.3), int(width * 0.7), int(height * 0.9)
    rgb[y1:y2, x1:x2] = 255
    return rgb, (x1, y1, x2, y2)


def check_block_lands(out: Preprocessed, box: tuple[int, int, int, int], atol: float = 1.5) -> None:
    ys, xs = np.nonzero(out.tensor[0] > 127)
    drawn = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
    np.testing.assert_allclose(drawn, to_input(out.geometry, np.array([box], np.float32))[0], atol=atol)
    back = out.geometry.to_original(drawn[None])[0]
    scale = np.array([1 / out.geometry.scale_x, 1 / out.geometry.scale_y] * 2)
    assert np.all(np.abs(back - box) <= atol * scale)


@pytest.mark.parametrize(("height", "width"), [(1000, 250), (250, 1000), (333, 517), (517, 333), (64, 64)])
@pytest.mark.parametrize("letterbox", [True, False])
@pytest.mark.parametrize("resize", ["bilinear", "bicubic", "linear"])
def test_mapped_box_lands_on_the_drawn_pixels(height: int, width: int, letterbox: bool, resize: str) -> None:
    """Where a white block actually lands in the tensor is where the geometry says it does."""
    rgb, box = block_image(height, width)
    check_block_lands(fit(rgb, (320, 416), letterbox=letterbox, resize=resize), box)  # type: ignore[arg-type]


@pytest.mark.parametrize(("height", "width"), [(2001, 1003), (3000, 4001), (1081, 1921)])
@pytest.mark.parametrize("orientation", [1, 6])
def test_geometry_is_exact_when_decoded_reduced(height: int, width: int, orientation: int) -> None:
    """A JPEG decoded at 1/2..1/8 (sizes rounded up) still maps to the original, rotated or not."""
    rgb, box = block_image(height, width)
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = np.ascontiguousarray(np.rot90(rgb, 1)) if orientation == 6 else rgb  # shown rotated back upright
    out = fit(jpeg(stored, exif=exif.tobytes()), (320, 416))
    assert (out.geometry.width, out.geometry.height) == (width, height)
    check_block_lands(out, box)


def ultralytics_letterbox(bgr: np.ndarray, new_shape: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Ultralytics' LetterBox (auto=False, scaleup, center), written from its documented formula."""
    shape = bgr.shape[:2]
    r = min(new_shape[0] / shape[0], new_shape[1] / shape[1])
    new_unpad = round(shape[1] * r), round(shape[0] * r)
    dw, dh = (new_shape[1] - new_unpad[0]) / 2, (new_shape[0] - new_unpad[1]) / 2
    if shape[::-1] != new_unpad:
        bgr = cv2.resize(bgr, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    bgr = cv2.copyMakeBorder(bgr, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    return np.ascontiguousarray(bgr[..., ::-1].transpose(2, 0, 1)), (left, top, *new_unpad)


# shrinking and enlarging, with whole and half (odd) paddings on either axis
ULTRALYTICS_CASES = [(480, 641), (481, 640), (1080, 1920), (1079, 1921), (101, 77), (77, 101), (3000, 4000), (640, 640)]


@pytest.mark.parametrize(("height", "width"), ULTRALYTICS_CASES)
def test_linear_is_ultralytics_letterbox_bit_for_bit(height: int, width: int) -> None:
    data = jpeg(photo(width, height))
    bgr = imdecode(data, cv2.IMREAD_COLOR)  # as ultralytics.utils.patches.imread
    expected, (left, top, _, _) = ultralytics_letterbox(bgr, (640, 640))
    for source in (data, np.ascontiguousarray(bgr[..., ::-1])):
        out = fit(source, (640, 640), pad_value=114, resize="linear")
        check_contract(out, (640, 640))
        np.testing.assert_array_equal(out.tensor, expected)
        # boxes map back as Ultralytics' scale_boxes does: one gain, pads from the unrounded size
        gain = min(640 / height, 640 / width)
        pads = round((640 - width * gain) / 2 - 0.1), round((640 - height * gain) / 2 - 0.1)
        g = out.geometry
        assert (g.scale_x, g.scale_y, g.pad_x, g.pad_y) == (gain, gain, *pads)
        assert abs(g.pad_x - left) <= 1 and abs(g.pad_y - top) <= 1  # where the pixels were placed


@pytest.mark.parametrize(
    ("size", "target"), [((640, 480), (512, 384)), ((100, 75), (512, 384)), ((333, 517), (300, 466))]
)
def test_linear_equals_cv2_resize(size: tuple[int, int], target: tuple[int, int]) -> None:
    rgb = photo(*size)
    out = fit(rgb, target[::-1], letterbox=False, resize="linear")
    expected = cv2.resize(rgb, target, interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(out.tensor, expected.transpose(2, 0, 1))


@pytest.mark.parametrize(("height", "width"), [(1080, 1920), (3000, 4000), (600, 800)])
@pytest.mark.parametrize("letterbox", [False, True])
def test_bicubic_is_nvidias_pipeline_bit_for_bit(height: int, width: int, letterbox: bool) -> None:
    """NVIDIA's yolov3_onnx sample: PIL decode, bicubic resize of the full image (no reduced decode)."""
    data = jpeg(photo(width, height))
    out = fit(data, (608, 608), letterbox=letterbox, resize="bicubic")
    g = out.geometry
    new_w, new_h = round(g.scale_x * width), round(g.scale_y * height)
    nvidia = Image.open(io.BytesIO(data)).convert("RGB").resize((new_w, new_h), Image.Resampling.BICUBIC)
    expected = np.full((3, 608, 608), 114, np.uint8)
    expected[:, int(g.pad_y) : int(g.pad_y) + new_h, int(g.pad_x) : int(g.pad_x) + new_w] = np.asarray(
        nvidia
    ).transpose(2, 0, 1)
    np.testing.assert_array_equal(out.tensor, expected)


@pytest.mark.parametrize("source", ["jpeg", "png", "array"])
def test_bilinear_antialiases_when_shrinking(source: str) -> None:
    """A 1-pixel checkerboard shrunk ~4x is flat grey, not the aliased pattern plain bilinear makes."""
    board = (np.indices((2000, 2000)).sum(axis=0) % 2 * 255).astype(np.uint8)
    rgb = np.repeat(board[:, :, None], 3, axis=2)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    image = {"jpeg": jpeg(rgb, subsampling=0), "png": buffer.getvalue(), "array": rgb}[source]
    out = fit(image, (512, 512))
    assert np.abs(out.tensor.astype(np.float32) - 127.5).max() <= 16
    aliased = cv2.resize(rgb, (512, 512), interpolation=cv2.INTER_LINEAR)
    assert np.abs(aliased.astype(np.float32) - 127.5).max() > 100  # the test image does alias


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (4000, 3000), (640, 480)])
def test_bilinear_stays_close_to_an_area_filter_of_the_full_image(width: int, height: int) -> None:
    data = jpeg(photo(width, height))
    out = fit(data, (512, 512))
    g = out.geometry
    new_w, new_h = round(g.scale_x * width), round(g.scale_y * height)
    full = imdecode(data, cv2.IMREAD_COLOR_RGB)
    reference = cv2.resize(full, (new_w, new_h), interpolation=cv2.INTER_AREA).transpose(2, 0, 1)
    inside = out.tensor[:, int(g.pad_y) : int(g.pad_y) + new_h, int(g.pad_x) : int(g.pad_x) + new_w]
    assert np.abs(inside.astype(np.float32) - reference).mean() < 2.5


@pytest.mark.parametrize(
    ("width", "height", "letterbox"),
    [
        (744, 354, True),  # 1.45x: fixed-point blur
        (640, 480, True),  # 1.25x: fixed-point
        (768, 576, True),  # 1.5x, the range's top: fixed-point
        (520, 390, True),  # 1.02x: below the range, Pillow's variance
        (900, 1000, True),  # 1.95x: above it
        (300, 200, True),  # enlarged: no blur
        (640, 400, False),  # stretched: x shrinks 1.25x (fixed-point, x only), y grows
        (600, 700, False),  # x 1.17x, y 1.37x: one axis below the range, both Pillow's variance
    ],
)
def test_bilinear_is_opencvs_linear_when_not_reduced(width: int, height: int, letterbox: bool) -> None:
    """Below 2x the target, "bilinear" is OpenCV's INTER_LINEAR of the full (fast) decode,
    after a 3-tap blur on each shrunk axis: [1, 2, 1] / 4 where every shrunk axis is within
    FIXED_BLUR_RANGE, else the variance scale**2 / 6 of Pillow's filter."""
    import simplejpeg

    data = jpeg(photo(width, height))
    out = fit(data, (512, 512), letterbox=letterbox)
    g = out.geometry
    new_w, new_h = round(g.scale_x * width), round(g.scale_y * height)
    full = simplejpeg.decode_jpeg(data, fastdct=True, fastupsample=True)
    sx, sy = width / new_w, height / new_h
    if max(sx, sy) > 1:
        full = reference_blur(full, sx, sy)
    expected = cv2.resize(full, (new_w, new_h), interpolation=cv2.INTER_LINEAR).transpose(2, 0, 1)
    inside = out.tensor[:, int(g.pad_y) : int(g.pad_y) + new_h, int(g.pad_x) : int(g.pad_x) + new_w]
    low, high = FIXED_BLUR_RANGE
    if max(sx, sy) > 1 and all(low <= s <= high for s in (sx, sy) if s > 1):
        # the fixed-point blur rounds its ties up where the float reference rounds them to even
        assert np.abs(inside.astype(np.int16) - expected).max() <= 2
        assert (inside != expected).mean() < 0.2
    else:
        np.testing.assert_array_equal(inside, expected)


@pytest.mark.parametrize(("width", "height"), [(2001, 1001), (1925, 1085)])
def test_bilinear_after_a_rounded_up_reduction_samples_the_original_region(width: int, height: int) -> None:
    """When the reduced size was rounded up, the extra column/row is left out: the result
    is the same as resizing the box-filtered image exactly as its region says."""
    rgb = photo(width, height)
    out = fit(rgb, (512, 512))
    g = out.geometry
    new_w, new_h = round(g.scale_x * width), round(g.scale_y * height)
    factor_x, factor_y = width // new_w, height // new_h
    reduced = np.asarray(Image.fromarray(rgb).reduce((factor_x, factor_y)))
    assert reduced.shape[1] * factor_x != width or reduced.shape[0] * factor_y != height  # rounded up
    sx, sy = width / factor_x / new_w, height / factor_y / new_h
    reduced = reference_blur(reduced, sx, sy)  # both axes shrink here
    # plain sampling at the pixel centres the region maps to: x_src = (x + 0.5) * s - 0.5
    xs, ys = (np.arange(new_w) + 0.5) * sx - 0.5, (np.arange(new_h) + 0.5) * sy - 0.5
    x0, y0 = (
        np.clip(np.floor(xs).astype(int), 0, reduced.shape[1] - 1),
        np.clip(np.floor(ys).astype(int), 0, reduced.shape[0] - 1),
    )
    x1, y1 = np.minimum(x0 + 1, reduced.shape[1] - 1), np.minimum(y0 + 1, reduced.shape[0] - 1)
    wx, wy = np.clip(xs - x0, 0, 1)[None, :, None], np.clip(ys - y0, 0, 1)[:, None, None]
    r = reduced.astype(np.float64)
    top = r[y0][:, x0] * (1 - wx) + r[y0][:, x1] * wx
    bottom = r[y1][:, x0] * (1 - wx) + r[y1][:, x1] * wx
    expected = top * (1 - wy) + bottom * wy
    inside = out.tensor[:, int(g.pad_y) : int(g.pad_y) + new_h, int(g.pad_x) : int(g.pad_x) + new_w]
    assert np.abs(inside.astype(np.float64) - expected.transpose(2, 0, 1)).max() <= 1.5
