"""Every image kind the API accepts, EXIF orientation, and bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trt_core.errors import ImageTooLargeError, InvalidImageError
from trt_core.image import load_rgb


def rgb_pattern(width: int = 40, height: int = 30) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 6 % 256, y * 8 % 256, (x + y) * 3 % 256], axis=2).astype(np.uint8)


def encode(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "WEBP"])
def test_lossless_formats_round_trip(fmt: str) -> None:
    rgb = rgb_pattern()
    kwargs = {"lossless": True} if fmt == "WEBP" else {}
    np.testing.assert_array_equal(load_rgb(encode(Image.fromarray(rgb), fmt, **kwargs)), rgb)


def test_jpeg_is_close() -> None:
    rgb = rgb_pattern()
    out = load_rgb(encode(Image.fromarray(rgb), "JPEG", quality=95))
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - rgb).mean() < 6


def test_png_16_bit_grayscale_scaled_to_8_bit() -> None:
    gray16 = (np.arange(30 * 40).reshape(30, 40) * 50).astype(np.uint16)
    out = load_rgb(encode(Image.fromarray(gray16), "PNG"))
    assert out.shape == (30, 40, 3)
    np.testing.assert_array_equal(out[:, :, 0], (gray16.astype(np.uint32) // 257).astype(np.uint8))


def test_png_palette_with_transparency_and_rgba() -> None:
    rgb = rgb_pattern()
    palette = Image.fromarray(rgb).convert("P")
    palette.info["transparency"] = 0
    out = load_rgb(encode(palette, "PNG", transparency=0))
    assert out.shape == (30, 40, 3)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])
    np.testing.assert_array_equal(load_rgb(encode(Image.fromarray(rgba), "PNG")), rgb)


def test_grayscale_and_cmyk() -> None:
    gray = rgb_pattern()[:, :, 0]
    out = load_rgb(encode(Image.fromarray(gray), "PNG"))
    np.testing.assert_array_equal(out, np.repeat(gray[:, :, None], 3, axis=2))
    cmyk = Image.fromarray(rgb_pattern()).convert("CMYK")
    out = load_rgb(encode(cmyk, "JPEG", quality=95))
    assert out.shape == (30, 40, 3)
    assert np.abs(out.astype(int) - rgb_pattern()).mean() < 12


def test_gif_first_frame() -> None:
    first = Image.new("RGB", (20, 10), (255, 0, 0))
    second = Image.new("RGB", (20, 10), (0, 0, 255))
    data = encode(first, "GIF", save_all=True, append_images=[second])
    out = load_rgb(data)
    assert out.shape == (10, 20, 3)
    assert out[0, 0].tolist() == [255, 0, 0]


@pytest.mark.parametrize(
    ("orientation", "expected_hw"), [(1, (30, 40)), (3, (30, 40)), (6, (40, 30)), (8, (40, 30))]
)
def test_exif_orientation_is_applied(orientation: int, expected_hw: tuple[int, int]) -> None:
    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[:5, :5] = 255  # a white corner, top-left as stored
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = load_rgb(encode(Image.fromarray(rgb), "PNG", exif=exif.tobytes()))
    assert out.shape[:2] == expected_hw
    corner = {1: (0, 0), 3: (-1, -1), 6: (0, -1), 8: (-1, 0)}[orientation]
    assert out[corner[0], corner[1]].tolist() == [255, 255, 255]


def test_paths_pil_and_arrays(tmp_path: Path) -> None:
    rgb = rgb_pattern()
    path = tmp_path / "x.png"
    Image.fromarray(rgb).save(path)
    np.testing.assert_array_equal(load_rgb(path), rgb)
    np.testing.assert_array_equal(load_rgb(str(path)), rgb)
    np.testing.assert_array_equal(load_rgb(Image.fromarray(rgb)), rgb)
    np.testing.assert_array_equal(load_rgb(rgb), rgb)
    np.testing.assert_array_equal(load_rgb(rgb[:, :, 0]), np.repeat(rgb[:, :, :1], 3, axis=2))
    np.testing.assert_array_equal(load_rgb(np.dstack([rgb, rgb[:, :, :1]])), rgb)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty"),
        (b"hello, this is text and not an image", "not a recognised image"),
        (bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)), "not a recognised image"),
    ],
)
def test_bad_bytes(data: bytes, match: str) -> None:
    with pytest.raises(InvalidImageError, match=match):
        load_rgb(data)


def test_truncated_jpeg() -> None:
    data = encode(Image.fromarray(rgb_pattern(200, 200)), "JPEG")
    with pytest.raises(InvalidImageError, match=r"truncated|cannot decode"):
        load_rgb(data[: len(data) // 2])


def test_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = encode(Image.new("L", (20_000, 20_000)), "PNG")  # ~400 Mpx, a few hundred KB
    assert len(bomb) < 2_000_000
    with pytest.raises(ImageTooLargeError, match=r"over the limit|decompression"):
        load_rgb(bomb)
    with pytest.raises(ImageTooLargeError):
        load_rgb(encode(Image.new("RGB", (100, 100)), "PNG"), max_pixels=5_000)


def test_bad_arrays_and_types(tmp_path: Path) -> None:
    with pytest.raises(InvalidImageError, match="uint8"):
        load_rgb(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(InvalidImageError, match="shape"):
        load_rgb(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(InvalidImageError, match="no pixels"):
        load_rgb(np.zeros((0, 4, 3), np.uint8))
    with pytest.raises(InvalidImageError, match="unsupported image type"):
        load_rgb(12345)
    with pytest.raises(InvalidImageError, match="no such file"):
        load_rgb(tmp_path / "missing.jpg")
    with pytest.raises(InvalidImageError, match="directory"):
        load_rgb(tmp_path)
