"""Every image kind the API accepts, EXIF orientation, and bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from trt_core.errors import ImageTooLargeError, InvalidImageError
from trt_core.image import load_rgb, open_image


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


@pytest.mark.parametrize(("orientation", "expected_hw"), [(1, (30, 40)), (3, (30, 40)), (6, (40, 30)), (8, (40, 30))])
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


def test_corrupt_data_inside_a_complete_jpeg_decodes_as_far_as_it_goes() -> None:
    """As OpenCV and browsers do: the rows before the damage are the clean decode's."""
    clean = encode(Image.fromarray(rgb_pattern(320, 240)), "JPEG", quality=90)
    damaged = bytearray(clean)
    middle = len(clean) * 3 // 4
    damaged[middle : middle + 64] = bytes(64)
    opened = open_image(bytes(damaged))
    out, expected = opened.rgb(), load_rgb(clean)
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out[:64], expected[:64])
    assert not np.array_equal(out, expected)


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


def test_a_side_over_the_limit_is_refused_for_its_side_not_the_pixel_budget() -> None:
    with pytest.raises(ImageTooLargeError, match=r"32769x1: a side is over the limit of 32,768") as caught:
        load_rgb(encode(Image.new("L", (32_769, 1)), "PNG"))
    assert "pixels, over the limit" not in str(caught.value)
    with pytest.raises(ImageTooLargeError, match="a side is over the limit"):
        load_rgb(np.zeros((32_769, 1, 3), np.uint8))


def exif_bytes(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def asymmetric(width: int = 64, height: int = 48) -> np.ndarray:
    """A picture no flip or rotation maps onto itself: every pixel differs (smooth, JPEG-friendly)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // width, y * 255 // height, (x * 3 + y * 5) % 256], axis=2).astype(np.uint8)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("path", ["libjpeg-turbo", "pillow"])
def test_every_exif_orientation_matches_pillow(orientation: int, path: str) -> None:
    """JPEGs decode through simplejpeg unless they do not end with EOI (then Pillow): both agree with exif_transpose."""
    data = encode(Image.fromarray(asymmetric()), "JPEG", quality=95, exif=exif_bytes(orientation))
    if path == "pillow":
        data += b"\0"  # trailing data: decoded by Pillow
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    opened = open_image(data)
    assert (opened.height, opened.width) == expected.shape[:2]
    out = opened.rgb()
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, expected)


def move_segment_after_tables(data: bytes, marker: int) -> bytes:
    """``data`` with its first ``marker`` segment moved to just before the frame header (SOF0)."""
    start = data.index(bytes([0xFF, marker]))
    end = start + 2 + int.from_bytes(data[start + 2 : start + 4], "big")
    rest = data[:start] + data[end:]
    sof = rest.index(b"\xff\xc0")
    return rest[:sof] + data[start:end] + rest[sof:]


XMP_ROTATED = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
)


@pytest.mark.parametrize("layout", ["exif after the tables", "icc and comment", "xmp only", "exif and xmp", "two exif"])
def test_jpeg_header_read_agrees_with_pillows(layout: str) -> None:
    """JPEG headers are read by libjpeg-turbo and a walk of the markers, not Pillow, where
    that gives Pillow's answer; the orientation as ImageOps.exif_transpose applies it."""
    image = Image.fromarray(asymmetric())
    data = {
        "exif after the tables": lambda: move_segment_after_tables(
            encode(image, "JPEG", quality=95, exif=exif_bytes(6)), 0xE1
        ),
        "icc and comment": lambda: encode(
            image, "JPEG", quality=95, exif=exif_bytes(3), icc_profile=b"\0" * 300, comment=b"hello"
        ),
        "xmp only": lambda: encode(image, "JPEG", quality=95, xmp=XMP_ROTATED),
        "exif and xmp": lambda: encode(image, "JPEG", quality=95, exif=exif_bytes(8), xmp=XMP_ROTATED),
        "two exif": lambda: encode(image, "JPEG", quality=95, exif=exif_bytes(5)).replace(
            b"\xff\xdb", b"\xff\xe1\x00\x08Exif\x00\x00\xff\xdb", 1
        ),
    }[layout]()
    pillow = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    expected = np.asarray(pillow.convert("RGB"))
    assert pillow.size != (64, 48) or layout == "icc and comment"  # each turns the image (3: half a turn)
    opened = open_image(data)
    assert (opened.width, opened.height) == pillow.size
    np.testing.assert_array_equal(opened.rgb(), expected)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize(("at_least", "factor"), [((600, 400), 1), ((500, 300), 2), ((250, 150), 4), ((120, 72), 8)])
@pytest.mark.parametrize("method", ["pil_rgb", "reduced_rgb"])
def test_reduced_jpeg_decode_is_pillows_draft(
    orientation: int, at_least: tuple[int, int], factor: int, method: str
) -> None:
    """DCT-domain reduction: the largest of 1/2, 1/4, 1/8 that keeps the displayed image >= at_least
    (Pillow's own, or libjpeg-turbo's straight into an array: the same pixels)."""
    data = encode(Image.fromarray(asymmetric(1001, 601)), "JPEG", quality=90, exif=exif_bytes(orientation))
    swap = orientation >= 5
    opened = open_image(data)
    reduced, got = getattr(opened, method)(at_least[::-1] if swap else at_least)
    out = np.asarray(reduced)
    draft = Image.open(io.BytesIO(data))
    draft.draft("RGB", at_least)
    expected = np.asarray(ImageOps.exif_transpose(draft).convert("RGB"))
    assert got == (factor, factor)
    assert (
        out.shape[:2]
        == expected.shape[:2]
        == ((-(-1001 // factor), -(-601 // factor)) if swap else (-(-601 // factor), -(-1001 // factor)))
    )
    np.testing.assert_array_equal(out, expected)


def kinds(rgb: np.ndarray) -> dict[str, bytes]:
    image = Image.fromarray(rgb)
    gray16 = Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257)
    return {
        "png": encode(image, "PNG"),
        "png16": encode(gray16, "PNG"),
        "palette": encode(image.convert("P"), "PNG"),
        "rgba": encode(image.convert("RGBA"), "PNG"),
        "gif": encode(image, "GIF"),
        "webp": encode(image, "WEBP", lossless=True),
        "bmp": encode(image, "BMP"),
        "tiff": encode(image, "TIFF"),
        "jpeg": encode(image, "JPEG", quality=95),
        "progressive": encode(image, "JPEG", quality=95, progressive=True),
        "gray-jpeg": encode(image.convert("L"), "JPEG", quality=95),
        "cmyk-jpeg": encode(image.convert("CMYK"), "JPEG", quality=95),
    }


@pytest.mark.parametrize("kind", list(kinds(asymmetric(8, 8))))
def test_every_kind_decodes_reduced_no_smaller_than_asked(kind: str) -> None:
    """Reduction (DCT-domain for JPEG, a box filter otherwise) keeps >= at_least and the picture."""
    data = kinds(asymmetric(420, 250))[kind]
    full = load_rgb(data)
    image, factor = open_image(data).pil_rgb(at_least=(100, 60))
    out = np.asarray(image)
    assert factor == (4, 4)  # 420 // 100 and 250 // 60
    assert out.shape == (63, 105, 3) and out.dtype == np.uint8
    box = np.asarray(Image.fromarray(full).reduce(4), dtype=np.float32)
    assert np.abs(out - box).mean() < 3


def test_a_pil_image_given_is_not_reduced_in_place() -> None:
    image = Image.open(io.BytesIO(encode(Image.fromarray(asymmetric(400, 300)), "JPEG")))
    reduced, factor = open_image(image).pil_rgb(at_least=(100, 75))
    assert image.size == (400, 300) and factor == (4, 4) and reduced.size == (100, 75)


@pytest.mark.parametrize("orientation", [1, 6])
def test_box_reduction_is_per_axis(orientation: int) -> None:
    """Stretching a wide image to a square: shrunk on the long axis only, still >= at_least."""
    data = encode(Image.fromarray(asymmetric(1920, 1080)), "PNG", exif=exif_bytes(orientation))
    at_least = (608, 608)
    image, factor = open_image(data).pil_rgb(at_least=at_least)
    assert factor == ((3, 1) if orientation == 1 else (1, 3))
    assert image.size == ((640, 1080) if orientation == 1 else (1080, 640))


@pytest.mark.parametrize("at_least", [None, (50, 50)])
def test_truncated_jpeg_is_refused_reduced_or_not(at_least: tuple[int, int] | None) -> None:
    data = encode(Image.fromarray(asymmetric(400, 400)), "JPEG")
    with pytest.raises(InvalidImageError, match="truncated"):
        open_image(data[: len(data) // 2]).rgb()
    with pytest.raises(InvalidImageError, match="truncated"):
        open_image(data[: len(data) // 2]).pil_rgb(at_least=at_least)
