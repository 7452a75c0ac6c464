"""Turning whatever the caller has (bytes, a path, a PIL image, an array) into RGB uint8.

Every accepted input ends as a C-contiguous ``(H, W, 3)`` uint8 RGB array with EXIF
orientation applied.  Anything unusable raises :class:`InvalidImageError` with a message
a person can act on; images over the pixel budget raise :class:`ImageTooLargeError`
*before* their pixels are decoded (decompression-bomb guard).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from trt_core.errors import ImageTooLargeError, InvalidImageError

DEFAULT_MAX_PIXELS = 50_000_000
MAX_SIDE = 32_768



def load_rgb(source: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode ``source`` to an ``(H, W, 3)`` uint8 RGB array."""
    if isinstance(source, np.ndarray):
        return array_to_rgb(source, max_pixels=max_pixels)
    if isinstance(source, Image.Image):
        return pil_to_rgb(source, max_pixels=max_pixels)
    if isinstance(source, bytes | bytearray | memoryview):
        return decode_bytes(bytes(source), max_pixels=max_pixels)
    if isinstance(source, str | Path):
        path = Path(source)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise InvalidImageError(f"no such file: {path}") from None
        except IsADirectoryError:
            raise InvalidImageError(f"{path} is a directory, not an image") from None
        except OSError as exc:
            raise InvalidImageError(f"cannot read {path}: {exc.strerror or exc}") from None
        return decode_bytes(data, max_pixels=max_pixels, what=str(path))
    raise InvalidImageError(
        f"unsupported image type {type(source).__name__}",
        hint="pass encoded bytes, a file path, a PIL image or an HxWx3 uint8 RGB array",
    )


def decode_bytes(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, what: str = "image") -> np.ndarray:
    if not data:
        raise InvalidImageError(f"{what} is empty (0 bytes)")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise InvalidImageError(
                f"{what} is not a recognised image ({len(data)} bytes, starts {data[:8]!r})",
                hint="supported: JPEG, PNG, WebP, BMP, GIF, TIFF",
            ) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageTooLargeError(f"{what} exceeds the decompression-bomb limit") from None
        except Exception as exc:
            raise InvalidImageError(f"cannot open {what}: {exc}") from None
        return pil_to_rgb(image, max_pixels=max_pixels, what=what)


def check_size(width: int, height: int, *, max_pixels: int, what: str = "image") -> None:
    if width < 1 or height < 1:
        raise InvalidImageError(f"{what} has no pixels ({width}x{height})")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > max_pixels:
        raise ImageTooLargeError(
            f"{what} is {width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,}",
            hint="downscale it, or raise max_pixels",
        )


def pil_to_rgb(image: Image.Image, *, max_pixels: int = DEFAULT_MAX_PIXELS, what: str = "image") -> np.ndarray:
    check_size(image.width, image.height, max_pixels=max_pixels, what=what)
    try:
        image.seek(0)
        image.load()
        image = ImageOps.exif_transpose(image) or image
        return _to_rgb_array(image)
    except (InvalidImageError, MemoryError):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLargeError(f"{what} exceeds the decompression-bomb limit") from None
    except Exception as exc:
        raise InvalidImageError(f"cannot decode {what}: {exc}", hint="the file may be truncated or corrupt") from None


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        gray = np.asarray(image, dtype=np.uint32)
        scale = 257 if gray.max(initial=0) <= 65535 else 16843009
        return np.repeat((gray // scale).astype(np.uint8)[:, :, None], 3, axis=2)
    if mode == "F":
        gray = np.clip(np.asarray(image, dtype=np.float32), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def array_to_rgb(array: np.ndarray, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Accept ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` RGB(A) uint8 arrays."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise InvalidImageError(f"array image must be HxW, HxWx3 or HxWx4, got shape {array.shape}")
    if array.dtype != np.uint8:
        raise InvalidImageError(
            f"array image must be uint8, got {array.dtype}", hint="convert with np.clip(a, 0, 255).astype(np.uint8)"
        )
    check_size(array.shape[1], array.shape[0], max_pixels=max_pixels, what="array image")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    elif array.shape[2] == 4:
        array = array[:, :, :3]
    return np.ascontiguousarray(array)
